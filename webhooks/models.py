"""The webhook outbox: one row per event to deliver, one log row per attempt.

A delivery is written in the same transaction as the change it reports, with
its body serialized once, so every retry sends the same bytes under the same
`webhook-id`. The retry schedule is the `next_attempt_at` column, and a worker
owns a delivery only while its lease (`claimed_until`) runs: nothing about a
pending delivery lives in the broker or in a process.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class StreamCounter(models.Model):
    """The last sequence number given out in a stream (one row per stream)."""

    stream = models.CharField(max_length=100, primary_key=True)
    last_sequence = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.stream}: {self.last_sequence}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # given up after the last scheduled attempt
        CANCELLED = "cancelled"  # the endpoint went away (410, or no URL any more)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Sent as `webhook-id`: the same on every attempt, so receivers can dedupe.
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    robot = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    # Events of one stream (a DST) are sent strictly in `sequence` order.
    stream = models.CharField(max_length=100)
    sequence = models.PositiveBigIntegerField()
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Attempts made before the last manual redelivery: the retry schedule
    # starts over from there.
    schedule_base = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When the sweep last asked a worker for this delivery: it asks again only
    # after a lease period, so a backlog does not pile up copies in the broker.
    kicked_at = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "sequence"], name="webhooks_delivery_stream_sequence"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhooks_delivery_due"),
            models.Index(fields=["robot", "-created_at"], name="webhooks_delivery_robot"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stream}#{self.sequence} ({self.status})"

    @property
    def webhook_id(self) -> str:
        return str(self.event_id)


class Attempt(models.Model):
    """One try at sending a delivery: what the receiver answered, or why it could not."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
