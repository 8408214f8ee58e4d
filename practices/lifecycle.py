"""Time-driven changes of practices, run by Celery beat: not_after expiry and
reminders to signers who have not signed yet.

Both are safe to run concurrently (two beats, a slow run overlapping the next):
a practice expires through a conditional UPDATE that only one run wins, and a
reminder is claimed the same way (practices.notifications.request_remind).
Each run handles a bounded number of rows; the next run takes the rest.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from practices import events, notifications
from practices.audit import audit_append
from practices.models import Document, Practice, SignatureRequest

logger = logging.getLogger(__name__)

OPEN = (Practice.Status.WAITING, Practice.Status.PENDING)


def practices_expire(*, limit: int | None = None) -> int:
    """Expire the open practices whose not_after has passed; how many expired."""
    limit = limit or settings.EXPIRY_BATCH
    now = timezone.now()
    due = list(
        Practice.objects.filter(status__in=OPEN, not_after__lte=now)
        .order_by("not_after")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if practice_expire(practice_id=pk, now=now))


def practice_expire(*, practice_id, now=None) -> bool:
    """Expire one practice if it is still open and past its not_after: its
    pending requests expire, the audit trail records it, the robot's webhook
    hears DST_STATUS_CHANGED expired, and the signers who had their ticket are
    told. False when another run (or a signature, a cancel) got there first."""
    now = now or timezone.now()
    with transaction.atomic():
        won = Practice.objects.filter(pk=practice_id, status__in=OPEN, not_after__lte=now).update(
            status=Practice.Status.EXPIRED, updated=timezone.now()
        )
        if not won:
            return False
        practice = (
            Practice.objects.select_for_update(of=("self",))
            .select_related("organization", "created_by")
            .get(pk=practice_id)
        )
        pending = SignatureRequest.objects.filter(
            document__practice=practice, status=SignatureRequest.Status.PENDING
        )
        told = [
            str(pk) for pk in pending.filter(notified_at__isnull=False).values_list("pk", flat=True)
        ]
        expired = pending.update(status=SignatureRequest.Status.EXPIRED)
        audit_append(
            practice=practice,
            kind="practice.expired",
            data={
                "not_after": practice.not_after.isoformat(),
                "expired_signatures": expired,
            },
        )
        events.emit(
            practice, [events.dst_status_changed(practice, slug=practice.organization.slug)]
        )
        if told and not practice.email_disabled:
            from practices import tasks

            practice_pk = str(practice.pk)
            transaction.on_commit(
                lambda: tasks.practice_expired_notify.delay(practice_pk, told), robust=True
            )
    logger.info("practice %s expired (not_after %s)", practice_id, practice.not_after)
    return True


def reminders_send(*, limit: int | None = None) -> int:
    """Remind the signers of unlocked groups who were emailed longer ago than
    REMINDER_INTERVAL and have not signed (nor been reminded since); how many
    reminders went. REMINDER_INTERVAL 0 sends none."""
    interval = settings.REMINDER_INTERVAL
    if interval <= 0:
        return 0
    limit = limit or settings.REMINDER_BATCH
    due_before = timezone.now() - timedelta(seconds=interval)
    candidates = (
        SignatureRequest.objects.filter(
            status=SignatureRequest.Status.PENDING,
            automatic=False,
            notified_at__lte=due_before,
            document__practice__status=Practice.Status.PENDING,
            document__practice__email_disabled=False,
        )
        .exclude(reminded_at__gt=due_before)
        .select_related("document")
        .order_by("notified_at")[:limit]
    )
    sent = 0
    for request in candidates:
        try:
            if notifications.request_remind(request=request, due_before=due_before):
                sent += 1
        except OSError:
            # The mail server: the claim was undone, the next run tries again.
            logger.warning("reminder for signature %s not sent", request.pk, exc_info=True)
            break
    return sent


def invitations_catch_up(*, limit: int | None = None) -> int:
    """Send the tickets that should have gone and did not (the broker was down
    when a group unlocked): pending requests of unlocked groups never emailed.
    The claim in notifications.group_notify keeps this from doubling an email
    that the normal path sends at the same time. How many emails went."""
    limit = limit or settings.REMINDER_BATCH
    earlier_open = SignatureRequest.objects.blocking(
        document_id=OuterRef("document_id"), group=OuterRef("group")
    )
    missed = (
        SignatureRequest.objects.filter(
            status=SignatureRequest.Status.PENDING,
            automatic=False,
            notified_at__isnull=True,
            document__practice__status=Practice.Status.PENDING,
            document__practice__email_disabled=False,
        )
        .exclude(Exists(earlier_open))
        .order_by("document_id", "group")
        .values_list("document_id", "group")
        .distinct()[:limit]
    )
    sent = 0
    for document_id, group in list(missed):
        document = Document.objects.get(pk=document_id)
        try:
            sent += notifications.group_notify(document=document, group=group)
        except OSError:
            logger.warning("tickets of %s group %s not sent", document_id, group, exc_info=True)
            break
    return sent
