"""Webhook deliveries: the outbox written by the services that change state.

`delivery_enqueue` (`deliveries_enqueue` for the several events of one change)
is called inside the caller's transaction and only writes rows. After the
commit a worker sends them (`stream_deliver`); when the broker or the worker is
away, the periodic sweep (`deliveries_due_dispatch`) finds them in the
database. Events of one stream leave strictly in order: the oldest pending
delivery of a stream is its head, and nothing behind it is sent until the head
is delivered, given up or cancelled.

A worker owns a delivery only while it holds its lease: `claimed_until` and a
claim token set by one conditional UPDATE. A worker that dies mid-send leaves a
lease that runs out, and the delivery is sent again under the same `webhook-id`
(at least once; receivers dedupe on the id).
"""

import contextlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts import credentials as robot_credentials
from accounts.models import RobotConfiguration, User
from accounts.services import robot_configuration_read
from portal import outbound
from webhooks import signatures
from webhooks.models import Attempt, Delivery, StreamCounter

logger = logging.getLogger(__name__)

# Receivers answer with a status; what they write in the body is not read, so
# a small cap keeps a misbehaving one from streaming into the worker.
RESPONSE_MAX_BYTES = 64 * 1024
# Deliveries one task sends in a row before it hands the stream to a new task,
# so one busy stream does not hold a worker thread for ever.
STREAM_BATCH = 50
# How many streams one sweep dispatches at most; the next sweep takes the rest.
SWEEP_LIMIT = 1000

Status = Delivery.Status


class NotRedeliverable(Exception):
    pass


# Enqueueing


def _body_text(body: dict) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _sequences_next(stream: str, count: int) -> range:
    # The counter row is created once (a concurrent creator waits, then does
    # nothing) and then incremented in place: the UPDATE holds the row lock
    # until the caller's transaction ends, so sequences never repeat or cross.
    StreamCounter.objects.bulk_create([StreamCounter(stream=stream)], ignore_conflicts=True)
    StreamCounter.objects.filter(stream=stream).update(last_sequence=F("last_sequence") + count)
    last = StreamCounter.objects.values_list("last_sequence", flat=True).get(stream=stream)
    return range(last - count + 1, last + 1)


def delivery_enqueue(*, robot: User, stream: str, body: dict) -> Delivery | None:
    """Queue `body` for the robot's webhook, after the earlier events of `stream`.

    Call it inside the transaction that makes the change: the row commits (or
    not) with it, and the sender is kicked once it has committed. Nothing is
    written when the robot has no webhook URL. The body is serialized here,
    once: every attempt sends these bytes.
    """
    deliveries = deliveries_enqueue(robot=robot, stream=stream, bodies=[body])
    return deliveries[0] if deliveries else None


def deliveries_enqueue(*, robot: User, stream: str, bodies: list[dict]) -> list[Delivery]:
    """delivery_enqueue for several bodies of one change, in this order: the
    webhook URL is read and the stream's counter moved once for all of them."""
    if not bodies:
        return []
    url = _webhook_url(robot)
    if not url:
        return []
    texts = [_body_text(body) for body in bodies]
    with transaction.atomic():
        deliveries = [
            Delivery(robot=robot, stream=stream, sequence=sequence, body=text)
            for sequence, text in zip(_sequences_next(stream, len(texts)), texts, strict=True)
        ]
        Delivery.objects.bulk_create(deliveries)
    transaction.on_commit(lambda: stream_kick_soon(stream=stream), robust=True)
    return deliveries


def _webhook_url(robot: User) -> str:
    """The robot's webhook URL, "" without one. A robot that made the change
    itself brought its configuration when it authenticated (accounts.token_lookup);
    otherwise the configuration is read now."""
    try:
        return robot.robot_config.webhook_url
    except RobotConfiguration.DoesNotExist:
        return ""


def stream_kick(*, stream: str) -> None:
    """Ask a worker to send what is due in `stream` now.

    Only a shortcut: when the broker is unreachable the delivery is still in
    the database, and the periodic sweep sends it.
    """
    from webhooks import tasks

    try:
        tasks.deliver_stream.apply_async((stream,), retry=False)
    except Exception as exc:  # the broker being down must not fail the caller
        logger.warning("webhook stream %s not kicked (%s); the sweep will send it", stream, exc)


