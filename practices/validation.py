"""The rules of a DST create request that go beyond its shape: one source per
document, one signature family per document, phones for OTP, constraints,
placements against the document's pages, clause ids, dates.

`practice_check` decodes and checks every inline document and returns what the
service stores; the first broken rule raises InvalidField naming the field
path (`documents.0.groups.1.0.signer.phone`), which the API answers as a 400.
Nothing is written before every rule has passed.
"""

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from accounts import credentials
from practices.api.schemas import DocumentIn, DSTCreate, SignatureRequestIn, WhereIn
from practices.models import Document
from practices.signature_types import KNOWN_CONSTRAINTS, ConflictingConstraints, signature_type
from signing import documents as pdf_documents
from signing.appearance import parse_where
from signing.documents import PdfInfo
from signing.errors import (
    DEFAULT_MAX_BYTES,
    DocumentTooLarge,
    EncryptedDocument,
    PlacementError,
    UnreadableDocument,
)

_UNBOUNDED_BOX = (0.0, 0.0, float("inf"), float("inf"))


class InvalidField(Exception):
    """A broken rule. `reason` is what a fetched document failing it cancels the
    practice with."""

    def __init__(self, path: str, message: str, *, reason: str = "INVALID_DOCUMENT"):
        super().__init__(f"{path} : {message}")
        self.path = path
        self.message = message
        self.reason = reason


class _AnyPages(Sequence):
    """The pages of a document not fetched yet: any number, of any size."""

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index):
        return _UNBOUNDED_BOX


UNKNOWN_DOCUMENT = PdfInfo(boxes=_AnyPages())  # type: ignore[arg-type]


def max_document_bytes() -> int:
    return getattr(settings, "MAX_DOCUMENT_BYTES", DEFAULT_MAX_BYTES)


@dataclass
class CheckedRequest:
    spec: SignatureRequestIn
    group: int
    position: int
    profile: str
    signature_type: str
    where: dict | None
    clauses: list[dict]


@dataclass
class CheckedDocument:
    spec: DocumentIn
    order: int
    family: str
    data: bytes | None  # the inline document; None when it is to be fetched
    requests: list[CheckedRequest] = field(default_factory=list)


@dataclass
class CheckedPractice:
    spec: DSTCreate
    not_after: datetime | None
    documents: list[CheckedDocument]


def practice_check(spec: DSTCreate, *, now: datetime | None = None) -> CheckedPractice:
    now = now or timezone.now()
    not_after = spec.not_after
    if not_after is not None:
        if timezone.is_naive(not_after):
            not_after = timezone.make_aware(not_after)
        if not_after <= now:
            raise InvalidField("not_after", "Must be in the future")
        # As the database gives it back (and the create answers it): in UTC.
        not_after = not_after.astimezone(UTC)
    checked = [_document(doc, index) for index, doc in enumerate(spec.documents)]
    return CheckedPractice(spec=spec, not_after=not_after, documents=checked)


def _document(doc: DocumentIn, index: int) -> CheckedDocument:
    path = f"documents.{index}"
    if doc.document is not None and doc.document_uri is not None:
        raise InvalidField(f"{path}.document_uri", "Give either document or document_uri, not both")
    if doc.document is None and doc.document_uri is None:
        raise InvalidField(f"{path}.document_uri", "This field is required (or document)")
    if doc.document_uri_options is not None:
        if doc.document_uri is None:
            raise InvalidField(f"{path}.document_uri_options", "Only with document_uri")
        _uri_options(doc, f"{path}.document_uri_options")

    family = _family(doc, path)
    data = None
    info = None
    if doc.document is not None:
        data = decode_document(doc.document, f"{path}.document")
        info = check_document_bytes(data, family=family, path=f"{path}.document")
    checked = CheckedDocument(spec=doc, order=index, family=family, data=data)
    for g, group in enumerate(doc.groups):
        for p, request in enumerate(group):
            checked.requests.append(
                _request(request, family, info, f"{path}.groups.{g}.{p}", group=g, position=p)
            )
    return checked


def _family(doc: DocumentIn, path: str) -> str:
    family = None
    for g, group in enumerate(doc.groups):
        for p, request in enumerate(group):
            if request.profile is None:
                continue
            this = request.profile.split("-", 1)[0]
            if family is None:
                family = this
            elif this != family:
                raise InvalidField(
                    f"{path}.groups.{g}.{p}.profile",
                    f"All signatures on a document use one family: this document is {family}",
                )
    return family or Document.Family.PADES


