"""Emails to signers: the ticket when their group unlocks, reminders, expiry.

Senders are called after the commit of the change (through Celery); each
request records when its email went (`notified_at`, `reminded_at`), claimed
with a conditional UPDATE before sending, so that a retried or concurrent
task never mails a signer twice. Nothing is sent for a practice created with
metadata.studio_email_disabled, nor for automatic (seal) requests.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.models import Organization, User
from practices.models import Document, Practice, SignatureRequest
from practices.services import ticket_read, ticket_url

logger = logging.getLogger(__name__)

# The languages the signer emails are written in (those of the pages); any
# other falls back to English.
EMAIL_LANGUAGES = settings.TRANSLATED_LANGUAGES
FALLBACK_LANGUAGE = "en"


class Kind:
    INVITATION = "invitation"
    REMINDER = "reminder"
    EXPIRED = "expired"


def group_unlocked(*, document: Document, group: int) -> None:
    """Group `group` of `document` may sign now: email its pending signers their
    ticket once the current transaction commits (at once outside of one)."""
    if document.practice.email_disabled:
        return
    from practices import tasks

    document_id = str(document.id)
    # robust: an unreachable broker must not fail the change that committed;
    # practices.lifecycle.invitations_catch_up sends what was missed.
    transaction.on_commit(lambda: tasks.group_notify.delay(document_id, group), robust=True)


def group_notify(*, document: Document, group: int) -> int:
    """Send the ticket to every pending, not yet notified request of `group`;
    the number of emails sent."""
    practice = Practice.objects.select_related("organization").get(pk=document.practice_id)
    if practice.email_disabled or practice.status != Practice.Status.PENDING:
        return 0
    requests = SignatureRequest.objects.filter(
        document_id=document.pk,
        group=group,
        status=SignatureRequest.Status.PENDING,
        automatic=False,
        notified_at__isnull=True,
    ).select_related("document")
    sent = 0
    for request in requests:
        now = timezone.now()
        claimed = SignatureRequest.objects.filter(pk=request.pk, notified_at__isnull=True).update(
            notified_at=now
        )
        if not claimed:
            continue
        try:
            signer_email_send(request=request, practice=practice, kind=Kind.INVITATION)
        except Exception:
            # Unclaim, so that the task's retry sends it.
            SignatureRequest.objects.filter(pk=request.pk, notified_at=now).update(notified_at=None)
            raise
        sent += 1
    return sent


def request_remind(*, request: SignatureRequest, due_before: datetime) -> bool:
    """Remind `request`'s signer when it is still pending and its last email is
    older than `due_before`; whether a reminder went."""
    practice = Practice.objects.select_related("organization").get(pk=request.document.practice_id)
    if practice.email_disabled or practice.status != Practice.Status.PENDING:
        return False
    previous = request.reminded_at
    now = timezone.now()
    claimed = (
        SignatureRequest.objects.filter(
            pk=request.pk,
            status=SignatureRequest.Status.PENDING,
            notified_at__lte=due_before,
            reminded_at=previous,
        )
        .exclude(reminded_at__gt=due_before)
        .update(reminded_at=now)
    )
    if not claimed:
        return False
    try:
        signer_email_send(request=request, practice=practice, kind=Kind.REMINDER)
    except Exception:
        SignatureRequest.objects.filter(pk=request.pk, reminded_at=now).update(reminded_at=previous)
        raise
    return True


def practice_expired_notify(*, practice: Practice, request_ids: list) -> int:
    """Tell the signers who had their ticket that the practice expired."""
    if practice.email_disabled:
        return 0
    requests = SignatureRequest.objects.filter(
        pk__in=request_ids, notified_at__isnull=False
    ).select_related("document")
    sent = 0
    for request in requests:
        signer_email_send(request=request, practice=practice, kind=Kind.EXPIRED)
        sent += 1
    return sent


def signer_language(*, email: str, organization: Organization) -> str:
    """The language of the organization's user with this email, else the
    organization's; one of EMAIL_LANGUAGES."""
    user = (
        User.objects.filter(organization=organization, email__iexact=email, automatic=False)
        .order_by("-enabled", "created_at")
        .first()
    )
    language = user.language if user is not None else organization.language
    return language if language in EMAIL_LANGUAGES else FALLBACK_LANGUAGE


def signer_email_send(*, request: SignatureRequest, practice: Practice, kind: str) -> None:
    organization = practice.organization
    ticket = ticket_read(request=request)
    context = {
        "kind": kind,
        "request": request,
        "practice": practice,
        "document": request.document,
        "organization": organization,
        "signer_name": f"{request.signer_first_name} {request.signer_last_name}".strip(),
        "title": practice.title or request.document.display_name,
        "link": ticket_url(ticket) if ticket and kind != Kind.EXPIRED else "",
    }
    language = signer_language(email=request.signer_email, organization=organization)
    with translation.override(language):
        subject = render_to_string("practices/email/signer_subject.txt", context)
        text = render_to_string("practices/email/signer.txt", context)
        html = render_to_string("practices/email/signer.html", context)
    message = EmailMultiAlternatives(" ".join(subject.split()), text, None, [request.signer_email])
    message.attach_alternative(html, "text/html")
    message.send()
    logger.info("%s email for signature %s sent", kind, request.id)
