"""POST /api/oauth/token (CONTRACT §2): password and refresh grants, client auth, limits."""

import base64

import pytest

from accounts import services
from accounts.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def basic(client_id: str, secret: str) -> dict:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def password_grant(client, org, username="boss@acme", password=PASSWORD, **extra):
    data = {"grant_type": "password", "username": username, "password": password, **extra}
    return client.post("/api/oauth/token", data, headers=basic("acme", org.client_secret))


def test_password_grant_returns_a_bearer_pair(client, org):
    response = password_grant(client, org)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "all"
    assert body["expires_in"] > 0
    assert body["access_token"] and body["refresh_token"]
    users = client.get("/api/users", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert users.status_code == 200


def test_urlencoded_body_with_client_id_works_too(client, org):
    response = client.post(
        "/api/oauth/token",
        "grant_type=password&username=boss%40acme&password=" + PASSWORD + "&client_id=acme",
        content_type="application/x-www-form-urlencoded",
        headers=basic("acme", org.client_secret),
    )
    assert response.status_code == 200


def test_tokens_are_stored_only_as_digests(client, org):
    body = password_grant(client, org).json()

    stored = list(ApiToken.objects.values_list("digest", flat=True))
    assert body["access_token"] not in stored
    assert body["refresh_token"] not in stored
    assert len(stored) == 2 and all(len(d) == 64 for d in stored)


def test_wrong_password_is_invalid_grant(client, org):
    response = password_grant(client, org, password="nope")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"]


def test_user_of_another_organization_is_invalid_grant(client, org, other_org):
    response = password_grant(client, org, username="rivalboss@rival")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_disabled_user_cannot_get_a_token(client, org, signer):
    services.user_set_enabled(user=signer, enabled=False)

    assert password_grant(client, org, username="mrossi@acme").status_code == 400


def test_robot_cannot_use_the_password_grant(client, org, robot):
    assert password_grant(client, org, username="erp@acme", password="").status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        basic("acme", "wrong-secret"),
        basic("nowhere", "x"),
        {"Authorization": "Basic !!!"},
        {},
    ],
)
def test_wrong_client_is_invalid_client(client, org, headers):
    data = {"grant_type": "password", "username": "boss@acme", "password": PASSWORD}
    response = client.post("/api/oauth/token", data, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_rotated_client_secret_replaces_the_old_one(client, org):
    new_secret = services.organization_rotate_client_secret(organization=org.organization)

    assert password_grant(client, org).status_code == 401
    data = {"grant_type": "password", "username": "boss@acme", "password": PASSWORD}
    response = client.post("/api/oauth/token", data, headers=basic("acme", new_secret))
    assert response.status_code == 200


def test_refresh_grant_returns_a_new_pair_and_retires_the_old(client, org):
    first = password_grant(client, org).json()

    response = client.post(
        "/api/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic("acme", org.client_secret),
    )

    assert response.status_code == 200
    second = response.json()
    assert second["access_token"] != first["access_token"]
    old = client.get("/api/users", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert old.status_code == 401
    new = client.get("/api/users", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert new.status_code == 200
    replay = client.post(
        "/api/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic("acme", org.client_secret),
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_refresh_token_is_not_an_access_token(client, org):
    pair = password_grant(client, org).json()

    response = client.get(
        "/api/users", headers={"Authorization": f"Bearer {pair['refresh_token']}"}
    )

    assert response.status_code == 401


def test_refresh_token_of_another_organization_is_refused(client, org, other_org):
    rival = client.post(
        "/api/oauth/token",
        {"grant_type": "password", "username": "rivalboss@rival", "password": PASSWORD},
        headers=basic("rival", other_org.client_secret),
    ).json()

    response = client.post(
        "/api/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": rival["refresh_token"]},
        headers=basic("acme", org.client_secret),
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"grant_type": "client_credentials"},
        {"grant_type": "password", "username": "boss@acme"},
        {"grant_type": "refresh_token"},
    ],
)
def test_incomplete_requests_get_an_oauth_error(client, org, data):
    response = client.post("/api/oauth/token", data, headers=basic("acme", org.client_secret))

    assert response.status_code in (400, 401)
    assert set(response.json()) == {"error", "error_description"}


def test_token_endpoint_is_rate_limited(client, org, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "token": (3, 60)}

    answers = [password_grant(client, org, password="guess").status_code for _ in range(4)]

    assert answers == [400, 400, 400, 429]
    limited = password_grant(client, org)
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]
