"""A logged-in person's inbox: their own pending requests, grouped by whether
they can sign now, and the Sign button that opens the signer page without a
ticket."""

import datetime as dt
import itertools
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Role
from practices import selectors
from practices.models import Document, Practice, SignatureRequest
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing.conftest import portal_pki  # noqa: F401

pytestmark = pytest.mark.django_db

_order = itertools.count(1)


def practice_with(
    creator,
    requests: list[list[dict]],
    *,
    title: str = "Contratto di fornitura",
    status: str = Practice.Status.PENDING,
    not_after: dt.datetime | None = None,
) -> list[SignatureRequest]:
    """A practice of `creator`'s organization with one document and the given
    groups of requests (each a dict of SignatureRequest fields, `email` at least)."""
    practice = Practice.objects.create(
        organization_id=creator.organization_id,
        created_by=creator,
        title=title,
        status=status,
        not_after=not_after,
    )
    document = Document.objects.create(
        practice=practice, order=next(_order), display_name=f"Allegato {practice.id.hex[:4]}"
    )
    made = []
    for group, members in enumerate(requests):
        for position, fields in enumerate(members):
            fields = dict(fields)
            made.append(
                SignatureRequest.objects.create(
                    document=document,
                    group=group,
                    position=position,
                    signer_email=fields.pop("email"),
                    signer_first_name="Mario",
                    signer_last_name="Rossi",
                    profile="pades-bes",
                    signature_type=fields.pop("signature_type", "click"),
                    field_name=f"Signature{group + 1}.{position + 1}",
                    **fields,
                )
            )
    return made


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ids(rows) -> set[str]:
    return {str(row.id) for row in rows}


def sign_url(signature) -> str:
    return reverse("practices-inbox-sign", args=[signature.id])


@pytest.fixture
def colleague(org):
    return account_services.user_create(
        actor=org.admin,
        organization=org.organization,
        username="lbianchi",
        role=Role.SIGNER,
        password="Correct-Horse-42",
        email="lbianchi@acme.example",
    )


