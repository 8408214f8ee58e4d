"""Every change to a practice goes through these functions (DESIGN: services).

They take checked values (practices.validation), change the database in one
transaction with the practice row locked, append the audit event, queue the
webhook messages in the same transaction, and schedule the side effects
(document fetches) for after the commit. Fetching a document_uri is in
practices.fetching.
"""

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.models import Organization
from portal import inserts
from portal.sealing import seal, unseal
from practices import audit, events
from practices.audit import Actor, audit_append
from practices.models import (
    AuditEvent,
    Document,
    Practice,
    Revision,
    SignatureRequest,
    revision_path,
)
from practices.validation import CheckedPractice

logger = logging.getLogger(__name__)


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was used before with another request body."""


class PracticeFinal(Exception):
    """The practice is performed, cancelled or expired: it cannot change any more."""


@dataclass(frozen=True)
class PracticeCreated:
    practice: Practice
    created: bool  # False: an earlier create with the same Idempotency-Key
    rows: "PracticeRows | None" = None  # what this create wrote; None for an earlier one


# --- secrets of a practice ------------------------------------------------------------


def ticket_digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _ticket_context(request_id) -> str:
    return f"ticket:{request_id}"


def ticket_read(*, request: SignatureRequest) -> str | None:
    if request.sealed_ticket is None:
        return None
    return unseal(request.sealed_ticket, context=_ticket_context(request.id)).decode()


def ticket_url(ticket: str) -> str:
    return f"{settings.BASE_URL}/sign/{ticket}"


def _uri_options_context(document_id) -> str:
    return f"document-uri-options:{document_id}"


def document_uri_options_read(*, document: Document) -> dict:
    if document.sealed_uri_options is None:
        return {}
    return json.loads(
        unseal(document.sealed_uri_options, context=_uri_options_context(document.id))
    )


# --- create ---------------------------------------------------------------------------


def request_digest(body: object) -> str:
    """The digest of a create request's body, independent of key order and spacing."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def practice_idempotent_earlier(
    *, organization: Organization, idempotency_key: str | None, digest: str
) -> Practice | None:
    """The practice an earlier create with this key made, if any; IdempotencyMismatch
    when that create had another body."""
    if not idempotency_key:
        return None
    return _earlier(organization, idempotency_key, digest)


def _earlier(organization: Organization, key: str, digest: str) -> Practice | None:
    practice = Practice.objects.filter(organization=organization, idempotency_key=key).first()
    if practice is not None and practice.request_digest != digest:
        raise IdempotencyMismatch(key)
    return practice


@dataclass(frozen=True)
class PracticeRows:
    """What a create wrote, as written: the answer is built from these instead
    of reading them back."""

    practice: Practice
    documents: list[Document]
    requests: list[SignatureRequest]
    revisions: list[Revision]
    tickets: dict  # request id -> the ticket, which is stored only sealed and digested


def practice_create(
    *,
    actor: Actor,
    organization: Organization,
    checked: CheckedPractice,
    idempotency_key: str | None = None,
    digest: str = "",
) -> PracticeCreated:
    """Create a practice from a checked request.

    Inline documents are stored as revision 0 and the practice is pending at
    once; documents given by URI leave it waiting and are fetched after the
    commit (practices.tasks.document_fetch). With an Idempotency-Key, a retry
    with the same body returns the first practice, another body raises
    IdempotencyMismatch; concurrent retries make one practice (the unique
    constraint decides, the loser returns the winner's).

    Everything that needs no database (rows, sealed tickets, the files of the
    inline documents, the audit chain, the INSERT statements with their
    values) is made before the transaction, which then only runs the
    statements: on SQLite the write lock is held for that long only.
    """
    if idempotency_key:
        earlier = _earlier(organization, idempotency_key, digest)
        if earlier is not None:
            return PracticeCreated(earlier, created=False)
    written: list[str] = []
    try:
        rows, events = _practice_rows(
            actor=actor,
            organization=organization,
            checked=checked,
            idempotency_key=idempotency_key or "",
            digest=digest,
            written=written,
        )
        writes = [
            inserts.prepare(objs)
            for objs in ([rows.practice], rows.documents, rows.requests, rows.revisions, events)
        ]
        with transaction.atomic():
            for write in writes:
                write.run()
            _practice_scheduled(rows)
    except BaseException as exc:
        revision_files_delete(written)
        if idempotency_key and isinstance(exc, IntegrityError):
            earlier = _earlier(organization, idempotency_key, digest)
            if earlier is not None:
                return PracticeCreated(earlier, created=False)
        raise
    return PracticeCreated(rows.practice, created=True, rows=rows)


