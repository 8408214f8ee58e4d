"""Cancelling a DST."""

import pytest

from practices.models import AuditEvent, Practice, SignatureRequest
from tests.practices.conftest import dst_body, error_of, signature_request, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def dst(admin_api):
    body = dst_body(groups=[[signature_request(), signature_request()]])
    return admin_api.post(url(), body).json()["data"]


def test_cancel_closes_the_dst_and_its_open_requests(admin, admin_api, dst):
    response = admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "wrong contract"})

    assert response.status_code == 200
    answer = response.json()
    assert answer["meta"] == {"code": 200}
    assert (answer["data"]["status"], answer["data"]["reason"]) == ("cancelled", "wrong contract")
    practice = Practice.objects.get(pk=dst["id"])
    assert (practice.status, practice.reason) == ("cancelled", "wrong contract")
    assert set(SignatureRequest.objects.values_list("status", flat=True)) == {"cancelled"}
    event = AuditEvent.objects.filter(practice=practice).order_by("sequence").last()
    assert (event.kind, event.actor, event.data) == (
        "practice.cancelled",
        admin,
        {"reason": "wrong contract"},
    )


def test_performed_requests_stay_performed(admin_api, dst):
    first = SignatureRequest.objects.order_by("position").first()
    SignatureRequest.objects.filter(pk=first.pk).update(status="performed")

    admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "x"})

    assert sorted(SignatureRequest.objects.values_list("status", flat=True)) == [
        "cancelled",
        "performed",
    ]


@pytest.mark.parametrize("final", ["cancelled", "performed", "expired"])
def test_a_final_dst_cannot_be_cancelled(admin_api, dst, final):
    Practice.objects.filter(pk=dst["id"]).update(status=final, reason="before")
    events = AuditEvent.objects.count()

    response = admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "again"})

    assert response.status_code == 409
    assert response.json()["meta"]["error_type"] == "Conflict"
    assert error_of(response).startswith("status : ")
    practice = Practice.objects.get(pk=dst["id"])
    assert (practice.status, practice.reason) == (final, "before")
    assert AuditEvent.objects.count() == events


def test_cancel_body_is_checked(admin_api, dst):
    response = admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "r" * 1001})

    assert response.status_code == 400
    assert error_of(response).startswith("reason : ")
    assert Practice.objects.get(pk=dst["id"]).status == "pending"
