"""The signer's page for every signature type, checked the way a keyboard or
screen-reader user and a phone meet it: every control has an accessible name,
Tab reaches every control in order up to the Sign button, and nothing is wider
than a 360 px screen."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OVERFLOW, PHONE, UNNAMED_CONTROLS
from tests.e2e.test_signer import boss_in_english, create, english, first  # noqa: F401
from tests.practices.conftest import signature_request

# The signer has an English account: the pages are read in English.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("boss_in_english")]


# constraints and provider options of each signature type (CONTRACT §5)
TYPES = {
    "click": {"constraints": ["certificate__is_simple__exact=true"]},
    "otp": {
        "constraints": ["certificate__is_simple__exact=true"],
        "provider_options": {"unlock_mode": "otp"},
    },
    "grapho": {
        "constraints": ["certificate__is_simple__exact=true"],
        "provider_options": {"unlock_mode": "grapho"},
    },
    "advanced": {"constraints": []},
    "qualified": {"constraints": ["certificate__is_qualified__exact=true"]},
}

FOCUSED = "() => document.activeElement.outerHTML.slice(0, 120)"


@pytest.mark.parametrize("kind", TYPES)
def test_every_control_is_named_and_reachable_by_keyboard(page, live_server, signing, kind):
    clauses = [{"id": "terms", "required": True, "description": "I accept the terms"}]
    signer = english(phone=PHONE)
    dst = create(
        signing,
        [[{**signature_request(signer=signer, clauses=clauses, declinable=True), **TYPES[kind]}]],
    )
    item = first(dst)
    assert item["signature_type"] == kind
    page.goto(item["signature_ticket"])
    expect(page.get_by_role("button", name="Sign", exact=True)).to_be_visible()

    assert page.evaluate(UNNAMED_CONTROLS) == []

    # Tab from the top of the page walks through the controls to Sign.
    sign_button = page.get_by_role("button", name="Sign", exact=True)
    visited = []
    for _ in range(60):
        page.keyboard.press("Tab")
        visited.append(page.evaluate(FOCUSED))
        if sign_button.evaluate("(el) => el === document.activeElement"):
            break
    else:
        pytest.fail(f"Tab never reached the Sign button; it went through {visited}")
    assert any("terms" in element for element in visited), visited

    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate(OVERFLOW) <= 0
    assert not page.js_errors
