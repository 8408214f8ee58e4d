"""Who may use the DST API: admins, instructors and robots of the organization in the path."""

import pytest

from practices.models import Practice
from tests.conftest import make_org
from tests.practices.conftest import dst_body, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def practice(admin, admin_api):
    response = admin_api.post(url(), dst_body())
    assert response.status_code == 201
    return Practice.objects.get(pk=response.json()["data"]["id"])


def _calls(practice):
    document = practice.documents.get()
    return {
        "create": ("post", url(), dst_body()),
        "list": ("get", url(), None),
        "retrieve": ("get", url(tail=f"/{practice.id}"), None),
        "cancel": ("post", url(tail=f"/{practice.id}/cancel"), {"reason": "stop"}),
        "download": ("get", f"/api/v1/acme/documents/{document.id}/download", None),
    }


def _call(client, method, path, body):
    return client.post(path, body) if method == "post" else client.get(path)


@pytest.mark.parametrize("role", ["admin", "instructor", "robot"])
@pytest.mark.parametrize("call", ["list", "retrieve", "download", "create", "cancel"])
def test_people_who_make_practices_may_use_every_call(request, api_as, practice, role, call):
    user = request.getfixturevalue(role)
    method, path, body = _calls(practice)[call]

    response = _call(api_as(user), method, path, body)

    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize("call", ["list", "retrieve", "download", "create", "cancel"])
def test_signers_are_denied(signer, api_as, practice, call):
    method, path, body = _calls(practice)[call]

    response = _call(api_as(signer), method, path, body)

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    practice.refresh_from_db()
    assert practice.status == "pending"
    assert Practice.objects.count() == 1


@pytest.mark.parametrize("call", ["list", "retrieve", "download", "create", "cancel"])
def test_another_organizations_admin_is_denied_even_with_the_right_ids(api_as, practice, call):
    rival = make_org("rival", "rivalboss").admin
    method, path, body = _calls(practice)[call]

    response = _call(api_as(rival), method, path, body)

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    practice.refresh_from_db()
    assert practice.status == "pending"


def test_own_slug_does_not_reach_another_organizations_practice(api_as, practice):
    rival = make_org("rival", "rivalboss").admin
    rival_api = api_as(rival)

    assert rival_api.get(url("rival", f"/{practice.id}")).status_code == 404
    assert rival_api.get(url("rival")).json()["data"] == []
    document = practice.documents.get()
    assert rival_api.get(f"/api/v1/rival/documents/{document.id}/download").status_code == 404
    cancel = rival_api.post(url("rival", f"/{practice.id}/cancel"), {"reason": "x"})
    assert cancel.status_code == 404
    practice.refresh_from_db()
    assert practice.status == "pending"


def test_without_a_token_the_answer_is_401(client, practice):
    response = client.get(url())

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_disabled_robot_is_denied(robot, api_as, practice):
    robot_api = api_as(robot)
    robot.enabled = False
    robot.save()

    assert robot_api.get(url()).status_code == 403


def test_unknown_practice_is_404_in_the_dst_error_body(admin_api):
    for tail in ("/8b9f3c1e-6d0a-4c55-9d7e-0a1b2c3d4e5f", "/not-a-uuid"):
        response = admin_api.get(url(tail=tail))
        assert response.status_code == 404
        assert response.json()["meta"]["error_type"] == "NotFound"
