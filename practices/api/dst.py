"""The DST API (CONTRACT §5): create, list, retrieve and cancel practices, and
download their documents. Success bodies are {"meta": {"code"}, "data"}; errors
are the DST error body (portal.errors.render) with the field path.

Who may: the organization's admins, instructors and robots; the `{slug}` in
the path must be the caller's own organization.
"""

import uuid
from typing import Annotated

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, HttpRequest, JsonResponse
from ninja import Query, Router
from pydantic import BaseModel, BeforeValidator, Field

from accounts.models import Role, User
from portal.errors import AccessDenied, ApiError
from practices import selectors, services
from practices.api.schemas import DSTCancel, DSTCreate
from practices.audit import Actor
from practices.models import Document, Practice
from practices.report import report_url
from practices.validation import InvalidField, practice_check

router = Router(tags=["Digital Signature Transactions"])

MAX_IDEMPOTENCY_KEY = 255


def _actor(request: HttpRequest, slug: str) -> User:
    user: User = request.auth
    if user.organization.slug != slug:
        raise AccessDenied("This organization is not yours")
    if user.role not in (Role.ADMIN, Role.INSTRUCTOR):
        raise AccessDenied("Signers cannot manage signature transactions")
    return user


def _audit_actor(request: HttpRequest, user: User) -> Actor:
    return Actor(
        user=user,
        ip=request.META.get("REMOTE_ADDR", "") or "",
        user_agent=request.headers.get("User-Agent", ""),
    )


def _answer(status: int, data, **extra) -> JsonResponse:
    return JsonResponse(
        {"meta": {"code": status}, "data": data, **extra},
        status=status,
        encoder=DjangoJSONEncoder,
    )


def _uuid(value: str, field: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "NotFound", f"No {what} {value!r}", field) from None


# --- what a DST looks like ------------------------------------------------------------


def document_url(slug: str, document: Document) -> str:
    return f"{settings.BASE_URL}/api/v1/{slug}/documents/{document.id}/download"


def _request_out(request, ticket: str | None) -> dict:
    return {
        "id": str(request.id),
        "signer": request.signer_email,
        "signer_info": {
            "email": request.signer_email,
            "first_name": request.signer_first_name,
            "last_name": request.signer_last_name,
            "phone": request.signer_phone,
        },
        "status": request.status,
        "profile": request.profile,
        "signature_type": request.signature_type,
        "provider_options": {"unlock_mode": request.unlock_mode} if request.unlock_mode else {},
        "display_name": request.display_name,
        "reason": request.reason,
        "description": request.description,
        "declinable": request.declinable,
        "urlback": request.urlback or None,
        "cancelback": request.cancelback or None,
        "constraints": request.constraints,
        "clauses": request.clauses,
        "where": request.where,
        "metadata": request.metadata,
        "automatic": request.automatic,
        "signature_ticket": services.ticket_url(ticket) if ticket else None,
        "decline_reason": request.decline_reason or None,
        "decline_datetime": request.decline_datetime,
        "performed_at": request.performed_at,
    }


def _dst(practice: Practice, slug: str, documents, ticket) -> dict:
    """`documents`: (document, its requests by group and position, whether it
    has a revision) in order; `ticket(request)` the request's ticket or None."""
    out = []
    for document, requests, has_revision in documents:
        groups: list[list[dict]] = []
        for request in requests:
            while len(groups) <= request.group:
                groups.append([])
            groups[request.group].append(_request_out(request, ticket(request)))
        out.append(
            {
                "id": str(document.id),
                "order": document.order,
                "display_name": document.display_name,
                "family": document.family,
                "document_uri": document.document_uri or None,
                "document": document_url(slug, document) if has_revision else None,
                "metadata": document.metadata,
                "groups": groups,
            }
        )
    return {
        "id": str(practice.id),
        "title": practice.title,
        "status": practice.status,
        "reason": practice.reason or None,
        "created": practice.created,
        "created_by": str(practice.created_by_id),
        "not_after": practice.not_after,
        "urlback": practice.urlback or None,
        "cancelback": practice.cancelback or None,
        "metadata": practice.metadata,
        "generate_report": practice.generate_report,
        "report": report_url(practice, slug),
        "documents": out,
    }


def _has_revision(document: Document) -> bool:
    count = getattr(document, "revision_count", None)
    return document.revisions.exists() if count is None else bool(count)


def dst_out(practice: Practice, slug: str) -> dict:
    """A practice as the Signing API shows it; `practice` comes from
    selectors.practices_detailed (documents and requests prefetched)."""
    documents = [(d, d.requests.all(), _has_revision(d)) for d in practice.documents.all()]
    return _dst(practice, slug, documents, lambda r: services.ticket_read(request=r))


def dst_out_written(rows: services.PracticeRows, slug: str) -> dict:
    """dst_out of a practice just created, from the rows the create wrote
    rather than read back: the same answer without a second trip to the
    database (tests/practices/test_create.py compares the two)."""
    revised = {revision.document_id for revision in rows.revisions}
    requests: dict = {document.id: [] for document in rows.documents}
    for request in sorted(rows.requests, key=lambda r: (r.group, r.position)):
        requests[request.document_id].append(request)
    documents = [
        (document, requests[document.id], document.id in revised)
        for document in sorted(rows.documents, key=lambda d: d.order)
    ]
    return _dst(rows.practice, slug, documents, lambda r: rows.tickets[r.id])


def _detailed(organization, practice_id) -> Practice:
    practice = selectors.practice_get(organization=organization, practice_id=practice_id)
    if practice is None:
        raise ApiError(404, "NotFound", f"No signature transaction {practice_id}", "id")
    return practice


