"""The practices' integration tests again, on PostgreSQL, in a session of their own
(see tests.integration.pytest_on_postgresql)."""

import pytest

from tests.integration import pytest_on_postgresql

pytestmark = pytest.mark.integration


def test_the_integration_tests_pass_on_postgresql():
    run = pytest_on_postgresql("-m", "integration", "tests/practices/test_integration.py")

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
