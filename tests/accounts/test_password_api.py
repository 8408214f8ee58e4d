"""Password calls (CONTRACT §4): change with the old password, lost with an emailed link."""

import re

import pytest
from django.core import mail

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "Brand-New-Secret-77"


def change(client, **fields):
    body = {
        "username": "mrossi@acme",
        "old_password": PASSWORD,
        "new_password": NEW,
        "new_password_check": NEW,
        **fields,
    }
    return client.post("/api/auth/changePassword", body, content_type="application/json")


def test_change_password_with_the_old_one(client, signer):
    assert change(client).status_code == 204

    signer.refresh_from_db()
    assert signer.check_password(NEW)


def test_change_password_with_bare_username_and_domain(client, signer):
    assert change(client, username="mrossi", domain="acme").status_code == 204


def test_mismatch_is_2028(client, signer):
    response = change(client, new_password_check="something-else-88")

    assert response.status_code == 400
    assert response.json() == {
        "code": 2028,
        "message": "new_password and new_password_check do not match",
        "kwargs": {},
    }


@pytest.mark.parametrize(
    "fields",
    [{"old_password": "wrong-one-12"}, {"username": "ghost@acme"}, {"username": "mrossi@rival"}],
)
def test_wrong_old_password_or_user_is_2029(client, signer, fields):
    response = change(client, **fields)

    assert response.status_code == 400
    assert response.json()["code"] == 2029
    signer.refresh_from_db()
    assert signer.check_password(PASSWORD)


@pytest.mark.parametrize("weak", ["123", "password", "12345678901"])
def test_weak_password_is_2030(client, signer, weak):
    response = change(client, new_password=weak, new_password_check=weak)

    assert response.status_code == 400
    assert response.json()["code"] == 2030


def test_passwords_sent_as_numbers_are_read_as_text(client, signer):
    signer.set_password("123456789")
    signer.save()

    response = change(client, old_password=123456789, new_password=98765, new_password_check=98765)

    assert response.status_code == 400
    assert response.json()["code"] == 2030


def test_malformed_body_gets_the_password_error_shape(client, db):
    response = client.post("/api/auth/changePassword", "{", content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert isinstance(body["code"], int) and body["kwargs"] == {}


def test_missing_field_names_it(client, db):
    response = client.post(
        "/api/auth/changePassword", {"username": "a@b"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "old_password" in response.json()["message"]


def test_password_lost_emails_a_one_time_link(client, signer):
    response = client.post(
        "/api/auth/passwordLost", {"username": "mrossi@acme"}, content_type="application/json"
    )

    assert response.status_code == 204
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["mrossi@acme.example"]
    link = re.search(r"https?://\S+/reset/\S+", mail.outbox[0].body).group(0)
    path = link.split("127.0.0.1:8000", 1)[-1]
    assert client.get(path, follow=True).status_code == 200


def test_password_lost_with_domain_field(client, signer):
    response = client.post(
        "/api/auth/passwordLost",
        {"username": "mrossi", "domain": "acme"},
        content_type="application/json",
    )

    assert response.status_code == 204


def test_password_lost_unknown_is_2031(client, signer):
    response = client.post(
        "/api/auth/passwordLost", {"username": "ghost@acme"}, content_type="application/json"
    )

    assert response.status_code == 404
    assert response.json() == {"code": 2031, "message": "Username not found", "kwargs": {}}
    assert not mail.outbox


def test_password_lost_is_rate_limited(client, signer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password": (2, 300)}
    body = {"username": "mrossi@acme"}

    codes = [
        client.post("/api/auth/passwordLost", body, content_type="application/json").status_code
        for _ in range(3)
    ]

    assert codes == [204, 204, 429]
    assert len(mail.outbox) == 2
    limited = client.post("/api/auth/passwordLost", body, content_type="application/json")
    assert int(limited["Retry-After"]) > 0
    assert isinstance(limited.json()["code"], int)


def test_change_password_is_rate_limited_too(client, signer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password": (2, 300)}

    codes = [change(client, old_password="guess-123-x").status_code for _ in range(3)]

    assert codes == [400, 400, 429]
