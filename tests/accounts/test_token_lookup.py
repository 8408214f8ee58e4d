"""The token lookup's one statement loads what the ORM's select_related would."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services, tokens
from accounts.models import ApiToken, RobotConfiguration
from accounts.token_lookup import token_with_owner

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _orm(digest: str) -> ApiToken:
    return ApiToken.objects.select_related("user__organization", "user__robot_config").get(
        digest=digest
    )


def test_a_robots_token_comes_with_the_same_values_as_the_orm_gives(robot):
    services.robot_configuration_update(
        robot=robot,
        request_headers={"X-Erp": ["1"]},
        authentication={"type": "basic", "username": "erp", "password": "pw"},
        webhook_url="https://erp.example/hook",
    )
    value = services.robot_token_get_or_issue(robot=robot)
    digest = tokens.digest(value)
    expected = _orm(digest)

    with CaptureQueriesContext(connection) as queries:
        found = token_with_owner(digest=digest)
        config = found.user.robot_config
        organization = found.user.organization

    assert len(queries) == 1
    assert _fields(found) == _fields(expected)
    assert _fields(found.user) == _fields(expected.user)
    assert _fields(organization) == _fields(expected.user.organization)
    assert _fields(config) == _fields(expected.user.robot_config)
    assert config.robot is found.user
    assert not found._state.adding and found._state.db == "default"


def test_a_person_has_no_robot_configuration_and_asking_costs_no_query(admin):
    access = tokens.oauth_pair_issue(user=admin)["access_token"]
    ApiToken.objects.filter(kind="access").update(expires_at=timezone.now() + timedelta(hours=1))

    found = token_with_owner(digest=tokens.digest(access))

    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(RobotConfiguration.DoesNotExist),
    ):
        _ = found.user.robot_config
    assert len(queries) == 0
    assert _fields(found) == _fields(_orm(tokens.digest(access)))
    assert _fields(found.user) == _fields(_orm(tokens.digest(access)).user)


def test_an_unknown_digest_is_none(org):
    assert token_with_owner(digest=tokens.digest("nope")) is None


def test_an_authenticated_robots_change_reads_no_webhook_configuration(robot):
    """The outbox takes the webhook URL from the configuration that came with the token."""
    from webhooks.services import deliveries_enqueue

    found = tokens.token_find(value=services.robot_token_get_or_issue(robot=robot))

    with CaptureQueriesContext(connection) as queries:
        assert deliveries_enqueue(robot=found.user, stream="s", bodies=[{"type": "x"}]) == []
    assert len(queries) == 0
