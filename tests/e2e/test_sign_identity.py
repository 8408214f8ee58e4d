"""Who signs, in the browser: a SPID signer confirms their identity with the
demonstration provider before a one-time certificate naming them signs, and
an advanced signer sees the certificate their code unlocks. Poppler's pdfsig,
trusting only the published root, checks the signed documents."""

import json
import re
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID
from django.conf import settings
from playwright.sync_api import expect

from portal.models import IssuedCertificate
from practices.fiscal_code import check_character
from practices.models import AuditEvent, Revision, SignatureRequest
from practices.signature_types import DISPOSABLE, SPID_FLOW
from tests.e2e.conftest import OVERFLOW, PHONE, UNNAMED_CONTROLS
from tests.e2e.test_signer import boss_in_english, create, english, first  # noqa: F401
from tests.practices.conftest import signature_request
from tests.practices.test_tickets import signer_certificates
from tests.signing.test_pades_pdfsig import nssdb, pdfsig, regular  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("boss_in_english")]

# Bruno Boss, born in Rome on 1 January 1980: BSS (surname), BRN (name).
BRUNO_CF = "BSSBRN80A01H501" + check_character("BSSBRN80A01H501")


def signed_pdf(dst: dict, tmp_path: Path) -> tuple[bytes, Path]:
    revision = Revision.objects.filter(document_id=dst["documents"][0]["id"]).latest("number")
    assert revision.number >= 1
    with revision.file.open("rb") as handle:
        data = handle.read()
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    return data, path


def assert_usable(page) -> None:
    """Every control named, nothing wider than a 360 px screen."""
    assert page.evaluate(UNNAMED_CONTROLS) == []
    original = page.viewport_size
    page.set_viewport_size({"width": 360, "height": original["height"]})
    assert page.evaluate(OVERFLOW) <= 0
    page.set_viewport_size(original)


def sign_button(page):
    return page.get_by_role("button", name="Sign", exact=True)


