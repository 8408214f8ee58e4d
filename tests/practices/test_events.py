"""Webhook messages written when a robot's DST changes: exactly the seed's shapes, in order."""

import json
from datetime import datetime

import pytest

from accounts.services import robot_configuration_update
from practices import fetching
from practices.models import Document, Practice
from tests.practices.conftest import dst_body, signature_request, url
from tests.servers import DocumentServer
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

DST_KEYS = {"status", "title", "dst", "reason", "slug", "metadata"}
SIGNATURE_KEYS = {
    *("profile", "status", "group", "dst", "page", "signature", "signer", "position"),
    *("document", "automatic", "slug", "metadata"),
}


@pytest.fixture
def hooked_robot(robot):
    robot_configuration_update(
        robot=robot,
        request_headers={},
        authentication={},
        webhook_url="https://erp.example.com/hooks",
    )
    return robot


def _messages(practice_id) -> list[dict]:
    rows = Delivery.objects.filter(stream=str(practice_id)).order_by("sequence")
    return [json.loads(row.body) for row in rows]


def _check_envelope(message: dict, kind: str) -> dict:
    assert set(message) == {"message", "meta", "data", "created"}
    assert message["message"] == kind
    assert message["meta"] == {}
    datetime.fromisoformat(message["created"])
    return message["data"]


def test_creation_sends_dst_pending_then_one_message_per_signature(hooked_robot, api_as):
    second = signature_request(
        signer={"email": "b@x.it", "first_name": "B", "last_name": "C"},
        where={"page": 1},
        metadata={"crm": 7},
        automatic=True,
    )
    body = dst_body(groups=[[signature_request()], [second]], metadata={"ref": "A-1"})

    dst = api_as(hooked_robot).post(url(), body).json()["data"]

    messages = _messages(dst["id"])
    assert len(messages) == 3
    data = _check_envelope(messages[0], "DST_STATUS_CHANGED")
    assert data == {
        "status": "pending",
        "title": "Titolo pratica",
        "dst": dst["id"],
        "reason": None,
        "slug": "acme",
        "metadata": {"ref": "A-1"},
    }
    document = dst["documents"][0]
    first, last = (_check_envelope(m, "SIGNATURE_STATUS_CHANGED") for m in messages[1:])
    assert set(first) == SIGNATURE_KEYS
    assert first == {
        "profile": "pades-bes",
        "status": "pending",
        "group": 0,
        "dst": {"title": "Titolo pratica", "id": dst["id"], "metadata": {"ref": "A-1"}},
        "page": 2,
        "signature": document["groups"][0][0]["id"],
        "signer": "mrossi@mail.com",
        "position": "rect: 134,25,197,34",
        "document": {
            "order": 0,
            "display_name": "Contratto utenza",
            "id": document["id"],
            "metadata": {"kind": "contract"},
        },
        "automatic": False,
        "slug": "acme",
        "metadata": {},
    }
    assert (last["group"], last["signer"], last["page"], last["position"]) == (1, "b@x.it", 1, None)
    assert (last["automatic"], last["metadata"]) == (True, {"crm": 7})


def test_people_and_robots_without_a_webhook_send_nothing(admin_api, robot, api_as):
    admin_api.post(url(), dst_body())
    api_as(robot).post(url(), dst_body())

    assert not Delivery.objects.exists()


def test_cancel_sends_dst_cancelled_with_the_reason(hooked_robot, api_as):
    api = api_as(hooked_robot)
    dst = api.post(url(), dst_body()).json()["data"]

    api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "wrong contract"})

    last = _check_envelope(_messages(dst["id"])[-1], "DST_STATUS_CHANGED")
    assert (last["status"], last["reason"]) == ("cancelled", "wrong contract")


def test_a_fetched_dst_announces_pending_once_its_documents_are_there(
    hooked_robot, api_as, settings
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    from tests.practices.conftest import PDF

    with DocumentServer() as server:
        server.add("/contract.pdf", PDF)
        body = dst_body(document=None)
        body["documents"][0]["document_uri"] = server.url("/contract.pdf")
        dst = api_as(hooked_robot).post(url(), body).json()["data"]
        assert _messages(dst["id"]) == []

        fetching.document_fetch(document=Document.objects.get(practice_id=dst["id"]))

    kinds = [(m["message"], m["data"]["status"]) for m in _messages(dst["id"])]
    assert kinds == [("DST_STATUS_CHANGED", "pending"), ("SIGNATURE_STATUS_CHANGED", "pending")]


def test_a_failed_fetch_announces_the_cancellation(hooked_robot, api_as, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with DocumentServer() as server:
        body = dst_body(document=None)
        body["documents"][0]["document_uri"] = server.url("/nothing-here.pdf")
        dst = api_as(hooked_robot).post(url(), body).json()["data"]

        fetching.document_fetch(document=Document.objects.get(practice_id=dst["id"]))

    (message,) = _messages(dst["id"])
    data = _check_envelope(message, "DST_STATUS_CHANGED")
    assert (data["status"], data["reason"]) == ("cancelled", "CANNOT_DOWNLOAD_DOCUMENT")
    assert Practice.objects.get(pk=dst["id"]).status == "cancelled"
