"""Hypothesis throws bodies at the signer's actions, through the ticket API and
through the signer's page: never a 500, every refusal in the DST error body,
and a request is signed at most once, with its revision."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from practices.models import Revision, SignatureRequest
from tests.practices.test_fuzz import json_values
from tests.practices.test_tickets import create, of_type, t_url, ticket_of

pytestmark = pytest.mark.django_db

KINDS = ("click", "otp", "grapho", "advanced", "spid")
ACTIONS = ("sign", "decline", "otp")

codes = st.sampled_from(["123456", "000000", "", "12345", "1234567"]) | st.text(max_size=8)
images = st.sampled_from(["data:image/png;base64,", "data:image/png;base64,AAAA", "x"]) | (
    st.text(max_size=20)
)
bodies = json_values | st.fixed_dictionaries(
    {},
    optional={
        "accepted_clauses": json_values | st.lists(st.text(max_size=5), max_size=3),
        "otp": json_values | codes,
        "graphometric": json_values | st.fixed_dictionaries({}, optional={"image": images}),
        "reason": json_values | st.text(max_size=20),
    },
)

fuzz = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def requests_by_kind(admin_api, settings):
    """One signer of each type, each alone in a DST of its own and not
    declinable, so that no example's success closes the others' requests."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ticket": (10_000, 60)}
    made = {}
    for n, kind in enumerate(KINDS):
        dst = create(admin_api, [[of_type(kind, n)]])
        made[kind] = dst["documents"][0]["groups"][0][0]
    return made


def assert_answered(response) -> None:
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        meta = response.json()["meta"]
        assert meta["code"] == response.status_code and meta["error_message"]


def assert_signed_at_most_once(item: dict) -> None:
    request = SignatureRequest.objects.get(pk=item["id"])
    revisions = Revision.objects.filter(document=request.document).count()
    performed = SignatureRequest.objects.filter(
        document=request.document, status=SignatureRequest.Status.PERFORMED
    ).count()
    assert revisions == 1 + performed


@fuzz
@given(kind=st.sampled_from(KINDS), action=st.sampled_from(ACTIONS), body=bodies)
def test_the_ticket_api_answers_every_body(requests_by_kind, kind, action, body):
    item = requests_by_kind[kind]
    response = Client().post(t_url(ticket_of(item), action), body, content_type="application/json")
    assert_answered(response)
    assert_signed_at_most_once(item)


@fuzz
@given(kind=st.sampled_from(KINDS), action=st.sampled_from(ACTIONS), body=bodies)
def test_the_signers_page_answers_every_body(requests_by_kind, kind, action, body):
    item = requests_by_kind[kind]
    browser = Client()
    browser.get(f"/sign/{ticket_of(item)}")
    response = browser.post(f"/sign/s/{item['id']}/{action}", body, content_type="application/json")
    if response.status_code not in (200, 204):
        assert_answered(response)
    assert_signed_at_most_once(item)
