"""The validation report: what was found, as data, as JSON and as text.

A Report holds one SignatureReport per signature and, for PDFs, one
TimestampReport per document time-stamp. Its wording lives here too (the
problems listed under a signature, the text `manage.py verify` prints), so
that a PDF and a .p7m say the same thing in the same words; signing.validate_pdf
and signing.validate_cms only decide what applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asn1crypto import x509

from signing.revocation import reason_name

if TYPE_CHECKING:
    from signing.validate_time import TimeVerdict

LEVEL_ORDER = ("B-B", "B-T", "B-LT", "B-LTA")


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def human(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


@dataclass(frozen=True)
class Revocation:
    revoked_at: datetime
    reason: str  # asn1crypto's name: "cessation_of_operation", "key_compromise", ...
    ca_revoked: bool = False  # a CA of the chain was revoked, not the signer's certificate
    compromised_since: datetime | None = None  # the CRL entry's invalidityDate
    after_timestamp: bool | None = None  # None: no trusted signature time-stamp to compare

    def as_dict(self) -> dict[str, Any]:
        return {
            "revoked_at": iso(self.revoked_at),
            "reason": reason_name(self.reason),
            "ca_revoked": self.ca_revoked,
            "compromised_since": iso(self.compromised_since),
            "after_timestamp": self.after_timestamp,
        }

    def as_text(self) -> str:
        text = f"{human(self.revoked_at)} ({reason_name(self.reason)})"
        if self.ca_revoked:
            text += ", a CA of the chain"
        if self.after_timestamp:
            text += ", after the signature time-stamp"
        elif self.after_timestamp is False:
            text += ", NOT after the signature time-stamp"
        return text


@dataclass
class SignatureReport:
    signer: str
    signing_time: datetime | None
    level: str
    intact: bool
    trusted: bool
    timestamp: datetime | None = None
    timestamp_trusted: bool | None = None
    field_name: str | None = None
    revision: int | None = None
    coverage: str | None = None
    modifications: str | None = None
    changes_allowed: bool = True
    certificate: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # When the certificate was judged: now, or the signature time-stamp's
    # time when it was revoked or expired since (past validation).
    checked_at: datetime | None = None
    checked_at_timestamp: bool = False
    revocation: Revocation | None = None

    @classmethod
    def judged(
        cls, status, verdict: TimeVerdict, *, level: str, problems: list[str], **details
    ) -> SignatureReport:
        """The report on a signature that pyHanko validated (`status`) and
        whose certificate signing.validate_time judged (`verdict`)."""
        timestamp, timestamp_trusted = signature_timestamp(status)
        return cls(
            signer=common_name(status.signing_cert),
            signing_time=status.signer_reported_dt,
            level=level,
            intact=bool(status.intact and status.valid),
            trusted=verdict.trusted,
            timestamp=timestamp,
            timestamp_trusted=timestamp_trusted,
            certificate=certificate_summary(status.signing_cert),
            problems=problems,
            checked_at=verdict.checked_at,
            checked_at_timestamp=verdict.at_timestamp,
            revocation=verdict.revocation,
            **details,
        )

    @classmethod
    def broken(cls, exc: Exception, **details) -> SignatureReport:
        """The report on a signature that could not be validated at all."""
        details.setdefault("signer", "")
        return cls(
            signing_time=None,
            level="B-B",
            intact=False,
            trusted=False,
            problems=[f"the signature cannot be validated: {exc}"],
            **details,
        )

    @property
    def valid(self) -> bool:
        return self.intact and self.trusted and self.changes_allowed

    def as_dict(self) -> dict[str, Any]:
        return {
            "signer": self.signer,
            "signing_time": iso(self.signing_time),
            "level": self.level,
            "intact": self.intact,
            "trusted": self.trusted,
            "timestamp": iso(self.timestamp),
            "timestamp_trusted": self.timestamp_trusted,
            "valid": self.valid,
            "field": self.field_name,
            "revision": self.revision,
            "coverage": self.coverage,
            "modifications": self.modifications,
            "changes_allowed": self.changes_allowed,
            "certificate": self.certificate,
            "problems": self.problems,
            "checked_at": iso(self.checked_at),
            "checked_at_timestamp": self.checked_at_timestamp,
            "revocation": self.revocation.as_dict() if self.revocation else None,
        }

    def text_lines(self, number: int) -> list[str]:
        lines = [
            f"Signature {number}: {self.signer}  [{self.level}]",
            f"  signing time   {human(self.signing_time)}",
            f"  intact         {_yes(self.intact)}",
            f"  trusted        {_yes(self.trusted)}",
        ]
        timestamp = human(self.timestamp)
        if self.timestamp is not None and not self.timestamp_trusted:
            timestamp += " (not trusted)"
        lines.append(f"  timestamp      {timestamp}")
        if self.checked_at_timestamp:
            lines.append(f"  checked at     {human(self.checked_at)} (the signature time-stamp)")
        if self.revocation is not None:
            lines.append(f"  revoked        {self.revocation.as_text()}")
        if self.modifications is not None:
            allowed = "allowed" if self.changes_allowed else "NOT ALLOWED"
            lines.append(f"  changes after  {self.modifications} ({allowed})")
        lines.extend(f"  ! {problem}" for problem in self.problems)
        return lines


@dataclass
class TimestampReport:
    time: datetime | None
    intact: bool
    trusted: bool
    field_name: str | None = None
    revision: int | None = None
    authority: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "intact": self.intact,
            "trusted": self.trusted,
            "field": self.field_name,
            "revision": self.revision,
            "authority": self.authority,
        }


@dataclass
class Report:
    kind: str | None  # "pdf", "p7m", or None when the file is neither
    signatures: list[SignatureReport] = field(default_factory=list)
    document_timestamps: list[TimestampReport] = field(default_factory=list)
    error: str | None = None

    @property
    def valid(self) -> bool:
        return (
            self.error is None
            and bool(self.signatures)
            and all(signature.valid for signature in self.signatures)
        )

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "valid": self.valid,
            "kind": self.kind,
            "signatures": [s.as_dict() for s in self.signatures],
        }
        if self.document_timestamps:
            result["document_timestamps"] = [t.as_dict() for t in self.document_timestamps]
        if self.error:
            result["error"] = self.error
        return result

    def as_text(self) -> str:
        lines = [f"{'VALID' if self.valid else 'NOT VALID'} ({self.kind or 'unknown file'})"]
        if self.error:
            lines.append(f"  {self.error}")
        for number, s in enumerate(self.signatures, start=1):
            lines.extend(s.text_lines(number))
        for t in self.document_timestamps:
            state = "valid" if t.intact and t.trusted else "NOT valid"
            lines.append(f"Document timestamp: {human(t.time)} by {t.authority} ({state})")
        return "\n".join(lines)


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


# -- reading pyHanko's statuses --------------------------------------------------


def common_name(certificate: x509.Certificate) -> str:
    name = certificate.subject.native
    return name.get("common_name") or certificate.subject.human_friendly


def certificate_summary(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": certificate.subject.human_friendly,
        "issuer": certificate.issuer.human_friendly,
        "serial": format(certificate.serial_number, "x"),
        "not_before": iso(certificate["tbs_certificate"]["validity"]["not_before"].native),
        "not_after": iso(certificate["tbs_certificate"]["validity"]["not_after"].native),
    }


def signature_timestamp(status) -> tuple[datetime | None, bool | None]:
    """The signature time-stamp's time and whether it is intact and trusted;
    (None, None) when the signature has none."""
    tst = getattr(status, "timestamp_validity", None)
    if tst is None:
        return None, None
    return tst.timestamp, bool(tst.intact and tst.valid and tst.trusted)


def signature_problems(
    status, verdict: TimeVerdict, *, tampered: str, document: Iterable[str] = ()
) -> list[str]:
    """What is wrong with a signature, in this order: its bytes (`tampered`
    says it in the words of the format), its certificate, what happened to
    the document after it (`document`, PDF only), its time-stamp."""
    problems = []
    if not (status.intact and status.valid):
        problems.append(tampered)
    if not verdict.trusted:
        indication = status.trust_problem_indic
        problems.append(
            "the certificate does not chain to a trusted root"
            + (f" ({indication.name})" if indication is not None else "")
        )
        if status.revoked:
            problems.append("the signer's certificate is revoked")
        if verdict.problem:
            problems.append(verdict.problem)
    problems.extend(document)
    if signature_timestamp(status)[1] is False:
        problems.append("the signature timestamp does not validate")
    return problems
