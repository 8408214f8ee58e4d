"""Emails with the ticket: to a group's signers when it unlocks, in their language."""

import pytest
from django.core import mail

from accounts import services as accounts_services
from practices import notifications
from practices.models import Practice, SignatureRequest
from practices.services import ticket_read, ticket_url
from tests.accounts import test_email_smtp
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing import conftest as signing_conftest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

smtp_inbox = test_email_smtp.smtp_inbox
portal_pki = signing_conftest.portal_pki


def _signer(email, first="Anna", last="Bianchi", **extra):
    return signature_request(
        signer={"email": email, "first_name": first, "last_name": last}, **extra
    )


def _create(api, body, capture):
    with capture(execute=True):
        response = api.post(url(), body)
    assert response.status_code == 201, response.content
    return Practice.objects.get(pk=response.json()["data"]["id"])


def _two_groups(metadata=None):
    return dst_body(
        groups=[
            [_signer("first@mail.com", "Primo", "Uno"), _signer("second@mail.com", where=None)],
            [_signer("third@mail.com", "Terzo", "Tre", where={"page": 1})],
        ],
        metadata=metadata or {},
    )


def test_group_zero_gets_its_tickets_at_create(admin_api, django_capture_on_commit_callbacks):
    practice = _create(admin_api, _two_groups(), django_capture_on_commit_callbacks)

    assert sorted(m.to[0] for m in mail.outbox) == ["first@mail.com", "second@mail.com"]
    first = SignatureRequest.objects.get(document__practice=practice, signer_email="first@mail.com")
    [message] = [m for m in mail.outbox if m.to == ["first@mail.com"]]
    assert ticket_url(ticket_read(request=first)) in message.body
    assert "Titolo pratica" in message.subject
    # The organization speaks Italian; the HTML alternative carries the same link.
    assert "Primo Uno" in message.body and "ti chiede di firmare" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and ticket_url(ticket_read(request=first)) in html
    third = SignatureRequest.objects.get(document__practice=practice, group=1)
    assert third.notified_at is None
    assert first.notified_at is not None


def test_a_signer_who_is_a_user_gets_the_email_in_their_language(
    org, signer, admin_api, django_capture_on_commit_callbacks
):
    accounts_services.user_update(user=signer, language="en")
    body = dst_body(groups=[[_signer("MRossi@acme.example"), _signer("x@mail.com")]], metadata={})

    _create(admin_api, body, django_capture_on_commit_callbacks)

    by_to = {m.to[0]: m for m in mail.outbox}
    assert "Please sign" in by_to["MRossi@acme.example"].subject
    assert "Hello Anna Bianchi" in by_to["MRossi@acme.example"].body
    assert by_to["x@mail.com"].subject.startswith("Da firmare")


def test_organization_language_when_the_signer_is_unknown(
    org, admin_api, django_capture_on_commit_callbacks
):
    organization = org.organization
    organization.language = "en"
    organization.save(update_fields=["language"])

    _create(admin_api, _two_groups(), django_capture_on_commit_callbacks)

    assert all(m.subject.startswith("Please sign") for m in mail.outbox)


@pytest.mark.parametrize("key", ["studio_email_disabled", "studio-email_disabled"])
def test_no_email_when_studio_email_disabled(admin_api, django_capture_on_commit_callbacks, key):
    practice = _create(
        admin_api, _two_groups(metadata={key: True}), django_capture_on_commit_callbacks
    )
    document = practice.documents.get()
    with django_capture_on_commit_callbacks(execute=True):
        notifications.group_unlocked(document=document, group=1)

    assert mail.outbox == []
    assert not SignatureRequest.objects.filter(notified_at__isnull=False).exists()


def test_group_one_is_emailed_only_when_it_unlocks_and_only_once(
    admin_api, django_capture_on_commit_callbacks
):
    practice = _create(admin_api, _two_groups(), django_capture_on_commit_callbacks)
    document = practice.documents.get()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        notifications.group_unlocked(document=document, group=1)
    with django_capture_on_commit_callbacks(execute=True):
        notifications.group_unlocked(document=document, group=1)
        notifications.group_unlocked(document=document, group=0)

    assert [m.to for m in mail.outbox] == [["third@mail.com"]]
    assert "Terzo Tre" in mail.outbox[0].body


def test_nothing_is_sent_before_the_commit(admin_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_api.post(url(), _two_groups())

    assert mail.outbox == []
    assert callbacks


def test_automatic_requests_get_no_email(admin_api, django_capture_on_commit_callbacks):
    body = dst_body(groups=[[_signer("seal@mail.com", automatic=True)]], metadata={})

    _create(admin_api, body, django_capture_on_commit_callbacks)

    assert mail.outbox == []


def test_the_ticket_arrives_over_real_smtp(
    admin_api, smtp_inbox, django_capture_on_commit_callbacks
):
    practice = _create(admin_api, _two_groups(), django_capture_on_commit_callbacks)

    assert sorted(m["To"] for m in smtp_inbox.messages) == ["first@mail.com", "second@mail.com"]
    [message] = [m for m in smtp_inbox.messages if m["To"] == "first@mail.com"]
    assert message.is_multipart()
    text, html = message.get_payload()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    first = SignatureRequest.objects.get(document__practice=practice, signer_email="first@mail.com")
    link = ticket_url(ticket_read(request=first))
    assert link in text.get_payload(decode=True).decode()
    assert link in html.get_payload(decode=True).decode()
    assert "Titolo pratica" in message["Subject"]


def test_group_zero_is_emailed_when_a_fetched_dst_becomes_pending(
    admin_api, settings, django_capture_on_commit_callbacks
):
    from practices import fetching
    from practices.models import Document
    from tests.practices.conftest import PDF
    from tests.servers import DocumentServer

    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with DocumentServer() as server:
        server.add("/contract.pdf", PDF)
        body = _two_groups()
        del body["documents"][0]["document"]
        body["documents"][0]["document_uri"] = server.url("/contract.pdf")
        with django_capture_on_commit_callbacks(execute=False):
            dst = admin_api.post(url(), body).json()["data"]
        assert mail.outbox == []

        with django_capture_on_commit_callbacks(execute=True):
            fetching.document_fetch(document=Document.objects.get(practice_id=dst["id"]))

    assert Practice.objects.get(pk=dst["id"]).status == "pending"
    assert sorted(m.to[0] for m in mail.outbox) == ["first@mail.com", "second@mail.com"]


def test_signing_group_zero_emails_group_one(
    admin_api, client, portal_pki, django_capture_on_commit_callbacks
):
    practice = _create(admin_api, _two_groups(), django_capture_on_commit_callbacks)
    mail.outbox.clear()

    for request in SignatureRequest.objects.filter(document__practice=practice, group=0):
        assert mail.outbox == []
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/tickets/{ticket_read(request=request)}/sign",
                {"accepted_clauses": []},
                content_type="application/json",
            )
        assert response.status_code == 200, response.content

    [message] = mail.outbox
    third = SignatureRequest.objects.get(document__practice=practice, group=1)
    assert message.to == ["third@mail.com"]
    assert ticket_url(ticket_read(request=third)) in message.body
