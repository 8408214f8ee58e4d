"""Applying a signature: the one way a signature lands on a document.

The organization's automatic seal (POST .../signatures/{id}/perform) and the
signer's ticket flow both end here. The engine signs outside any transaction
(on SQLite a writing transaction holds the whole database, and a signature
takes 60-150 ms); the result is recorded in a short transaction that locks
the document's row and checks that nothing changed meanwhile. Parallel
signers of one group therefore never sign the same revision twice and never
overwrite each other: one records, the others sign again on top of it. The
new revision, the request's status, the audit events and the webhook rows
commit together, or not at all.
"""

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp
from django.db import transaction
from django.utils import timezone

from portal import trust
from portal.joined import Chain
from portal.models import IssuedCertificate
from practices import audit, events, selectors, services
from practices.audit import Actor
from practices.models import Document, Practice, SignatureRequest
from signing.errors import DEFAULT_MAX_BYTES, EngineError, PlacementError

logger = logging.getLogger(__name__)

PADES_LEVELS = {"pades-bes": "B-B", "pades-t": "B-T", "pades-lt": "B-LT", "pades-lta": "B-LTA"}
CADES_LEVELS = {"cades-bes": "B-B", "cades-t": "B-T"}
P7M = "application/pkcs7-mime"
PDF = "application/pdf"


class SignatureRefused(Exception):
    """Why a signature cannot be applied; `status`, `error_type` and `field`
    are what the API answers (CONTRACT §5, §7)."""

    status = 400
    error_type = "ValidationError"
    field = "status"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PracticeNotPending(SignatureRefused):
    """The DST is waiting, performed, cancelled or expired."""

    status = 410
    error_type = "Gone"


class RequestNotPending(SignatureRefused):
    """The request was already signed, declined, cancelled or expired."""

    status = 409
    error_type = "Conflict"


class RequestLocked(SignatureRefused):
    """An earlier group of the same document has not signed yet."""

    status = 403
    error_type = "Forbidden"
    field = "group"


class ClauseMissing(SignatureRefused):
    """A required clause was not accepted."""

    status = 400
    error_type = "ValidationError"
    field = "accepted_clauses"


class SigningFailed(SignatureRefused):
    """The engine could not sign (TSA down, bad placement, broken document):
    nothing was stored and the request stays pending."""

    status = 502
    error_type = "SignatureFailed"
    field = "document"

    def __init__(self, message: str, *, placement: bool = False):
        super().__init__(message)
        if placement:
            self.status = 400
            self.error_type = "ValidationError"
            self.field = "where"


SIGN_ATTEMPTS = 3  # signatures made again when another one of the document landed first


@dataclass(frozen=True)
class _Made:
    """A signature made on top of revision `base`, not recorded yet."""

    base: int
    signed: bytes
    content_type: str


def signature_apply(
    *,
    request: SignatureRequest,
    certificate: IssuedCertificate,
    actor: Actor,
    accepted_clauses: Iterable[int | str] = (),
    image: bytes | None = None,
    with_record: Callable[[], None] | None = None,
) -> SignatureRequest:
    """Sign `request`'s document with `certificate` as a new revision and mark
    the request performed; when it was the last one, the practice is performed.

    `with_record` runs inside the transaction that records the signature,
    before anything is written: what must commit with it or not at all (a
    one-time code being used up); an exception there undoes everything.

    Raises PracticeNotPending, RequestNotPending, RequestLocked, ClauseMissing
    or SigningFailed; on any of them nothing changes.
    """
    accepted = [str(c) for c in accepted_clauses]
    for _ in range(SIGN_ATTEMPTS):
        made = _make(request=request, certificate=certificate, accepted=accepted, image=image)
        written: list[str] = []
        try:
            with transaction.atomic():
                recorded = _record(
                    made,
                    request=request,
                    certificate=certificate,
                    actor=actor,
                    accepted=accepted,
                    with_record=with_record,
                    written=written,
                )
        except BaseException:
            services.revision_files_delete(written)
            raise
        if recorded is not None:
            return recorded
    raise SigningFailed("Other signatures kept landing on the document: try again")


def _check_signable(practice: Practice, request: SignatureRequest, accepted: list[str]) -> None:
    # A request signed meanwhile (maybe the one that performed its practice)
    # answers as such: a second submission of one signature is a conflict.
    if request.status == SignatureRequest.Status.PERFORMED:
        raise RequestNotPending(f"The signature is already {request.status}")
    if practice.status != Practice.Status.PENDING:
        raise PracticeNotPending(f"The signature transaction is {practice.status}")
    if request.status != SignatureRequest.Status.PENDING:
        raise RequestNotPending(f"The signature is already {request.status}")
    if selectors.request_locked(request=request):
        raise RequestLocked("An earlier group has not signed this document yet")
    missing = [
        c["id"] for c in request.clauses or [] if c.get("required") and str(c["id"]) not in accepted
    ]
    if missing:
        raise ClauseMissing(f"Required clauses not accepted: {', '.join(map(str, missing))}")


