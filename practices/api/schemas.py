"""The DST API's request shapes (Signing field names). Unknown fields are
refused; each limit keeps a request's cost bounded. Rules that need more than
one field or the document itself are in practices.validation."""

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, ValidationError

from practices.signature_types import UNLOCK_MODES

MAX_JSON_BYTES = 16 * 1024
MAX_URL = 2000
PROFILES = ("pades-bes", "pades-t", "pades-lt", "pades-lta", "cades-bes", "cades-t")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,31}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _small_json(value: dict) -> dict:
    try:
        size = len(json.dumps(value, allow_nan=False))
    except ValueError as exc:
        raise _error("json", "NaN and Infinity are not JSON") from exc
    if size > MAX_JSON_BYTES:
        raise _error("too_large", f"At most {MAX_JSON_BYTES} bytes of JSON")
    return value


def _email(value: str) -> str:
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise _error("email", "Enter a valid email address") from exc
    return value


def _phone(value: str) -> str:
    if value and not _PHONE.match(value):
        raise _error("phone", "Enter a phone number: digits, optionally starting with +")
    return value


_url_validator = URLValidator(schemes=["http", "https"])


def _http_url(value: str) -> str:
    if value:
        try:
            _url_validator(value)
        except DjangoValidationError as exc:
            raise _error("url", "Enter an http or https URL") from exc
    return value


