"""portal.inserts writes the rows bulk_create would, for the tables a DST create fills."""

import copy
import uuid

import pytest
from django.db import connection
from django.db.models import AutoField, UUIDField
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext

from portal import inserts
from practices.models import AuditEvent, Practice, Revision, SignatureRequest
from tests.practices.conftest import dst_body, signature_request, url

pytestmark = pytest.mark.django_db

PARENTS = {"practice", "document"}  # the copies point at the copied parents


def _insert(objs) -> None:
    inserts.prepare(objs).run()


def _copy(obj, **changes):
    """A new, unsaved copy of `obj`: a new key (or none, for the database to
    make), the given changes."""
    clone = copy.copy(obj)
    clone._state = copy.copy(obj._state)
    clone._state.adding, clone._state.db = True, None
    pk = type(obj)._meta.pk
    clone.pk = uuid.uuid4() if isinstance(pk, UUIDField) else None
    for name, value in changes.items():
        setattr(clone, name, value)
    return clone


def _copy_tree(practice: Practice, write) -> Practice:
    """The practice and its rows copied, each model's rows written by `write`."""
    new = _copy(practice, idempotency_key="")
    write([new])
    documents = {d.pk: _copy(d, practice=new) for d in practice.documents.all()}
    write(list(documents.values()))
    of_practice = {"document__practice": practice}
    write(
        [
            _copy(r, document=documents[r.document_id], ticket_digest=uuid.uuid4().hex)
            for r in SignatureRequest.objects.filter(**of_practice)
        ]
    )
    write(
        [
            _copy(r, document=documents[r.document_id])
            for r in Revision.objects.filter(**of_practice)
        ]
    )
    write([_copy(e, practice=new) for e in practice.audit_events.all()])
    return new


def _stored(practice: Practice) -> dict:
    """Every column of the practice's rows as the ORM reads them back, but for
    keys, links to the copied parents and auto_now times."""

    def row(obj) -> dict:
        return {
            f.attname: getattr(obj, f.attname)
            for f in type(obj)._meta.concrete_fields
            if not (f.primary_key or f.name in PARENTS or getattr(f, "auto_now", False))
        }

    practice = Practice.objects.get(pk=practice.pk)
    of_practice = {"document__practice": practice}
    return {
        "practice": row(practice),
        "documents": [row(d) for d in practice.documents.order_by("order")],
        "requests": [
            {**row(r), "ticket_digest": None}
            for r in SignatureRequest.objects.filter(**of_practice).order_by("group", "position")
        ],
        "revisions": [row(r) for r in Revision.objects.filter(**of_practice)],
        "events": [row(e) for e in practice.audit_events.all()],
    }


def test_a_dst_copied_by_insert_is_stored_as_bulk_create_stores_it(admin_api):
    groups = [
        [signature_request(metadata={"k": ["v", 1, None, "è"]})],
        [signature_request(signer={"email": "b@mail.com", "first_name": "B", "last_name": "C"})],
    ]
    body = dst_body(groups=groups, metadata={"studio_email_disabled": True, "x": {"y": 1}})
    created = admin_api.post(url(), body)
    assert created.status_code == 201, created.content
    practice = Practice.objects.get(pk=created.json()["data"]["id"])

    by_insert = _copy_tree(practice, _insert)
    by_bulk_create = _copy_tree(practice, lambda objs: type(objs[0]).objects.bulk_create(objs))

    assert _stored(by_insert) == _stored(by_bulk_create)
    assert _stored(by_insert)["requests"] and _stored(by_insert)["events"]
    assert Practice.objects.get(pk=by_insert.pk).updated is not None


def test_database_made_keys_come_back_in_order_in_batches(admin_api):
    created = admin_api.post(url(), dst_body())
    practice = Practice.objects.get(pk=created.json()["data"]["id"])
    template = practice.audit_events.first()
    events = [_copy(template, sequence=100 + n, hash=f"{n:064x}") for n in range(300)]
    assert isinstance(AuditEvent._meta.pk, AutoField)

    with CaptureQueriesContext(connection) as queries:
        _insert(events)

    # As many statements as bulk_create's batches: on SQLite more than one.
    size = connection.ops.bulk_batch_size(AuditEvent._meta.concrete_fields, events)
    assert len(queries) == -(-len(events) // size)
    assert all(not e._state.adding and e._state.db == "default" for e in events)
    stored = dict(AuditEvent.objects.filter(sequence__gte=100).values_list("pk", "sequence"))
    assert {e.pk: e.sequence for e in events} == stored


def test_a_value_that_is_an_expression_is_left_to_bulk_create(admin_api):
    created = admin_api.post(url(), dst_body())
    practice = Practice.objects.get(pk=created.json()["data"]["id"])
    event = _copy(practice.audit_events.first(), sequence=50, created=Now())

    _insert([event])

    assert AuditEvent.objects.get(pk=event.pk).created is not None


def test_a_prepared_insert_runs_no_statement_until_it_is_run(admin_api):
    created = admin_api.post(url(), dst_body())
    practice = Practice.objects.get(pk=created.json()["data"]["id"])
    events = [_copy(practice.audit_events.first(), sequence=200 + n) for n in range(3)]

    with CaptureQueriesContext(connection) as preparing:
        prepared = inserts.prepare(events)
    with CaptureQueriesContext(connection) as running:
        prepared.run()

    assert len(preparing) == 0
    assert len(running) == 1
    assert {e.pk for e in events} == set(
        AuditEvent.objects.filter(sequence__gte=200).values_list("pk", flat=True)
    )
