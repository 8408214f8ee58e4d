"""not_after: open DSTs past it expire, with their pending requests, an audit
event, the robot's webhook and an email to the signers who had their ticket."""

import json
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.services import robot_configuration_update
from practices import lifecycle, services
from practices.audit import audit_verify
from practices.models import AuditEvent, Practice, SignatureRequest
from tests.practices.conftest import dst_body, signature_request, url
from webhooks.models import Delivery

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def hooked_robot(robot):
    robot_configuration_update(
        robot=robot, request_headers={}, authentication={}, webhook_url="https://erp.example.com/h"
    )
    return robot


def _body(**overrides):
    later = (timezone.now() + timedelta(days=1)).isoformat()
    second = signature_request(
        signer={"email": "b@mail.com", "first_name": "Bruno", "last_name": "Verdi"},
        where={"page": 1},
    )
    body = dst_body(groups=[[signature_request()], [second]], metadata={}, not_after=later)
    body.update(overrides)
    return body


def _create(api, capture, **overrides) -> Practice:
    with capture(execute=True):
        response = api.post(url(), _body(**overrides))
    assert response.status_code == 201, response.content
    return Practice.objects.get(pk=response.json()["data"]["id"])


def _past(practice: Practice) -> None:
    Practice.objects.filter(pk=practice.pk).update(not_after=timezone.now() - timedelta(seconds=1))


def _messages(practice) -> list[dict]:
    rows = Delivery.objects.filter(stream=str(practice.pk)).order_by("sequence")
    return [json.loads(row.body) for row in rows]


def test_a_pending_dst_past_not_after_expires_with_its_requests(
    hooked_robot, api_as, django_capture_on_commit_callbacks
):
    practice = _create(api_as(hooked_robot), django_capture_on_commit_callbacks)
    _past(practice)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.practices_expire() == 1

    practice.refresh_from_db()
    assert practice.status == "expired"
    statuses = SignatureRequest.objects.filter(document__practice=practice)
    assert set(statuses.values_list("status", flat=True)) == {"expired"}
    event = AuditEvent.objects.filter(practice=practice).order_by("-sequence").first()
    assert event.kind == "practice.expired" and event.actor_label == "system"
    assert event.data["expired_signatures"] == 2
    assert audit_verify(practice=practice) is None
    last = _messages(practice)[-1]
    assert last["message"] == "DST_STATUS_CHANGED"
    assert last["data"]["status"] == "expired" and last["data"]["dst"] == str(practice.pk)
    # Only group 0 had its ticket; only its signer hears of the expiry.
    assert [m.to for m in mail.outbox] == [["mrossi@mail.com"]]
    assert mail.outbox[0].subject.startswith("Scaduta")
    assert "/sign/" not in mail.outbox[0].body


def test_a_waiting_dst_past_not_after_expires_too(admin_api, django_capture_on_commit_callbacks):
    body = _body()
    del body["documents"][0]["document"]
    body["documents"][0]["document_uri"] = "https://docs.example.com/a.pdf"
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_api.post(url(), body)
    practice = Practice.objects.get(pk=response.json()["data"]["id"])
    assert practice.status == "waiting"
    _past(practice)

    assert lifecycle.practices_expire() == 1

    practice.refresh_from_db()
    assert practice.status == "expired"
    assert audit_verify(practice=practice) is None


def test_final_and_future_dsts_are_left_alone(admin, admin_api, django_capture_on_commit_callbacks):
    cancelled = _create(admin_api, django_capture_on_commit_callbacks)
    services.practice_cancel(
        practice=cancelled, actor=services.Actor(user=admin), reason="changed my mind"
    )
    performed = _create(admin_api, django_capture_on_commit_callbacks)
    Practice.objects.filter(pk=performed.pk).update(status="performed")
    future = _create(admin_api, django_capture_on_commit_callbacks)
    no_deadline = _create(admin_api, django_capture_on_commit_callbacks, not_after=None)
    for practice in (cancelled, performed):
        _past(practice)
    lengths = {p.pk: Practice.objects.get(pk=p.pk).audit_length for p in (cancelled, performed)}

    assert lifecycle.practices_expire() == 0

    assert Practice.objects.get(pk=cancelled.pk).status == "cancelled"
    assert Practice.objects.get(pk=performed.pk).status == "performed"
    assert Practice.objects.get(pk=future.pk).status == "pending"
    assert Practice.objects.get(pk=no_deadline.pk).status == "pending"
    for pk, length in lengths.items():
        assert Practice.objects.get(pk=pk).audit_length == length
    assert not SignatureRequest.objects.filter(status="expired").exists()


def test_expiring_twice_is_one_expiry(hooked_robot, api_as, django_capture_on_commit_callbacks):
    practice = _create(api_as(hooked_robot), django_capture_on_commit_callbacks)
    _past(practice)

    assert lifecycle.practice_expire(practice_id=practice.pk) is True
    assert lifecycle.practice_expire(practice_id=practice.pk) is False
    assert lifecycle.practices_expire() == 0

    assert AuditEvent.objects.filter(practice=practice, kind="practice.expired").count() == 1
    expired = [m for m in _messages(practice) if m["data"].get("status") == "expired"]
    assert len(expired) == 1


def test_a_run_is_bounded(admin_api, django_capture_on_commit_callbacks):
    practices = [_create(admin_api, django_capture_on_commit_callbacks) for _ in range(3)]
    for practice in practices:
        _past(practice)

    assert lifecycle.practices_expire(limit=2) == 2
    assert lifecycle.practices_expire(limit=2) == 1


def test_concurrent_runs_expire_each_dst_once(integration_db, org, admin, api_as):
    practices = []
    for _ in range(4):
        response = api_as(admin).post(url(), _body(metadata={"studio_email_disabled": True}))
        practices.append(Practice.objects.get(pk=response.json()["data"]["id"]))
    for practice in practices:
        _past(practice)
    counts, errors = [], []

    def run():
        try:
            counts.append(lifecycle.practices_expire())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(counts) == 4
    for practice in practices:
        assert AuditEvent.objects.filter(practice=practice, kind="practice.expired").count() == 1
        practice.refresh_from_db()
        assert audit_verify(practice=practice) is None


def test_the_beat_tasks_run(admin_api, django_capture_on_commit_callbacks):
    from practices import tasks

    practice = _create(admin_api, django_capture_on_commit_callbacks)
    _past(practice)

    # Called as beat calls them, in this process (no broker round trip).
    assert tasks.practices_expire.apply().result == 1
    assert tasks.reminders_send.apply().result == 0
    assert Practice.objects.get(pk=practice.pk).status == "expired"
