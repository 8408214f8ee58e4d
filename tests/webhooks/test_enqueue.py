"""The outbox is written in the caller's transaction, in order, once per robot URL."""

import json
import threading
import time

import pytest
from django.db import transaction

from accounts import services as accounts_services
from webhooks import services
from webhooks.models import Delivery


def configure(robot, url="http://127.0.0.1:9/hook"):
    accounts_services.robot_configuration_update(
        robot=robot, request_headers={}, authentication={}, webhook_url=url
    )


@pytest.mark.django_db
def test_nothing_is_queued_for_a_robot_without_a_webhook_url(robot):
    assert services.delivery_enqueue(robot=robot, stream="dst-1", body={"a": 1}) is None
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_sequences_count_per_stream_and_the_body_is_serialized_once(robot):
    configure(robot)
    first = services.delivery_enqueue(robot=robot, stream="dst-1", body={"message": "one"})
    second = services.delivery_enqueue(robot=robot, stream="dst-1", body={"message": "two"})
    other = services.delivery_enqueue(robot=robot, stream="dst-2", body={"message": "x"})
    assert (first.sequence, second.sequence, other.sequence) == (1, 2, 1)
    assert first.event_id != second.event_id
    stored = Delivery.objects.get(pk=first.pk)
    assert stored.status == Delivery.Status.PENDING
    assert json.loads(stored.body) == {"message": "one"}
    assert stored.body == '{"message":"one"}'


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_delivery(robot):
    configure(robot)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.delivery_enqueue(robot=robot, stream="dst-1", body={"message": "one"})
        raise RuntimeError("the change failed")
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_the_sender_is_kicked_only_after_commit(
    robot, django_capture_on_commit_callbacks, monkeypatch
):
    configure(robot)
    kicked = []
    monkeypatch.setattr(services, "stream_kick_soon", lambda *, stream: kicked.append(stream))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.delivery_enqueue(robot=robot, stream="dst-9", body={})
        assert kicked == []
    assert len(callbacks) == 1
    assert kicked == ["dst-9"]


def test_a_slow_broker_never_holds_up_the_caller(monkeypatch):
    kicked = threading.Event()

    def slow_kick(*, stream):
        time.sleep(1)
        kicked.set()

    monkeypatch.setattr(services, "stream_kick", slow_kick)
    started = time.monotonic()
    services.stream_kick_soon(stream="dst-slow")
    assert time.monotonic() - started < 0.2
    assert kicked.wait(15)
