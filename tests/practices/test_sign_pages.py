"""The signer's pages: the ticket exchanged for a session, the page, its
previews and the pages for requests that cannot be signed."""

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from practices import previews
from practices.models import Practice, Revision, SignatureRequest
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing.conftest import portal_pki  # noqa: F401, F811

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def person(n: int, **overrides) -> dict:
    return signature_request(
        signer={"email": f"s{n}@mail.com", "first_name": f"Name{n}", "last_name": f"Surname{n}"},
        **overrides,
    )


def create(admin_api, groups=None, **overrides) -> dict:
    response = admin_api.post(url(), dst_body(groups=groups, **overrides))
    assert response.status_code == 201, response.content
    return response.json()["data"]


def ticket_of(item: dict) -> str:
    return item["signature_ticket"].rsplit("/sign/", 1)[1]


def open_ticket(client: Client, item: dict):
    """Open the ticket; answer the page it redirects to."""
    response = client.get(f"/sign/{ticket_of(item)}")
    assert response.status_code == 302, response.content
    return response


@pytest.fixture
def dst(admin_api):
    clauses = [
        {
            "id": "privacy",
            "required": True,
            "description": "I accept the privacy terms",
            "where": {"page": 1, "position": "rect: 20mm, 20mm, 80mm, 30mm"},
        },
        {"id": "marketing", "required": False, "description": "Send me offers"},
    ]
    return create(admin_api, groups=[[signature_request(clauses=clauses, declinable=True)]])


def first(dst: dict) -> dict:
    return dst["documents"][0]["groups"][0][0]


def test_ticket_is_exchanged_for_a_session_and_the_url_drops_it(dst):
    client = Client()
    item = first(dst)
    response = open_ticket(client, item)
    assert response["Location"] == f"/sign/s/{item['id']}/"
    assert ticket_of(item) not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    assert "Titolo pratica" in html
    assert "Mario Rossi" in html
    assert ticket_of(item) not in html
    assert 'value="privacy"' in html and "I accept the privacy terms" in html
    # The signature area (page 2) and the clause (page 1) are outlined over their pages.
    assert html.count('class="sign-box sign-box-signature"') == 1
    assert html.count('class="sign-box sign-box-clause"') == 1
    assert "/pages/1.png" in html and "/pages/2.png" in html


def test_unknown_ticket_is_a_clear_404_page():
    response = Client().get("/sign/not-a-ticket-at-all")
    assert response.status_code == 404
    assert response["Referrer-Policy"] == "no-referrer"
    assert b"not valid" in response.content or b"non " in response.content


def test_without_the_ticket_the_page_is_404(dst):
    item = first(dst)
    response = Client().get(f"/sign/s/{item['id']}/")
    assert response.status_code == 404


def test_another_requests_id_is_404_in_this_session(admin_api):
    dst = create(admin_api, groups=[[person(1), person(2)]])
    one, two = dst["documents"][0]["groups"][0]
    client = Client()
    open_ticket(client, one)
    assert client.get(f"/sign/s/{one['id']}/").status_code == 200
    assert client.get(f"/sign/s/{two['id']}/").status_code == 404
    assert client.get(f"/sign/s/{two['id']}/pages/1.png").status_code == 404
    assert client.get(f"/sign/s/{two['id']}/download").status_code == 404
    assert client.post(f"/sign/s/{two['id']}/sign", {}, "application/json").status_code == 404


def test_the_session_grant_expires(dst, monkeypatch):
    from practices import signer_session

    item = first(dst)
    client = Client()
    open_ticket(client, item)
    later = signer_session.time.time() + signer_session.SIGNER_SESSION_SECONDS + 1
    monkeypatch.setattr(signer_session.time, "time", lambda: later)
    assert client.get(f"/sign/s/{item['id']}/").status_code == 404


def test_previews_are_png_and_cached_on_disk(dst):
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    response = client.get(f"/sign/s/{item['id']}/pages/2.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Referrer-Policy"] == "no-referrer"
    body = b"".join(response.streaming_content)
    assert body.startswith(PNG_MAGIC)
    revision = Revision.objects.get(document_id=dst["documents"][0]["id"], number=0)
    cached = Path(settings.MEDIA_ROOT) / "previews" / revision.sha256 / "2.png"
    assert cached.exists() and cached.read_bytes() == body
    assert previews.page_png(revision=revision, page=2) == cached
    assert client.get(f"/sign/s/{item['id']}/pages/3.png").status_code == 404


