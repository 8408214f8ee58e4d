"""POST /api/oauth/token: OAuth2 password and refresh grants (oauthlib does the protocol).

The organization is the client: its slug is the client id and its secret is
stored as a digest. Tokens are stored as digests too (accounts.tokens).
"""

import base64
import binascii
import hmac
import json
from urllib.parse import unquote, urlencode

from django.conf import settings
from django.http import JsonResponse
from ninja import Form, Router
from oauthlib.oauth2 import LegacyApplicationServer, RequestValidator
from pydantic import BaseModel

from accounts import tokens
from accounts.models import ApiToken, Organization
from portal import ratelimit
from portal.errors import oauth_error

router = Router(tags=["Authentication"], auth=None)

SCOPES = ["all"]


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(client_id), unquote(secret)


class _Validator(RequestValidator):
    def client_authentication_required(self, request, *args, **kwargs):
        return True

    def authenticate_client(self, request, *args, **kwargs):
        credentials = _basic_credentials(request.headers.get("Authorization", ""))
        if credentials is None:
            credentials = (request.client_id or "", request.client_secret or "")
        client_id, secret = credentials
        if request.client_id and request.client_id != client_id:
            return False
        organization = Organization.objects.filter(slug=client_id).first()
        if organization is None or not hmac.compare_digest(
            organization.client_secret_digest, tokens.digest(secret)
        ):
            return False
        request.client = organization
        request.client_id = client_id
        return True

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type in ("password", "refresh_token")

    def validate_user(self, username, password, client, request, *args, **kwargs):
        from django.contrib.auth import authenticate

        name, _, slug = username.rpartition("@")
        if slug != client.slug:
            return False
        user = authenticate(None, organization=slug, username=name, password=password)
        if user is None:
            return False
        request.user = user
        return True

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        return SCOPES

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        return set(scopes) <= set(SCOPES)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        found = tokens.token_find(value=refresh_token)
        if (
            found is None
            or found.kind != ApiToken.Kind.REFRESH
            or found.user.organization_id != client.id
            or not found.user.enabled
        ):
            return False
        request.user = found.user
        request.refreshed = found
        return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        return SCOPES

    def save_bearer_token(self, token, request, *args, **kwargs):
        refreshed = getattr(request, "refreshed", None)
        if refreshed is not None:
            tokens.oauth_pair_revoke(refresh_token=refreshed)
        tokens.oauth_pair_save(
            user=request.user, access=token["access_token"], refresh=token["refresh_token"]
        )


_server = LegacyApplicationServer(
    _Validator(),
    token_generator=lambda request: tokens.new_secret(),
    refresh_token_generator=lambda request: tokens.new_secret(),
    token_expires_in=lambda request: settings.ACCESS_TOKEN_LIFETIME,
)


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str
    refresh_token: str
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    error: str
    error_description: str


@router.post(
    "/token",
    response={200: TokenAnswer, 400: OAuthError, 401: OAuthError, 429: OAuthError},
    summary="Get an access token (password or refresh_token grant)",
)
def token(
    request,
    grant_type: Form[str] = "",
    username: Form[str] = "",
    password: Form[str] = "",
    refresh_token: Form[str] = "",
    client_id: Form[str] = "",
):
    wait = ratelimit.hit(
        scope="token",
        key=f"{ratelimit.client_address(request)}|{(username or refresh_token[:8]).lower()}",
    )
    if wait:
        response = oauth_error(429, "too_many_requests", "Too many attempts, retry later")
        response["Retry-After"] = str(wait)
        return response
    # Generated SDKs send multipart; oauthlib reads an urlencoded body.
    body = urlencode(list(request.POST.items()))
    headers = {
        "Authorization": request.headers.get("Authorization", ""),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer_headers, answer, status = _server.create_token_response(
        request.build_absolute_uri(), "POST", body, headers
    )
    data = json.loads(answer)
    if status == 200:
        data["token_type"] = "bearer"
        return JsonResponse(data)
    data.setdefault("error_description", data.get("error", "").replace("_", " "))
    response = JsonResponse(
        {"error": data["error"], "error_description": data["error_description"]}, status=status
    )
    if "WWW-Authenticate" in answer_headers:
        response["WWW-Authenticate"] = answer_headers["WWW-Authenticate"]
    return response
