"""An admin creates a robot in the browser, configures it and uses its token on the API."""

import re

import pytest
import requests
from playwright.sync_api import expect

from accounts import services, tokens
from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def log_in(page, user) -> None:
    page.get_by_label("Organization").fill(user.organization.slug)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def api_users(base_url: str, token: str) -> requests.Response:
    return requests.get(
        f"{base_url}/api/users", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_admin_creates_a_robot_sets_its_webhook_and_its_token_opens_the_api(
    page, screenshot, live_server, admin, signer
):
    services.user_update(user=admin, language="en")

    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/login/")
    screenshot("01-login")
    page.get_by_role("link", name="Password lost?").click()
    expect(page.get_by_role("heading", name="Password lost")).to_be_visible()
    screenshot("02-password-lost")
    page.get_by_role("link", name="Back to log in").click()

    log_in(page, admin)
    expect(page).to_have_url(f"{live_server.url}/users/")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    screenshot("03-users")

    # The burger menu, top left, leads to Users.
    page.locator("summary", has_text="Menu").click()
    screenshot("04-burger-menu")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add User").click()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_be_visible()
    screenshot("05-add-user")

    page.get_by_label("Account Type").select_option("robot")
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_be_hidden()
    expect(page.get_by_label("Application name")).to_be_visible()
    screenshot("06-add-robot")
    page.get_by_label("Username").fill("erp-e2e")
    page.get_by_label("Application name").fill("ERP connector")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("erp-e2e was created.")
    robot = User.objects.get(organization=admin.organization, username="erp-e2e")
    assert robot.automatic and robot.extra_data == {"application": "ERP connector"}

    # Back to the list, find the robot, open it.
    page.locator("summary", has_text="Menu").click()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Users").click()
    page.get_by_label("Search").fill("erp-e2e")
    expect(page.locator("#user-results")).to_contain_text("1 user")
    expect(page).to_have_url(re.compile(r"/users/\?q=erp-e2e"))
    page.get_by_role("link", name="erp-e2e").click()
    expect(page.get_by_role("heading", name="Contact Data")).to_be_visible()
    screenshot("07-robot")

    # Three dots next to Contact Data, then Manage Token.
    page.locator("summary", has_text="Actions").click()
    expect(page.get_by_role("link", name="Manage Token")).to_be_visible()
    screenshot("08-robot-actions")
    page.get_by_role("link", name="Manage Token").click()
    dialog = page.get_by_role("dialog", name="Manage Token")
    expect(dialog).to_be_visible()
    expect(page.locator(".dropdown[open]")).to_have_count(0)

    dialog.get_by_label("Webhook URL").fill("ftp://127.0.0.1/hook")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_text("Enter an http:// or https:// URL.")).to_be_in_viewport()
    expect(dialog.get_by_label("Webhook URL")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Webhook URL").fill("http://127.0.0.1:9/hook")
    dialog.get_by_label("Header name").first.fill("X-Api-Key")
    dialog.get_by_label("Value").first.fill("erp-secret")
    dialog.get_by_role("button", name="Add header").click()
    expect(dialog.get_by_label("Header name")).to_have_count(2)
    expect(dialog.get_by_label("Header name").last).to_be_focused()
    dialog.get_by_role("button", name="Remove this header").last.click()
    expect(dialog.get_by_label("Header name")).to_have_count(1)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_text("Robot configuration saved.")).to_be_in_viewport()
    config = services.robot_configuration_read(robot=User.objects.get(pk=robot.pk))
    assert config["webhooks"]["dst"] == "http://127.0.0.1:9/hook"
    assert config["requestHeaders"] == {"X-Api-Key": ["erp-secret"]}
    page.locator("#modal").evaluate("dialog => dialog.scrollTo(0, 0)")
    screenshot("09-manage-token")

    token_field = dialog.get_by_role("textbox", name="Lifetime token")
    expect(token_field).to_have_attribute("readonly", "")
    token = token_field.input_value()
    dialog.get_by_role("button", name="Copy").first.click()
    expect(dialog.locator('[data-copy-status="robot-token"]')).to_have_text(
        "Copied to the clipboard."
    )
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert token == services.robot_token_get_or_issue(robot=robot)
    assert tokens.token_find(value=token).user == robot

    response = api_users(live_server.url, token)
    assert response.status_code == 200, response.text
    assert "mrossi" in response.text

    # Regenerate (after the confirmation): the old token stops working.
    page.once("dialog", lambda confirm: confirm.accept())
    dialog.get_by_role("button", name="Regenerate").click()
    expect(dialog.get_by_text("A new token was issued")).to_be_visible()
    new_token = dialog.get_by_role("textbox", name="Lifetime token").input_value()
    assert new_token != token
    assert api_users(live_server.url, token).status_code == 401
    assert api_users(live_server.url, new_token).status_code == 200

    # Escape closes the dialog and leaves no token in the page.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("summary", has_text="Actions")).to_be_focused()
    assert new_token not in page.content()

    # The menu works from the keyboard: Enter opens it, Tab walks its items.
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Manage Token")).to_be_visible()
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Disable")).to_be_focused()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="Disable erp-e2e?")
    expect(confirm).to_be_visible()
    screenshot("10-disable-confirm")
    confirm.get_by_role("link", name="Cancel").click()
    expect(confirm).to_be_hidden()
    page.locator("summary", has_text="Actions").click()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Application name")).to_have_value("ERP connector")
    screenshot("11-edit-robot")

    assert page.js_errors == []


def test_a_signer_lands_on_an_empty_inbox(page, screenshot, live_server, signer):
    services.user_update(user=signer, language="it")
    page.goto("/login/")
    log_in(page, signer)
    expect(page.get_by_role("heading", name="Documenti da firmare")).to_be_visible()
    expect(page.get_by_text("Nessun documento attende la tua firma.")).to_be_visible()
    expect(page.get_by_text("Qui non c'è nulla da gestire")).to_be_visible()
    screenshot("12-signer-home-it")
    page.get_by_role("button", name="Esci").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    page.get_by_role("button", name="Italiano").click()
    expect(page.get_by_role("heading", name="Accedi a Sigillo")).to_be_visible()
    screenshot("13-login-it")
    assert page.js_errors == []
