"""Old finished deliveries go, with their attempts; pending ones never do."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks import services, tasks
from webhooks.models import Attempt, Delivery

pytestmark = pytest.mark.django_db

Status = Delivery.Status


def delivery(robot, sequence: int, status: str, age_days: float) -> Delivery:
    made = Delivery.objects.create(
        robot=robot,
        stream="dst-prune",
        sequence=sequence,
        body="{}",
        status=status,
        created_at=timezone.now() - timedelta(days=age_days),
    )
    Attempt.objects.create(delivery=made, number=1, started_at=made.created_at, duration_ms=5)
    return made


def test_old_finished_deliveries_are_deleted_with_their_attempts(robot):
    old = [
        delivery(robot, 1, Status.DELIVERED, 40),
        delivery(robot, 2, Status.FAILED, 40),
        delivery(robot, 3, Status.CANCELLED, 31),
    ]
    kept = [
        delivery(robot, 4, Status.PENDING, 60),  # still owed to the receiver
        delivery(robot, 5, Status.DELIVERED, 29),
    ]

    assert services.deliveries_prune(older_than=timedelta(days=30), batch=2) == 3

    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert not Attempt.objects.filter(delivery_id__in=[d.pk for d in old]).exists()
    assert Attempt.objects.count() == 2


def test_the_beat_task_keeps_everything_when_retention_is_zero(robot, settings):
    delivery(robot, 1, Status.DELIVERED, 400)
    settings.WEBHOOK_RETENTION_DAYS = 0
    tasks.prune_deliveries.apply()
    assert Delivery.objects.count() == 1
    settings.WEBHOOK_RETENTION_DAYS = 30
    tasks.prune_deliveries.apply()
    assert Delivery.objects.count() == 0
