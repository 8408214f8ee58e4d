"""The ticket lookup's one statement (portal.joined.Chain) loads what the ORM's
select_related would, and refuses chains it cannot load that way."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.joined import Chain
from practices import tickets
from practices.models import Revision, SignatureRequest
from practices.services import ticket_digest
from tests.practices.conftest import dst_body, url

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _ticket(admin_api) -> str:
    created = admin_api.post(url(), dst_body(metadata={"studio_email_disabled": True}))
    assert created.status_code == 201, created.content
    item = created.json()["data"]["documents"][0]["groups"][0][0]
    return item["signature_ticket"].rsplit("/sign/", 1)[1]


def test_a_ticket_opens_its_request_with_the_values_the_orm_gives(admin_api):
    ticket = _ticket(admin_api)
    expected = SignatureRequest.objects.select_related("document__practice__organization").get(
        ticket_digest=ticket_digest(ticket)
    )

    with CaptureQueriesContext(connection) as queries:
        found = tickets.ticket_request(ticket=ticket)
        organization = found.document.practice.organization

    assert len(queries) == 1
    assert _fields(found) == _fields(expected)
    assert _fields(found.document) == _fields(expected.document)
    assert _fields(found.document.practice) == _fields(expected.document.practice)
    assert _fields(organization) == _fields(expected.document.practice.organization)
    assert not found._state.adding and found._state.db == "default"


def test_an_unknown_ticket_finds_nothing(admin_api):
    _ticket(admin_api)

    with pytest.raises(tickets.TicketRefused) as refused:
        tickets.ticket_request(ticket="not-a-ticket")

    assert refused.value.status == 404


def test_a_chain_by_primary_key_takes_the_key_as_the_orm_does(admin_api):
    ticket = _ticket(admin_api)
    request = tickets.ticket_request(ticket=ticket)

    found = Chain(SignatureRequest, ("document",), by="id").get(request.pk)

    assert found.pk == request.pk and found.document.pk == request.document_id


def test_a_chain_needs_a_unique_field_and_required_foreign_keys():
    with pytest.raises(ValueError, match="not unique"):
        Chain(SignatureRequest, ("document",), by="signer_email").get("a@mail.com")
    with pytest.raises(ValueError, match="not a required foreign key"):
        Chain(Revision, ("produced_by",), by="id").get(1)