def test_a_signer_sees_only_their_own_pending_requests(admin, signer, other_org):
    (mine,) = practice_with(admin, [[{"email": "MRossi@ACME.example"}]], title="Mine")
    practice_with(admin, [[{"email": "someone@acme.example"}]], title="Someone else's")
    # The same address in another organization is another person.
    practice_with(other_org.admin, [[{"email": signer.email}]], title="Rival's")
    # Over, or not yet signable by anyone.
    practice_with(admin, [[{"email": signer.email}]], title="Cancelled", status="cancelled")
    practice_with(admin, [[{"email": signer.email}]], title="Waiting", status="waiting")
    past = timezone.now() - dt.timedelta(minutes=1)
    practice_with(admin, [[{"email": signer.email}]], title="Past deadline", not_after=past)
    practice_with(admin, [[{"email": signer.email, "automatic": True}]], title="The seal's")

    inbox = selectors.signer_inbox(user=signer)
    assert ids(inbox.to_sign) == {str(mine.id)}
    assert inbox.waiting == [] and inbox.completed == []

    response = logged_in(signer).get(reverse("practices-inbox"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mine" in html and sign_url(mine) in html
    for title in ("Someone else", "Rival", "Cancelled", "Waiting", "Past deadline", "seal"):
        assert title not in html


def test_a_signer_lands_on_the_inbox_after_login(signer, admin):
    (mine,) = practice_with(admin, [[{"email": signer.email}]])
    client = Client()
    response = client.post(
        reverse("accounts-login"),
        {"organization": "acme", "username": signer.username, "password": "Correct-Horse-42"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("accounts-home")
    assert response.status_code == 200
    assert response.context["inbox"].to_sign == [mine]
    assert sign_url(mine) in response.content.decode()


def test_each_row_shows_practice_document_requester_dates_and_type(admin, signer):
    admin.name, admin.surname = "Bruno", "Boss"
    admin.save()
    deadline = timezone.now() + dt.timedelta(days=3)
    (mine,) = practice_with(
        admin,
        [[{"email": signer.email, "signature_type": "grapho"}]],
        title="Affitto locale",
        not_after=deadline,
    )
    account_services.user_update(user=signer, language="en")
    response = logged_in(signer).get(reverse("practices-inbox"))
    html = response.content.decode()
    practice = mine.document.practice
    assert response["Content-Language"] == "en"
    assert "Affitto locale" in html
    assert mine.document.display_name in html
    assert "Bruno Boss" in html
    assert f'datetime="{timezone.localtime(practice.created).isoformat()}"' in html
    assert f'datetime="{timezone.localtime(deadline).isoformat()}"' in html
    assert "Handwritten" in html


def test_locked_rows_wait_for_others_and_have_no_sign_button(admin, signer):
    account_services.user_update(user=signer, language="en")
    first, second = practice_with(
        admin, [[{"email": "first@acme.example"}], [{"email": signer.email}]], title="Later"
    )
    inbox = selectors.signer_inbox(user=signer)
    assert inbox.to_sign == [] and ids(inbox.waiting) == {str(second.id)}
    html = logged_in(signer).get(reverse("practices-inbox")).content.decode()
    assert "Waiting for others" in html and "Later" in html
    assert sign_url(second) not in html

    # Once the earlier group has signed, the row can be signed.
    SignatureRequest.objects.filter(pk=first.pk).update(status="performed")
    inbox = selectors.signer_inbox(user=signer)
    assert ids(inbox.to_sign) == {str(second.id)} and inbox.waiting == []
    assert sign_url(second) in logged_in(signer).get("/").content.decode()


def test_completed_rows_are_the_latest_signed_or_declined(admin, signer):
    account_services.user_update(user=signer, language="en")
    now = timezone.now()
    for n in range(7):
        (row,) = practice_with(admin, [[{"email": signer.email}]], title=f"Done {n}")
        row.status = "performed" if n % 2 else "declined"
        row.performed_at = now - dt.timedelta(hours=n) if n % 2 else None
        row.decline_datetime = None if n % 2 else now - dt.timedelta(hours=n)
        row.save()
    inbox = selectors.signer_inbox(user=signer)
    assert [r.document.practice.title for r in inbox.completed] == [
        f"Done {n}" for n in range(selectors.INBOX_COMPLETED_LIMIT)
    ]
    html = logged_in(signer).get(reverse("practices-inbox")).content.decode()
    assert "Recently completed" in html and "Declined" in html and "Signed" in html
    assert "Done 6" not in html


def test_sign_grants_the_signer_session_and_the_page_opens(admin_api, signer):
    item = signature_request(
        signer={"email": "mrossi@ACME.example", "first_name": "Mario", "last_name": "Rossi"}
    )
    response = admin_api.post(url(), dst_body(groups=[[item]]))
    assert response.status_code == 201, response.content
    created = response.json()["data"]["documents"][0]["groups"][0][0]
    ticket = created["signature_ticket"].rsplit("/sign/", 1)[1]
    signature = SignatureRequest.objects.get(pk=created["id"])

    client = logged_in(signer)
    inbox = client.get(reverse("practices-inbox")).content.decode()
    assert ticket not in inbox
    page_url = reverse("practices-sign-page", args=[signature.id])
    # Before the Sign button, the signer page is not open to this session.
    assert client.get(page_url).status_code == 404
    # The button posts: a GET neither grants nor signs.
    assert client.get(sign_url(signature)).status_code == 405

    response = client.post(sign_url(signature))
    assert response.status_code == 302
    assert response["Location"] == page_url
    assert ticket not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    page = client.get(page_url)
    assert page.status_code == 200
    assert b"Titolo pratica" in page.content
    assert ticket.encode() not in page.content
    # The grant is this session's: the signer is still logged in.
    assert client.get(reverse("practices-inbox")).status_code == 200


def test_signing_from_the_inbox_moves_the_row_to_completed(admin_api, signer, portal_pki):  # noqa: F811
    item = signature_request(
        signer={"email": signer.email, "first_name": "Mario", "last_name": "Rossi"}
    )
    response = admin_api.post(url(), dst_body(groups=[[item]], generate_report=False))
    request_id = response.json()["data"]["documents"][0]["groups"][0][0]["id"]
    signature = SignatureRequest.objects.get(pk=request_id)
    client = logged_in(signer)
    client.post(sign_url(signature))
    signed = client.post(
        reverse("practices-sign-submit", args=[signature.id]),
        {"accepted_clauses": []},
        content_type="application/json",
    )
    assert signed.status_code == 200, signed.content
    signature.refresh_from_db()
    assert signature.status == "performed"
    event = signature.document.practice.audit_events.filter(kind="signature.performed").get()
    # The trail names the signer and the account they were logged in to.
    assert event.actor_label == f"signer:{signer.email}"
    assert event.actor_id == signer.id

    inbox = selectors.signer_inbox(user=signer)
    assert inbox.to_sign == [] and [r.id for r in inbox.completed] == [signature.id]


def test_someone_elses_request_is_404(admin, signer, colleague, other_org):
    (theirs,) = practice_with(admin, [[{"email": colleague.email}]])
    (rival,) = practice_with(other_org.admin, [[{"email": signer.email}]])
    (seal,) = practice_with(admin, [[{"email": signer.email, "automatic": True}]])
    client = logged_in(signer)
    for signature in (theirs, rival, seal):
        assert client.post(sign_url(signature)).status_code == 404
        assert client.get(reverse("practices-sign-page", args=[signature.id])).status_code == 404
    missing = reverse("practices-inbox-sign", args=[uuid.uuid4()])
    assert client.post(missing).status_code == 404
    # The colleague, whose request it is, may open it.
    assert logged_in(colleague).post(sign_url(theirs)).status_code == 302


def test_a_request_no_longer_open_goes_back_to_the_inbox_without_a_grant(admin, signer):
    account_services.user_update(user=signer, language="en")
    first, locked = practice_with(
        admin, [[{"email": "first@acme.example"}], [{"email": signer.email}]]
    )
    (signed,) = practice_with(admin, [[{"email": signer.email, "status": "performed"}]])
    (cancelled,) = practice_with(admin, [[{"email": signer.email}]], status="cancelled")
    client = logged_in(signer)
    for signature, message in (
        (locked, "Not your turn yet"),
        (signed, "no longer waiting for you"),
        (cancelled, "no longer waiting for you"),
    ):
        response = client.post(sign_url(signature), follow=True)
        assert response.redirect_chain == [(reverse("practices-inbox"), 302)]
        assert message in response.content.decode()
        page_url = reverse("practices-sign-page", args=[signature.id])
        assert client.get(page_url).status_code == 404


def test_anonymous_visitors_are_sent_to_login(admin, signer):
    (mine,) = practice_with(admin, [[{"email": signer.email}]])
    login = reverse("accounts-login")
    response = Client().get(reverse("practices-inbox"))
    assert response.status_code == 302 and response["Location"].startswith(login)
    response = Client().post(sign_url(mine))
    assert response.status_code == 302 and response["Location"].startswith(login)
    assert Client().get(reverse("practices-sign-page", args=[mine.id])).status_code == 404


def test_an_admin_asked_to_sign_finds_the_request_in_the_inbox(admin, instructor, signer):
    (for_admin,) = practice_with(instructor, [[{"email": admin.email}]], title="For the boss")
    practice_with(admin, [[{"email": signer.email}]], title="For the signer")
    client = logged_in(admin)
    # The admin's home stays the Users section; the inbox is in the menu.
    assert client.get("/")["Location"] == reverse("accounts-user-list")
    users = client.get(reverse("accounts-user-list")).content.decode()
    assert f'href="{reverse("practices-inbox")}"' in users
    html = client.get(reverse("practices-inbox")).content.decode()
    assert "For the boss" in html and "For the signer" not in html
    assert client.post(sign_url(for_admin)).status_code == 302


def test_an_empty_inbox_says_so(signer):
    response = logged_in(signer).get("/")
    assert response.status_code == 200
    assert "Nessun documento attende la tua firma." in response.content.decode()


def test_the_page_speaks_the_users_language(admin, signer):
    practice_with(admin, [[{"email": signer.email}]])
    account_services.user_update(user=signer, language="it")
    response = logged_in(signer).get(reverse("practices-inbox"))
    assert response["Content-Language"] == "it"
    assert b'<html lang="it">' in response.content
    assert "Documenti da firmare" in response.content.decode()
    account_services.user_update(user=signer, language="en")
    response = logged_in(signer).get(reverse("practices-inbox"))
    assert response["Content-Language"] == "en"
    assert b"Documents to sign" in response.content


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_rows(admin, signer):
    def rows(n: int) -> None:
        for _ in range(n):
            practice_with(admin, [[{"email": signer.email}]])
            practice_with(admin, [[{"email": "first@acme.example"}], [{"email": signer.email}]])
            (done,) = practice_with(admin, [[{"email": signer.email}]])
            SignatureRequest.objects.filter(pk=done.pk).update(
                status="performed", performed_at=timezone.now()
            )

    client = logged_in(signer)

    def page() -> None:
        response = client.get(reverse("practices-inbox"))
        assert response.status_code == 200

    def select() -> None:
        inbox = selectors.signer_inbox(user=signer)
        for row in [*inbox.to_sign, *inbox.waiting, *inbox.completed]:
            assert row.document.practice.created_by.full_name

    rows(1)
    page()  # the first request warms what is cached once per process
    one = (_queries(select), _queries(page))
    assert one[0] == 2
    rows(9)
    inbox = selectors.signer_inbox(user=signer)
    assert (len(inbox.to_sign), len(inbox.waiting)) == (10, 10)
    assert (_queries(select), _queries(page)) == one


def test_another_account_opening_the_ticket_is_not_named_as_the_signer(
    admin_api,
    signer,
    colleague,
    portal_pki,  # noqa: F811
):
    item = signature_request(
        signer={"email": signer.email, "first_name": "Mario", "last_name": "Rossi"}
    )
    response = admin_api.post(url(), dst_body(groups=[[item]], generate_report=False))
    created = response.json()["data"]["documents"][0]["groups"][0][0]
    client = logged_in(colleague)  # the ticket forwarded to someone else
    client.get(created["signature_ticket"].removeprefix("http://testserver"))
    signed = client.post(
        reverse("practices-sign-submit", args=[created["id"]]),
        {"accepted_clauses": []},
        content_type="application/json",
    )
    assert signed.status_code == 200, signed.content
    event = SignatureRequest.objects.get(pk=created["id"]).document.practice.audit_events.get(
        kind="signature.performed"
    )
    assert event.actor_label == f"signer:{signer.email}" and event.actor_id is None
