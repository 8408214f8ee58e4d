"""The delivery log API: admins of the organization only, DST bodies, redelivery."""

import pytest

from accounts import services as accounts_services
from accounts.models import Role
from tests.conftest import PASSWORD
from webhooks import services
from webhooks.models import Attempt, Delivery

pytestmark = pytest.mark.django_db

BASE = "/api/v1/acme/webhooks/deliveries"


@pytest.fixture
def sent(hooked, receiver):
    """Two delivered events of dst-1 and one pending of dst-2."""
    first = services.delivery_enqueue(robot=hooked, stream="dst-1", body={"n": 1})
    second = services.delivery_enqueue(robot=hooked, stream="dst-1", body={"n": 2})
    services.stream_deliver(stream="dst-1")
    pending = services.delivery_enqueue(robot=hooked, stream="dst-2", body={"n": 3})
    return first, second, pending


def test_an_admin_lists_deliveries_newest_first(admin, api_as, sent):
    first, second, pending = sent
    response = api_as(admin).get(BASE)
    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {"code": 200}
    assert [d["id"] for d in body["data"]] == [str(pending.pk), str(second.pk), str(first.pk)]
    assert body["pagination"] == {"count": 3, "next": None, "previous": None}
    item = body["data"][2]
    assert item["webhook_id"] == str(first.event_id)
    assert item["status"] == "delivered"
    assert item["attempts"] == 1
    assert item["last_status_code"] == 200
    assert item["robot"]["username"] == "erp"
    assert item["stream"] == "dst-1"
    assert item["sequence"] == 1


def test_filters_and_pages(admin, api_as, sent, hooked):
    client = api_as(admin)
    assert [d["status"] for d in client.get(BASE, {"status": "pending"}).json()["data"]] == [
        "pending"
    ]
    assert client.get(BASE, {"robot": "erp"}).json()["pagination"]["count"] == 3
    assert client.get(BASE, {"robot": str(hooked.pk)}).json()["pagination"]["count"] == 3
    assert client.get(BASE, {"robot": "nobody"}).json()["pagination"]["count"] == 0
    page = client.get(BASE, {"page": 2, "page_size": 2}).json()
    assert len(page["data"]) == 1
    assert page["pagination"]["next"] is None
    assert "page=1" in page["pagination"]["previous"]
    assert "page=2" in client.get(BASE, {"page_size": 2}).json()["pagination"]["next"]


def test_a_bad_filter_is_a_validation_error(admin, api_as):
    response = api_as(admin).get(BASE, {"status": "lost"})
    assert response.status_code == 400
    meta = response.json()["meta"]
    assert meta["error_type"] == "ValidationError"
    assert meta["error_message"].startswith("status : ")


def test_the_detail_shows_the_body_and_every_attempt(admin, api_as, hooked, receiver):
    receiver.fail(times=1, status=502)
    delivery = services.delivery_enqueue(robot=hooked, stream="dst-1", body={"n": 1})
    services.stream_deliver(stream="dst-1")
    response = api_as(admin).get(f"{BASE}/{delivery.pk}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["body"] == {"n": 1}
    assert data["status"] == "pending"
    assert data["next_attempt_at"] is not None
    assert data["last_error"] == "HTTP 502"
    (attempt,) = data["attempt_log"]
    assert attempt["number"] == 1
    assert attempt["status_code"] == 502
    assert attempt["duration_ms"] >= 0


def test_redeliver_queues_the_same_event_again(admin, api_as, sent, receiver):
    first, _, _ = sent
    response = api_as(admin).post(f"{BASE}/{first.pk}/redeliver")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "pending"
    services.stream_deliver(stream="dst-1")
    requests = receiver.wait_for(3)
    assert requests[2].headers["webhook-id"] == str(first.event_id)
    assert Delivery.objects.get(pk=first.pk).status == Delivery.Status.DELIVERED
    assert Attempt.objects.filter(delivery=first).count() == 2


def test_a_pending_delivery_is_a_conflict(admin, api_as, sent):
    _, _, pending = sent
    response = api_as(admin).post(f"{BASE}/{pending.pk}/redeliver")
    assert response.status_code == 409
    assert response.json()["meta"]["error_type"] == "Conflict"


def test_unknown_deliveries_are_not_found(admin, api_as):
    for path in (f"{BASE}/not-a-uuid", f"{BASE}/00000000-0000-0000-0000-000000000000"):
        response = api_as(admin).get(path)
        assert response.status_code == 404
        assert response.json()["meta"]["error_type"] == "NotFound"


def test_only_an_admin_of_the_organization(org, other_org, instructor, hooked, api_as, sent):
    first, _, _ = sent
    for user in (instructor, hooked):
        response = api_as(user).get(BASE)
        assert response.status_code == 403
        assert response.json()["error"] == "access_denied"
        assert api_as(user).post(f"{BASE}/{first.pk}/redeliver").status_code == 403
    rival = api_as(other_org.admin)
    assert rival.get(BASE).status_code == 403
    assert rival.get(f"{BASE}/{first.pk}").status_code == 403
    # In its own organization the rival admin does not see acme's deliveries.
    response = rival.get(f"/api/v1/rival/webhooks/deliveries/{first.pk}")
    assert response.status_code == 404
    assert rival.get("/api/v1/rival/webhooks/deliveries").json()["data"] == []


def test_without_a_token_401(client):
    assert client.get(BASE).status_code == 401


def test_a_second_admin_may(org, api_as, sent):
    second_admin = accounts_services.user_create(
        actor=org.admin,
        organization=org.organization,
        username="boss2",
        role=Role.ADMIN,
        password=PASSWORD,
    )
    assert api_as(second_admin).get(BASE).status_code == 200
