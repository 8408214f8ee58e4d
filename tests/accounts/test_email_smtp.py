"""Account emails travel over real SMTP (an aiosmtpd server on loopback)."""

import base64
import logging
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from accounts import services
from tests.conftest import PASSWORD


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


@pytest.fixture
def smtp_inbox(settings):
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    yield inbox
    controller.stop()


@pytest.mark.django_db
def test_password_lost_link_arrives_by_smtp_in_the_users_language(client, signer, smtp_inbox):
    services.user_update(user=signer, language="en")

    response = client.post(
        "/api/auth/passwordLost", {"username": "mrossi@acme"}, content_type="application/json"
    )

    assert response.status_code == 204
    [message] = smtp_inbox.messages
    assert message["To"] == "mrossi@acme.example"
    body = message.get_payload(decode=True).decode()
    assert re.search(r"http://127\.0\.0\.1:\d+/reset/\S+/\S+/", body)
    assert "password" in message["Subject"].lower()


@pytest.mark.django_db
def test_no_secret_reaches_the_logs(client, org, robot, caplog, api_as):
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"acme:{org.client_secret}".encode()).decode()
    pair = client.post(
        "/api/oauth/token",
        {"grant_type": "password", "username": "boss@acme", "password": PASSWORD},
        headers={"Authorization": f"Basic {basic}"},
    ).json()
    admin = api_as(org.admin)
    lifetime = admin.get("/api/robot/authentication?username=erp").json()["accessToken"]
    admin.put(
        "/api/robot/configuration?username=erp",
        {"authentication": {"username": "u", "password": "robot-password-xyz"}},
    )
    admin.get("/api/robot/configuration?username=erp")

    logged = caplog.text
    for secret in (
        pair["access_token"],
        pair["refresh_token"],
        lifetime,
        org.client_secret,
        PASSWORD,
        "robot-password-xyz",
    ):
        assert secret not in logged
