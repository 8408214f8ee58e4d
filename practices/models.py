"""Practices (the Signing API's DSTs), their documents, revisions, signature
requests and audit trail.

State changes go through practices.services; these classes hold data only.
Secrets are sealed (portal.sealing): the options used to fetch a document
(they may carry passwords and private keys) and the signers' tickets, which
are also kept as a digest so that a ticket is found without unsealing.
"""

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils import timezone


class Practice(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting"  # documents being fetched and checked
        PENDING = "pending"
        PERFORMED = "performed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    FINAL = (Status.PERFORMED, Status.CANCELLED, Status.EXPIRED)

    class Reason:
        """Why a practice was cancelled, besides the reason a user gives."""

        DECLINED = "declined"
        CANNOT_DOWNLOAD_DOCUMENT = "CANNOT_DOWNLOAD_DOCUMENT"
        INVALID_DOCUMENT = "INVALID_DOCUMENT"
        PROTECTED_DOCUMENT = "PROTECTED_DOCUMENT"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the indexes below start with it (each index is one
    # more page written per insert).
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="practices", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="practices"
    )
    title = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    reason = models.CharField(max_length=1000, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)
    urlback = models.URLField(max_length=2000, blank=True)
    cancelback = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    generate_report = models.BooleanField(default=False)
    email_disabled = models.BooleanField(default=False)
    # A retried create with the same Idempotency-Key finds this practice; the
    # digest of the request body tells a retry from a different request.
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_digest = models.CharField(max_length=64, blank=True)
    # The head of the audit chain, so that removing the last events shows too.
    audit_length = models.PositiveIntegerField(default=0)
    audit_head = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="practice_unique_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created"]),
            models.Index(fields=["organization", "status", "-created"]),
        ]

    def __str__(self) -> str:
        return f"practice {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class Document(models.Model):
    class Family(models.TextChoices):
        PADES = "pades"
        CADES = "cades"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by document_unique_order, which starts with it.
    practice = models.ForeignKey(
        Practice, on_delete=models.CASCADE, related_name="documents", db_index=False
    )
    order = models.PositiveIntegerField()
    display_name = models.CharField(max_length=255, blank=True)
    family = models.CharField(max_length=5, choices=Family.choices, default=Family.PADES)
    document_uri = models.CharField(max_length=2000, blank=True)
    # JSON of document_uri_options, sealed with context "document-uri-options:<id>".
    sealed_uri_options = models.BinaryField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["order"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "order"], name="document_unique_order")
        ]

    def __str__(self) -> str:
        return f"document {self.order} of {self.practice_id}"


def revision_path(revision: "Revision", filename: str) -> str:
    """revisions/YYYY/MM/DD/<document id>-<number>.<suffix>, by the day it is written.

    One directory a day rather than one per practice: a directory per practice
    meant millions of entries in one directory, and two new directories on
    every create, which cost more than writing the file (about 0.7 ms of a
    create's 11). Each revision's name is stored with it, so files written
    under the earlier layout stay where they are."""
    suffix = PurePosixPath(filename).suffix or ".bin"
    return f"revisions/{timezone.now():%Y/%m/%d}/{revision.document_id}-{revision.number}{suffix}"


class Revision(models.Model):
    """One version of a document: 0 is the original, then one per signature."""

    # Indexed by revision_unique_number, which starts with it.
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="revisions", db_index=False
    )
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=revision_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    produced_by = models.ForeignKey(
        "SignatureRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revisions",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["document", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.document_id}"


class SignatureRequestQuerySet(models.QuerySet):
    def blocking(self, *, document_id, group) -> "SignatureRequestQuerySet":
        """The requests of the document's earlier groups not performed yet:
        while there is one, `group` cannot sign. The arguments may be
        OuterRef()s, for a subquery per request."""
        return self.filter(document_id=document_id, group__lt=group).exclude(
            status=SignatureRequest.Status.PERFORMED
        )


class SignatureRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PERFORMED = "performed"
        DECLINED = "declined"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    class UnlockMode(models.TextChoices):
        CLICK = "click"
        OTP = "otp"
        GRAPHO = "grapho"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the unique constraints below, which start with it.
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="requests", db_index=False
    )
    group = models.PositiveIntegerField()
    position = models.PositiveIntegerField()
    signer_email = models.EmailField(max_length=254)
    signer_first_name = models.CharField(max_length=150)
    signer_last_name = models.CharField(max_length=150)
    signer_phone = models.CharField(max_length=32, blank=True)
    profile = models.CharField(max_length=10)
    signature_type = models.CharField(max_length=10)
    # Blank when the request gave no provider_options.
    unlock_mode = models.CharField(max_length=6, choices=UnlockMode.choices, blank=True)
    constraints = models.JSONField(default=list, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=2000, blank=True)
    declinable = models.BooleanField(default=True)
    urlback = models.URLField(max_length=2000, blank=True)
    cancelback = models.URLField(max_length=2000, blank=True)
    where = models.JSONField(null=True, blank=True)
    clauses = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    automatic = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    ticket_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The ticket itself, sealed with context "ticket:<id>", to be shown again on retrieve.
    sealed_ticket = models.BinaryField(null=True, blank=True)
    field_name = models.CharField(max_length=100)
    decline_reason = models.CharField(max_length=1000, blank=True)
    decline_datetime = models.DateTimeField(null=True, blank=True)
    performed_at = models.DateTimeField(null=True, blank=True)
    # When the email with the ticket went (its group unlocked) and the last
    # reminder: practices.notifications sends each at most once per due time.
    notified_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    objects = SignatureRequestQuerySet.as_manager()

    class Meta:
        ordering = ["document", "group", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "field_name"], name="signaturerequest_unique_field_name"
            ),
            models.UniqueConstraint(
                fields=["document", "group", "position"],
                name="signaturerequest_unique_place",
            ),
        ]

    def __str__(self) -> str:
        return f"signature of {self.signer_email} on {self.document_id}"

    @property
    def family(self) -> str:
        return self.profile.split("-", 1)[0]


class AuditEvent(models.Model):
    """One link of a practice's hash chain (see practices.audit)."""

    # Indexed by auditevent_unique_sequence, which starts with it.
    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, related_name="audit_events", db_index=False
    )
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=50)
    # Users are disabled, never deleted: the chain covers the actor's id.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(max_length=300)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    revision_sha256 = models.CharField(max_length=64, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["practice", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "sequence"], name="auditevent_unique_sequence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.sequence} of {self.practice_id}"


class OtpChallenge(models.Model):
    """A one-time code sent to a signer (practices.tickets). Only its digest is
    kept; for advanced and qualified signatures it is bound to the SHA-256 of
    the document revision the signer was shown. The latest challenge of a
    request is the only one that counts."""

    # Indexed by the index below, which starts with it.
    request = models.ForeignKey(
        SignatureRequest, on_delete=models.CASCADE, related_name="otp_challenges", db_index=False
    )
    code_digest = models.CharField(max_length=64)
    document_sha256 = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["request", "-created"])]

    def __str__(self) -> str:
        return f"code for {self.request_id} ({self.created:%Y-%m-%d %H:%M:%S})"
