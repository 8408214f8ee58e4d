"""Celery tasks of practices: thin, they load by id, call a service and own the retries."""

from celery import shared_task

from practices import fetching
from practices.models import Document

# Seconds before each retry of a fetch that failed for a reason that may pass
# (the server unreachable, timing out, or answering 5xx).
FETCH_RETRY_DELAYS = (5, 30, 120)


@shared_task(bind=True, max_retries=len(FETCH_RETRY_DELAYS), acks_late=True)
def document_fetch(self, document_id: str) -> None:
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return
    try:
        fetching.document_fetch(
            document=document, final_attempt=self.request.retries >= self.max_retries
        )
    except fetching.FetchFailed as exc:
        raise self.retry(exc=exc, countdown=FETCH_RETRY_DELAYS[self.request.retries]) from exc


# --- signer emails and the lifecycle (practices.notifications, practices.lifecycle) ----


@shared_task(bind=True, max_retries=5, acks_late=True)
def group_notify(self, document_id: str, group: int) -> None:
    from practices import notifications

    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return
    try:
        notifications.group_notify(document=document, group=group)
    except OSError as exc:  # the mail server: the claim was undone, try again
        raise self.retry(exc=exc, countdown=60 * (self.request.retries + 1)) from exc


@shared_task(bind=True, max_retries=3, acks_late=True)
def practice_expired_notify(self, practice_id: str, request_ids: list[str]) -> None:
    from practices import notifications
    from practices.models import Practice

    practice = Practice.objects.select_related("organization").filter(pk=practice_id).first()
    if practice is None:
        return
    notifications.practice_expired_notify(practice=practice, request_ids=request_ids)


@shared_task
def practices_expire() -> int:
    from practices import lifecycle

    return lifecycle.practices_expire()


@shared_task
def reminders_send() -> int:
    from practices import lifecycle

    return lifecycle.invitations_catch_up() + lifecycle.reminders_send()


# --- the audit report (practices.report) ------------------------------------------------

# Seconds before each retry of a report whose seal could not be timestamped.
REPORT_RETRY_DELAYS = (30, 120, 600, 1800)


@shared_task(bind=True, max_retries=len(REPORT_RETRY_DELAYS), acks_late=True)
def practice_report(self, practice_id: str) -> None:
    from practices import report
    from practices.models import Practice

    practice = Practice.objects.filter(pk=practice_id).first()
    if practice is None:
        return
    try:
        report.report_generate(practice=practice)
    except report.ReportFailed as exc:
        raise self.retry(exc=exc, countdown=REPORT_RETRY_DELAYS[self.request.retries]) from exc
