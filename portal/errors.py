"""The API's errors and their three body shapes.

The Signing API answers errors in a shape that depends on the section
(CONTRACT §2-5): OAuth-style for credentials, ErrorResponse for users and
robots, {"code": int, ...} for the password calls, and the DST "meta" body
under /api/v1/. Code raises ApiError with a field path; `render` picks the shape.
"""

from django.http import HttpRequest, JsonResponse


class ApiError(Exception):
    """An error answer. `code` is a word (BadArgument, NotFound, ...) or, for the
    password calls, the Signing numeric code; `target` is the field path."""

    def __init__(
        self,
        status: int,
        code: str | int,
        message: str,
        target: str = "",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.code = code
        self.message = message
        self.target = target


class InvalidToken(Exception):
    def __init__(self, token: str):
        self.token = token


class AccessDenied(Exception):
    def __init__(self, description: str = "Access is denied"):
        self.description = description


# The password calls' code for a request they cannot read at all.
PASSWORD_BAD_REQUEST = 2000

DST_ERROR_TYPES = {400: "ValidationError", 404: "NotFound", 409: "Conflict", 410: "Gone"}


def too_many_requests(retry_after: int, code: str | int = "TooManyRequests") -> ApiError:
    return ApiError(
        429, code, "Too many attempts, retry later", headers={"Retry-After": str(retry_after)}
    )


def render(request: HttpRequest, error: ApiError) -> JsonResponse:
    path = request.path
    if path.startswith("/api/v1/"):
        message = f"{error.target} : {error.message}" if error.target else error.message
        body = {
            "meta": {
                "code": error.status,
                "error_type": DST_ERROR_TYPES.get(error.status, str(error.code)),
                "error_message": message,
            }
        }
    elif path.startswith("/api/oauth/"):
        return oauth_error(error.status, "invalid_request", f"{error.target}: {error.message}")
    elif path.startswith("/api/auth/"):
        code = error.code if isinstance(error.code, int) else PASSWORD_BAD_REQUEST
        message = f"{error.target}: {error.message}" if error.target else error.message
        body = {"code": code, "message": message, "kwargs": {}}
    else:
        body = {"code": str(error.code), "message": error.message, "target": error.target}
    return JsonResponse(body, status=error.status, headers=error.headers)


def oauth_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)
