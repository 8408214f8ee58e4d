"""Organizations, their users and robots, and the credentials that act for them.

Secrets never sit in the database in clear: tokens are found by their SHA-256
digest, and what must be shown again or sent on (a robot's lifetime token, its
outbound credentials, its webhook secret) is sealed with the key-encryption key
(see portal.sealing).
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    IT = "it", "Italiano"
    EN = "en", "English"
    ES = "es", "Español"
    FR = "fr", "Français"


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    INSTRUCTOR = "instructor", _("Instructor")
    SIGNER = "signer", _("Signer")


CAPABILITIES = (
    "user.pwd.clear",
    "user.create.all",
    "user.access.all",
    "user.delete.all",
    "dst.list.all",
    "dst.delete.all",
    "dst.create.modify_all",
    "devices.list.all",
    "devices.delete.all",
    "organizations.access.write.user",
)


class Organization(models.Model):
    """A tenant. Its slug is the Signing "domain" and the OAuth2 client id."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.IT)
    client_secret_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.slug

    @property
    def client_id(self) -> str:
        return self.slug


class UserGroup(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=150)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="usergroup_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    def get_by_natural_key(self, login: str):
        username, _, slug = login.rpartition("@")
        return self.get(username=username, organization__slug=slug)


class User(AbstractBaseUser):
    """A person (admin, instructor, signer) or, with `automatic`, a robot.

    Usernames are unique within an organization; people log in with
    organization, username and password, the API with `username@slug`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="users")
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.SIGNER)
    automatic = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.IT)
    name = models.CharField(max_length=150, blank=True)
    surname = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    groups = models.ManyToManyField(UserGroup, blank=True, related_name="members")
    capabilities = models.JSONField(default=list, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)
    template_data = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "username"], name="user_unique_username_per_org"
            )
        ]
        ordering = ["username"]

    def __str__(self) -> str:
        return f"{self.username}@{self.organization.slug}"

    @property
    def is_active(self) -> bool:
        return self.enabled

    @property
    def full_name(self) -> str:
        return f"{self.name} {self.surname}".strip() or self.username

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN and not self.automatic

    @property
    def account_type(self) -> str:
        """What the web pages show: a robot, or the role of a person."""
        return "robot" if self.automatic else self.role


class RobotConfiguration(models.Model):
    """How Sigillo calls out on a robot's behalf: document fetches and webhooks.

    `sealed_credentials` holds the request headers and the authentication
    (basic/digest user and password, client certificate and key) as sealed JSON.
    """

    robot = models.OneToOneField(User, on_delete=models.CASCADE, related_name="robot_config")
    webhook_url = models.URLField(max_length=2000, blank=True)
    sealed_webhook_secret = models.BinaryField()
    sealed_credentials = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"configuration of {self.robot}"


class ApiToken(models.Model):
    """A bearer credential: an OAuth2 access or refresh token, or a robot's lifetime token."""

    class Kind(models.TextChoices):
        ACCESS = "access"
        REFRESH = "refresh"
        LIFETIME = "lifetime"

    digest = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    # Only lifetime tokens are kept (sealed) to be shown again on Manage Token.
    sealed_value = models.BinaryField(null=True, blank=True)
    # An access token and the refresh token issued with it share a pair id, so
    # a refresh revokes both.
    pair = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} token of {self.user_id}"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
