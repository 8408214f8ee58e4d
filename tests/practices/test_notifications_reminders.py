"""Reminders: every REMINDER_INTERVAL to the pending signers of unlocked groups."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from practices import lifecycle
from practices.models import Practice, SignatureRequest
from practices.services import ticket_read, ticket_url
from tests.practices.conftest import dst_body, signature_request, url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _daily_reminders(settings):
    settings.REMINDER_INTERVAL = DAY


def _create(api, capture, metadata=None) -> Practice:
    second = signature_request(
        signer={"email": "b@mail.com", "first_name": "Bruno", "last_name": "Verdi"},
        where={"page": 1},
    )
    body = dst_body(groups=[[signature_request()], [second]], metadata=metadata or {})
    with capture(execute=True):
        response = api.post(url(), body)
    assert response.status_code == 201, response.content
    return Practice.objects.get(pk=response.json()["data"]["id"])


def _age(practice: Practice, seconds: float) -> None:
    """Pretend the emails of `practice` went `seconds` ago."""
    SignatureRequest.objects.filter(document__practice=practice, notified_at__isnull=False).update(
        notified_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_pending_signer_is_reminded_after_the_interval(
    admin_api, django_capture_on_commit_callbacks
):
    practice = _create(admin_api, django_capture_on_commit_callbacks)
    mail.outbox.clear()

    assert lifecycle.reminders_send() == 0  # emailed a moment ago
    _age(practice, DAY + 60)
    assert lifecycle.reminders_send() == 1

    [message] = mail.outbox
    first = SignatureRequest.objects.get(document__practice=practice, group=0)
    assert message.to == ["mrossi@mail.com"]
    assert message.subject.startswith("Promemoria")
    assert ticket_url(ticket_read(request=first)) in message.body
    assert first.reminded_at is not None
    # The locked group 1 was never emailed, so it is not reminded either.
    assert SignatureRequest.objects.get(document__practice=practice, group=1).reminded_at is None


def test_one_reminder_per_interval(admin_api, django_capture_on_commit_callbacks):
    practice = _create(admin_api, django_capture_on_commit_callbacks)
    _age(practice, 3 * DAY)
    mail.outbox.clear()

    assert lifecycle.reminders_send() == 1
    assert lifecycle.reminders_send() == 0
    SignatureRequest.objects.filter(document__practice=practice).update(
        reminded_at=timezone.now() - timedelta(seconds=DAY + 60)
    )
    assert lifecycle.reminders_send() == 1
    assert len(mail.outbox) == 2


def test_no_reminder_when_signed_disabled_final_or_switched_off(
    admin_api, settings, django_capture_on_commit_callbacks
):
    signed = _create(admin_api, django_capture_on_commit_callbacks)
    SignatureRequest.objects.filter(document__practice=signed, group=0).update(status="performed")
    cancelled = _create(admin_api, django_capture_on_commit_callbacks)
    Practice.objects.filter(pk=cancelled.pk).update(status="cancelled")
    quiet = _create(
        admin_api, django_capture_on_commit_callbacks, metadata={"studio_email_disabled": True}
    )
    SignatureRequest.objects.filter(document__practice=quiet).update(
        notified_at=timezone.now() - timedelta(days=5)
    )
    for practice in (signed, cancelled):
        _age(practice, 5 * DAY)
    mail.outbox.clear()

    assert lifecycle.reminders_send() == 0

    live = _create(admin_api, django_capture_on_commit_callbacks)
    _age(live, 5 * DAY)
    mail.outbox.clear()
    settings.REMINDER_INTERVAL = 0
    assert lifecycle.reminders_send() == 0
    assert mail.outbox == []


def test_a_run_sends_a_bounded_number(admin_api, django_capture_on_commit_callbacks):
    for _ in range(3):
        _age(_create(admin_api, django_capture_on_commit_callbacks), 2 * DAY)
    mail.outbox.clear()

    assert lifecycle.reminders_send(limit=2) == 2
    assert lifecycle.reminders_send(limit=2) == 1
    assert lifecycle.reminders_send(limit=2) == 0
    assert len(mail.outbox) == 3


def test_tickets_missed_while_the_broker_was_down_are_sent_by_the_sweep(
    admin_api, django_capture_on_commit_callbacks
):
    # The commit callbacks never run: as if the broker refused the task.
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_api.post(
            url(),
            dst_body(
                groups=[
                    [signature_request()],
                    [
                        signature_request(
                            signer={"email": "b@mail.com", "first_name": "B", "last_name": "V"}
                        )
                    ],
                ],
                metadata={},
            ),
        )
    practice = Practice.objects.get(pk=response.json()["data"]["id"])
    assert mail.outbox == []

    assert lifecycle.invitations_catch_up() == 1
    assert lifecycle.invitations_catch_up() == 0
    assert [m.to for m in mail.outbox] == [["mrossi@mail.com"]]

    SignatureRequest.objects.filter(document__practice=practice, group=0).update(status="performed")
    assert lifecycle.invitations_catch_up() == 1
    assert mail.outbox[-1].to == ["b@mail.com"]


def test_a_broker_that_refuses_the_task_does_not_fail_the_create(
    admin_api, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from practices import tasks

    def refuse(*args, **kwargs):
        raise OSError("broker down")

    monkeypatch.setattr(tasks.group_notify, "delay", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(url(), dst_body(metadata={}))

    assert response.status_code == 201, response.content
    assert mail.outbox == []
