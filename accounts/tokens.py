"""Bearer credentials: made random, stored as digests, looked up by digest."""

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.token_lookup import token_with_owner
from portal.sealing import seal, unseal


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def token_find(*, value: str) -> ApiToken | None:
    """The usable token with this value, with its user, the user's organization
    and robot configuration, or None."""
    token = token_with_owner(digest=digest(value))
    return token if token and token.is_usable() else None


def oauth_pair_save(*, user: User, access: str, refresh: str) -> None:
    """Store the digests of a new access token and of the refresh token issued with it."""
    now = timezone.now()
    pair = uuid.uuid4()
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                digest=digest(access),
                kind=ApiToken.Kind.ACCESS,
                user=user,
                pair=pair,
                expires_at=now + timedelta(seconds=settings.ACCESS_TOKEN_LIFETIME),
            ),
            ApiToken(
                digest=digest(refresh),
                kind=ApiToken.Kind.REFRESH,
                user=user,
                pair=pair,
                expires_at=now + timedelta(seconds=settings.REFRESH_TOKEN_LIFETIME),
            ),
        ]
    )


def oauth_pair_issue(*, user: User) -> dict:
    """A new access and refresh token for `user`, as the token endpoint answers them."""
    access, refresh = new_secret(), new_secret()
    oauth_pair_save(user=user, access=access, refresh=refresh)
    return {
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": refresh,
        "expires_in": settings.ACCESS_TOKEN_LIFETIME,
        "scope": "all",
    }


def oauth_pair_revoke(*, refresh_token: ApiToken) -> None:
    ApiToken.objects.filter(pair=refresh_token.pair, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def _lifetime_context(user: User) -> str:
    return f"lifetime-token:{user.pk}"


def lifetime_token_current(*, robot: User) -> str | None:
    token = (
        ApiToken.objects.filter(user=robot, kind=ApiToken.Kind.LIFETIME, revoked_at__isnull=True)
        .order_by("-created_at")
        .first()
    )
    if token is None:
        return None
    return unseal(token.sealed_value, context=_lifetime_context(robot)).decode()


def lifetime_token_issue(*, robot: User) -> str:
    """Revoke the robot's lifetime token, if any, and issue a new one."""
    lifetime_token_revoke(robot=robot)
    value = new_secret()
    ApiToken.objects.create(
        digest=digest(value),
        kind=ApiToken.Kind.LIFETIME,
        user=robot,
        sealed_value=seal(value.encode(), context=_lifetime_context(robot)),
    )
    return value


def lifetime_token_revoke(*, robot: User) -> None:
    ApiToken.objects.filter(
        user=robot, kind=ApiToken.Kind.LIFETIME, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
