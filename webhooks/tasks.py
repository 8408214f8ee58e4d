"""Thin tasks: the sending logic is in webhooks.services."""

from celery import shared_task

from webhooks import services


@shared_task(ignore_result=True)
def deliver_stream(stream: str) -> None:
    services.stream_deliver(stream=stream)


@shared_task(ignore_result=True)
def deliver_due() -> None:
    services.deliveries_due_dispatch()
