"""The integration tests again, on PostgreSQL: a private server, a fresh pytest session.

pytest-django has one test database per session, so PostgreSQL gets its own
session: `pytest -m integration tests/webhooks` with DATABASE_URL pointing at a
server started here (Debian's postgresql; skipped, saying why, without it).
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.integration import BASE_DIR, PostgresCluster

pytestmark = pytest.mark.integration


def test_the_integration_tests_pass_on_postgresql():
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        pytest.skip("this session already runs on PostgreSQL")
    reason = PostgresCluster.missing()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    try:
        env = {**os.environ, "DATABASE_URL": cluster.url}
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "integration",
                "tests/webhooks",
            ],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        cluster.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
