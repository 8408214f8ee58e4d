"""The automatic seal (CONTRACT §5): POST /api/v1/{slug}/signatures/{id}/perform.

A request created with `automatic: true` is signed by the organization's seal
certificate when its creator (an admin, an instructor or a robot of the
organization) asks; the answer is the DST, as retrieve shows it. Errors use the
DST error body: 404 unknown, 403 not automatic or locked by an earlier group,
409 already performed, 410 the DST is not pending.

Also the audit report (practices.report) of a DST created with generate_report:
GET /api/v1/{slug}/signature-transactions/{id}/report, 404 until it exists.
"""

from django.http import FileResponse
from ninja import Router

from portal.errors import ApiError
from practices import report, signatures
from practices.api.dst import _actor, _answer, _audit_actor, _detailed, _uuid, dst_out
from practices.models import SignatureRequest

router = Router(tags=["Digital Signature Transactions"])


@router.post("/{slug}/signatures/{signature_id}/perform", summary="Apply an automatic signature")
def signature_perform(request, slug: str, signature_id: str):
    user = _actor(request, slug)
    organization = user.organization
    signature = (
        SignatureRequest.objects.select_related("document__practice")
        .filter(
            pk=_uuid(signature_id, "id", "signature"),
            document__practice__organization=organization,
        )
        .first()
    )
    if signature is None:
        raise ApiError(404, "NotFound", f"No signature {signature_id}", "id")
    if not signature.automatic:
        raise ApiError(403, "Forbidden", "This signature is not automatic", "automatic")
    try:
        signatures.signature_apply(
            request=signature,
            certificate=signatures.seal_certificate(organization),
            actor=_audit_actor(request, user),
        )
    except signatures.SignatureRefused as exc:
        raise ApiError(exc.status, exc.error_type, exc.message, exc.field) from exc
    practice = _detailed(organization, signature.document.practice_id)
    return _answer(200, dst_out(practice, slug))


@router.get("/{slug}/signature-transactions/{dst_id}/report", summary="Download the audit report")
def dst_report(request, slug: str, dst_id: str):
    """The sealed audit report PDF, once the DST is performed and the report made."""
    user = _actor(request, slug)
    practice = _detailed(user.organization, _uuid(dst_id, "id", "signature transaction"))
    if not report.report_exists(practice):
        raise ApiError(404, "NotFound", "The report has not been generated", "report")
    return FileResponse(
        report.report_file(practice),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"report-{practice.pk}.pdf",
    )
