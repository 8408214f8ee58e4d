"""Sending deliveries, in-process, to real loopback receivers.

The worker's logic (`stream_deliver`) runs in the test process here; the
integration tests run it in a real worker.
"""

import base64
import functools
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
import standardwebhooks
from django.utils import timezone

from accounts.models import RobotConfiguration, User
from portal import outbound
from tests.servers import DocumentServer, PrivateCA, ServerAuth, WebhookReceiver
from tests.webhooks.conftest import configure
from webhooks import services
from webhooks.models import Attempt, Delivery

pytestmark = pytest.mark.django_db

Status = Delivery.Status


def enqueue(robot, stream="dst-1", n=1, **body):
    return [
        services.delivery_enqueue(robot=robot, stream=stream, body={"n": i, **body})
        for i in range(1, n + 1)
    ]


def make_due(*deliveries):
    """The next attempt is now: instead of sleeping through the schedule."""
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def reload(delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)


def numbers(received) -> list[int]:
    return [json.loads(r.body)["n"] for r in received]


# What is sent


def test_the_signature_verifies_with_the_standard_webhooks_library(hooked, receiver):
    (delivery,) = enqueue(hooked, message="DST_STATUS_CHANGED")
    assert services.stream_deliver(stream="dst-1") == 1
    (request,) = receiver.wait_for(1)
    headers = dict(request.headers)
    verified = standardwebhooks.Webhook(hooked.secret).verify(request.body, headers)
    assert verified == {"n": 1, "message": "DST_STATUS_CHANGED"}
    assert request.headers["webhook-id"] == str(delivery.event_id)
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 10
    # A tampered body or another secret does not verify.
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(hooked.secret).verify(request.body + b" ", headers)
    other = "whsec_" + base64.b64encode(b"k" * 32).decode()
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(request.body, headers)


