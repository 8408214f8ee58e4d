"""The one NinjaAPI behind /api/: authentication, body parsing and error shapes."""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from accounts import tokens
from portal import errors

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <t>` or `Token <t>`: OAuth access tokens and robot lifetime tokens."""

    def __call__(self, request):
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() not in ("bearer", "token") or not value:
            raise errors.InvalidToken(value)
        return self.authenticate(request, value)

    def authenticate(self, request, token):
        found = tokens.token_find(value=token)
        if found is None or found.kind == found.Kind.REFRESH:
            raise errors.InvalidToken(token)
        if not found.user.enabled:
            raise errors.AccessDenied("User is disabled")
        return found.user


class UnsupportedMediaType(Exception):
    pass


class JsonParser(Parser):
    """Bodies must be JSON and say so, as the Signing API requires."""

    def parse_body(self, request):
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType(content_type)
        return json.loads(request.body)


api = NinjaAPI(
    title="Sigillo API",
    version="1.0",
    description="The Signing API: authentication, users, robots, digital signature transactions.",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=TokenAuth(),
    parser=JsonParser(),
    urls_namespace="api",
)


def _field_path(loc: tuple | list) -> str:
    # ninja locations read ("body", "<param>", "user", "email") or ("query", "$top").
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[2:]
    elif parts and parts[0] in ("query", "path", "header", "form"):
        parts = parts[1:]
    return ".".join(parts)


@api.exception_handler(errors.ApiError)
def _api_error(request, exc: errors.ApiError):
    return errors.render(request, exc)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {"loc": (), "msg": "Invalid request"}
    message = first.get("msg", "Invalid value")
    if first.get("type") == "extra_forbidden":
        message = "Unknown field"
    elif first.get("type") == "missing":
        message = "This field is required"
    return errors.render(
        request, errors.ApiError(400, "BadArgument", message, _field_path(first.get("loc", ())))
    )


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, UnsupportedMediaType):
        error = errors.ApiError(
            415, "UnsupportedMediaType", "Content-Type must be application/json"
        )

    elif exc.status_code == 400:
        error = errors.ApiError(400, "BadArgument", "The body is not valid JSON")
    else:
        error = errors.ApiError(exc.status_code, "Error", str(exc))
    return errors.render(request, error)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return errors.render(request, errors.ApiError(413, "PayloadTooLarge", "The body is too large"))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return errors.render(request, errors.ApiError(404, "NotFound", "Not found"))


@api.exception_handler(errors.InvalidToken)
@api.exception_handler(AuthenticationError)
def _invalid_token(request, exc):
    token = getattr(exc, "token", "")
    return errors.oauth_error(401, "invalid_token", f"Invalid access token: {token}")


@api.exception_handler(errors.AccessDenied)
def _access_denied(request, exc: errors.AccessDenied):
    return errors.oauth_error(403, "access_denied", exc.description)


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("Unhandled API error on %s %s", request.method, request.path)
    return errors.render(request, errors.ApiError(500, "InternalError", "Internal server error"))


def _register_routers() -> None:
    from accounts.api import oauth_router, password_router, robots_router, users_router

    api.add_router("/oauth", oauth_router)
    api.add_router("/auth", password_router)
    api.add_router("/robot", robots_router)
    api.add_router("", users_router)

    from portal.validation import router as validation_router

    api.add_router("/v1", validation_router)

    from practices.api import router as practices_router

    api.add_router("/v1", practices_router)

    from practices.api.tickets import router as tickets_router

    api.add_router("/v1", tickets_router)

    from webhooks.api import router as webhooks_router

    api.add_router("/v1", webhooks_router)


_register_routers()
