"""A signer in the browser: logs in, finds the inbox, signs from it with the
keyboard and finds the document among the completed ones."""

import pytest
from playwright.sync_api import expect

from accounts import services
from practices.models import SignatureRequest
from tests.conftest import PASSWORD
from tests.e2e.conftest import OVERFLOW
from tests.e2e.test_signer import create
from tests.practices.conftest import signature_request

pytestmark = pytest.mark.browser


def signer_of(user) -> dict:
    # The address as the sender typed it: matched case-insensitively.
    return {"email": user.email.upper(), "first_name": user.name, "last_name": user.surname}


def fits_the_width(page) -> bool:
    return page.evaluate(OVERFLOW) <= 0


def test_a_signer_signs_from_the_inbox(
    page,
    screenshot,
    live_server,
    live_pki,  # noqa: F811
    admin,
    signer,
    api_as,
):
    services.user_update(user=signer, language="en")
    api = api_as(admin)
    dst = create(
        api,
        [[signature_request(signer=signer_of(signer), declinable=True)]],
        title="Fornitura 2027",
    )
    create(
        api,
        [[signature_request()], [signature_request(signer=signer_of(signer))]],
        title="Dopo Mario Rossi",
    )
    item = dst["documents"][0]["groups"][0][0]

    page.goto("/")
    page.get_by_label("Organization").fill("acme")
    page.get_by_label("Username").fill(signer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Documents to sign")).to_be_visible()
    to_sign = page.get_by_role("table", name="To sign now")
    expect(to_sign.get_by_role("row", name="Fornitura 2027")).to_be_visible()
    waiting = page.get_by_role("table", name="Waiting for others")
    expect(waiting.get_by_role("row", name="Dopo Mario Rossi")).to_be_visible()
    expect(waiting.get_by_role("button")).to_have_count(0)
    screenshot("inbox-01-to-sign")
    page.set_viewport_size({"width": 360, "height": 800})
    assert fits_the_width(page)
    button = to_sign.get_by_role("button", name="Sign Fornitura 2027, Contratto utenza")
    expect(button).to_be_visible()

    # From the keyboard: the Sign button is reachable and Enter presses it.
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/sign/s/{item['id']}/")
    assert "/sign/s/" in page.url and item["signature_ticket"] not in page.url
    expect(page.get_by_role("heading", name="Fornitura 2027")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you, the document is signed")).to_be_visible()
    assert SignatureRequest.objects.get(pk=item["id"]).status == "performed"

    # Back to the inbox through the menu: the document is now among the completed.
    page.locator("summary", has_text="Menu").click()
    page.get_by_role("navigation", name="Main menu").get_by_role(
        "link", name="Documents to sign"
    ).click()
    expect(page.get_by_role("heading", name="Documents to sign")).to_be_visible()
    expect(page.get_by_text("Nothing is waiting for your signature.")).to_be_visible()
    completed = page.get_by_role("table", name="Recently completed")
    row = completed.get_by_role("row", name="Fornitura 2027")
    expect(row).to_be_visible()
    expect(row.get_by_text("Signed")).to_be_visible()
    expect(page.get_by_role("table", name="Waiting for others")).to_be_visible()
    screenshot("inbox-02-completed")
    page.set_viewport_size({"width": 360, "height": 800})
    assert fits_the_width(page)
    assert not page.js_errors
