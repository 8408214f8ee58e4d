"""Webhook messages (CONTRACT §6), exactly the seed's shapes, and their emission.

The builders are shared by every change of state (creation, fetch, signing,
declining, cancelling, expiry); `emit` hands the bodies to the webhook outbox
in the caller's transaction, for practices created by a robot.
"""

from django.utils import timezone

from practices.models import Document, Practice, SignatureRequest

DST_STATUS_CHANGED = "DST_STATUS_CHANGED"
SIGNATURE_STATUS_CHANGED = "SIGNATURE_STATUS_CHANGED"


def _message(message: str, data: dict) -> dict:
    return {
        "message": message,
        "meta": {},
        "data": data,
        "created": timezone.now().isoformat(),
    }


def dst_status_changed(practice: Practice, *, slug: str) -> dict:
    return _message(
        DST_STATUS_CHANGED,
        {
            "status": practice.status,
            "title": practice.title,
            "dst": str(practice.id),
            "reason": practice.reason or None,
            "slug": slug,
            "metadata": practice.metadata,
        },
    )


def signature_status_changed(
    request: SignatureRequest, *, document: Document, practice: Practice, slug: str
) -> dict:
    where = request.where or {}
    return _message(
        SIGNATURE_STATUS_CHANGED,
        {
            "profile": request.profile,
            "status": request.status,
            "group": request.group,
            "dst": {
                "title": practice.title,
                "id": str(practice.id),
                "metadata": practice.metadata,
            },
            "page": where.get("page", 1 if where.get("position") else None),
            "signature": str(request.id),
            "signer": request.signer_email,
            "position": where.get("position"),
            "document": {
                "order": document.order,
                "display_name": document.display_name,
                "id": str(document.id),
                "metadata": document.metadata,
            },
            "automatic": request.automatic,
            "slug": slug,
            "metadata": request.metadata,
        },
    )


def emit(practice: Practice, bodies: list[dict]) -> None:
    """Queue `bodies`, in order, for the webhook of the robot that created the
    practice (people's practices have no webhook). Call inside the transaction
    of the change, so that the events exist exactly when the change does."""
    robot = practice.created_by
    if not robot.automatic or not bodies:
        return
    enqueue = _deliveries_enqueue()
    if enqueue is None:
        return
    enqueue(robot=robot, stream=str(practice.id), bodies=bodies)


def _deliveries_enqueue():
    try:
        from webhooks.services import deliveries_enqueue
    except ModuleNotFoundError as exc:  # a build without the webhooks app sends nothing
        if exc.name not in ("webhooks", "webhooks.services"):
            raise
        return None
    return deliveries_enqueue
