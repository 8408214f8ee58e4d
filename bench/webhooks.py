"""Webhook delivery latency on loopback: from the commit of a change to the
receiver holding the request, through the outbox, Redis and a real Celery
worker (with beat), against a bare `requests.post` to the same receiver.

Latency: events one at a time, each in a stream of its own (a DST each), so
nothing waits in a queue. Burst: every event committed at once, in streams of
ten, and the time until the last one has arrived.
"""

import json
import statistics
import subprocess
import time
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection, transaction

from accounts import services as accounts_services
from portal.celery import app as celery_app
from portal.embedded_redis import EmbeddedRedis
from tests.integration import CeleryWorker
from tests.servers import WebhookReceiver
from webhooks import services
from webhooks.models import Delivery

EVENTS = 200
BURST_STREAM = 10
TARGET_P95_MS = 500.0


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _robot(url: str):
    created = accounts_services.organization_create(
        slug="bench-hooks", name="Bench", admin_username="admin", admin_password="Bench-Pass-1"
    )
    robot = accounts_services.user_create(
        actor=created.admin, organization=created.organization, username="erp", automatic=True
    )
    accounts_services.robot_configuration_update(
        robot=robot, request_headers={}, authentication={}, webhook_url=url
    )
    return robot


def _body(stream: str, n: int) -> dict:
    return {
        "message": "DST_STATUS_CHANGED",
        "meta": {},
        "data": {"status": "pending", "title": "Bench", "dst": stream, "n": n, "slug": "bench"},
        "created": "2026-01-01T00:00:00+00:00",
    }


def _baseline(receiver: WebhookReceiver, url: str) -> list[float]:
    samples = []
    for n in range(EVENTS):
        body = json.dumps(_body("baseline", n)).encode()
        start = time.perf_counter()
        requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        samples.append((time.perf_counter() - start) * 1000)
    receiver.reset()
    return samples


def _latency(robot, receiver: WebhookReceiver) -> list[float]:
    samples = []
    for n in range(EVENTS):
        start = time.perf_counter()
        with transaction.atomic():
            services.delivery_enqueue(robot=robot, stream=f"latency-{n}", body=_body("l", n))
        receiver.wait_for(n + 1, timeout=30)
        samples.append((time.perf_counter() - start) * 1000)
    receiver.reset()
    return samples


def _burst(robot, receiver: WebhookReceiver) -> float:
    start = time.perf_counter()
    for n in range(EVENTS):
        with transaction.atomic():
            services.delivery_enqueue(
                robot=robot, stream=f"burst-{n % (EVENTS // BURST_STREAM)}", body=_body("b", n)
            )
    receiver.wait_for(EVENTS, timeout=120)
    elapsed = time.perf_counter() - start
    receiver.reset()
    return elapsed


def _undelivered_after(timeout: float) -> int:
    # The receiver has every request; the worker records the last outcomes just after.
    deadline = time.monotonic() + timeout
    while True:
        left = Delivery.objects.exclude(status=Delivery.Status.DELIVERED).count()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def run() -> dict:
    print("\nWebhook delivery on loopback (enqueue -> receiver), real Redis and Celery worker")
    var_dir = Path(settings.VAR_DIR)
    redis = EmbeddedRedis(var_dir / "bench-redis", port=0)
    redis.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    celery_app.conf.broker_url = redis.url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    receiver = WebhookReceiver().start()
    worker = None
    try:
        robot = _robot(receiver.url("/hook"))
        database = connection.settings_dict["NAME"]
        worker = CeleryWorker(
            broker_url=redis.url,
            database_url=f"sqlite:///{database}",
            var_dir=var_dir / "bench-worker",
            env={"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"},
        ).start()
        # Warm up both paths (connections, imports in the worker).
        for n in range(20):
            with transaction.atomic():
                services.delivery_enqueue(robot=robot, stream=f"warm-{n}", body=_body("w", n))
        receiver.wait_for(20, timeout=60)
        receiver.reset()
        baseline = _baseline(receiver, receiver.url("/hook"))
        latency = _latency(robot, receiver)
        burst = _burst(robot, receiver)
        undelivered = _undelivered_after(10.0)
    finally:
        if worker is not None:
            worker.stop()
        receiver.stop()
        redis.stop()

    figures = {
        "baseline_p50": statistics.median(baseline),
        "baseline_p95": percentile(baseline, 95),
        "p50": statistics.median(latency),
        "p95": percentile(latency, 95),
        "burst_s": burst,
        "burst_rate": EVENTS / burst,
        "undelivered": undelivered,
    }
    print(f"{'':<44} {'p50':>9} {'p95':>9}")
    print(
        f"{'bare requests.post (baseline)':<44} {figures['baseline_p50']:7.2f}ms"
        f" {figures['baseline_p95']:7.2f}ms"
    )
    print(
        f"{'enqueue -> received (outbox, Redis, worker)':<44} {figures['p50']:7.2f}ms"
        f" {figures['p95']:7.2f}ms   {figures['p50'] / figures['baseline_p50']:6.1f}x /"
        f" {figures['p95'] / figures['baseline_p95']:6.1f}x baseline"
    )
    verdict = "met" if figures["p95"] <= TARGET_P95_MS else "MISSED"
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: {verdict}")
    print(
        f"burst of {EVENTS} events in {EVENTS // BURST_STREAM} streams: all received in"
        f" {burst:.2f} s ({figures['burst_rate']:.0f} events/s); undelivered: {undelivered}"
    )
    return figures
