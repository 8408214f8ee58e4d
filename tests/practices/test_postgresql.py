"""The practices' integration tests again, on PostgreSQL: a private server, a fresh
pytest session (pytest-django has one test database per session). Skipped,
saying why, where Debian's postgresql is not installed."""

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
        run = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
                *("-m", "integration", "tests/practices/test_integration.py"),
            ],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": cluster.url},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        cluster.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