class _Kicker:
    """Kicks streams from a background thread, so that a slow or unreachable
    broker (redis-py waits seconds before giving up a connection) never holds
    up the request that committed the change. A kick lost with the process is
    made up for by the sweep."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def kick(self, stream: str) -> None:
        self._queue.put(stream)
        with self._lock:
            # A forked child (a web or pool worker) has the queue but not the thread.
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="webhook-kicker", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            streams = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(streams) < SWEEP_LIMIT:
                    streams.append(self._queue.get_nowait())
            for stream in dict.fromkeys(streams):
                stream_kick(stream=stream)


_kicker = _Kicker()


def stream_kick_soon(*, stream: str) -> None:
    _kicker.kick(stream)


# Sending


def deliveries_due_dispatch(*, limit: int = SWEEP_LIMIT) -> int:
    """Kick every stream whose head is due and not leased. Returns how many.

    A head the sweep has kicked is kicked again only after a lease period
    without an attempt (the kick was lost, or waits behind a backlog): slow
    receivers then cost one queued task per stream, not one per sweep.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    earlier = Delivery.objects.filter(
        stream=OuterRef("stream"), status=Status.PENDING, sequence__lt=OuterRef("sequence")
    )
    heads = list(
        Delivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(Q(kicked_at__isnull=True) | Q(kicked_at__lte=now - lease))
        .filter(~Exists(earlier))
        .order_by("next_attempt_at")
        .values_list("pk", "stream")[:limit]
    )
    Delivery.objects.filter(pk__in=[pk for pk, _ in heads]).update(kicked_at=now)
    for _, stream in heads:
        stream_kick(stream=stream)
    return len(heads)


def stream_deliver(*, stream: str, batch: int = STREAM_BATCH) -> int:
    """Send the stream's due deliveries in order, as long as they succeed.

    Stops at the first delivery that is not due, leased by another worker, or
    rescheduled after a failed attempt. Returns the number of attempts made.
    """
    made = 0
    while made < batch:
        claimed = _head_claim(stream)
        if claimed is None:
            return made
        delivery, claim = claimed
        outcome = delivery_attempt(delivery=delivery, claim=claim)
        made += 1
        if outcome not in (Status.DELIVERED, Status.FAILED, Status.CANCELLED):
            return made
    stream_kick(stream=stream)
    return made


def _head_claim(stream: str) -> tuple[Delivery, uuid.UUID] | None:
    now = timezone.now()
    head = (
        Delivery.objects.filter(stream=stream, status=Status.PENDING)
        .order_by("sequence")
        .values("pk", "next_attempt_at")
        .first()
    )
    if head is None or head["next_attempt_at"] > now:
        return None
    # After a redelivery the head can be an old event while a later one is
    # still in flight: wait for that one, one request per stream at a time.
    others_in_flight = (
        Delivery.objects.filter(stream=stream, claimed_until__gt=now)
        .exclude(pk=head["pk"])
        .exists()
    )
    if others_in_flight:
        return None
    claim = uuid.uuid4()
    won = (
        Delivery.objects.filter(pk=head["pk"], status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS), claim=claim)
    )
    if not won:
        return None
    return Delivery.objects.select_related("robot").get(pk=head["pk"]), claim


@dataclass
class _Result:
    status_code: int | None
    error: str
    url: str


def _outbound_credentials(authentication: dict):
    username = authentication.get("username") or ""
    cert = robot_credentials.pem_text(authentication.get("clientCert") or "")
    key = robot_credentials.pem_text(authentication.get("clientKey") or "")
    if not (username or cert):
        return None
    return outbound.Credentials(
        username=username,
        password=authentication.get("password") or "",
        mode=authentication.get("authMode") or "basic",
        client_cert_pem=cert,
        client_key_pem=key,
    )


def _request_headers(configured: dict[str, list[str]], ours: dict[str, str]) -> dict[str, str]:
    # The robot's headers go along, but never in place of the ones that make
    # the delivery what it is (type and signature).
    reserved = {name.lower() for name in ours}
    headers = {
        name: ", ".join(values) if isinstance(values, list) else str(values)
        for name, values in configured.items()
        if name.lower() not in reserved
    }
    headers.update(ours)
    return headers


def _error_text(exc: Exception) -> str:
    # outbound's messages name the host and the cause, never the URL (whose
    # query may hold a token) nor any credential.
    return f"{type(exc).__name__}: {exc}"[:200]


def _send(delivery: Delivery) -> _Result:
    try:
        config = robot_configuration_read(robot=delivery.robot)
    except RobotConfiguration.DoesNotExist:
        return _Result(None, "no webhook URL", "")
    url = config["webhooks"]["dst"]
    if not url:
        return _Result(None, "no webhook URL", "")
    timestamp = int(time.time())
    headers = _request_headers(
        config["requestHeaders"],
        {
            "Content-Type": "application/json",
            **signatures.headers(
                secret=config["webhooks"]["secret"],
                webhook_id=delivery.webhook_id,
                timestamp=timestamp,
                body=delivery.body,
            ),
        },
    )
    try:
        response = outbound.request(
            method="POST",
            url=url,
            headers=headers,
            body=delivery.body.encode(),
            auth=_outbound_credentials(config["authentication"]),
            timeout=settings.WEBHOOK_TIMEOUT,
            max_bytes=RESPONSE_MAX_BYTES,
            redirects=0,
        )
    except outbound.OutboundError as exc:
        return _Result(None, _error_text(exc), url)
    except Exception:  # a bug must not leave the delivery leased and silent
        logger.exception("webhook delivery %s: unexpected error", delivery.pk)
        return _Result(None, "request failed", url)
    return _Result(response.status, "", url)