# --- the calls ------------------------------------------------------------------------


class DSTEnvelope(BaseModel):
    meta: dict
    data: dict


@router.post(
    "/{slug}/signature-transactions",
    response={201: DSTEnvelope},
    summary="Create a DST",
)
def dst_create(request, slug: str, payload: DSTCreate):
    """With an `Idempotency-Key` header, a retry with the same body answers the
    first DST again (201, header `Idempotent-Replayed: true`); the same key with
    another body is a 422."""
    user = _actor(request, slug)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            400, "ValidationError", f"At most {MAX_IDEMPOTENCY_KEY} characters", "Idempotency-Key"
        )
    digest = services.request_digest(payload.model_dump(mode="json")) if key else ""
    try:
        earlier = services.practice_idempotent_earlier(
            organization=user.organization, idempotency_key=key, digest=digest
        )
        if earlier is not None:
            return _created(earlier, slug, replayed=True)
        try:
            checked = practice_check(payload)
        except InvalidField as exc:
            raise ApiError(400, "ValidationError", exc.message, exc.path) from exc
        outcome = services.practice_create(
            actor=_audit_actor(request, user),
            organization=user.organization,
            checked=checked,
            idempotency_key=key,
            digest=digest,
        )
    except services.IdempotencyMismatch as exc:
        raise ApiError(
            422,
            "Unprocessable",
            "This key was used with another request body",
            "Idempotency-Key",
        ) from exc
    if outcome.rows is not None:
        return _answer(201, dst_out_written(outcome.rows, slug))
    return _created(outcome.practice, slug, replayed=not outcome.created)


def _created(practice: Practice, slug: str, *, replayed: bool) -> JsonResponse:
    answer = _answer(201, dst_out(_detailed(practice.organization_id, practice.pk), slug))
    if replayed:
        answer["Idempotent-Replayed"] = "true"
    return answer


def _blank_is_none(value):
    return None if value == "" else value


class ListQuery(BaseModel):
    status: Annotated[Practice.Status | None, BeforeValidator(_blank_is_none)] = None
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(20, ge=1, le=100)


def _page_url(slug: str, query: ListQuery, page: int) -> str:
    url = f"{settings.BASE_URL}/api/v1/{slug}/signature-transactions?page={page}"
    url += f"&page_size={query.page_size}"
    if query.status:
        url += f"&status={query.status.value}"
    return url


@router.get("/{slug}/signature-transactions", summary="List the DSTs")
def dst_list(request, slug: str, query: Query[ListQuery]):
    """Newest first; `pagination` gives the total `count` and the URLs of the
    `next` and `previous` pages (null at the ends)."""
    user = _actor(request, slug)
    practices = selectors.practice_list(
        organization=user.organization, status=query.status.value if query.status else None
    )
    paginator = Paginator(practices, query.page_size)
    try:
        page = paginator.page(query.page)
        rows = list(selectors.practices_detailed(page.object_list))
        has_next, has_previous = page.has_next(), page.has_previous()
    except EmptyPage:
        rows, has_next, has_previous = [], False, query.page > 1
    return _answer(
        200,
        [dst_out(p, slug) for p in rows],
        pagination={
            "count": paginator.count,
            "next": _page_url(slug, query, query.page + 1) if has_next else None,
            "previous": _page_url(slug, query, min(query.page - 1, max(paginator.num_pages, 1)))
            if has_previous
            else None,
        },
    )


@router.get("/{slug}/signature-transactions/{dst_id}", summary="Retrieve a DST")
def dst_retrieve(request, slug: str, dst_id: str):
    user = _actor(request, slug)
    practice = _detailed(user.organization, _uuid(dst_id, "id", "signature transaction"))
    return _answer(200, dst_out(practice, slug))


@router.post("/{slug}/signature-transactions/{dst_id}/cancel", summary="Cancel a DST")
def dst_cancel(request, slug: str, dst_id: str, payload: DSTCancel):
    user = _actor(request, slug)
    practice = _detailed(user.organization, _uuid(dst_id, "id", "signature transaction"))
    try:
        services.practice_cancel(
            practice=practice, actor=_audit_actor(request, user), reason=payload.reason
        )
    except services.PracticeFinal as exc:
        raise ApiError(
            409, "Conflict", f"The signature transaction is already {exc}", "status"
        ) from exc
    return _answer(200, dst_out(_detailed(user.organization, practice.pk), slug))


@router.get("/{slug}/documents/{document_id}/download", summary="Download a document")
def document_download(request, slug: str, document_id: str):
    """The latest revision: the original until the first signature, then the signed one."""
    user = _actor(request, slug)
    document = selectors.document_get(
        organization=user.organization, document_id=_uuid(document_id, "id", "document")
    )
    if document is None:
        raise ApiError(404, "NotFound", f"No document {document_id}", "id")
    revision = selectors.revision_latest(document=document)
    if revision is None:
        raise ApiError(404, "NotFound", "The document has not been fetched yet", "document")
    name = document.display_name or str(document.id)
    if revision.content_type == "application/pkcs7-mime":
        name += ".p7m"
    elif revision.content_type == "application/pdf" and not name.lower().endswith(".pdf"):
        name += ".pdf"
    return FileResponse(
        revision.file.open("rb"),
        content_type=revision.content_type,
        as_attachment=True,
        filename=name,
    )


def _include_signatures() -> None:
    from practices.api.signatures import router as signatures_router

    router.add_router("", signatures_router)


_include_signatures()
