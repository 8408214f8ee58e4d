"""signature_type from unlock_mode and constraints: the table of CONTRACT §5."""

import pytest

from practices.signature_types import ConflictingConstraints, signature_type
from tests.practices.conftest import dst_body, signature_request, url

SIMPLE = "certificate__is_simple__exact=true"
QUALIFIED = "certificate__is_qualified__exact=true"
DISPOSABLE = "is_disposable__eq=true"
SPID = "identity_request__flow=spid"

TABLE = [
    # unlock_mode, constraints, signature_type
    ("click", [SIMPLE], "click"),
    (None, [SIMPLE], "click"),
    ("otp", [SIMPLE], "otp"),
    ("grapho", [SIMPLE], "grapho"),
    (None, [], "advanced"),
    ("otp", [], "advanced"),
    (None, [QUALIFIED], "qualified"),
    ("click", [QUALIFIED], "qualified"),
    (None, [QUALIFIED, DISPOSABLE, SPID], "spid"),
    (None, [DISPOSABLE, SPID], "spid"),
    (None, [SPID, DISPOSABLE], "spid"),
]

CONFLICTS = [
    (None, [SIMPLE, QUALIFIED]),
    (None, [DISPOSABLE]),
    (None, [SPID]),
    (None, [SIMPLE, DISPOSABLE, SPID]),
    (None, ["certificate__is_magic__exact=true"]),
    ("face", [SIMPLE]),
]


@pytest.mark.parametrize("unlock_mode, constraints, expected", TABLE)
def test_signature_type_table(unlock_mode, constraints, expected):
    assert signature_type(unlock_mode=unlock_mode, constraints=constraints) == expected


@pytest.mark.parametrize("unlock_mode, constraints", CONFLICTS)
def test_constraints_that_ask_for_two_types_or_half_of_one_are_refused(unlock_mode, constraints):
    with pytest.raises(ConflictingConstraints):
        signature_type(unlock_mode=unlock_mode, constraints=constraints)


@pytest.mark.django_db
def test_the_api_reports_the_type_of_each_request(admin_api):
    def request(unlock_mode, constraints):
        extra = {"provider_options": {"unlock_mode": unlock_mode}} if unlock_mode else {}
        signer = {"email": "a@b.it", "first_name": "A", "last_name": "B", "phone": "+39 333 1"}
        return signature_request(signer=signer, constraints=constraints, **extra)

    group = [request(mode, constraints) for mode, constraints, _ in TABLE]
    body = dst_body(groups=[group])

    dst = admin_api.post(url(), body).json()["data"]

    reported = [r["signature_type"] for r in dst["documents"][0]["groups"][0]]
    assert reported == [expected for _, _, expected in TABLE]
