"""Deliveries through a real Celery worker (with beat), a real Redis and a real
loopback receiver that fails, hangs and recovers; the worker shares the test
database (a SQLite file, or PostgreSQL: see test_postgresql.py).

The worker runs with a short retry schedule, timeout and lease, so the
schedule, the timeout and a lease left by a killed worker play out in seconds.
"""

import json
import threading
import time
from collections import defaultdict

import pytest
import standardwebhooks
from django.db import connection, transaction

from tests.integration import CeleryWorker
from tests.webhooks.conftest import configure
from webhooks import services
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1",
    "WEBHOOK_TIMEOUT": "1.5",
    "WEBHOOK_LEASE_SECONDS": "3",
    "WEBHOOK_SWEEP_SECONDS": "0.5",
    "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
}
FINAL = (Delivery.Status.DELIVERED, Delivery.Status.FAILED, Delivery.Status.CANCELLED)


@pytest.fixture
def start_worker(integration_db, integration_redis, tmp_path):
    """start_worker(n) -> n fresh workers (with beat) on the shared database, stopped afterwards."""
    started: list[CeleryWorker] = []

    def start(count: int = 1) -> list[CeleryWorker]:
        workers = [
            CeleryWorker(
                broker_url=integration_redis.url,
                database_url=integration_db,
                var_dir=tmp_path / f"worker-{len(started) + i}",
                env=WORKER_ENV,
            )
            for i in range(count)
        ]
        started.extend(workers)
        for worker in workers:
            worker.launch()
        return [worker.wait_ready() for worker in workers]

    yield start
    for worker in started:
        worker.stop()


def wait_until_final(count: int, timeout: float = 30.0) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    while True:
        deliveries = list(Delivery.objects.order_by("stream", "sequence"))
        if len(deliveries) == count and all(d.status in FINAL for d in deliveries):
            return deliveries
        if time.monotonic() > deadline:
            states = [(d.stream, d.sequence, d.status, d.last_error) for d in deliveries]
            raise AssertionError(f"deliveries not final after {timeout} s: {states}")
        time.sleep(0.1)


def enqueue_events(robot, streams: list[str], per_stream: int) -> None:
    # As a service would: each change and its event in one transaction.
    for n in range(1, per_stream + 1):
        for stream in streams:
            with transaction.atomic():
                services.delivery_enqueue(
                    robot=robot,
                    stream=stream,
                    body={"message": "DST_STATUS_CHANGED", "stream": stream, "n": n},
                )


def arrivals(receiver) -> dict[str, list[tuple[int, str]]]:
    """Per stream, (n, webhook-id) of every request in the order it arrived."""
    seen = defaultdict(list)
    for request in receiver.requests:
        body = json.loads(request.body)
        seen[body["stream"]].append((body["n"], request.headers["webhook-id"]))
    return seen


def test_every_event_arrives_in_order_through_failures_and_a_hang(
    hooked, receiver, integration_broker, start_worker
):
    start_worker(2)  # competing for the same streams
    receiver.fail(times=2, status=500)
    receiver.hang(times=1)
    streams = ["dst-a", "dst-b", "dst-c"]
    enqueue_events(hooked, streams, per_stream=5)

    deliveries = wait_until_final(15)
    assert {d.status for d in deliveries} == {Delivery.Status.DELIVERED}
    ids = {(d.stream, json.loads(d.body)["n"]): str(d.event_id) for d in deliveries}
    assert len(set(ids.values())) == 15

    seen = arrivals(receiver)
    assert len(receiver.requests) >= 15 + 3  # two failures and a hang were retried
    for stream in streams:
        numbers = [n for n, _ in seen[stream]]
        # Every event, none overtaking an earlier one; a retry repeats the same event.
        assert sorted(set(numbers)) == [1, 2, 3, 4, 5]
        assert numbers == sorted(numbers)
        # The same id on every attempt of an event.
        assert all(webhook_id == ids[(stream, n)] for n, webhook_id in seen[stream])
    verifier = standardwebhooks.Webhook(hooked.secret)
    for request in receiver.requests:
        verifier.verify(request.body, dict(request.headers))
    # Each request the receiver got is an attempt one worker recorded: no
    # delivery was ever sent by two workers at once.
    assert sum(d.attempts for d in deliveries) == len(receiver.requests)
    assert all(d.attempt_log.count() == d.attempts for d in deliveries)
    assert any(d.attempts > 1 for d in deliveries)


def test_a_worker_killed_mid_delivery_leaves_it_to_the_next_worker(
    hooked, receiver, integration_broker, start_worker
):
    (first_worker,) = start_worker()
    receiver.hang(times=1)
    enqueue_events(hooked, ["dst-k"], per_stream=2)
    (hanging,) = receiver.wait_for(1, timeout=15)
    assert json.loads(hanging.body)["n"] == 1

    first_worker.kill()
    in_flight = Delivery.objects.get(stream="dst-k", sequence=1)
    assert in_flight.status == Delivery.Status.PENDING
    assert in_flight.claimed_until is not None  # the dead worker's lease
    assert in_flight.attempts == 0
    receiver.recover()

    start_worker()
    deliveries = wait_until_final(2)
    assert [d.status for d in deliveries] == [Delivery.Status.DELIVERED] * 2
    seen = arrivals(receiver)["dst-k"]
    assert [n for n, _ in seen] == [1, 1, 2]
    assert seen[0][1] == seen[1][1] == hanging.headers["webhook-id"]


def test_events_whose_kicks_were_lost_are_sent_by_the_sweep(
    hooked, receiver, integration_broker, start_worker
):
    enqueue_events(hooked, ["dst-d"], per_stream=3)
    time.sleep(0.3)  # the kicks reach Redis...
    integration_broker.client().flushdb()  # ...which restarts empty
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 3
    start_worker()
    wait_until_final(3)
    assert [n for n, _ in arrivals(receiver)["dst-d"]] == [1, 2, 3]


def test_a_robot_reconfigured_after_enqueue_is_sent_to_its_new_url(
    hooked, receiver, integration_broker, start_worker
):
    enqueue_events(hooked, ["dst-r"], per_stream=1)
    configure(hooked, receiver.url("/moved"))
    start_worker()
    wait_until_final(1)
    assert [r.path for r in receiver.requests] == ["/moved"]


def test_concurrent_changes_get_distinct_sequence_numbers(hooked, integration_broker):
    count = 12
    errors = []

    def change(i: int) -> None:
        try:
            with transaction.atomic():
                services.delivery_enqueue(robot=hooked, stream="dst-busy", body={"i": i})
                time.sleep(0.01)  # hold the counter while others queue up
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=change, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    sequences = Delivery.objects.filter(stream="dst-busy").values_list("sequence", flat=True)
    assert sorted(sequences) == list(range(1, count + 1))
