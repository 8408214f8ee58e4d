"""Reads of practices that more than one caller needs."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organization, User
from practices.models import Document, Practice, Revision, SignatureRequest


def practices_detailed(queryset: QuerySet[Practice]) -> QuerySet[Practice]:
    """`queryset` with what a DST answer shows, in a fixed number of queries
    whatever the number of practices: documents (with their revision count)
    and signature requests are prefetched in one query each."""
    return queryset.prefetch_related(
        Prefetch(
            "documents",
            queryset=Document.objects.annotate(revision_count=Count("revisions")).order_by("order"),
        ),
        Prefetch(
            "documents__requests",
            queryset=SignatureRequest.objects.order_by("group", "position"),
        ),
    )


def practice_list(*, organization: Organization, status: str | None = None) -> QuerySet[Practice]:
    """The organization's practices, newest first."""
    practices = Practice.objects.filter(organization=organization)
    if status:
        practices = practices.filter(status=status)
    return practices.order_by("-created", "-id")


def practice_get(*, organization: Organization | int, practice_id) -> Practice | None:
    practices = Practice.objects.filter(organization=organization, pk=practice_id)
    return practices_detailed(practices).first()


def document_get(*, organization: Organization, document_id) -> Document | None:
    return (
        Document.objects.select_related("practice")
        .filter(practice__organization=organization, pk=document_id)
        .first()
    )


def revision_latest(*, document: Document) -> Revision | None:
    return Revision.objects.filter(document=document).order_by("-number").first()


def request_locked(*, request: SignatureRequest) -> bool:
    """Whether an earlier group of the request's document has not signed yet."""
    if request.group == 0:
        return False  # groups count from 0: none comes before the first
    return SignatureRequest.objects.blocking(
        document_id=request.document_id, group=request.group
    ).exists()


# --- a logged-in signer's own requests ------------------------------------------------

INBOX_COMPLETED_LIMIT = 5


@dataclass(frozen=True)
class SignerInbox:
    """A person's signature requests, as their inbox shows them.

    `to_sign` can be signed now; `waiting` waits for an earlier group of its
    document; `completed` are the latest the person signed or declined."""

    to_sign: list[SignatureRequest]
    waiting: list[SignatureRequest]
    completed: list[SignatureRequest]


def _signer_requests(*, user: User) -> QuerySet[SignatureRequest]:
    """The requests addressed to `user`: in their organization, to their email
    (case-insensitively), for a person to sign (not the seal's)."""
    if not user.email or user.automatic:
        return SignatureRequest.objects.none()
    earlier_open = SignatureRequest.objects.blocking(
        document_id=OuterRef("document_id"), group=OuterRef("group")
    )
    return (
        SignatureRequest.objects.filter(
            document__practice__organization_id=user.organization_id,
            signer_email__iexact=user.email,
            automatic=False,
        )
        .select_related("document__practice__created_by")
        .annotate(locked=Exists(earlier_open))
    )


def _open(requests: QuerySet[SignatureRequest], *, now: datetime) -> QuerySet[SignatureRequest]:
    """Requests still waiting for their signer, in a pending practice before its deadline."""
    return requests.filter(
        Q(document__practice__not_after__isnull=True) | Q(document__practice__not_after__gt=now),
        status=SignatureRequest.Status.PENDING,
        document__practice__status=Practice.Status.PENDING,
    )


def signer_inbox(*, user: User, completed_limit: int = INBOX_COMPLETED_LIMIT) -> SignerInbox:
    """What `user` has to sign, what waits for others first, and what they
    recently signed or declined. Two queries, whatever the number of rows."""
    requests = _signer_requests(user=user)
    pending = list(
        _open(requests, now=timezone.now()).order_by(
            F("document__practice__not_after").asc(nulls_last=True),
            "-document__practice__created",
            "document__order",
            "group",
            "position",
        )
    )
    completed = []
    if completed_limit > 0:
        completed = list(
            requests.filter(
                status__in=(SignatureRequest.Status.PERFORMED, SignatureRequest.Status.DECLINED)
            )
            .annotate(completed_at=Coalesce("performed_at", "decline_datetime", "created"))
            .order_by("-completed_at", "-id")[:completed_limit]
        )
    return SignerInbox(
        to_sign=[r for r in pending if not r.locked],
        waiting=[r for r in pending if r.locked],
        completed=completed,
    )


def signer_request_get(*, user: User, request_id) -> SignatureRequest | None:
    """One request addressed to `user` (see `_signer_requests`), with `locked`
    and `is_open`: whether `user` can sign it now."""
    still_open = _open(SignatureRequest.objects.filter(pk=OuterRef("pk")), now=timezone.now())
    signature = (
        _signer_requests(user=user)
        .annotate(still_open=Exists(still_open))
        .filter(pk=request_id)
        .first()
    )
    if signature is not None:
        signature.is_open = signature.still_open and not signature.locked
    return signature
