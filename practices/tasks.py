"""Celery tasks of practices: thin, they load by id, call a service and own the retries."""

from celery import shared_task

from practices import services
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
        services.document_fetch(
            document=document, final_attempt=self.request.retries >= self.max_retries
        )
    except services.FetchFailed as exc:
        raise self.retry(exc=exc, countdown=FETCH_RETRY_DELAYS[self.request.retries]) from exc
