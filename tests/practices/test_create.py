"""Creating a DST: what is stored, what is answered, what is scheduled."""

import hashlib

import pytest
from django.conf import settings

from practices.models import AuditEvent, Document, Practice, Revision, SignatureRequest
from practices.services import ticket_digest
from tests.practices.conftest import PDF, dst_body, signature_request, url

pytestmark = pytest.mark.django_db

DST_FIELDS = {
    *("id", "title", "status", "reason", "created", "created_by", "not_after", "urlback"),
    *("cancelback", "metadata", "generate_report", "report", "documents"),
}
DOCUMENT_FIELDS = {"id", "display_name", "document_uri", "document", "metadata", "groups"}
REQUEST_FIELDS = {
    *("id", "signer", "status", "profile", "signature_type", "display_name", "reason"),
    *("declinable", "urlback", "cancelback", "constraints", "clauses", "where", "metadata"),
    *("signature_ticket", "decline_reason", "decline_datetime"),
}


def test_inline_pdf_makes_a_pending_dst_with_revision_zero(admin, admin_api):
    response = admin_api.post(url(), dst_body())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["meta"] == {"code": 201}
    dst = body["data"]
    practice = Practice.objects.get(pk=dst["id"])
    assert practice.status == "pending" and dst["status"] == "pending"
    assert practice.created_by == admin
    assert practice.email_disabled is True
    document = practice.documents.get()
    revision = Revision.objects.get(document=document)
    assert revision.number == 0
    assert revision.file.read() == PDF
    assert revision.sha256 == hashlib.sha256(PDF).hexdigest()
    assert revision.size == len(PDF)
    assert revision.content_type == "application/pdf"
    assert revision.file.path.startswith(str(settings.MEDIA_ROOT))


def test_answer_has_every_field_of_the_contract(admin, admin_api):
    dst = admin_api.post(url(), dst_body(urlback="https://example.com/done")).json()["data"]

    assert set(dst) >= DST_FIELDS
    assert dst["title"] == "Titolo pratica"
    assert dst["created_by"] == str(admin.id)
    assert dst["urlback"] == "https://example.com/done"
    assert dst["generate_report"] is True
    assert dst["metadata"] == {"studio_email_disabled": True}
    (document,) = dst["documents"]
    assert set(document) >= DOCUMENT_FIELDS
    assert document["document"] == (
        f"{settings.BASE_URL}/api/v1/acme/documents/{document['id']}/download"
    )
    assert document["document_uri"] is None
    (request,) = document["groups"][0]
    assert set(request) >= REQUEST_FIELDS
    assert request["signer"] == "mrossi@mail.com"
    assert request["status"] == "pending"
    assert request["profile"] == "pades-bes"
    assert request["signature_type"] == "click"
    assert request["where"] == {"page": 2, "position": "rect: 134,25,197,34"}
    assert request["declinable"] is False


def test_ticket_is_random_shown_as_url_and_stored_only_sealed_and_digested(admin_api):
    dst = admin_api.post(url(), dst_body()).json()["data"]
    ticket_url = dst["documents"][0]["groups"][0][0]["signature_ticket"]

    prefix = f"{settings.BASE_URL}/sign/"
    assert ticket_url.startswith(prefix)
    ticket = ticket_url[len(prefix) :]
    assert len(ticket) >= 22  # at least 128 bits of url-safe base64
    request = SignatureRequest.objects.get()
    assert request.ticket_digest == ticket_digest(ticket)
    assert ticket.encode() not in bytes(request.sealed_ticket)
    again = admin_api.get(url(tail=f"/{dst['id']}")).json()["data"]
    assert again["documents"][0]["groups"][0][0]["signature_ticket"] == ticket_url


