"""Webhook deliveries: the outbox written by the services that change state.

`delivery_enqueue` is called inside the caller's transaction and only writes a
row; the worker sends it after the commit (see `stream_deliver`).
"""

import json
import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F

from accounts.models import RobotConfiguration, User
from webhooks.models import Delivery, StreamCounter

logger = logging.getLogger(__name__)


def _body_text(body: dict) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _sequence_next(stream: str) -> int:
    # The counter row is created once (a concurrent creator waits, then does
    # nothing) and then incremented in place: the UPDATE holds the row lock
    # until the caller's transaction ends, so sequences never repeat or cross.
    StreamCounter.objects.bulk_create([StreamCounter(stream=stream)], ignore_conflicts=True)
    StreamCounter.objects.filter(stream=stream).update(last_sequence=F("last_sequence") + 1)
    return StreamCounter.objects.values_list("last_sequence", flat=True).get(stream=stream)


def delivery_enqueue(*, robot: User, stream: str, body: dict) -> Delivery | None:
    """Queue `body` for the robot's webhook, after the earlier events of `stream`.

    Call it inside the transaction that makes the change: the row commits (or
    not) with it, and the sender is kicked once it has committed. Nothing is
    written when the robot has no webhook URL.
    """
    url = (
        RobotConfiguration.objects.filter(robot=robot).values_list("webhook_url", flat=True).first()
    )
    if not url:
        return None
    text = _body_text(body)
    with transaction.atomic():
        delivery = Delivery.objects.create(
            robot=robot, stream=stream, sequence=_sequence_next(stream), body=text
        )
    transaction.on_commit(lambda: stream_kick(stream=stream), robust=True)
    return delivery


def stream_kick(*, stream: str) -> None:
    """Ask a worker to send what is due in `stream` now.

    Only a shortcut: when the broker is unreachable the delivery is still in
    the database, and the periodic sweep (`deliveries_due_dispatch`) sends it.
    """
    from webhooks import tasks

    try:
        tasks.deliver_stream.apply_async((stream,), retry=False)
    except Exception as exc:  # the broker being down must not fail the caller
        logger.warning("webhook stream %s not kicked (%s); the sweep will send it", stream, exc)
