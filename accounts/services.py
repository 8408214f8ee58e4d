"""Every change to organizations, users and robots goes through these functions.

The Users API, the Robots API, the web pages and the management commands call
them alike; they take already-validated values and raise the errors below.
"""

import base64
import json
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import tokens
from accounts.models import Organization, RobotConfiguration, Role, User, UserGroup
from portal.sealing import seal, unseal


class UsernameTaken(Exception):
    """The organization already has a user with this username."""


class OrganizationExists(Exception):
    pass


@dataclass(frozen=True)
class NewOrganization:
    organization: Organization
    admin: User
    client_secret: str


def organization_create(
    *,
    slug: str,
    name: str,
    admin_username: str,
    admin_password: str,
    admin_email: str = "",
    language: str = "it",
) -> NewOrganization:
    client_secret = tokens.new_secret()
    with transaction.atomic():
        if Organization.objects.filter(slug=slug).exists():
            raise OrganizationExists(slug)
        organization = Organization.objects.create(
            slug=slug,
            name=name,
            language=language,
            client_secret_digest=tokens.digest(client_secret),
        )
        admin = user_create(
            actor=None,
            organization=organization,
            username=admin_username,
            role=Role.ADMIN,
            password=admin_password,
            email=admin_email,
            language=language,
        )
    return NewOrganization(organization=organization, admin=admin, client_secret=client_secret)


def organization_rotate_client_secret(*, organization: Organization) -> str:
    client_secret = tokens.new_secret()
    organization.client_secret_digest = tokens.digest(client_secret)
    organization.save(update_fields=["client_secret_digest"])
    return client_secret


def user_create(
    *,
    actor: User | None,
    organization: Organization,
    username: str,
    role: str = Role.SIGNER,
    automatic: bool = False,
    password: str | None = None,
    email: str = "",
    name: str = "",
    surname: str = "",
    phone: str = "",
    language: str | None = None,
    groups: list[str] | None = None,
    capabilities: list[str] | None = None,
    extra_data: dict | None = None,
    template_data: dict | None = None,
) -> User:
    """Create a person or a robot. A person without a password is emailed a link to set one.

    A robot acts with an instructor's rights and gets its configuration (with a
    fresh webhook secret) at once; it never logs in, so it has no password.
    """
    user = User(
        organization=organization,
        username=username,
        role=Role.INSTRUCTOR if automatic else role,
        automatic=automatic,
        email=email,
        name=name,
        surname=surname,
        phone=phone,
        language=language or organization.language,
        capabilities=capabilities or [],
        extra_data=extra_data or {},
        template_data=template_data or {},
        created_by=actor,
    )
    if password and not automatic:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
            if groups is not None:
                user.groups.set(_groups_named(organization, groups))
            if automatic:
                _robot_configuration_create(robot=user)
    except IntegrityError as exc:
        if User.objects.filter(organization=organization, username=username).exists():
            raise UsernameTaken(username) from exc
        raise
    if not password and not automatic and email:
        transaction.on_commit(lambda: password_reset_send(user=user, welcome=True))
    return user


def user_update(*, user: User, groups: list[str] | None = None, **fields) -> User:
    """Change the given fields of `user` (model field names). Usernames stay unique."""
    for field, value in fields.items():
        setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save()
            if groups is not None:
                user.groups.set(_groups_named(user.organization, groups))
    except IntegrityError as exc:
        raise UsernameTaken(user.username) from exc
    return user


def user_set_enabled(*, user: User, enabled: bool) -> User:
    """Enable or disable a user. A disabled user cannot log in and their tokens answer 403."""
    user.enabled = enabled
    user.deleted_at = None if enabled else timezone.now()
    user.save(update_fields=["enabled", "deleted_at", "updated_at"])
    return user


def user_set_password(*, user: User, password: str) -> None:
    """Validate and set a new password; raises django's ValidationError when weak."""
    validate_password(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password", "updated_at"])


def password_reset_link(*, user: User) -> str:
    path = reverse(
        "accounts-password-reset-confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.BASE_URL + path


def password_reset_send(*, user: User, welcome: bool = False) -> None:
    """Email `user` a one-time link to set a password (it dies once the password changes)."""
    if not user.email:
        return
    context = {"user": user, "link": password_reset_link(user=user), "welcome": welcome}
    with translation.override(user.language):
        subject = render_to_string("accounts/email/password_reset_subject.txt", context).strip()
        body = render_to_string("accounts/email/password_reset.txt", context)
    send_mail(subject, body, None, [user.email])


def _groups_named(organization: Organization, names: list[str]) -> list[UserGroup]:
    return [UserGroup.objects.get_or_create(organization=organization, name=n)[0] for n in names]


# Robots


def _credentials_context(robot: User) -> str:
    return f"robot-credentials:{robot.pk}"


def _webhook_secret_context(robot: User) -> str:
    return f"webhook-secret:{robot.pk}"


def _robot_configuration_create(*, robot: User) -> RobotConfiguration:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return RobotConfiguration.objects.create(
        robot=robot,
        sealed_webhook_secret=seal(secret.encode(), context=_webhook_secret_context(robot)),
        sealed_credentials=seal(b"{}", context=_credentials_context(robot)),
    )


def robot_configuration_read(*, robot: User) -> dict:
    """The configuration as the Robots API shows it, credentials unsealed."""
    config = robot.robot_config
    credentials = json.loads(unseal(config.sealed_credentials, context=_credentials_context(robot)))
    return {
        "requestHeaders": credentials.get("requestHeaders", {}),
        "authentication": credentials.get("authentication", {}),
        "webhooks": {
            "dst": config.webhook_url,
            "secret": unseal(
                config.sealed_webhook_secret, context=_webhook_secret_context(robot)
            ).decode(),
        },
    }


def robot_configuration_update(
    *,
    robot: User,
    request_headers: dict[str, list[str]],
    authentication: dict[str, str],
    webhook_url: str,
) -> None:
    config = robot.robot_config
    credentials = {"requestHeaders": request_headers, "authentication": authentication}
    config.sealed_credentials = seal(
        json.dumps(credentials).encode(), context=_credentials_context(robot)
    )
    config.webhook_url = webhook_url
    config.save()


def robot_token_get_or_issue(*, robot: User) -> str:
    """The robot's lifetime token, issued on first request and the same one afterwards."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=robot.pk).first()
        return tokens.lifetime_token_current(robot=robot) or tokens.lifetime_token_issue(
            robot=robot
        )


def robot_token_regenerate(*, robot: User) -> str:
    with transaction.atomic():
        return tokens.lifetime_token_issue(robot=robot)


def robot_token_revoke(*, robot: User) -> None:
    tokens.lifetime_token_revoke(robot=robot)