def revision_files_delete(names: list[str]) -> None:
    """Remove the files of revisions whose transaction rolled back."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not remove %s after a rollback", name)


def _practice_rows(
    *,
    actor: Actor,
    organization: Organization,
    checked: CheckedPractice,
    idempotency_key: str,
    digest: str,
    written: list[str],
) -> tuple[PracticeRows, list[AuditEvent]]:
    """The rows of a new practice and its first audit events, not saved; the
    inline documents' files are stored (their names appended to `written`)."""
    spec = checked.spec
    waiting = any(doc.data is None for doc in checked.documents)
    practice = Practice(
        organization=organization,
        created_by=actor.user,
        title=spec.title,
        status=Practice.Status.WAITING if waiting else Practice.Status.PENDING,
        not_after=checked.not_after,
        urlback=spec.urlback,
        cancelback=spec.cancelback,
        metadata=spec.metadata,
        generate_report=spec.generate_report,
        email_disabled=spec.email_disabled,
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    documents, requests, revisions, tickets = [], [], [], {}
    for doc in checked.documents:
        document = Document(
            practice=practice,
            order=doc.order,
            display_name=doc.spec.display_name,
            family=doc.family,
            document_uri=doc.spec.document_uri or "",
            metadata=doc.spec.metadata,
        )
        if doc.spec.document_uri_options is not None:
            options = doc.spec.document_uri_options.model_dump(exclude_none=True)
            document.sealed_uri_options = seal(
                json.dumps(options).encode(), context=_uri_options_context(document.id)
            )
        documents.append(document)
        for item in doc.requests:
            spec_request = item.spec
            request = SignatureRequest(
                document=document,
                group=item.group,
                position=item.position,
                signer_email=spec_request.signer.email,
                signer_first_name=spec_request.signer.first_name,
                signer_last_name=spec_request.signer.last_name,
                signer_phone=spec_request.signer.phone,
                profile=item.profile,
                signature_type=item.signature_type,
                unlock_mode=spec_request.unlock_mode or "",
                constraints=list(spec_request.constraints),
                display_name=spec_request.display_name,
                reason=spec_request.reason,
                description=spec_request.description,
                declinable=spec_request.declinable,
                urlback=spec_request.urlback,
                cancelback=spec_request.cancelback,
                where=item.where,
                clauses=item.clauses,
                metadata=spec_request.metadata,
                automatic=spec_request.automatic,
                field_name=f"Signature{item.group + 1}.{item.position + 1}",
            )
            ticket = secrets.token_urlsafe(32)
            request.ticket_digest = ticket_digest(ticket)
            request.sealed_ticket = seal(ticket.encode(), context=_ticket_context(request.id))
            requests.append(request)
            tickets[request.id] = ticket
        if doc.data is not None:
            revisions.append(
                revision_new(
                    document=document,
                    number=0,
                    data=doc.data,
                    content_type=original_content_type(doc.family),
                    written=written,
                )
            )

    entries = [
        audit.Entry(
            kind="practice.created",
            data={
                "title": practice.title,
                "status": practice.status,
                "documents": [
                    {
                        "id": str(d.id),
                        "order": d.order,
                        "display_name": d.display_name,
                        "family": d.family,
                        "source": "uri" if d.document_uri else "inline",
                    }
                    for d in documents
                ],
                "signatures": [
                    {
                        "id": str(r.id),
                        "document": str(r.document.id),
                        "group": r.group,
                        "signer": r.signer_email,
                        "profile": r.profile,
                        "signature_type": r.signature_type,
                    }
                    for r in requests
                ],
            },
        )
    ]
    entries += [
        audit.Entry(
            kind="document.received",
            data={"document": str(revision.document.id), "revision": 0, "size": revision.size},
            revision_sha256=revision.sha256,
        )
        for revision in revisions
    ]
    events = audit.audit_chain_start(practice=practice, actor=actor, entries=entries)
    rows = PracticeRows(
        practice=practice,
        documents=documents,
        requests=requests,
        revisions=revisions,
        tickets=tickets,
    )
    return rows, events


def _practice_scheduled(rows: PracticeRows) -> None:
    """Schedule, inside the transaction that inserted them, what follows a new
    practice's rows: the fetches of a waiting practice, the emails and webhook
    messages of a pending one."""
    practice = rows.practice
    if practice.status == Practice.Status.WAITING:
        for document in rows.documents:
            if document.document_uri:
                _schedule_fetch(document)
    else:
        pending_announce(practice, rows.documents, rows.requests)


def original_content_type(family: str) -> str:
    """The content type of a document's original (revision 0) in `family`."""
    return "application/pdf" if family == Document.Family.PADES else "application/octet-stream"


_SUFFIXES = {"application/pdf": ".pdf", "application/pkcs7-mime": ".p7m"}


def revision_new(
    *,
    document: Document,
    number: int,
    data: bytes,
    content_type: str,
    written: list[str],
    produced_by: SignatureRequest | None = None,
) -> Revision:
    """A revision of `document` holding `data`, not saved; its file is stored
    now and its name appended to `written` (see revision_files_delete)."""
    revision = Revision(
        document=document,
        number=number,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type=content_type,
        produced_by=produced_by,
    )
    suffix = _SUFFIXES.get(content_type, ".bin")
    name = default_storage.save(revision_path(revision, f"revision{suffix}"), ContentFile(data))
    written.append(name)
    revision.file.name = name
    return revision


def _schedule_fetch(document: Document) -> None:
    from practices import tasks

    document_id = str(document.id)
    transaction.on_commit(lambda: tasks.document_fetch.delay(document_id))


def pending_announce(
    practice: Practice, documents: list[Document], requests: list[SignatureRequest]
) -> None:
    """A practice just pending: emails to each document's first group, and the
    DST and signature status messages to its robot's webhook."""
    from practices import notifications

    for document in documents:
        notifications.group_unlocked(document=document, group=0)
    if not practice.created_by.automatic:
        return
    slug = practice.organization.slug
    by_id = {d.id: d for d in documents}
    bodies = [events.dst_status_changed(practice, slug=slug)]
    bodies += [
        events.signature_status_changed(
            r, document=by_id[r.document_id], practice=practice, slug=slug
        )
        for r in requests
    ]
    events.emit(practice, bodies)


# --- cancel ---------------------------------------------------------------------------


def practice_for_update(*, practice: Practice) -> Practice:
    """`practice` read again with its row locked until the transaction ends (the
    organization and the creator stay unlocked): every change of a practice,
    and of its audit chain, happens under this lock."""
    return (
        Practice.objects.select_for_update(of=("self",))
        .select_related("organization", "created_by")
        .get(pk=practice.pk)
    )


def practice_mark_cancelled(
    *, practice: Practice, reason: str, actor: Actor, kind: str, data: dict
) -> None:
    """Cancel `practice`, locked by the caller, and its open requests; audit the
    change as `kind` and tell the robot."""
    practice.status = Practice.Status.CANCELLED
    practice.reason = reason
    practice.save(update_fields=["status", "reason", "updated"])
    SignatureRequest.objects.filter(
        document__practice=practice, status=SignatureRequest.Status.PENDING
    ).update(status=SignatureRequest.Status.CANCELLED)
    audit_append(practice=practice, kind=kind, actor=actor, data={"reason": reason, **data})
    events.emit(practice, [events.dst_status_changed(practice, slug=practice.organization.slug)])


def practice_cancel(*, practice: Practice, actor: Actor, reason: str) -> Practice:
    """Cancel a waiting or pending practice and its open requests; PracticeFinal otherwise."""
    with transaction.atomic():
        practice = practice_for_update(practice=practice)
        if practice.is_final:
            raise PracticeFinal(practice.status)
        practice_mark_cancelled(
            practice=practice, reason=reason, actor=actor, kind="practice.cancelled", data={}
        )
    return practice
