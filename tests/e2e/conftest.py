"""Browser tests: Debian's chromium driven by Playwright's sync API against live_server.

One browser per module; each test gets a fresh context (cookies, storage,
permissions) and page. Screenshots go to test-artifacts/screenshots/.

Playwright's sync API keeps an event loop running in this thread while it is
open, so the browser closes with its module: code that runs its own loop
(pyHanko's sync calls) must not find one running in later tests.
"""

import os
from pathlib import Path

import pytest

from tests.signing.conftest import live_pki  # noqa: F401

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# The signer's phone in the browser tests; the file SMS backend records the codes.
PHONE = "+393331234567"
# How much wider than the window the page is: 0 or less when it fits.
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
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

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTHS = (1280, 360)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    # With Playwright's loop running in this thread, Django would refuse
    # database access from the test body, which is synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": WIDTHS[0], "height": 900},
        locale="en-GB",
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    """screenshot(name): the current page, full length, at every width in WIDTHS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        original = page.viewport_size
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": original["height"]})
            page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        page.set_viewport_size(original)

    return take


@pytest.fixture
def signing(live_pki, settings, admin, api_as):  # noqa: F811
    """The admin's API client, with a PKI served by the live server and SMS
    codes written to a file the tests read."""
    settings.SMS_BACKEND = "file"
    return api_as(admin)
