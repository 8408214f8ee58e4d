"""Every /api/ call needs a usable token (CONTRACT §2)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services, tokens
from accounts.models import ApiToken
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer", "token"])
def test_both_schemes_accept_access_and_lifetime_tokens(admin, robot, scheme):
    access = tokens.oauth_pair_issue(user=admin)["access_token"]
    lifetime = services.robot_token_get_or_issue(robot=robot)

    assert ApiClient(access, scheme).get("/api/users").status_code == 200
    assert ApiClient(lifetime, scheme).get("/api/users").status_code == 200


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", "Bearer nope", "Basic Ym9zczp4", "Token  ", "nope"]
)
def test_missing_or_unknown_token_is_401_invalid_token(client, org, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get("/api/users", headers=headers)

    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_token"
    assert body["error_description"].startswith("Invalid access token:")


def test_error_description_names_the_token(client, org):
    response = client.get("/api/users", headers={"Authorization": "Bearer wG3kD7duow"})

    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Invalid access token: wG3kD7duow",
    }


def test_expired_access_token_is_401(admin):
    access = tokens.oauth_pair_issue(user=admin)["access_token"]
    ApiToken.objects.filter(kind="access").update(expires_at=timezone.now() - timedelta(seconds=1))

    assert ApiClient(access).get("/api/users").status_code == 401


def test_revoked_lifetime_token_stops_working_at_once(robot):
    lifetime = services.robot_token_get_or_issue(robot=robot)
    services.robot_token_revoke(robot=robot)

    assert ApiClient(lifetime).get("/api/users").status_code == 401


def test_disabled_user_tokens_answer_403(admin, signer, api_as):
    as_signer = api_as(signer)
    services.user_set_enabled(user=signer, enabled=False)

    response = as_signer.get("/api/users")

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_disabled_robot_token_answers_403(robot, api_as):
    as_robot = api_as(robot)
    services.user_set_enabled(user=robot, enabled=False)

    assert as_robot.get("/api/users").status_code == 403


def test_token_free_calls_need_no_token(client, db):
    assert client.get("/api/openapi.json").status_code == 200
    lost = client.post(
        "/api/auth/passwordLost", {"username": "ghost@nowhere"}, content_type="application/json"
    )
    assert lost.status_code == 404


def test_openapi_lists_every_call_and_the_docs_page_renders(client, db):
    paths = client.get("/api/openapi.json").json()["paths"]

    for path in (
        "/api/oauth/token",
        "/api/auth/changePassword",
        "/api/auth/passwordLost",
        "/api/robot/authentication",
        "/api/robot/configuration",
        "/api/users",
        "/api/user/{user_id}",
    ):
        assert path in paths
    assert client.get("/api/docs").status_code == 200