def test_download_serves_the_latest_revision(dst):
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    response = client.get(f"/sign/s/{item['id']}/download")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    revision = Revision.objects.get(document_id=dst["documents"][0]["id"], number=0)
    with revision.file.open("rb") as handle:
        assert b"".join(response.streaming_content) == handle.read()


def test_second_group_sees_a_locked_page(admin_api):
    dst = create(admin_api, groups=[[person(1)], [person(2)]])
    later = dst["documents"][0]["groups"][1][0]
    client = Client()
    response = client.get(open_ticket(client, later)["Location"])
    assert response.status_code == 200
    assert b'data-state="locked"' in response.content
    assert b'id="sign-form"' not in response.content


def test_expired_cancelled_and_signed_requests_get_a_page(dst, admin_api):
    item = first(dst)
    client = Client()
    page = open_ticket(client, item)["Location"]
    practice = Practice.objects.get(pk=dst["id"])

    practice.not_after = timezone.now() - dt.timedelta(minutes=1)
    practice.save(update_fields=["not_after"])
    assert b'data-state="expired"' in client.get(page).content

    practice.not_after = None
    practice.save(update_fields=["not_after"])
    SignatureRequest.objects.filter(pk=item["id"]).update(status="performed")
    response = client.get(page)
    assert b'data-state="performed"' in response.content
    assert f"/sign/s/{item['id']}/download".encode() in response.content

    SignatureRequest.objects.filter(pk=item["id"]).update(status="pending")
    assert admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "x"}).status_code == 200
    response = client.get(page)
    assert response.status_code == 200
    assert b'data-state="cancelled"' in response.content


def test_page_speaks_the_signers_language(admin_api, org, signer):
    # No account with the signer's email: the organization's language (Italian).
    dst = create(admin_api)
    client = Client()
    response = client.get(open_ticket(client, first(dst))["Location"])
    assert response["Content-Language"] == "it"
    assert b"Firma il documento" in response.content

    # mrossi@acme.example has an account in English.
    account_services.user_update(user=signer, language="en")
    signer_request = signature_request(
        signer={"email": "MRossi@acme.example", "first_name": "Mario", "last_name": "Rossi"}
    )
    dst = create(admin_api, groups=[[signer_request]])
    client = Client(headers={"Accept-Language": "it"})
    response = client.get(open_ticket(client, first(dst))["Location"])
    assert response["Content-Language"] == "en"
    assert b"Sign the document" in response.content


def test_the_controls_by_signature_type(admin_api):
    phone = {"email": "o@mail.com", "first_name": "O", "last_name": "T", "phone": "+393331234567"}
    dst = create(
        admin_api,
        groups=[
            [
                signature_request(signer=phone, provider_options={"unlock_mode": "otp"}),
                person(2, provider_options={"unlock_mode": "grapho"}),
            ]
        ],
    )
    otp, grapho = dst["documents"][0]["groups"][0]
    client = Client()
    html = client.get(open_ticket(client, otp)["Location"]).content.decode()
    assert 'inputmode="numeric"' in html and 'autocomplete="one-time-code"' in html
    assert "data-otp-send" in html and "567" in html
    assert "decline-dialog" not in html  # declinable: false
    html = client.get(open_ticket(client, grapho)["Location"]).content.decode()
    assert "data-pad" in html and "signature_pad.umd.min.js" in html
    assert "data-pad-undo" in html and "data-pad-clear" in html


# --- the actions through the page (practices.tickets, the portal's real PKI) ---------


@pytest.fixture
def pki(portal_pki, settings):  # noqa: F811
    settings.SMS_BACKEND = "file"
    return portal_pki


def post(client: Client, path: str, body: dict):
    return client.post(path, body, content_type="application/json")


def validated(document_id) -> None:
    from portal import trust
    from signing.validate import validate

    revision = Revision.objects.filter(document_id=document_id).order_by("-number").first()
    with revision.file.open("rb") as handle:
        data = handle.read()
    report = validate(
        data, trust_roots=trust.validation_roots(), crls=[trust.issuing_crl(), trust.root_crl()]
    )
    assert report.valid, report


def sms_code() -> str:
    import json
    import re

    last = Path(settings.SMS_FILE_PATH).read_text().strip().splitlines()[-1]
    return re.search(r"\b(\d{6})\b", json.loads(last)["text"]).group(1)


