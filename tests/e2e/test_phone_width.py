"""The pages anyone can open before logging in fit a phone's screen: nothing
is wider than 320 px, in any of the four languages."""

import pytest

from tests.e2e.conftest import OVERFLOW

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/login/", "/password-lost/"])
def test_the_public_pages_fit_a_phone_in_every_language(page, live_server, path):
    page.set_viewport_size({"width": 320, "height": 700})
    for language in ("it", "en", "es", "fr"):
        page.context.add_cookies(
            [{"name": "django_language", "value": language, "url": live_server.url}]
        )
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        assert page.evaluate(OVERFLOW) <= 0, language
    assert not page.js_errors
