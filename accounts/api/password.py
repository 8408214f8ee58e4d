"""Password calls (CONTRACT §4, seed "Manage password"); they need no token."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from accounts import services
from accounts.models import User
from portal import ratelimit
from portal.errors import ApiError, too_many_requests

router = Router(tags=["Manage password"], auth=None)

MISMATCH, WRONG_PASSWORD, WEAK_PASSWORD, UNKNOWN_USERNAME, TOO_MANY = 2028, 2029, 2030, 2031, 2032


class _Body(BaseModel):
    # The seed's own example sends passwords as numbers.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class ChangePassword(_Body):
    username: str = Field(min_length=1, max_length=214)
    domain: str | None = Field(default=None, max_length=63)
    old_password: str = Field(max_length=128)
    new_password: str = Field(max_length=128)
    new_password_check: str = Field(max_length=128)


class PasswordLost(_Body):
    username: str = Field(min_length=1, max_length=214)
    domain: str | None = Field(default=None, max_length=63)


def _find_person(username: str, domain: str | None) -> User | None:
    """`username@slug`, or a bare username with `domain`."""
    if domain:
        name, slug = username, domain
    else:
        name, _, slug = username.rpartition("@")
    return (
        User.objects.select_related("organization")
        .filter(organization__slug=slug, username=name, automatic=False)
        .first()
    )


def _limit(request, username: str) -> None:
    wait = ratelimit.hit(
        scope="password", key=f"{ratelimit.client_address(request)}|{username.lower()}"
    )
    if wait:
        raise too_many_requests(wait, TOO_MANY)


@router.post("/changePassword", response={204: None}, summary="Change a password")
def change_password(request, payload: ChangePassword):
    _limit(request, payload.username)
    if payload.new_password != payload.new_password_check:
        raise ApiError(400, MISMATCH, "new_password and new_password_check do not match")
    user = _find_person(payload.username, payload.domain)
    if user is None or not user.enabled or not user.check_password(payload.old_password):
        raise ApiError(400, WRONG_PASSWORD, "Wrong username or old_password")
    try:
        services.user_set_password(user=user, password=payload.new_password)
    except DjangoValidationError as exc:
        raise ApiError(400, WEAK_PASSWORD, " ".join(exc.messages)) from exc
    return HttpResponse(status=204)


@router.post("/passwordLost", response={204: None}, summary="Email a password reset link")
def password_lost(request, payload: PasswordLost):
    _limit(request, payload.username)
    user = _find_person(payload.username, payload.domain)
    if user is None:
        raise ApiError(404, UNKNOWN_USERNAME, "Username not found")
    if user.enabled:
        services.password_reset_send(user=user)
    return HttpResponse(status=204)