def test_the_signature_is_hmac_sha256_of_id_timestamp_and_body(hooked, receiver):
    enqueue(hooked, text="perché")
    services.stream_deliver(stream="dst-1")
    (request,) = receiver.wait_for(1)
    key = base64.b64decode(hooked.secret.removeprefix("whsec_"))
    signed = b".".join(
        [
            request.headers["webhook-id"].encode(),
            request.headers["webhook-timestamp"].encode(),
            request.body,
        ]
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"


def test_a_post_of_json_with_the_robots_headers_and_basic_authentication(robot, receiver):
    configure(
        robot,
        receiver.url("/hook?channel=dst"),
        headers={"X-Tenant": ["acme"], "X-Multi": ["a", "b"], "Content-Type": ["text/plain"]},
        authentication={"username": "hook", "password": "s3cret", "authMode": "basic"},
    )
    (delivery,) = enqueue(robot)
    services.stream_deliver(stream="dst-1")
    (request,) = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hook?channel=dst"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["X-Multi"] == "a, b"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"hook:s3cret").decode()
    assert request.body == delivery.body.encode()
    stored = reload(delivery)
    assert stored.status == Status.DELIVERED
    assert stored.last_status_code == 200
    assert stored.delivered_at is not None
    assert stored.claimed_until is None


def test_digest_authentication(robot):
    auth = ServerAuth("digest", "hook", "s3cret")
    with DocumentServer(auth=auth) as server:
        server.add("/hook", b"", content_type="text/plain")
        configure(
            robot,
            server.url("/hook"),
            authentication={"username": "hook", "password": "s3cret", "authMode": "digest"},
        )
        (delivery,) = enqueue(robot)
        services.stream_deliver(stream="dst-1")
        first, second = server.wait_for(2)
    assert "Authorization" not in first.headers
    assert second.headers["Authorization"].startswith("Digest ")
    assert second.body == delivery.body.encode()
    assert reload(delivery).status == Status.DELIVERED


def test_a_client_certificate_over_tls(robot, tmp_path, monkeypatch):
    ca = PrivateCA(tmp_path / "ca")
    # The receiver's certificate comes from the test CA: trust it for this test.
    monkeypatch.setattr(
        outbound, "request", functools.partial(outbound.request, verify=str(ca.cert_path))
    )
    client = ca.issue("sigillo-robot", client=True)
    tls = ca.issue("localhost", ips=("127.0.0.1",))
    with DocumentServer(tls=tls, client_ca=ca.cert_path) as server:
        server.add("/hook", b"", content_type="text/plain")
        configure(
            robot,
            server.url("/hook"),
            authentication={"clientCert": client.cert_pem, "clientKey": client.key_pem},
        )
        (delivery,) = enqueue(robot)
        services.stream_deliver(stream="dst-1")
        (request,) = server.wait_for(1)
    assert request.client_cert_cn == "sigillo-robot"
    assert reload(delivery).status == Status.DELIVERED


# Order


def test_a_later_event_waits_until_the_earlier_one_is_delivered(hooked, receiver):
    receiver.fail(times=1)
    first, second, third = enqueue(hooked, n=3)
    assert services.stream_deliver(stream="dst-1") == 1
    assert numbers(receiver.wait_for(1)) == [1]
    assert reload(first).status == Status.PENDING
    assert reload(second).attempts == 0
    # Not due yet: nothing moves.
    assert services.stream_deliver(stream="dst-1") == 0
    make_due(first)
    assert services.stream_deliver(stream="dst-1") == 3
    assert numbers(receiver.wait_for(4)) == [1, 1, 2, 3]
    assert {reload(d).status for d in (first, second, third)} == {Status.DELIVERED}


def test_streams_are_independent(hooked, receiver):
    receiver.fail(times=1)
    enqueue(hooked, stream="dst-a", n=2)
    enqueue(hooked, stream="dst-b", n=2)
    services.stream_deliver(stream="dst-a")
    services.stream_deliver(stream="dst-b")
    received = receiver.wait_for(3)
    assert numbers(received) == [1, 1, 2]
    assert Delivery.objects.filter(stream="dst-b", status=Status.DELIVERED).count() == 2
    assert Delivery.objects.get(stream="dst-a", sequence=1).status == Status.PENDING


# Retries


def test_retries_follow_the_schedule_then_give_up_and_the_stream_moves_on(
    hooked, receiver, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 60]
    receiver.fail(times=3, status=503)
    first, second = enqueue(hooked, n=2)

    before = timezone.now()
    services.stream_deliver(stream="dst-1")
    stored = reload(first)
    assert (stored.status, stored.attempts, stored.last_status_code) == (Status.PENDING, 1, 503)
    assert stored.last_error == "HTTP 503"
    assert timedelta(seconds=5) <= stored.next_attempt_at - before < timedelta(seconds=7)

    make_due(first)
    before = timezone.now()
    services.stream_deliver(stream="dst-1")
    stored = reload(first)
    assert stored.attempts == 2
    assert timedelta(seconds=60) <= stored.next_attempt_at - before < timedelta(seconds=62)

    make_due(first)
    assert services.stream_deliver(stream="dst-1") == 2
    assert reload(first).status == Status.FAILED
    assert reload(first).attempts == 3
    assert reload(second).status == Status.DELIVERED
    received = receiver.wait_for(4)
    assert numbers(received) == [1, 1, 1, 2]
    # Every attempt sends the same bytes under the same id.
    assert len({r.body for r in received[:3]}) == 1
    assert {r.headers["webhook-id"] for r in received[:3]} == {str(first.event_id)}
    log = list(Attempt.objects.filter(delivery=first).order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 503), (2, 503), (3, 503)]