def test_groups_positions_and_field_names_follow_the_request(admin_api):
    second = signature_request(signer={"email": "b@x.it", "first_name": "B", "last_name": "C"})
    third = signature_request(signer={"email": "c@x.it", "first_name": "C", "last_name": "D"})
    body = dst_body(groups=[[signature_request(), second], [third]])

    dst = admin_api.post(url(), body).json()["data"]

    groups = dst["documents"][0]["groups"]
    assert [[r["signer"] for r in g] for g in groups] == [
        ["mrossi@mail.com", "b@x.it"],
        ["c@x.it"],
    ]
    rows = list(SignatureRequest.objects.order_by("group", "position"))
    assert [(r.group, r.position) for r in rows] == [(0, 0), (0, 1), (1, 0)]
    assert len({r.field_name for r in rows}) == 3


def test_cades_document_takes_any_bytes(admin_api):
    data = b"any bytes at all \x00\x01"
    body = dst_body(document=data, groups=[[signature_request(profile="cades-bes", where=None)]])

    response = admin_api.post(url(), body)

    assert response.status_code == 201, response.content
    document = Document.objects.get()
    assert document.family == "cades"
    assert document.revisions.get().file.read() == data


def test_profile_defaults_to_the_documents_family(admin_api):
    body = dst_body(
        document=b"payload",
        groups=[
            [signature_request(profile="cades-t", where=None), signature_request(profile=None)]
        ],
    )

    response = admin_api.post(url(), body)

    assert response.status_code == 201, response.content
    assert sorted(SignatureRequest.objects.values_list("profile", flat=True)) == [
        "cades-bes",
        "cades-t",
    ]


def test_creation_starts_the_audit_trail(admin, admin_api):
    dst = admin_api.post(url(), dst_body(), headers={"User-Agent": "erp/1.0"}).json()["data"]

    events = list(AuditEvent.objects.filter(practice_id=dst["id"]).order_by("sequence"))
    assert [e.kind for e in events] == ["practice.created", "document.received"]
    assert events[0].actor == admin
    assert events[0].actor_label == "boss@acme"
    assert events[0].ip == "127.0.0.1"
    assert events[0].user_agent == "erp/1.0"
    assert events[1].revision_sha256 == hashlib.sha256(PDF).hexdigest()
    assert events[1].previous_hash == events[0].hash


def test_document_uri_makes_a_waiting_dst_and_schedules_the_fetch(
    admin_api, django_capture_on_commit_callbacks, monkeypatch
):
    from practices import tasks

    scheduled = []
    monkeypatch.setattr(tasks.document_fetch, "delay", scheduled.append)
    body = dst_body(document=None)
    body["documents"][0]["document_uri"] = "https://docs.example.com/contract.pdf"
    body["documents"][0]["document_uri_options"] = {
        "headers": {"Authorization": "Bearer xxxxxxxxxxxx"},
        "method": "POST",
        "body": {"example": "Download the document"},
        "auth_username": "jdo",
        "auth_password": "A12345678z",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(url(), body)

    assert response.status_code == 201, response.content
    dst = response.json()["data"]
    assert dst["status"] == "waiting"
    document = Document.objects.get()
    assert scheduled == [str(document.id)]
    assert dst["documents"][0]["document"] is None
    assert dst["documents"][0]["document_uri"] == "https://docs.example.com/contract.pdf"
    assert "document_uri_options" not in dst["documents"][0]
    assert b"A12345678z" not in bytes(document.sealed_uri_options)
    assert not Revision.objects.exists()


@pytest.mark.parametrize(
    "metadata, disabled",
    [
        ({"studio_email_disabled": True}, True),
        ({"studio-email_disabled": True}, True),
        ({"studio-email_disabled": False}, False),
        ({}, False),
    ],
)
def test_both_spellings_of_studio_email_disabled(admin_api, metadata, disabled):
    dst = admin_api.post(url(), dst_body(metadata=metadata)).json()["data"]

    assert Practice.objects.get(pk=dst["id"]).email_disabled is disabled
    assert dst["metadata"] == metadata


def test_not_after_is_kept(admin_api):
    dst = admin_api.post(url(), dst_body(not_after="2099-01-01T10:00:00+02:00")).json()["data"]

    assert dst["not_after"] == "2099-01-01T08:00:00Z"
    assert Practice.objects.get(pk=dst["id"]).not_after.isoformat() == "2099-01-01T08:00:00+00:00"