def test_click_signs_through_the_page_and_lands_on_the_done_page(dst, pki):
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    missing = post(client, f"{base}/sign", {"accepted_clauses": []})
    assert missing.status_code == 400
    assert missing.json()["meta"]["error_message"].startswith("accepted_clauses : ")
    response = post(client, f"{base}/sign", {"accepted_clauses": ["privacy"]})
    assert response.status_code == 200, response.content
    assert response["Referrer-Policy"] == "no-referrer"
    assert response.json() == {"status": "performed", "redirect": f"{base}/done/"}
    assert SignatureRequest.objects.get(pk=item["id"]).status == "performed"
    validated(dst["documents"][0]["id"])
    done = client.get(f"{base}/done/")
    assert b'data-state="performed"' in done.content
    again = post(client, f"{base}/sign", {"accepted_clauses": ["privacy"]})
    assert again.status_code == 409


def test_otp_signs_with_the_code_from_the_sms_and_counts_wrong_codes(admin_api, pki):
    phone = {"email": "o@mail.com", "first_name": "O", "last_name": "T", "phone": "+393331234567"}
    dst = create(
        admin_api,
        groups=[[signature_request(signer=phone, provider_options={"unlock_mode": "otp"})]],
        urlback="https://erp.example.com/back",
    )
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    assert post(client, f"{base}/otp", {}).status_code == 204
    code = sms_code()
    wrong = "000000" if code != "000000" else "111111"
    refused = post(client, f"{base}/sign", {"otp": wrong})
    assert refused.status_code == 401
    assert refused.json()["meta"]["attempts_left"] == 4
    response = post(client, f"{base}/sign", {"otp": code})
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "performed", "redirect": "https://erp.example.com/back"}
    validated(dst["documents"][0]["id"])


def test_decline_through_the_page_goes_to_cancelback(admin_api):
    dst = create(
        admin_api,
        groups=[[signature_request(declinable=True)]],
        cancelback="https://erp.example.com/cancelled",
    )
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    assert post(client, f"{base}/decline", {"reason": " "}).status_code == 400
    response = post(client, f"{base}/decline", {"reason": "Wrong amount"})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "declined",
        "redirect": "https://erp.example.com/cancelled",
    }
    signature = SignatureRequest.objects.get(pk=item["id"])
    assert (signature.status, signature.decline_reason) == ("declined", "Wrong amount")
    assert b'data-state="declined"' in client.get(f"{base}/").content


def test_advanced_signs_through_the_page_with_the_code(admin_api, pki):
    phone = {"email": "a@mail.com", "first_name": "Ada", "last_name": "Neri", "phone": "+39333"}
    dst = create(admin_api, groups=[[signature_request(signer=phone, constraints=[])]])
    item = first(dst)
    assert item["signature_type"] == "advanced"
    client = Client()
    page = client.get(open_ticket(client, item)["Location"]).content.decode()
    assert "data-otp-send" in page
    base = f"/sign/s/{item['id']}"
    assert post(client, f"{base}/sign", {}).status_code == 400  # the code is needed
    assert post(client, f"{base}/otp", {}).status_code == 200  # with the certificate's card
    assert post(client, f"{base}/otp", {}).status_code == 429  # the resend cooldown
    response = post(client, f"{base}/sign", {"otp": sms_code()})
    assert response.status_code == 200, response.content
    validated(dst["documents"][0]["id"])