def test_a_receiver_that_hangs_past_the_timeout_is_retried(hooked, receiver, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.hang(times=1)
    (delivery,) = enqueue(hooked)
    started = time.monotonic()
    services.stream_deliver(stream="dst-1")
    assert time.monotonic() - started < 3
    stored = reload(delivery)
    assert stored.status == Status.PENDING
    assert stored.last_status_code is None
    assert stored.last_error.startswith("TimedOut")
    receiver.recover()
    make_due(delivery)
    services.stream_deliver(stream="dst-1")
    assert reload(delivery).status == Status.DELIVERED
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_an_unreachable_receiver_is_retried(hooked, receiver):
    url = receiver.url("/hook")
    receiver.stop()
    configure(hooked, url)
    (delivery,) = enqueue(hooked)
    services.stream_deliver(stream="dst-1")
    stored = reload(delivery)
    assert stored.status == Status.PENDING
    assert stored.last_error.startswith("Unreachable")


def test_a_redirect_is_not_followed(robot):
    with WebhookReceiver() as target, DocumentServer() as server:
        server.redirect("/hook", target.url("/hook"), status=307)
        configure(robot, server.url("/hook"))
        (delivery,) = enqueue(robot)
        services.stream_deliver(stream="dst-1")
        assert target.requests == []
    stored = reload(delivery)
    assert stored.status == Status.PENDING
    assert stored.last_error.startswith("BadRedirect")


# 410 Gone


def test_410_disables_the_webhook_and_cancels_what_waits_for_it(hooked, receiver, other_org, org):
    receiver.fail(times=1, status=410)
    first, second = enqueue(hooked, stream="dst-1", n=2)
    (elsewhere,) = enqueue(hooked, stream="dst-2")
    assert services.stream_deliver(stream="dst-1") == 1
    assert RobotConfiguration.objects.get(robot=hooked).webhook_url == ""
    assert {reload(d).status for d in (first, second, elsewhere)} == {Status.CANCELLED}
    assert reload(first).last_status_code == 410
    assert len(receiver.requests) == 1
    # Nothing more is queued for it until an admin sets a URL again (the robot
    # as the next request loads it: an instance keeps the configuration it was
    # loaded with).
    robot = User.objects.get(pk=hooked.pk)
    assert services.delivery_enqueue(robot=robot, stream="dst-1", body={}) is None


def test_410_from_a_url_an_admin_has_meanwhile_replaced_disables_nothing(
    hooked, receiver, monkeypatch
):
    (delivery,) = enqueue(hooked)
    new_url = receiver.url("/new")
    send = services._send

    def send_then_reconfigure(delivery):
        result = send(delivery)
        configure(hooked, new_url)
        return result

    monkeypatch.setattr(services, "_send", send_then_reconfigure)
    with WebhookReceiver(status=410) as gone:
        configure(hooked, gone.url("/old"))
        services.stream_deliver(stream="dst-1")
    assert RobotConfiguration.objects.get(robot=hooked).webhook_url == new_url
    stored = reload(delivery)
    assert (stored.status, stored.last_status_code) == (Status.PENDING, 410)
    monkeypatch.setattr(services, "_send", send)
    make_due(delivery)
    services.stream_deliver(stream="dst-1")
    assert reload(delivery).status == Status.DELIVERED
    assert receiver.wait_for(1)[0].path == "/new"


def test_a_robot_without_a_url_at_send_time_cancels_the_delivery(hooked, receiver):
    (delivery,) = enqueue(hooked)
    configure(hooked, "")
    services.stream_deliver(stream="dst-1")
    stored = reload(delivery)
    assert stored.status == Status.CANCELLED
    assert stored.last_error == "no webhook URL"
    assert receiver.requests == []


# Leases


def test_a_leased_delivery_is_not_sent_by_another_worker(hooked, receiver):
    (delivery,) = enqueue(hooked)
    claimed = services._head_claim("dst-1")
    assert claimed is not None and claimed[0].pk == delivery.pk
    assert services._head_claim("dst-1") is None
    assert services.stream_deliver(stream="dst-1") == 0
    assert receiver.requests == []


def test_an_expired_lease_is_taken_over_and_the_first_worker_loses_its_result(hooked, receiver):
    (delivery,) = enqueue(hooked)
    stale, stale_claim = services._head_claim("dst-1")
    # The first worker died (or stalled) past its lease.
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.stream_deliver(stream="dst-1") == 1
    assert reload(delivery).status == Status.DELIVERED
    # The stalled worker finishing later does not overwrite the outcome.
    assert services.delivery_attempt(delivery=stale, claim=stale_claim) == "lost"
    stored = reload(delivery)
    assert stored.status == Status.DELIVERED
    assert stored.attempts == 1
    sent = receiver.wait_for(2)
    assert sent[0].headers["webhook-id"] == sent[1].headers["webhook-id"]


def test_the_sweep_kicks_only_due_unleased_stream_heads(hooked, receiver, monkeypatch):
    kicked = []
    monkeypatch.setattr(services, "stream_kick", lambda *, stream: kicked.append(stream))
    due, behind = enqueue(hooked, stream="due", n=2)
    (later,) = enqueue(hooked, stream="later")
    Delivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    (leased,) = enqueue(hooked, stream="leased")
    services._head_claim("leased")
    (done,) = enqueue(hooked, stream="done")
    Delivery.objects.filter(pk=done.pk).update(status=Status.DELIVERED)
    assert services.deliveries_due_dispatch() == 1
    assert kicked == ["due"]


def test_the_sweep_asks_again_only_after_a_lease_period(hooked, receiver, monkeypatch):
    kicked = []
    monkeypatch.setattr(services, "stream_kick", lambda *, stream: kicked.append(stream))
    (delivery,) = enqueue(hooked)
    assert services.deliveries_due_dispatch() == 1
    # The task waits behind a backlog: the next sweeps do not queue copies.
    assert services.deliveries_due_dispatch() == 0
    Delivery.objects.filter(pk=delivery.pk).update(kicked_at=timezone.now() - timedelta(seconds=10))
    assert services.deliveries_due_dispatch() == 1
    # An attempt clears the mark: the retry is kicked as soon as it is due.
    receiver.fail(times=1)
    services.stream_deliver(stream="dst-1")
    make_due(delivery)
    assert reload(delivery).kicked_at is None
    assert services.deliveries_due_dispatch() == 1
    assert kicked == ["dst-1"] * 3


# Redelivery


def test_redelivery_sends_the_same_id_and_body_again(hooked, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5]
    (delivery,) = enqueue(hooked)
    services.stream_deliver(stream="dst-1")
    services.delivery_redeliver(delivery=reload(delivery))
    stored = reload(delivery)
    assert (stored.status, stored.schedule_base, stored.delivered_at) == (Status.PENDING, 1, None)
    receiver.fail(times=1)
    services.stream_deliver(stream="dst-1")
    # The schedule starts over for the redelivery.
    assert reload(delivery).status == Status.PENDING
    make_due(delivery)
    services.stream_deliver(stream="dst-1")
    stored = reload(delivery)
    assert (stored.status, stored.attempts) == (Status.DELIVERED, 3)
    sent = receiver.wait_for(3)
    assert {r.headers["webhook-id"] for r in sent} == {str(delivery.event_id)}
    assert {r.body for r in sent} == {delivery.body.encode()}


def test_a_pending_delivery_cannot_be_redelivered(hooked):
    (delivery,) = enqueue(hooked)
    with pytest.raises(services.NotRedeliverable):
        services.delivery_redeliver(delivery=delivery)


# The guard


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0177.0.0.1", "127.1"],
)
def test_the_guard_refuses_loopback_when_it_is_not_allowed(hooked, receiver, settings, host):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    configure(hooked, f"http://{host}:{receiver.port}/hook")
    (delivery,) = enqueue(hooked)
    services.stream_deliver(stream="dst-1")
    time.sleep(0.1)
    assert receiver.connections == 0
    assert receiver.requests == []
    stored = reload(delivery)
    assert stored.status == Status.PENDING
    assert stored.last_error.startswith("Refused")


def test_secrets_stay_out_of_the_log(robot, receiver):
    configure(
        robot,
        receiver.url("/hook?token=very-secret-token"),
        authentication={"username": "hook", "password": "pw-never-logged", "authMode": "basic"},
    )
    receiver.stop()
    (delivery,) = enqueue(robot)
    services.stream_deliver(stream="dst-1")
    stored = reload(delivery)
    attempt = Attempt.objects.get(delivery=delivery)
    for text in (stored.last_error, attempt.error):
        assert "very-secret-token" not in text
        assert "pw-never-logged" not in text
