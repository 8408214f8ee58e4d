"""Hypothesis throws create bodies at the API: never a 500, never a half-created DST."""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from practices.models import AuditEvent, Document, Practice, Revision, SignatureRequest
from tests.practices.conftest import PDF, b64, error_of, url

pytestmark = pytest.mark.django_db

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def maybe(strategy):
    return strategy | json_values


positions = st.sampled_from(
    ["rect: 10, 10, 90, 40", "rect: 1mm,1mm,2in,1in", "rect: 0,0,0,0", "rect: a", "", "10,10"]
) | st.text(max_size=30)
wheres = st.fixed_dictionaries(
    {},
    optional={
        "page": maybe(st.integers(min_value=-3, max_value=5)),
        "position": maybe(positions),
        "text": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "format": maybe(st.lists(st.text(max_size=20), max_size=3)),
                        "font": maybe(st.fixed_dictionaries({"size": maybe(st.floats())})),
                        "text_align": maybe(st.sampled_from(["left", "middle", "right"])),
                    },
                ),
                max_size=2,
            )
        ),
    },
)
signers = st.fixed_dictionaries(
    {},
    optional={
        "email": maybe(st.sampled_from(["a@b.it", "bad", ""]) | st.emails()),
        "first_name": maybe(st.text(max_size=10)),
        "last_name": maybe(st.text(max_size=10)),
        "phone": maybe(st.sampled_from(["+39 333 1234567", "x"])),
    },
)
requests = st.fixed_dictionaries(
    {"signer": maybe(signers)},
    optional={
        "profile": maybe(st.sampled_from(["pades-bes", "pades-lta", "cades-t", "xades"])),
        "provider_options": maybe(
            st.fixed_dictionaries({"unlock_mode": maybe(st.sampled_from(["click", "otp"]))})
        ),
        "constraints": maybe(
            st.lists(
                st.sampled_from(
                    [
                        "certificate__is_simple__exact=true",
                        "certificate__is_qualified__exact=true",
                        "is_disposable__eq=true",
                        "identity_request__flow=spid",
                        "nope",
                    ]
                ),
                max_size=3,
            )
        ),
        "where": maybe(wheres),
        "clauses": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"id": maybe(st.integers(0, 2))}, optional={"where": maybe(wheres)}
                ),
                max_size=3,
            )
        ),
        "declinable": json_values,
        "urlback": maybe(st.sampled_from(["https://x.example.com/", "ftp://x", "nope"])),
        "metadata": json_values,
        "automatic": json_values,
    },
)
documents = st.fixed_dictionaries(
    {"groups": maybe(st.lists(maybe(st.lists(maybe(requests), max_size=2)), max_size=2))},
    optional={
        "document": maybe(st.sampled_from([b64(PDF), b64(b"not a pdf"), "!!", ""])),
        "document_uri": maybe(st.sampled_from(["https://docs.example.com/a.pdf", "file:///x"])),
        "document_uri_options": json_values,
        "display_name": json_values,
        "metadata": json_values,
    },
)
bodies = st.fixed_dictionaries(
    {"documents": maybe(st.lists(maybe(documents), max_size=2))},
    optional={
        "title": json_values,
        "metadata": json_values,
        "not_after": maybe(st.sampled_from(["2099-01-01T00:00:00Z", "2000-01-01", "soon"])),
        "generate_report": json_values,
        "urlback": json_values,
        "extra": json_values,
    },
)

VALID_CONSTRAINTS = [
    [],
    ["certificate__is_simple__exact=true"],
    ["certificate__is_qualified__exact=true"],
    ["is_disposable__eq=true", "identity_request__flow=spid"],
]


@st.composite
def valid_requests(draw, family: str):
    clause_ids = draw(st.lists(st.integers(0, 5), unique=True, max_size=2))
    request = {
        "signer": {
            "email": draw(st.emails()),
            "first_name": draw(st.text(min_size=1, max_size=8).filter(str.strip)),
            "last_name": draw(st.text(min_size=1, max_size=8).filter(str.strip)),
            "phone": "+39 333 1234567",
        },
        "profile": draw(st.sampled_from([f"{family}-bes", f"{family}-t", None])),
        "constraints": draw(st.sampled_from(VALID_CONSTRAINTS)),
        "where": draw(
            st.sampled_from(
                [None, {"page": 1}, {"page": 2, "position": "rect: 10mm, 10mm, 60mm, 30mm"}]
            )
        ),
        "clauses": [{"id": i, "required": True, "where": {"page": 1}} for i in clause_ids],
        "metadata": draw(st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
    }
    if draw(st.booleans()):
        request["provider_options"] = {
            "unlock_mode": draw(st.sampled_from(["click", "otp", "grapho"]))
        }
    return request


@st.composite
def valid_documents(draw):
    family = draw(st.sampled_from(["pades", "cades"]))
    groups = draw(
        st.lists(st.lists(valid_requests(family), min_size=1, max_size=2), min_size=1, max_size=2)
    )
    return {
        "display_name": draw(st.text(max_size=20)),
        "document": b64(PDF)
        if family == "pades"
        else b64(draw(st.binary(min_size=1, max_size=50))),
        "metadata": {},
        "groups": groups,
    }


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


@st.composite
def near_valid_bodies(draw):
    """A valid body, then up to three changes anywhere in it: a value replaced by
    any JSON, a field removed, or an unknown field added."""
    body = {
        "title": draw(st.text(max_size=30)),
        "metadata": {"studio_email_disabled": True},
        "documents": draw(st.lists(valid_documents(), min_size=1, max_size=2)),
    }
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(list(_paths(body))[1:]))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        change = draw(st.sampled_from(["replace", "remove", "add"]))
        if change == "replace":
            parent[path[-1]] = draw(json_values | positions)
        elif change == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    return body


fuzz = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _counts():
    return tuple(
        model.objects.count()
        for model in (Practice, Document, SignatureRequest, Revision, AuditEvent)
    )


@fuzz
@given(body=near_valid_bodies() | bodies | json_values)
def test_create_never_crashes_nor_half_creates(admin_api, body):
    before = _counts()

    response = admin_api.post(url(), body)
    event(f"status {response.status_code}")

    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert error_of(response)
        assert _counts() == before
    else:
        practice = Practice.objects.get(pk=response.json()["data"]["id"])
        inline = sum(1 for d in body["documents"] if d.get("document") is not None)
        assert practice.documents.count() == len(body["documents"])
        assert Revision.objects.filter(document__practice=practice).count() == inline
        assert practice.status == ("pending" if inline == len(body["documents"]) else "waiting")
        assert practice.audit_events.exists()
