"""The signer's page for every signature type, checked the way a keyboard or
screen-reader user and a phone meet it: every control has an accessible name,
Tab reaches every control in order up to the Sign button, and nothing is wider
than a 360 px screen."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_signer import boss_in_english, create, english, first  # noqa: F401
from tests.practices.conftest import signature_request
from tests.signing.conftest import live_pki  # noqa: F401

# The signer has an English account: the pages are read in English.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("boss_in_english")]

PHONE = "+393331234567"

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

# The interactive elements a user can reach, and the name each one is announced
# by: its label, aria-labelledby, aria-label, its own text, or its title.
UNNAMED_CONTROLS = """
() => {
  const reachable = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]';
  const nameOf = (el) => {
    const byIds = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent || '').join(' ');
    const labels = el.labels ? [...el.labels].map((l) => l.textContent).join(' ') : '';
    const own = ['BUTTON', 'A'].includes(el.tagName) ? el.textContent : '';
    return [byIds, el.getAttribute('aria-label') || '', labels, own, el.title || '']
      .join(' ').trim();
  };
  return [...document.querySelectorAll(reachable)]
    .filter((el) => el.offsetParent !== null && el.tabIndex >= 0)
    .filter((el) => !nameOf(el))
    .map((el) => el.outerHTML.slice(0, 120));
}
"""

FOCUSED = "() => document.activeElement.outerHTML.slice(0, 120)"
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def signing(live_pki, settings, admin, api_as):  # noqa: F811
    settings.SMS_BACKEND = "file"
    return api_as(admin)


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
