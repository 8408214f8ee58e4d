"""Listing DSTs: newest first, filtered by status, paginated, in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from practices.models import Practice
from tests.practices.conftest import dst_body, signature_request, url

pytestmark = pytest.mark.django_db


def _make(api, count: int, **body) -> list[str]:
    ids = []
    for index in range(count):
        response = api.post(url(), dst_body(title=f"DST {index}", **body))
        assert response.status_code == 201
        ids.append(response.json()["data"]["id"])
    # Distinct creation times, a minute apart, oldest first.
    start = timezone.now() - timedelta(days=1)
    for index, pk in enumerate(ids):
        Practice.objects.filter(pk=pk).update(created=start + timedelta(minutes=index))
    return ids


def test_newest_first_with_pagination_links(admin_api):
    ids = _make(admin_api, 5)

    first = admin_api.get(url(), {"page_size": 2}).json()
    second = admin_api.get(url(), {"page_size": 2, "page": 2}).json()
    last = admin_api.get(url(), {"page_size": 2, "page": 3}).json()

    assert first["meta"] == {"code": 200}
    assert [d["id"] for d in first["data"]] == ids[::-1][:2]
    assert [d["id"] for d in second["data"]] == ids[::-1][2:4]
    assert [d["id"] for d in last["data"]] == ids[::-1][4:]
    base = f"{settings.BASE_URL}/api/v1/acme/signature-transactions"
    assert first["pagination"] == {
        "count": 5,
        "next": f"{base}?page=2&page_size=2",
        "previous": None,
    }
    assert second["pagination"]["previous"] == f"{base}?page=1&page_size=2"
    assert last["pagination"]["next"] is None


def test_status_filter(admin_api):
    ids = _make(admin_api, 3)
    admin_api.post(url(tail=f"/{ids[1]}/cancel"), {"reason": "no"})

    cancelled = admin_api.get(url(), {"status": "cancelled"}).json()
    pending = admin_api.get(url(), {"status": "pending"}).json()

    assert [d["id"] for d in cancelled["data"]] == [ids[1]]
    assert cancelled["pagination"]["count"] == 1
    assert [d["id"] for d in pending["data"]] == [ids[2], ids[0]]
    assert (
        "status=pending"
        in (admin_api.get(url(), {"status": "pending", "page_size": 1}).json())["pagination"][
            "next"
        ]
    )


@pytest.mark.parametrize(
    "query, field",
    [
        ({"status": "signed"}, "status"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(admin_api, query, field):
    response = admin_api.get(url(), query)

    assert response.status_code == 400
    assert response.json()["meta"]["error_message"].startswith(f"{field} : ")


def test_an_empty_status_means_every_status(admin_api):
    _make(admin_api, 2)

    assert admin_api.get(url(), {"status": ""}).json()["pagination"]["count"] == 2


def test_page_beyond_the_end_is_empty(admin_api):
    _make(admin_api, 1)

    body = admin_api.get(url(), {"page": 7}).json()

    assert body["data"] == []
    assert body["pagination"]["count"] == 1


def test_query_count_does_not_grow_with_the_page_size(admin_api):
    two_signers = [[signature_request(), signature_request()], [signature_request()]]
    _make(admin_api, 100, groups=two_signers)

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = admin_api.get(url(), {"page_size": page_size})
        assert response.status_code == 200
        assert len(response.json()["data"]) == page_size
        return len(captured)

    assert queries(10) == queries(100)
