"""Bad input anywhere in the accounts API gets the contract's error body, never a 500."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
user_like = st.fixed_dictionaries(
    {},
    optional={
        "username": json_values | st.text(max_size=200),
        "role": json_values | st.sampled_from(["admin", "instructor", "signer"]),
        "email": json_values,
        "language": json_values,
        "groups": json_values,
        "capabilities": json_values,
        "automatic": json_values,
        "extraData": json_values,
        "phone": json_values,
    },
)
fuzz = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_error_response(response):
    assert response.status_code < 500, response.content
    if response.status_code >= 400 and response.status_code not in (401, 403):
        assert set(response.json()) == {"code", "message", "target"}


@fuzz
@given(
    body=st.one_of(
        json_values, st.fixed_dictionaries({"user": user_like}, optional={"password": json_values})
    )
)
def test_create_user_never_crashes_nor_half_creates(admin, api_as, body):
    before = User.objects.count()

    response = api_as(admin).post("/api/users", body)

    assert_error_response(response)
    if response.status_code != 201:
        assert User.objects.count() == before


@fuzz
@given(body=json_values | user_like)
def test_update_user_never_crashes(admin, signer, api_as, body):
    assert_error_response(api_as(admin).put(f"/api/user/{signer.id}", body))


@fuzz
@given(body=json_values)
def test_robot_configuration_never_crashes(admin, robot, api_as, body):
    assert_error_response(api_as(admin).put("/api/robot/configuration?username=erp", body))


@fuzz
@given(
    params=st.dictionaries(
        st.sampled_from(["$top", "$skip", "$count", "$orderBy", "$filter"]),
        st.text(max_size=60),
    )
)
def test_user_list_parameters_never_crash(admin, api_as, params):
    assert_error_response(api_as(admin).get("/api/users", params))


@fuzz
@given(body=json_values)
def test_password_calls_never_crash(client, signer, body):
    for path in ("/api/auth/changePassword", "/api/auth/passwordLost"):
        response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code < 500
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "message", "kwargs"}


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2", "application/json", 400),
        ('{"user": {"username": "x"}}', "text/plain", 415),
        ("user=x", "application/x-www-form-urlencoded", 415),
        ("", "application/json", 400),
        ("null", "application/json", 400),
        ('"just a string"', "application/json", 400),
        (json.dumps({"user": {"username": "x" * 1_000_000}}), "application/json", 400),
    ],
)
def test_unreadable_bodies(admin, api_as, body, content_type, status):
    response = api_as(admin).post("/api/users", body, content_type=content_type)

    assert response.status_code == status
    assert set(response.json()) == {"code", "message", "target"}
    assert User.objects.count() == 1


def test_a_body_over_the_upload_limit_is_413(admin, api_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api_as(admin).post("/api/users", {"user": {"username": "x", "name": "y" * 2000}})

    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"


def test_unknown_api_path_is_json_404(admin, api_as):
    response = api_as(admin).get("/api/nothing-here")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