def test_unknown_tickets_are_rate_limited(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ticket": (3, 60)}
    client = Client()
    statuses = [client.get(f"/sign/guess-{n}").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]


# --- SPID: the identity step (practices.identity, the demonstration provider) --------

MARIO_CF = "RSSMRA80A01H501U"


@pytest.fixture
def in_english(signer):
    # mrossi@acme.example has an account: the pages speak its language.
    account_services.user_update(user=signer, language="en")
    return signer


def spid_dst(admin_api, **overrides) -> dict:
    from practices.signature_types import DISPOSABLE, SPID_FLOW

    mario = {"email": "mrossi@acme.example", "first_name": "Mario", "last_name": "Rossi"}
    request = signature_request(
        signer=mario, constraints=[DISPOSABLE, SPID_FLOW], profile="pades-t", **overrides
    )
    dst = create(admin_api, groups=[[request]])
    assert first(dst)["signature_type"] == "spid"
    return dst


def signed_revisions(dst: dict) -> int:
    return Revision.objects.filter(document_id=dst["documents"][0]["id"], number__gt=0).count()


def identity_events(dst: dict):
    from practices.models import AuditEvent

    return AuditEvent.objects.filter(practice_id=dst["id"], kind="signature.identity_verified")


def test_spid_sign_is_refused_without_a_verified_identity(admin_api, pki, in_english):
    dst = spid_dst(admin_api)
    item = first(dst)
    client = Client()
    html = client.get(open_ticket(client, item)["Location"]).content.decode()
    base = f"/sign/s/{item['id']}"
    assert f'href="{base}/identity/"' in html and "data-identity-start" in html
    # The sign button waits for the identity.
    assert re.search(r"<button[^>]*data-sign-submit[^>]*\bdisabled\b", html)

    response = post(client, f"{base}/sign", {})

    assert response.status_code == 401
    meta = response.json()["meta"]
    assert meta["error_type"] == "Unauthorized"
    assert meta["error_message"] == "identity : Verify your identity before signing."
    assert SignatureRequest.objects.get(pk=item["id"]).status == "pending"
    assert signed_revisions(dst) == 0


def test_a_wrong_fiscal_code_is_shown_and_nothing_is_signed(admin_api, pki, in_english):
    dst = spid_dst(admin_api)
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    page = client.get(f"{base}/identity/")
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"  # its form posts here, with an Origin
    html = page.content.decode()
    assert 'data-identity-provider="demo"' in html and "demonstration identity provider" in html
    assert 'name="fiscal_code"' in html and '<label for="fiscal-code">' in html

    cases = [
        ("RSSMRA80A01H501X", "its last letter does not match"),  # the check character
        ("RSSMRA80A01", "16 characters"),
        ("BNCLCU80A01H501?", "only letters and digits"),
        ("BNCLCU80A01H501" + "X", "last letter"),
    ]
    for code, why in cases:
        refused = client.post(f"{base}/identity/complete", {"fiscal_code": code, "confirm": "yes"})
        assert refused.status_code == 400
        text = refused.content.decode()
        assert 'role="alert"' in text and why in text, (code, text)
        assert 'aria-invalid="true"' in text
        assert f'value="{code}"' in text.replace("&#x27;", "'")
    # A well-formed code of somebody else: the name letters do not fit Mario Rossi.
    from practices.fiscal_code import check_character

    other = "BNCLCU80A01H501"
    refused = client.post(
        f"{base}/identity/complete",
        {"fiscal_code": other + check_character(other), "confirm": "yes"},
    )
    assert refused.status_code == 400
    assert b"does not belong to the name" in refused.content
    # The right code without the confirmation.
    refused = client.post(f"{base}/identity/complete", {"fiscal_code": MARIO_CF})
    assert refused.status_code == 400

    assert not identity_events(dst).exists()
    assert post(client, f"{base}/sign", {}).status_code == 401
    assert signed_revisions(dst) == 0


def test_the_verified_identity_is_recorded_and_the_one_time_certificate_carries_it(
    admin_api, pki, in_english
):
    from cryptography.x509.oid import NameOID

    from portal import trust
    from portal.models import IssuedCertificate
    from practices.audit import audit_verify
    from tests.practices.test_tickets import latest, signer_certificates

    dst = spid_dst(admin_api, urlback="https://erp.example.com/back")
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"

    response = client.post(
        f"{base}/identity/complete", {"fiscal_code": "rssmra 80a01 h501u", "confirm": "yes"}
    )

    assert response.status_code == 302 and response["Location"] == f"{base}/"
    (event,) = identity_events(dst)
    assert event.data["signature"] == item["id"]
    assert event.data["fiscal_code"] == MARIO_CF
    assert (event.data["first_name"], event.data["last_name"]) == ("Mario", "Rossi")
    assert (event.data["provider"], event.data["level"]) == ("demo", "none")
    assert event.actor_label == "signer:mrossi@acme.example"
    assert audit_verify(practice=Practice.objects.get(pk=dst["id"])) is None
    html = client.get(f"{base}/").content.decode()
    assert "data-identity-verified" in html and MARIO_CF in html
    assert not re.search(r"<button[^>]*data-sign-submit[^>]*\bdisabled\b", html)

    signed = post(client, f"{base}/sign", {})

    assert signed.status_code == 200, signed.content
    assert signed.json() == {"status": "performed", "redirect": "https://erp.example.com/back"}
    data = latest(dst["documents"][0]["id"])
    (certificate,) = signer_certificates(data)
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == f"TINIT-{MARIO_CF}"
    assert subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == "Mario"
    assert subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "Rossi"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Mario Rossi"
    issued = IssuedCertificate.objects.get(serial=format(certificate.serial_number, "x"))
    assert issued.profile == "one_time" and issued.revoked_at is not None
    crl = x509.load_der_x509_crl(trust.issuing_crl())
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
    assert post(client, f"{base}/sign", {}).status_code == 409
    # Signed is signed, for a browser that has not identified itself too.
    other = Client()
    open_ticket(other, item)
    assert post(other, f"{base}/sign", {}).status_code == 409


def test_the_identity_belongs_to_the_session_and_the_request(
    admin_api, pki, in_english, monkeypatch
):
    dst = spid_dst(admin_api)
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    ok = client.post(f"{base}/identity/complete", {"fiscal_code": MARIO_CF, "confirm": "yes"})
    assert ok.status_code == 302
    # Another browser that opens the same ticket has not identified itself.
    other = Client()
    open_ticket(other, item)
    assert post(other, f"{base}/sign", {}).status_code == 401
    # Nor does the identity outlive its lifetime.
    from practices import identity

    later = identity.time.time() + identity.IDENTITY_LIFETIME.total_seconds() + 1
    monkeypatch.setattr(identity.time, "time", lambda: later)
    assert b"data-identity-start" in client.get(f"{base}/").content  # the grant lasts longer
    response = post(client, f"{base}/sign", {})
    assert response.status_code == 401
    assert SignatureRequest.objects.get(pk=item["id"]).status == "pending"


def test_the_identity_step_is_only_for_spid_requests_that_can_be_signed(dst):
    item = first(dst)  # a click signature
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    assert client.get(f"{base}/identity/")["Location"] == f"{base}/"
    response = client.post(f"{base}/identity/complete", {"fiscal_code": MARIO_CF, "confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == f"{base}/"
    assert Client().get(f"{base}/identity/").status_code == 404  # no session


class Stranger:
    """A provider that vouches for somebody else than the request's signer."""

    name = "stranger"

    def begin(self, request, signature):
        from django.http import HttpResponse

        return HttpResponse("begin")

    def complete(self, request, signature):
        from practices.identity import VerifiedIdentity

        return VerifiedIdentity(
            first_name="Giulia",
            last_name="Bianchi",
            fiscal_code="BNCGLI80A41H501X",
            provider="spid:https://idp.example",
            level="SpidL2",
            verified_at=timezone.now(),
        )

    def refused(self, request, signature, refusal):
        from practices.identity import render_refused

        return render_refused(request, signature, refusal)


def test_an_identity_of_another_person_is_refused(admin_api, pki, in_english, settings):
    settings.SPID_IDENTITY_PROVIDER = f"{__name__}.Stranger"
    dst = spid_dst(admin_api)
    item = first(dst)
    client = Client()
    open_ticket(client, item)
    base = f"/sign/s/{item['id']}"
    assert client.get(f"{base}/identity/").content == b"begin"
    response = client.get(f"{base}/identity/complete")
    assert response.status_code == 403
    assert b"not the person this signature request is for" in response.content
    assert not identity_events(dst).exists()
    assert post(client, f"{base}/sign", {}).status_code == 401


# --- advanced and qualified: the certificate card ----------------------------------


@pytest.mark.parametrize("kind", ["advanced", "qualified"])
def test_the_certificate_is_shown_once_issued_on_the_first_code(admin_api, pki, in_english, kind):
    from portal.models import IssuedCertificate
    from practices.signature_types import QUALIFIED
    from tests.practices.test_tickets import latest, signer_certificates

    mario = {
        "email": "mrossi@acme.example",
        "first_name": "Mario",
        "last_name": "Rossi",
        "phone": "+393331234567",
    }
    constraints = [QUALIFIED] if kind == "qualified" else []
    dst = create(admin_api, groups=[[signature_request(signer=mario, constraints=constraints)]])
    item = first(dst)
    assert item["signature_type"] == kind
    client = Client()
    html = client.get(open_ticket(client, item)["Location"]).content.decode()
    assert "data-certificate" in html and "data-certificate-serial" not in html
    assert ("sign-badge-qualified" in html) == (kind == "qualified")
    assert not IssuedCertificate.objects.exists()  # opening the page issues nothing
    base = f"/sign/s/{item['id']}"

    sent = post(client, f"{base}/otp", {})

    assert sent.status_code == 200, sent.content
    issued = IssuedCertificate.objects.get()
    assert issued.profile == kind
    card = sent.json()["certificate_html"]
    serial = format(issued.serial_number, "X")
    serial = serial.rjust(len(serial) + len(serial) % 2, "0")
    serial = ":".join(serial[n : n + 2] for n in range(0, len(serial), 2))
    assert serial in card and "Mario Rossi" in card and "Issuing CA" in card
    assert ("sign-badge-qualified" in card) == (kind == "qualified")
    assert serial in client.get(f"{base}/").content.decode()  # the page shows it from now on

    response = post(client, f"{base}/sign", {"otp": sms_code()})

    assert response.status_code == 200, response.content
    (certificate,) = signer_certificates(latest(dst["documents"][0]["id"]))
    assert certificate.serial_number == issued.serial_number
    validated(dst["documents"][0]["id"])