def _uri_options(doc: DocumentIn, path: str) -> None:
    options = doc.document_uri_options
    cert_pem = credentials.pem_text(options.client_cert or "")
    key_pem = credentials.pem_text(options.client_key or "")
    if bool(cert_pem) != bool(key_pem):
        missing = "client_key" if cert_pem else "client_cert"
        raise InvalidField(f"{path}.{missing}", "client_cert and client_key go together")
    if cert_pem:
        try:
            certificate = credentials.load_certificate(cert_pem)
        except credentials.CredentialError as exc:
            raise InvalidField(f"{path}.client_cert", str(exc)) from exc
        try:
            key = credentials.load_private_key(key_pem)
        except credentials.CredentialError as exc:
            raise InvalidField(f"{path}.client_key", str(exc)) from exc
        if not credentials.same_public_key(certificate, key):
            raise InvalidField(f"{path}.client_key", "Does not belong to client_cert")


def decode_document(value: str, path: str) -> bytes:
    """Base64 (standard or URL-safe, wrapped or not, with or without a data: prefix)."""
    limit = max_document_bytes()
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = "".join(text.split())
    if len(text) > (limit // 3 + 1) * 4 + 4:
        raise InvalidField(path, f"The document is over the limit of {limit} bytes")
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidField(path, "This is not valid base64") from exc
    if not data:
        raise InvalidField(path, "The document is empty")
    return data


def check_document_bytes(data: bytes, *, family: str, path: str) -> PdfInfo | None:
    """The PDF's pages for PAdES; CAdES signs any bytes. InvalidField otherwise."""
    limit = max_document_bytes()
    try:
        if family == Document.Family.CADES:
            pdf_documents.check_size(data, limit)
            return None
        return pdf_documents.check_pdf(data, max_bytes=limit)
    except EncryptedDocument as exc:
        raise InvalidField(
            path, "The PDF is encrypted (PROTECTED_DOCUMENT)", reason="PROTECTED_DOCUMENT"
        ) from exc
    except DocumentTooLarge as exc:
        raise InvalidField(path, f"The document is over the limit of {limit} bytes") from exc
    except UnreadableDocument as exc:
        raise InvalidField(path, f"This is not a PDF that can be signed: {exc}") from exc


def _request(
    request: SignatureRequestIn,
    family: str,
    info: PdfInfo | None,
    path: str,
    *,
    group: int,
    position: int,
) -> CheckedRequest:
    if request.unlock_mode == "otp" and not request.signer.phone:
        raise InvalidField(f"{path}.signer.phone", "Required with unlock_mode otp")
    for k, constraint in enumerate(request.constraints):
        if constraint not in KNOWN_CONSTRAINTS:
            raise InvalidField(
                f"{path}.constraints.{k}",
                f"Unknown constraint: use {', '.join(KNOWN_CONSTRAINTS)}",
            )
    try:
        kind = signature_type(unlock_mode=request.unlock_mode, constraints=request.constraints)
    except ConflictingConstraints as exc:
        raise InvalidField(f"{path}.constraints", str(exc)) from exc
    # A CAdES envelope has no pages: its placements are kept but not measured.
    pages = info if info is not None else UNKNOWN_DOCUMENT
    where = check_where(request.where, pages, f"{path}.where")
    clauses = []
    seen: set = set()
    for c, clause in enumerate(request.clauses):
        key = (type(clause.id).__name__, clause.id)
        if key in seen:
            raise InvalidField(f"{path}.clauses.{c}.id", "Duplicate clause id")
        seen.add(key)
        clauses.append(
            {
                "id": clause.id,
                "required": clause.required,
                "description": clause.description,
                "where": check_where(clause.where, pages, f"{path}.clauses.{c}.where"),
            }
        )
    return CheckedRequest(
        spec=request,
        group=group,
        position=position,
        profile=request.profile or f"{family}-bes",
        signature_type=kind,
        where=where,
        clauses=clauses,
    )


def check_where(where: WhereIn | Mapping | None, info: PdfInfo, path: str) -> dict | None:
    """The `where` as stored, after checking it against `info`'s pages."""
    if where is None:
        return None
    value = where.model_dump(exclude_none=True) if isinstance(where, WhereIn) else dict(where)
    try:
        parse_where(value, document=info)
    except PlacementError as exc:
        raise InvalidField(f"{path}.{exc.field}", exc.message) from exc
    return value


def recheck_placements(requests: Sequence, info: PdfInfo) -> tuple[object, str] | None:
    """After a fetch: the first request whose `where` (or a clause's) does not
    fit the document, with the reason; None when all fit."""
    for request in requests:
        try:
            check_where(request.where, info, "where")
            for index, clause in enumerate(request.clauses or []):
                check_where(clause.get("where"), info, f"clauses.{index}.where")
        except InvalidField as exc:
            return request, f"{exc.path} : {exc.message}"
    return None
