"""Request and response shapes of the Users and Robots API (Signing field names)."""

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from accounts.models import CAPABILITIES

Language = Literal["it", "en", "es", "fr"]
Capability = Literal[CAPABILITIES]  # type: ignore[valid-type]

_USERNAME = re.compile(r"^[\w.+-]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,31}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
MAX_JSON_BYTES = 16 * 1024


def _email(value: str) -> str:
    if value:
        try:
            validate_email(value)
        except DjangoValidationError as exc:
            raise ValueError("Enter a valid email address") from exc
    return value


def _small_json(value: dict) -> dict:
    import json

    if len(json.dumps(value)) > MAX_JSON_BYTES:
        raise ValueError(f"At most {MAX_JSON_BYTES} bytes of JSON")
    return value


def _one_or_many(value: Any) -> Any:
    # Signing's examples send one capability as a plain string.
    return [value] if isinstance(value, str) else value


Username = Annotated[str, Field(min_length=1, max_length=150, pattern=_USERNAME.pattern)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Phone = Annotated[str, Field(max_length=32)]
SmallJson = Annotated[dict[str, Any], AfterValidator(_small_json)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserGroupIn(Strict):
    id: int | None = None
    name: str = Field(min_length=1, max_length=150)
    domain: str | None = Field(default=None, max_length=63)


class UserIn(Strict):
    """A User as clients send it. Read-only fields are accepted and ignored."""

    id: UUID | None = None
    username: Username
    domain: str | None = Field(default=None, max_length=63)
    language: Language | None = None
    name: str = Field(default="", max_length=150)
    surname: str = Field(default="", max_length=150)
    email: Email = ""
    phone: Phone = ""
    role: Literal["admin", "instructor", "signer"] = "signer"
    groups: list[UserGroupIn] = Field(default_factory=list, max_length=50)
    capabilities: Annotated[
        list[Capability], BeforeValidator(_one_or_many), Field(max_length=len(CAPABILITIES))
    ] = Field(default_factory=list)
    automatic: bool = False
    enabled: bool | None = None
    extraData: SmallJson = Field(default_factory=dict)
    templateData: SmallJson = Field(default_factory=dict)
    createdBy: UUID | None = None
    createdAt: datetime | None = None
    deletedAt: datetime | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not _PHONE.match(value):
            raise ValueError("Enter a phone number: digits, optionally starting with +")
        return value


class UserUpdate(UserIn):
    """PUT /api/user/{id}: every field optional; the ones sent are changed."""

    username: Username | None = None  # type: ignore[assignment]
    role: Literal["admin", "instructor", "signer"] | None = None  # type: ignore[assignment]
    automatic: bool | None = None  # type: ignore[assignment]


class UserCreate(Strict):
    user: UserIn
    password: str | None = Field(default=None, max_length=128)


class UserGroupOut(BaseModel):
    id: int
    name: str
    domain: str


class UserOut(BaseModel):
    id: UUID
    username: str
    domain: str
    language: str
    name: str
    surname: str
    email: str
    phone: str
    role: str
    groups: list[UserGroupOut]
    capabilities: list[str]
    createdBy: UUID | None
    createdAt: datetime
    deletedAt: datetime | None
    automatic: bool
    enabled: bool
    extraData: dict[str, Any]
    templateData: dict[str, Any]


class UserList(BaseModel):
    count: int | None = None
    values: list[UserOut]


# Robots


def _pem(kind: Literal["certificate", "key"]):
    def check(value: str) -> str:
        if not value:
            return value
        text = value.strip()
        if not text.startswith("-----BEGIN"):
            try:
                text = base64.b64decode(text, validate=True).decode().strip()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ValueError(f"Expected a PEM {kind}, or its base64") from exc
        try:
            if kind == "certificate":
                x509.load_pem_x509_certificate(text.encode())
            else:
                load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Not a readable PEM {kind} (an unencrypted key is needed)") from exc
        return text + "\n"

    return AfterValidator(check)


def _http_url(value: str) -> str:
    if value:
        try:
            URLValidator(schemes=["http", "https"])(value)
        except DjangoValidationError as exc:
            raise ValueError("Enter an http or https URL") from exc
    return value


def _headers(value: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, values in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"Invalid header name {name!r}")
        if any("\r" in v or "\n" in v or len(v) > 4096 for v in values):
            raise ValueError(f"Invalid value for header {name!r}")
    return value


class RobotAuthentication(Strict):
    username: str = Field(default="", max_length=200)
    password: str = Field(default="", max_length=200)
    authMode: Literal["basic", "digest"] = "basic"
    clientKey: Annotated[str, Field(max_length=20000), _pem("key")] = ""
    clientCert: Annotated[str, Field(max_length=20000), _pem("certificate")] = ""


class RobotWebhooks(Strict):
    dst: Annotated[str, Field(max_length=2000), AfterValidator(_http_url)] = ""
    secret: str | None = Field(default=None, max_length=200)  # read-only, ignored


class RobotConfigurationIn(Strict):
    requestHeaders: (
        Annotated[
            dict[str, Annotated[list[str], BeforeValidator(_one_or_many)]],
            Field(max_length=50),
            AfterValidator(_headers),
        ]
        | None
    ) = None
    authentication: RobotAuthentication | None = None
    webhooks: RobotWebhooks | None = None


class RobotConfigurationOut(BaseModel):
    requestHeaders: dict[str, list[str]]
    authentication: dict[str, str]
    webhooks: dict[str, str]


class AccessToken(BaseModel):
    accessToken: str
