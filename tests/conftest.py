"""Fixtures shared by every test: organizations, their people and robots, API clients."""

import pytest
from django.test import Client

from accounts import services, tokens
from accounts.models import Role

PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.core.cache import cache

    cache.clear()


def make_org(slug: str = "acme", admin_username: str = "boss"):
    return services.organization_create(
        slug=slug,
        name=slug.title(),
        admin_username=admin_username,
        admin_password=PASSWORD,
        admin_email=f"{admin_username}@{slug}.example",
    )


@pytest.fixture
def org(db):
    """An organization with its first admin; `.client_secret` is the OAuth2 secret."""
    return make_org()


@pytest.fixture
def other_org(db):
    return make_org("rival", "rivalboss")


@pytest.fixture
def admin(org):
    return org.admin


@pytest.fixture
def instructor(org):
    return services.user_create(
        actor=org.admin,
        organization=org.organization,
        username="teacher",
        role=Role.INSTRUCTOR,
        password=PASSWORD,
        email="teacher@acme.example",
        name="Ines",
        surname="Truzzi",
    )


@pytest.fixture
def signer(org):
    return services.user_create(
        actor=org.admin,
        organization=org.organization,
        username="mrossi",
        role=Role.SIGNER,
        password=PASSWORD,
        email="mrossi@acme.example",
        name="Mario",
        surname="Rossi",
    )


@pytest.fixture
def robot(org):
    return services.user_create(
        actor=org.admin,
        organization=org.organization,
        username="erp",
        automatic=True,
        extra_data={"application": "ERP connector"},
    )


def bearer(user) -> str:
    """A fresh OAuth access token for `user` (a robot gets its lifetime token)."""
    if user.automatic:
        return services.robot_token_get_or_issue(robot=user)
    return tokens.oauth_pair_issue(user=user)["access_token"]


class ApiClient(Client):
    """A test client that sends JSON and an Authorization header."""

    def __init__(self, token: str | None = None, scheme: str = "Bearer"):
        super().__init__()
        self.auth = f"{scheme} {token}" if token else None

    def _headers(self, headers):
        headers = dict(headers or {})
        if self.auth:
            headers.setdefault("Authorization", self.auth)
        return headers

    def get(self, path, data=None, headers=None, **kw):
        return super().get(path, data, headers=self._headers(headers), **kw)

    def delete(self, path, headers=None, **kw):
        return super().delete(path, headers=self._headers(headers), **kw)

    def post(self, path, data=None, content_type="application/json", headers=None, **kw):
        return super().post(
            path, data, content_type=content_type, headers=self._headers(headers), **kw
        )

    def put(self, path, data=None, content_type="application/json", headers=None, **kw):
        return super().put(
            path, data, content_type=content_type, headers=self._headers(headers), **kw
        )


@pytest.fixture
def api_as():
    """api_as(user) -> an ApiClient authenticated as that user."""
    return lambda user, scheme="Bearer": ApiClient(bearer(user), scheme)


@pytest.fixture
def celery_eager():
    """Tasks run in this process at `.delay()`, for unit tests of what they do.

    Set on the Celery app itself: it reads Django's settings once, so changing
    CELERY_* settings after the first task has been sent changes nothing."""
    from portal.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before
    # An eager `.delay()` raises Celery's process-wide "join will block" flag
    # for the call and restores the value it saw on entry. Two threads (a live
    # server's request threads) doing that at once can restore each other's
    # raised flag, leaving it up for every later test: put it down.
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
