"""Signers in the browser: click, OTP (the code from the file SMS backend), a
signature drawn with the mouse, decline, and the urlback redirect. Every
signed document validates against the portal's roots and CRLs."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from portal import trust
from practices.models import Revision, SignatureRequest
from signing.validate import validate
from tests.e2e.conftest import PHONE
from tests.practices.conftest import dst_body, signature_request, url

pytestmark = pytest.mark.browser

CANVAS_IMAGE = "document.querySelector('[data-pad]').toDataURL()"


def create(api, groups, **overrides) -> dict:
    # No audit report: its task would need a broker, and it is tested elsewhere.
    overrides.setdefault("generate_report", False)
    response = api.post(url(), dst_body(groups=groups, **overrides))
    assert response.status_code == 201, response.content
    return response.json()["data"]


def first(dst: dict) -> dict:
    return dst["documents"][0]["groups"][0][0]


def assert_valid(dst: dict) -> bytes:
    document_id = dst["documents"][0]["id"]
    revision = Revision.objects.filter(document_id=document_id).order_by("-number").first()
    assert revision.number >= 1
    with revision.file.open("rb") as handle:
        data = handle.read()
    report = validate(
        data, trust_roots=trust.validation_roots(), crls=[trust.issuing_crl(), trust.root_crl()]
    )
    assert report.valid, report
    return data


def english(**signer) -> dict:
    # The organization speaks Italian; these pages are checked in English,
    # so the signer is given an English-speaking account.
    return {"email": "boss@acme.example", "first_name": "Bruno", "last_name": "Boss", **signer}


@pytest.fixture
def boss_in_english(admin):
    from accounts import services

    services.user_update(user=admin, language="en")
    return admin


def test_click_with_a_clause(page, screenshot, live_server, signing, boss_in_english):
    clauses = [
        {
            "id": "privacy",
            "required": True,
            "description": "I accept the privacy terms",
            "where": {"page": 1, "position": "rect: 20mm, 250mm, 120mm, 262mm"},
        }
    ]
    dst = create(
        signing,
        [
            [signature_request(signer=english(), clauses=clauses, declinable=True)],
            [signature_request(signer=english(email="next@acme.example"))],
        ],
    )
    # The second group waits for the first: a clear page, not an error.
    page.goto(dst["documents"][0]["groups"][1][0]["signature_ticket"])
    # No account for this address: the organization speaks Italian.
    expect(page.get_by_role("heading", name="Non è ancora il tuo turno")).to_be_visible()
    screenshot("signer-00-locked")

    item = first(dst)
    page.goto(item["signature_ticket"])
    expect(page).to_have_url(f"{live_server.url}/sign/s/{item['id']}/")
    expect(page.get_by_role("heading", name="Titolo pratica")).to_be_visible()
    expect(page.get_by_role("img", name="Page 2 of 2")).to_be_visible()
    expect(page.locator("rect.sign-box-signature")).to_have_count(1)
    expect(page.locator("rect.sign-box-clause")).to_have_count(1)
    screenshot("signer-01-click")

    # Signing without the required clause is refused on the page.
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Approve every required clause first.")
    expect(page.get_by_label("I accept the privacy terms")).to_be_focused()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you, the document is signed")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/sign/s/{item['id']}/done/")
    screenshot("signer-02-done")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the signed document").click()
    signed = assert_valid(dst)
    assert Path(download.value.path()).read_bytes() == signed

    # Opening the ticket again shows that it is signed.
    page.goto(item["signature_ticket"])
    expect(page.get_by_role("heading", name="You have already signed")).to_be_visible()
    screenshot("signer-03-already-signed")
    assert not page.js_errors


def test_otp_then_the_urlback(page, screenshot, live_server, signing, boss_in_english):
    urlback = f"{live_server.url}/healthz"
    request = signature_request(
        signer=english(phone=PHONE), provider_options={"unlock_mode": "otp"}
    )
    dst = create(signing, [[request]], urlback=urlback)
    item = first(dst)
    page.goto(item["signature_ticket"])
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_role("status")).to_have_text("Code sent. It is valid for 5 minutes.")
    expect(page.get_by_role("button", name=re.compile(r"Send again in \d+ s"))).to_be_disabled()
    sms = json.loads(Path(settings.SMS_FILE_PATH).read_text().strip().splitlines()[-1])
    assert sms["to"] == PHONE
    code = re.search(r"\b(\d{6})\b", sms["text"]).group(1)
    code_field = page.get_by_label("Code received by SMS")
    expect(code_field).to_be_focused()
    expect(code_field).to_have_attribute("inputmode", "numeric")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")

    code_field.fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong code")
    expect(page.get_by_text("Attempts left: 4")).to_be_visible()
    screenshot("signer-04-otp")

    code_field.fill(code)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page).to_have_url(urlback)
    assert SignatureRequest.objects.get(pk=item["id"]).status == "performed"
    assert_valid(dst)


def test_grapho_drawn_with_the_mouse(page, screenshot, signing, boss_in_english):
    dst = create(
        signing,
        [[signature_request(signer=english(), provider_options={"unlock_mode": "grapho"})]],
    )
    item = first(dst)
    page.goto(item["signature_ticket"])
    pad = page.get_by_role("img", name="Draw your signature")
    expect(pad).to_be_visible()
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Draw your signature first.")

    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()

    def stroke(points):
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.up()

    undo = page.get_by_role("button", name="Undo")
    redo = page.get_by_role("button", name="Redo")
    expect(undo).to_be_disabled()
    expect(redo).to_be_disabled()
    stroke([(20, 120), (60, 40), (90, 130), (140, 50), (190, 110)])
    stroke([(40, 140), (220, 140)])
    undo.click()
    expect(redo).to_be_enabled()
    one_stroke = page.evaluate(CANVAS_IMAGE)
    redo.click()  # the underline is back
    expect(redo).to_be_disabled()
    assert page.evaluate(CANVAS_IMAGE) != one_stroke
    undo.click()
    assert page.evaluate(CANVAS_IMAGE) == one_stroke
    screenshot("signer-05-grapho")
    page.get_by_role("button", name="Clear").click()
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Draw your signature first.")
    stroke([(20, 120), (60, 40), (90, 130), (140, 50), (190, 110)])
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you, the document is signed")).to_be_visible()
    signed = assert_valid(dst)
    # The drawing is in the appearance: an image XObject in the last revision.
    assert b"/Subtype /Image" in signed or b"/Subtype/Image" in signed
    assert not page.js_errors


def test_decline_with_a_reason(page, screenshot, signing, boss_in_english, admin):
    dst = create(
        signing, [[signature_request(signer=english(), declinable=True)], [signature_request()]]
    )
    item = first(dst)
    page.goto(item["signature_ticket"])
    opener = page.get_by_role("button", name="Decline to sign")
    opener.click()
    dialog = page.get_by_role("dialog", name="Decline to sign?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Reason")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    opener.click()
    dialog.get_by_role("button", name="Decline").click()
    expect(dialog.get_by_role("alert")).to_have_text("Write why you decline.")
    dialog.get_by_label("Reason").fill("The amount is wrong")
    screenshot("signer-06-decline")
    dialog.get_by_role("button", name="Decline").click()
    expect(page.get_by_role("heading", name="You declined to sign")).to_be_visible()
    screenshot("signer-07-declined")
    signature = SignatureRequest.objects.get(pk=item["id"])
    assert (signature.status, signature.decline_reason) == ("declined", "The amount is wrong")

    # The second group's ticket: a clear page, not an error.
    later = dst["documents"][0]["groups"][1][0]
    page.goto(later["signature_ticket"])
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "cancelled")
    page.goto("/sign/not-a-real-ticket")
    expect(page.get_by_role("heading", name=re.compile("link"))).to_be_visible()
    screenshot("signer-08-unknown-ticket")