# A request read again by its key, by a statement built once (twice a signature).
_BY_KEY = Chain(SignatureRequest, (), by="id")


def _read_again(request: SignatureRequest) -> SignatureRequest:
    fresh = _BY_KEY.get(request.pk)
    if fresh is None:
        raise SignatureRequest.DoesNotExist(f"Signature request {request.pk} is gone")
    return fresh


def _make(
    *,
    request: SignatureRequest,
    certificate: IssuedCertificate,
    accepted: list[str],
    image: bytes | None,
) -> _Made:
    """The signature on the document's latest revision, made without any lock.

    Checked before the work of signing, against the document and practice as
    the caller read them (_record checks them again under the lock) but the
    request read again: one a concurrent submission has just signed must answer
    as signed, not be signed again on top of its own signature."""
    document = request.document
    request = _read_again(request)
    _check_signable(document.practice, request, accepted)
    latest = selectors.revision_latest(document=document)
    if latest is None:
        raise PracticeNotPending("The document has not been received yet")
    with latest.file.open("rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != latest.sha256:
        # Signing a file changed on disk would bless bytes nobody saw.
        raise SigningFailed(f"Revision {latest.number} of the document does not match its hash")
    signed, content_type = _sign(
        data,
        request=request,
        certificate=certificate,
        image=image,
        signed_at=datetime.now(UTC),
        accepted=accepted,
    )
    return _Made(base=latest.number, signed=signed, content_type=content_type)


def _record(
    made: _Made,
    *,
    request: SignatureRequest,
    certificate: IssuedCertificate,
    actor: Actor,
    accepted: list[str],
    with_record: Callable[[], None] | None,
    written: list[str],
) -> SignatureRequest | None:
    """Record `made` (inside the caller's transaction) when the document is
    still at the revision it was made on; None when another signature landed
    first, and nothing was written."""
    document = Document.objects.select_for_update().get(pk=request.document_id)
    # The practice row holds the audit chain: locked too, its status read again.
    # With the creator's robot configuration, which the webhook outbox reads.
    practice = (
        Practice.objects.select_for_update(of=("self",))
        .select_related("organization", "created_by__robot_config")
        .get(pk=document.practice_id)
    )
    document.practice = practice
    request = _read_again(request)
    _check_signable(practice, request, accepted)
    latest = selectors.revision_latest(document=document)
    if latest is None or latest.number != made.base:
        return None
    if with_record is not None:
        with_record()

    revision = services.revision_new(
        document=document,
        number=latest.number + 1,
        data=made.signed,
        content_type=made.content_type,
        written=written,
        produced_by=request,
    )
    revision.save(force_insert=True)

    request.status = SignatureRequest.Status.PERFORMED
    request.performed_at = timezone.now()
    request.save(update_fields=["status", "performed_at"])
    entries = [
        audit.Entry(
            kind="signature.performed",
            data={
                "signature": str(request.id),
                "document": str(document.id),
                "revision": revision.number,
                "signer": request.signer_email,
                "profile": request.profile,
                "signature_type": request.signature_type,
                "automatic": request.automatic,
                "certificate": certificate.serial,
                "accepted_clauses": accepted,
            },
            revision_sha256=revision.sha256,
        )
    ]
    slug = practice.organization.slug
    bodies = [
        events.signature_status_changed(request, document=document, practice=practice, slug=slug)
    ]

    # One read of where every request of the practice stands answers both
    # questions: is this group done (then unlock the next), is the practice done.
    standing = list(
        SignatureRequest.objects.filter(document__practice_id=practice.pk).values_list(
            "document_id", "group", "status"
        )
    )
    left = [(doc, group) for doc, group, status in standing if status != request.Status.PERFORMED]
    if (document.pk, request.group) not in left:
        next_group = min(
            (g for doc, g, _ in standing if doc == document.pk and g > request.group), default=None
        )
        if next_group is not None:
            _notify_group_unlocked(document, next_group)

    if not left:
        practice.status = Practice.Status.PERFORMED
        practice.save(update_fields=["status", "updated"])
        entries.append(audit.Entry(kind="practice.performed", data={}))
        bodies.append(events.dst_status_changed(practice, slug=slug))
        if practice.generate_report:
            _schedule_report(practice)
    audit.audit_extend(practice=practice, actor=actor, entries=entries)
    events.emit(practice, bodies)
    return request


def _sign(
    data: bytes,
    *,
    request: SignatureRequest,
    certificate: IssuedCertificate,
    image: bytes | None,
    signed_at: datetime,
    accepted: Iterable[str] = (),
) -> tuple[bytes, str]:
    try:
        signer = trust.signer(certificate)
        if request.profile in PADES_LEVELS:
            signed = _sign_pades(data, request, certificate, signer, image, signed_at, accepted)
            return signed, PDF
        if request.profile in CADES_LEVELS:
            from signing.cades import sign_cades

            level = CADES_LEVELS[request.profile]
            # The first signer signs the original bytes; later ones add a
            # parallel SignerInfo to the latest .p7m. Clauses are not drawn:
            # the envelope signs the content as it is (signing/clauses.py).
            signed = sign_cades(
                data,
                signer=signer,
                level=level,
                timestamper=trust.timestamper() if level != "B-B" else None,
            )
            return signed, P7M
    except PlacementError as exc:
        raise SigningFailed(f"{exc.field}: {exc.message}", placement=True) from exc
    except EngineError as exc:
        raise SigningFailed(f"The document could not be signed: {exc}") from exc
    raise SigningFailed(f"Unknown profile {request.profile!r}")


def _sign_pades(data, request, certificate, signer, image, signed_at, accepted=()) -> bytes:
    """The request's PAdES signature, preceded by one signature per accepted
    clause with a rectangle (signing/clauses.py says why signatures and not
    stamps): all of them land in the one revision this request produces."""
    from signing.appearance import parse_where
    from signing.clauses import clause_areas, sign_clauses
    from signing.documents import check_pdf
    from signing.pades import sign_pdf

    level = PADES_LEVELS[request.profile]
    name = f"{request.signer_first_name} {request.signer_last_name}".strip()
    info = check_pdf(data, max_bytes=max(len(data), DEFAULT_MAX_BYTES))
    appearance = parse_where(request.where, document=info, image=image)
    # A dot separates the parts of a PDF field's name: Signature1.2 -> Signature1-2.
    field_name = request.field_name.replace(".", "-")
    timestamper = trust.timestamper() if level != "B-B" else None
    areas = clause_areas(
        request.clauses or [], accepted=accepted, field_name=field_name, document=info, image=image
    )
    if areas:
        data = sign_clauses(
            data,
            areas,
            signer=signer,
            level=level,
            timestamper=timestamper,
            name=name,
            signed_at=signed_at,
        )
    return sign_pdf(
        data,
        signer=signer,
        field_name=field_name,
        level=level,
        appearance=appearance,
        timestamper=timestamper,
        validation_context=validation_context(certificate) if level in ("B-LT", "B-LTA") else None,
        reason=request.reason,
        name=name,
        signed_at=signed_at,
    )


def validation_context(certificate: IssuedCertificate | None = None):
    """The revocation data B-LT and B-LTA embed, built in-process: our CRLs and,
    for `certificate`, our OCSP responder's answer. Signing never calls out."""
    from pyhanko_certvalidator import ValidationContext

    from signing.signers import to_asn1

    ca = trust.authority()
    ocsps = []
    if certificate is not None:
        ocsp_request = (
            x509_ocsp.OCSPRequestBuilder()
            .add_certificate(certificate.certificate, ca.issuing, hashes.SHA256())
            .build()
        )
        ocsps.append(trust.ocsp_response(ocsp_request.public_bytes(Encoding.DER)))
    return ValidationContext(
        trust_roots=[to_asn1(root) for root in trust.validation_roots()],
        other_certs=[to_asn1(ca.issuing)],
        crls=[trust.issuing_crl(), trust.root_crl()],
        ocsps=ocsps,
        allow_fetching=False,
        revocation_mode="require",
    )


def seal_certificate(organization) -> IssuedCertificate:
    """The organization's seal: issued on first use, then reused while valid."""
    from accounts.models import Organization
    from signing.pki import Profile, Subject

    with transaction.atomic():
        # Two first seals at once would issue two certificates: the
        # organization's row makes the second wait for the first and reuse it.
        list(Organization.objects.select_for_update().filter(pk=organization.pk).values("pk"))
        return trust.certificate_for(
            profile=Profile.SEAL,
            subject=Subject(common_name=organization.name, organization=organization.name),
            owner=f"org:{organization.slug}",
        )


def _notify_group_unlocked(document: Document, group: int) -> None:
    """Tell the next group's signers (practices.notifications, when present)."""
    try:
        from practices import notifications
    except ImportError:
        return
    notify = getattr(notifications, "group_unlocked", None)
    if notify is None:
        return
    notify(document=document, group=group)  # it schedules its emails on commit


def _schedule_report(practice: Practice) -> None:
    practice_id = str(practice.id)

    def schedule():
        from practices import tasks

        report_task = getattr(tasks, "practice_report", None)
        if report_task is not None:
            report_task.delay(practice_id)

    transaction.on_commit(schedule)
