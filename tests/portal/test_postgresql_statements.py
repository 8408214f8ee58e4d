"""The statements built by hand (portal.joined and its users, portal.inserts),
a signature's locking reads and the indexes the migrations leave, again on
PostgreSQL, in a session of their own (see tests.integration.pytest_on_postgresql)."""

import pytest

from tests.integration import pytest_on_postgresql

pytestmark = pytest.mark.integration


def test_the_hand_built_statements_match_the_orm_on_postgresql():
    run = pytest_on_postgresql(
        "tests/accounts/test_token_lookup.py",
        "tests/accounts/test_token_auth.py",
        "tests/practices/test_inserts.py",
        "tests/practices/test_ticket_lookup.py",
        # A signature locks its practice and joins the creator's robot configuration.
        "tests/practices/test_perform.py",
        "tests/practices/test_schema_indexes.py",
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout and "skipped" not in run.stdout