def _document_uri(value: str) -> str:
    """Any http(s) URL with a host: whether it may be reached is the outbound
    guard's decision when the document is fetched."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise _error("url", "Enter an http or https URL") from exc
    if parts.scheme not in ("http", "https") or not host or re.search(r"\s", value):
        raise _error("url", "Enter an http or https URL")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _error("blank", "This field cannot be blank")
    return value


def _lines(value: Any) -> Any:
    return value.split("\n") if isinstance(value, str) else value


def _clause_id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _error("clause_id", "A clause id is an integer or a string")
    if isinstance(value, str) and not 0 < len(value) <= 64:
        raise _error("clause_id", "A clause id has 1 to 64 characters")
    if isinstance(value, int) and not 0 <= value < 2**31:
        raise _error("clause_id", "A clause id is between 0 and 2^31 - 1")
    return value


SmallJson = Annotated[dict[str, Any], AfterValidator(_small_json)]
HttpUrl = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_http_url)]
Text255 = Annotated[str, Field(max_length=255)]
DocumentUri = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_document_uri)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FontIn(Strict):
    name: str | None = Field(default=None, max_length=100)
    size: float | None = Field(default=None, gt=0, le=500, allow_inf_nan=False)


class TextBlockIn(Strict):
    font: FontIn | None = None
    format: Annotated[
        list[Annotated[str, Field(max_length=500)]], BeforeValidator(_lines), Field(max_length=20)
    ] = Field(default_factory=list)
    text_align: Literal["left", "middle", "center", "right"] | None = None
    align: str | None = Field(default=None, max_length=20)
    valign: str | None = Field(default=None, max_length=20)


class WhereIn(Strict):
    page: int | None = Field(default=None, ge=1, le=100_000)
    position: str | None = Field(default=None, max_length=200)
    image_uri: HttpUrl | None = None
    text: list[TextBlockIn] | None = Field(default=None, max_length=10)


class ClauseIn(Strict):
    id: Annotated[Any, AfterValidator(_clause_id)]
    required: bool = False
    description: str = Field(default="", max_length=2000)
    where: WhereIn | None = None


class SignerIn(Strict):
    email: Annotated[str, Field(max_length=254), AfterValidator(_email)]
    first_name: Annotated[str, Field(max_length=150), AfterValidator(_not_blank)]
    last_name: Annotated[str, Field(max_length=150), AfterValidator(_not_blank)]
    phone: Annotated[str, Field(max_length=32), AfterValidator(_phone)] = ""


class ProviderOptionsIn(Strict):
    unlock_mode: Literal[UNLOCK_MODES] | None = None  # type: ignore[valid-type]
    message: str | None = Field(default=None, max_length=2000)


class SignatureRequestIn(Strict):
    signer: SignerIn
    profile: Literal[PROFILES] | None = None  # type: ignore[valid-type]
    display_name: Text255 = ""
    reason: Text255 = ""
    description: str = Field(default="", max_length=2000)
    declinable: bool = True
    urlback: HttpUrl = ""
    cancelback: HttpUrl = ""
    provider_options: ProviderOptionsIn | None = None
    constraints: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=10
    )
    where: WhereIn | None = None
    clauses: list[ClauseIn] = Field(default_factory=list, max_length=50)
    metadata: SmallJson = Field(default_factory=dict)
    automatic: bool = False

    @property
    def unlock_mode(self) -> str | None:
        return self.provider_options.unlock_mode if self.provider_options else None


def _headers(value: dict[str, Any]) -> dict[str, list[str]]:
    """{"Name": "value"} or {"Name": ["value", ...]}, sendable as they are."""
    headers: dict[str, list[str]] = {}
    for name, values in value.items():
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _error("header", f"Header {name!r}: a string or a list of strings")
        for v in values:
            if not _HEADER_NAME.match(name) or _HEADER_VALUE_FORBIDDEN.search(v) or len(v) > 4096:
                raise _error("header", f"Invalid header {name!r}: a token name, one-line values")
        headers[name] = values
    return headers


class DocumentUriOptionsIn(Strict):
    headers: Annotated[dict[str, Any], Field(max_length=50), AfterValidator(_headers)] | None = None
    method: Literal["GET", "POST", "PUT", "get", "post", "put"] | None = None
    # Sent as it is when a string, as JSON when an object.
    body: Annotated[Any, AfterValidator(lambda v: _body(v))] = None
    auth_username: str | None = Field(default=None, max_length=200)
    auth_password: str | None = Field(default=None, max_length=200)
    auth_mode: Literal["basic", "digest"] | None = None
    client_cert: str | None = Field(default=None, max_length=20000)
    client_key: str | None = Field(default=None, max_length=20000)


def _body(value: Any) -> Any:
    if value is None or isinstance(value, str | dict | list):
        encoded = value if isinstance(value, str) or value is None else json.dumps(value)
        if encoded is not None and len(encoded) > 1024 * 1024:
            raise _error("too_large", "At most 1 MiB")
        return value
    raise _error("body", "A string or a JSON object")


class DocumentIn(Strict):
    document: str | None = None
    document_uri: DocumentUri | None = None
    document_uri_options: DocumentUriOptionsIn | None = None
    display_name: Text255 = ""
    metadata: SmallJson = Field(default_factory=dict)
    groups: list[Annotated[list[SignatureRequestIn], Field(min_length=1, max_length=50)]] = Field(
        min_length=1, max_length=20
    )


def _no_nul_or_surrogate(value: Any, path: tuple = ()) -> None:
    """Strings the database can store: no NUL, no lone surrogate (JSON allows both)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise _PathError(path, "NUL characters are not allowed")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _PathError(path, "Invalid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul_or_surrogate(key, (*path, key))
            _no_nul_or_surrogate(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_nul_or_surrogate(item, (*path, index))


class _PathError(Exception):
    def __init__(self, path: tuple, message: str):
        self.path = path
        self.message = message


class DSTCreate(Strict):
    title: Text255 = ""
    generate_report: bool = False
    metadata: SmallJson = Field(default_factory=dict)
    not_after: datetime | None = None
    urlback: HttpUrl = ""
    cancelback: HttpUrl = ""
    documents: list[DocumentIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="wrap")
    @classmethod
    def _text_the_database_can_store(cls, value: Any, handler):
        try:
            _no_nul_or_surrogate(value)
        except _PathError as exc:
            # A ValidationError raised here keeps its location in the error.
            raise ValidationError.from_exception_data(
                cls.__name__,
                [{"type": _error("text", exc.message), "loc": exc.path, "input": value}],
            ) from None
        return handler(value)

    @property
    def email_disabled(self) -> bool:
        for key in ("studio_email_disabled", "studio-email_disabled"):
            if self.metadata.get(key) in (True, "true", "True", 1, "1"):
                return True
        return False


class DSTCancel(Strict):
    reason: str = Field(default="", max_length=1000)

    @field_validator("reason")
    @classmethod
    def _storable(cls, value: str) -> str:
        if "\x00" in value:
            raise _error("nul", "NUL characters are not allowed")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _error("unicode", "Invalid Unicode text") from None
        return value
