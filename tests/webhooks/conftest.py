"""Webhook tests: a loopback receiver that loopback deliveries may reach, robots pointing at it."""

import pytest

from accounts import services as accounts_services
from tests.integration import *  # noqa: F403
from tests.servers import WebhookReceiver


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    # Receivers live on 127.0.0.1; the guard test empties this again.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_TIMEOUT = 2.0
    settings.WEBHOOK_LEASE_SECONDS = 5.0


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def configure(robot, url: str, *, headers=None, authentication=None) -> str:
    """Point the robot's webhook at `url`; returns its webhook secret."""
    accounts_services.robot_configuration_update(
        robot=robot,
        request_headers=headers or {},
        authentication=authentication or {},
        webhook_url=url,
    )
    robot.refresh_from_db()
    return accounts_services.robot_configuration_read(robot=robot)["webhooks"]["secret"]


@pytest.fixture
def hooked(robot, receiver):
    """The robot, its webhook pointing at `receiver`; `.secret` is its webhook secret."""
    robot.secret = configure(robot, receiver.url("/hook"))
    return robot