def test_spid_identity_then_a_one_time_certificate_signs(
    page,
    screenshot,
    live_server,
    signing,
    nssdb,  # noqa: F811
    tmp_path,
):
    urlback = f"{live_server.url}/healthz"
    request = signature_request(
        signer=english(), constraints=[DISPOSABLE, SPID_FLOW], profile="pades-t"
    )
    dst = create(signing, [[request]], urlback=urlback)
    item = first(dst)
    assert item["signature_type"] == "spid"

    page.goto(item["signature_ticket"])
    expect(sign_button(page)).to_be_disabled()
    start = page.get_by_role("link", name="Verify your identity")
    expect(start).to_be_visible()
    assert_usable(page)
    screenshot("signer-10-spid-before-identity")
    start.click()

    expect(page).to_have_url(f"{live_server.url}/sign/s/{item['id']}/identity/")
    expect(page.get_by_role("heading", name="Confirm your identity")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("demonstration identity provider")
    expect(page.get_by_text("Bruno", exact=True)).to_be_visible()
    expect(page.get_by_text("Boss", exact=True)).to_be_visible()
    assert_usable(page)
    screenshot("signer-11-spid-identity")

    # By keyboard: a mistyped code (its last letter) is refused, and said so.
    code_field = page.get_by_label("Fiscal code")
    code_field.focus()
    wrong = BRUNO_CF[:15] + ("A" if BRUNO_CF[15] != "A" else "B")
    page.keyboard.type(wrong.lower())
    page.keyboard.press("Tab")
    expect(page.get_by_label("I am Bruno Boss")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Confirm my identity")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("its last letter does not match")
    expect(page.get_by_label("Fiscal code")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Fiscal code")).to_be_focused()
    screenshot("signer-12-spid-identity-refused")
    assert not AuditEvent.objects.filter(kind="signature.identity_verified").exists()
    assert SignatureRequest.objects.get(pk=item["id"]).status == "pending"

    page.get_by_label("Fiscal code").fill(BRUNO_CF)
    page.get_by_label("I am Bruno Boss").check()
    page.get_by_role("button", name="Confirm my identity").click()

    expect(page).to_have_url(f"{live_server.url}/sign/s/{item['id']}/")
    expect(page.get_by_text("Identity verified: Bruno Boss")).to_be_visible()
    expect(page.get_by_text(BRUNO_CF)).to_be_visible()
    expect(sign_button(page)).to_be_enabled()
    assert_usable(page)
    screenshot("signer-13-spid-identified")
    sign_button(page).click()
    expect(page).to_have_url(urlback)

    assert SignatureRequest.objects.get(pk=item["id"]).status == "performed"
    event = AuditEvent.objects.get(kind="signature.identity_verified")
    assert (event.data["fiscal_code"], event.data["provider"]) == (BRUNO_CF, "demo")
    data, path = signed_pdf(dst, tmp_path)
    (certificate,) = signer_certificates(data)
    serial_number = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    assert serial_number[0].value == f"TINIT-{BRUNO_CF}"
    issued = IssuedCertificate.objects.get(serial=format(certificate.serial_number, "x"))
    assert issued.profile == "one_time" and issued.revoked_at is not None
    (checked,) = regular(pdfsig(nssdb, path))
    assert checked["Signer Certificate Common Name"] == "Bruno Boss"
    assert f"serialNumber=TINIT-{BRUNO_CF}" in checked["Signer full Distinguished Name"]
    assert checked["Signature Validation"] == "Signature is Valid.", checked
    # The one-time certificate is revoked once used, and pdfsig judges it now,
    # not at the signature's time-stamp (tests/practices/test_tickets.py does).
    assert checked["Certificate Validation"] == "Certificate has been Revoked.", checked
    assert not page.js_errors


def test_the_advanced_certificate_is_shown_when_the_code_is_sent(
    page,
    screenshot,
    signing,
    nssdb,  # noqa: F811
    tmp_path,
):
    dst = create(signing, [[signature_request(signer=english(phone=PHONE), constraints=[])]])
    item = first(dst)
    assert item["signature_type"] == "advanced"
    page.goto(item["signature_ticket"])
    card = page.get_by_role("region", name="Your signing certificate")
    expect(card).to_be_visible()
    expect(card).to_contain_text("When you ask for the code")
    assert not IssuedCertificate.objects.exists()

    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_role("status")).to_have_text("Code sent. It is valid for 5 minutes.")
    card = page.get_by_role("region", name="Your signing certificate")
    issued = IssuedCertificate.objects.get()
    serial = format(issued.serial_number, "X")
    serial = serial.rjust(len(serial) + len(serial) % 2, "0")
    expect(card.locator("[data-certificate-serial]")).to_have_text(
        ":".join(serial[n : n + 2] for n in range(0, len(serial), 2))
    )
    expect(card.locator("[data-certificate-holder]")).to_have_text("Bruno Boss")
    expect(card.locator("[data-certificate-issuer]")).to_contain_text("Issuing CA")
    expect(card.get_by_text("Valid until")).to_be_visible()
    expect(card.get_by_text("Qualified")).to_have_count(0)
    expect(page.get_by_label("Code received by SMS")).to_be_focused()
    assert_usable(page)
    screenshot("signer-14-advanced-certificate")

    sms = json.loads(Path(settings.SMS_FILE_PATH).read_text().strip().splitlines()[-1])
    page.get_by_label("Code received by SMS").fill(re.search(r"\b(\d{6})\b", sms["text"])[1])
    sign_button(page).click()
    expect(page.get_by_role("heading", name="Thank you, the document is signed")).to_be_visible()

    data, path = signed_pdf(dst, tmp_path)
    (certificate,) = signer_certificates(data)
    assert certificate.serial_number == issued.serial_number
    (checked,) = regular(pdfsig(nssdb, path))
    assert checked["Signer Certificate Common Name"] == "Bruno Boss"
    assert checked["Signature Validation"] == "Signature is Valid.", checked
    assert checked["Certificate Validation"] == "Certificate is Trusted.", checked
    assert not page.js_errors
