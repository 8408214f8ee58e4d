"""The delivery log for admins: what was sent to the robots' webhooks, and redelivery.

Under /api/v1/{slug}/webhooks/, with the DST success and error bodies; only an
admin of that organization may look (403 access_denied otherwise).
"""

import contextlib
import json
import math
import uuid

from django.db.models import Q
from django.http import HttpRequest
from ninja import Router

from accounts.models import User
from portal.errors import AccessDenied, ApiError
from webhooks import services
from webhooks.models import Attempt, Delivery

router = Router(tags=["Webhooks"])

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _admin_of(request: HttpRequest, slug: str) -> User:
    actor: User = request.auth
    if not actor.is_admin or actor.organization.slug != slug:
        raise AccessDenied("Only an admin of this organization can see its webhook deliveries")
    return actor


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _delivery(delivery: Delivery) -> dict:
    pending = delivery.status == Delivery.Status.PENDING
    return {
        "id": str(delivery.pk),
        "webhook_id": delivery.webhook_id,
        "robot": {"id": str(delivery.robot_id), "username": delivery.robot.username},
        "stream": delivery.stream,
        "sequence": delivery.sequence,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at) if pending else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": _iso(delivery.created_at),
        "delivered_at": _iso(delivery.delivered_at),
    }


def _attempt(attempt: Attempt) -> dict:
    return {
        "number": attempt.number,
        "started_at": _iso(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "error": attempt.error,
    }


def _detail(delivery: Delivery) -> dict:
    return {
        **_delivery(delivery),
        "body": json.loads(delivery.body),
        "attempt_log": [_attempt(a) for a in delivery.attempt_log.all()],
    }


def _get(actor: User, delivery_id: str) -> Delivery:
    try:
        pk = uuid.UUID(delivery_id)
    except ValueError:
        pk = None
    delivery = (
        Delivery.objects.select_related("robot")
        .filter(pk=pk, robot__organization=actor.organization)
        .first()
        if pk
        else None
    )
    if delivery is None:
        raise ApiError(404, "NotFound", "No such delivery", "id")
    return delivery


def _page_url(request: HttpRequest, page: int) -> str:
    query = request.GET.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


@router.get("/{slug}/webhooks/deliveries", summary="List webhook deliveries, newest first")
def delivery_list(
    request,
    slug: str,
    robot: str | None = None,
    status: str | None = None,
    stream: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
):
    actor = _admin_of(request, slug)
    deliveries = Delivery.objects.select_related("robot").filter(
        robot__organization=actor.organization
    )
    if robot:
        match = Q(robot__username=robot)
        with contextlib.suppress(ValueError):
            match |= Q(robot_id=uuid.UUID(robot))
        deliveries = deliveries.filter(match)
    if status:
        if status not in Delivery.Status.values:
            raise ApiError(
                400,
                "ValidationError",
                f"must be one of {', '.join(Delivery.Status.values)}",
                "status",
            )
        deliveries = deliveries.filter(status=status)
    if stream:
        deliveries = deliveries.filter(stream=stream)
    if page < 1:
        raise ApiError(400, "ValidationError", "must be 1 or more", "page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApiError(
            400, "ValidationError", f"must be between 1 and {MAX_PAGE_SIZE}", "page_size"
        )
    count = deliveries.count()
    start = (page - 1) * page_size
    rows = deliveries.order_by("-created_at", "-sequence")[start : start + page_size]
    pages = max(1, math.ceil(count / page_size))
    return {
        "meta": {"code": 200},
        "data": [_delivery(d) for d in rows],
        "pagination": {
            "count": count,
            "next": _page_url(request, page + 1) if page < pages else None,
            "previous": _page_url(request, page - 1) if page > 1 else None,
        },
    }


@router.get("/{slug}/webhooks/deliveries/{delivery_id}", summary="A delivery and its attempts")
def delivery_detail(request, slug: str, delivery_id: str):
    actor = _admin_of(request, slug)
    return {"meta": {"code": 200}, "data": _detail(_get(actor, delivery_id))}


@router.post(
    "/{slug}/webhooks/deliveries/{delivery_id}/redeliver",
    summary="Send a delivered or failed delivery again, with the same webhook-id",
)
def delivery_redeliver(request, slug: str, delivery_id: str):
    actor = _admin_of(request, slug)
    delivery = _get(actor, delivery_id)
    try:
        delivery = services.delivery_redeliver(delivery=delivery)
    except services.NotRedeliverable as exc:
        raise ApiError(409, "Conflict", str(exc), "status") from exc
    return {"meta": {"code": 200}, "data": _detail(delivery)}
