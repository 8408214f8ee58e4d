"""Thin tasks: the sending logic is in webhooks.services."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from webhooks import services


@shared_task(ignore_result=True)
def deliver_stream(stream: str) -> None:
    services.stream_deliver(stream=stream)


@shared_task(ignore_result=True)
def deliver_due() -> None:
    services.deliveries_due_dispatch()


@shared_task(ignore_result=True)
def prune_deliveries() -> None:
    if settings.WEBHOOK_RETENTION_DAYS > 0:
        services.deliveries_prune(older_than=timedelta(days=settings.WEBHOOK_RETENTION_DAYS))
