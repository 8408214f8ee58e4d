"""Request and response shapes of the Users and Robots API (Signing field names)."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

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
from pydantic_core import PydanticCustomError

from accounts import credentials
from accounts.models import CAPABILITIES

Language = Literal["it", "en", "es", "fr"]
Capability = Literal[CAPABILITIES]  # type: ignore[valid-type]

_USERNAME = re.compile(r"^[\w.+-]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,31}$")
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


def _http_url(value: str) -> str:
    if value:
        try:
            URLValidator(schemes=["http", "https"])(value)
        except DjangoValidationError as exc:
            raise ValueError("Enter an http or https URL") from exc
    return value


def _headers(value: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, values in value.items():
        if not all(credentials.header_is_valid(name, v) for v in values or [""]):
            raise ValueError(f"Invalid header {name!r}: a token name and one-line values")
    return value


class RobotAuthentication(Strict):
    username: str = Field(default="", max_length=200)
    password: str = Field(default="", max_length=200)
    authMode: Literal["basic", "digest"] = "basic"
    clientKey: str = Field(default="", max_length=credentials.MAX_PEM)
    clientCert: str = Field(default="", max_length=credentials.MAX_PEM)

    @model_validator(mode="after")
    def _client_certificate(self) -> "RobotAuthentication":
        """A client certificate and its key come together, as PEM, and belong together."""
        cert_pem = credentials.pem_text(self.clientCert)
        key_pem = credentials.pem_text(self.clientKey)
        if bool(cert_pem) != bool(key_pem):
            raise PydanticCustomError("pair", "clientCert and clientKey go together")
        if cert_pem:
            try:
                certificate = credentials.load_certificate(cert_pem)
                key = credentials.load_private_key(key_pem)
            except credentials.CredentialError as exc:
                raise PydanticCustomError("pem", str(exc)) from exc
            if not credentials.same_public_key(certificate, key):
                raise PydanticCustomError("pair", "clientKey does not belong to clientCert")
            self.clientCert, self.clientKey = cert_pem + "\n", key_pem + "\n"
        return self


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
