"""The audit trail is a hash chain: verify_audit finds the first row that was
edited, deleted or moved, and says OK otherwise."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from practices.audit import Entry, audit_extend, audit_verify
from practices.models import AuditEvent, Practice
from tests.practices.conftest import dst_body, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def practice(admin_api):
    """A practice with a chain of five events."""
    body = dst_body()
    body["documents"].append(dict(body["documents"][0]))
    body["documents"].append(dict(body["documents"][0]))
    dst = admin_api.post(url(), body).json()["data"]
    admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "done"})
    practice = Practice.objects.get(pk=dst["id"])
    assert practice.audit_length == 5
    return practice


def _events(practice) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(practice=practice).order_by("sequence"))


def _verify(capsys, **options) -> tuple[int, str]:
    try:
        call_command("verify_audit", **options)
    except CommandError as exc:
        captured = capsys.readouterr()
        return exc.returncode, captured.out + captured.err + str(exc)
    return 0, capsys.readouterr().out


def test_a_whole_chain_is_ok(practice, capsys):
    code, output = _verify(capsys)

    assert code == 0
    assert "OK: 1 audit chain(s) verified" in output
    events = _events(practice)
    assert [e.sequence for e in events] == [0, 1, 2, 3, 4]
    assert events[0].previous_hash == "0" * 64
    assert all(b.previous_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert practice.audit_head == events[-1].hash


@pytest.mark.parametrize(
    "field, value",
    [
        ("data", {"document": "forged"}),
        ("kind", "practice.performed"),
        ("actor_label", "someone@else"),
        ("ip", "10.9.8.7"),
        ("revision_sha256", "f" * 64),
    ],
)
def test_editing_a_row_breaks_the_chain_at_that_row(practice, capsys, field, value):
    target = _events(practice)[2]
    AuditEvent.objects.filter(pk=target.pk).update(**{field: value})

    code, output = _verify(capsys, practice=str(practice.pk))

    assert code == 1
    assert f"practice {practice.pk}: event 2 (row {target.pk})" in output
    assert audit_verify(practice=practice).sequence == 2


def test_editing_the_time_breaks_the_chain(practice):
    from datetime import timedelta

    target = _events(practice)[1]
    AuditEvent.objects.filter(pk=target.pk).update(created=target.created - timedelta(seconds=1))

    broken = audit_verify(practice=practice)

    assert (broken.sequence, broken.event_id) == (1, target.pk)


def test_rehashing_an_edited_row_breaks_the_next_link(practice):
    from practices.audit import _hash_of

    target = _events(practice)[1]
    target.data = {"forged": True}
    target.hash = _hash_of(target)
    target.save()

    broken = audit_verify(practice=practice)

    assert broken.sequence == 2
    assert "previous hash" in broken.why


def test_deleting_a_row_breaks_the_chain_where_it_was(practice, capsys):
    events = _events(practice)
    events[3].delete()

    code, output = _verify(capsys)

    assert code == 1
    assert f"event 3 (row {events[4].pk})" in output


def test_deleting_the_last_row_is_noticed_too(practice):
    _events(practice)[-1].delete()

    broken = audit_verify(practice=practice)

    assert broken is not None
    assert broken.sequence == 4


def test_reordering_rows_breaks_the_chain_at_the_first_moved_row(practice, capsys):
    events = _events(practice)
    AuditEvent.objects.filter(pk=events[1].pk).update(sequence=99)
    AuditEvent.objects.filter(pk=events[2].pk).update(sequence=1)
    AuditEvent.objects.filter(pk=events[1].pk).update(sequence=2)

    code, output = _verify(capsys)

    assert code == 1
    assert f"event 1 (row {events[2].pk})" in output


def test_only_the_broken_practice_is_named(admin_api, practice, capsys):
    other = admin_api.post(url(), dst_body()).json()["data"]["id"]
    AuditEvent.objects.filter(practice_id=other, sequence=0).update(data={})

    code, output = _verify(capsys)

    assert code == 1
    assert f"practice {other}" in output
    assert f"practice {practice.pk}" not in output
    assert "1 of 2 audit chain(s) broken" in output


def test_unknown_practice_is_an_error(capsys):
    with pytest.raises(CommandError):
        call_command("verify_audit", practice="8b9f3c1e-6d0a-4c55-9d7e-0a1b2c3d4e5f")


def test_several_events_appended_at_once_chain_as_one_by_one(practice, capsys):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = Practice.objects.select_for_update().get(pk=practice.pk)
        audit_extend(
            practice=locked,
            entries=[Entry(kind="note.one", data={"n": 1}), Entry(kind="note.two")],
        )

    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements.count("INSERT") == 1 and statements.count("UPDATE") == 1
    events = _events(practice)
    assert [e.kind for e in events[-2:]] == ["note.one", "note.two"]
    assert [e.sequence for e in events] == list(range(7))
    assert Practice.objects.get(pk=practice.pk).audit_head == events[-1].hash
    assert _verify(capsys)[0] == 0
