"""Reads of practices that more than one caller needs."""

from django.db.models import Count, Prefetch, QuerySet

from accounts.models import Organization
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