def delivery_attempt(*, delivery: Delivery, claim: uuid.UUID) -> str:
    """Send a claimed delivery once and record the outcome. Returns its new status."""
    started_at = timezone.now()
    start = time.monotonic()
    result = _send(delivery)
    duration_ms = int((time.monotonic() - start) * 1000)
    return _record(delivery, claim, started_at, duration_ms, result)


def _next_step(delivery: Delivery, now) -> dict:
    """A failed attempt: the next one from the schedule, or give up."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    made = delivery.attempts + 1 - delivery.schedule_base
    if made <= len(schedule):
        return {"next_attempt_at": now + timedelta(seconds=schedule[made - 1])}
    return {"status": Status.FAILED}


@transaction.atomic
def _record(
    delivery: Delivery, claim: uuid.UUID, started_at, duration_ms: int, result: _Result
) -> str:
    now = timezone.now()
    Attempt.objects.create(
        delivery=delivery,
        number=delivery.attempts + 1,
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=result.status_code,
        error=result.error[:200],
    )
    code = result.status_code
    changes = {
        "attempts": F("attempts") + 1,
        "last_status_code": code,
        "last_error": result.error[:200],
        "claimed_until": None,
        "claim": None,
        "kicked_at": None,
    }
    if code is not None and 200 <= code < 300:
        changes.update(status=Status.DELIVERED, delivered_at=now, last_error="")
    elif code is None and not result.url:
        changes.update(status=Status.CANCELLED)
    elif code == 410 and _endpoint_disable(delivery, result.url):
        changes.update(status=Status.CANCELLED, last_error="410 Gone: the webhook was disabled")
    else:
        if code is not None:
            changes["last_error"] = f"HTTP {code}"
        changes.update(_next_step(delivery, now))
    mine = Delivery.objects.filter(pk=delivery.pk, claim=claim).update(**changes)
    if not mine:
        # The lease ran out and another worker took the delivery over: its
        # outcome is the one that counts.
        logger.warning("webhook delivery %s: lease lost during the attempt", delivery.pk)
        return "lost"
    return changes.get("status", Status.PENDING)


def _endpoint_disable(delivery: Delivery, url: str) -> bool:
    """410 Gone: forget the robot's webhook URL and cancel what was waiting for it.

    Only when the URL is still the one that answered 410: an admin may have
    set a new one meanwhile, and that one gets the deliveries.
    """
    cleared = RobotConfiguration.objects.filter(robot=delivery.robot, webhook_url=url).update(
        webhook_url=""
    )
    if not cleared:
        return False
    logger.warning("robot %s: webhook answered 410 Gone and was disabled", delivery.robot_id)
    Delivery.objects.filter(robot=delivery.robot, status=Status.PENDING).exclude(
        pk=delivery.pk
    ).update(
        status=Status.CANCELLED,
        last_error="cancelled: the webhook answered 410 Gone",
        claimed_until=None,
        claim=None,
    )
    return True


# Redelivery


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Queue a finished delivery again, same `webhook-id`, its schedule started over.

    It goes back to its place in its stream: later pending events of that
    stream wait for it, as they would have the first time.
    """
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status == Status.PENDING:
            raise NotRedeliverable("The delivery is still pending")
        url = (
            RobotConfiguration.objects.filter(robot_id=delivery.robot_id)
            .values_list("webhook_url", flat=True)
            .first()
        )
        if not url:
            raise NotRedeliverable("The robot has no webhook URL")
        delivery.status = Status.PENDING
        delivery.schedule_base = delivery.attempts
        delivery.next_attempt_at = timezone.now()
        delivery.delivered_at = None
        delivery.claimed_until = None
        delivery.claim = None
        delivery.kicked_at = None
        delivery.save(
            update_fields=[
                "status",
                "schedule_base",
                "next_attempt_at",
                "delivered_at",
                "claimed_until",
                "claim",
                "kicked_at",
            ]
        )
        stream = delivery.stream
        transaction.on_commit(lambda: stream_kick_soon(stream=stream), robust=True)
    return delivery


# Housekeeping

PRUNE_BATCH = 1000


def deliveries_prune(*, older_than: timedelta, batch: int = PRUNE_BATCH) -> int:
    """Delete the finished deliveries (delivered, given up, cancelled) created
    more than `older_than` ago, with their attempts, `batch` rows per
    statement. Pending deliveries stay whatever their age: the stream order
    and the retry schedule need them. Returns how many were deleted."""
    cutoff = timezone.now() - older_than
    finished = Delivery.objects.filter(created_at__lt=cutoff).exclude(status=Status.PENDING)
    deleted = 0
    while True:
        pks = list(finished.order_by().values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        _, per_model = Delivery.objects.filter(pk__in=pks).delete()  # attempts cascade
        deleted += per_model.get(Delivery._meta.label, 0)
