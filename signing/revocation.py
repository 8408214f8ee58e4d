"""Revocations and the CRLs that publish them.

A revocation is a serial, a date, an RFC 5280 reason and, for a compromised
key, since when it was suspect. The register of revocations lives with the
caller (the portal's database); this module turns it into a signed CRL, and
translates reason names between the spellings in use: RFC 5280's
(keyCompromise), ours in forms and settings (key_compromise), asn1crypto's.
OCSP answers are built from the same `Revoked` records by signing.ocsp.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from cryptography import x509

from signing.keys import KeyHandle
from signing.profiles import BACKDATE, authority_key_identifier, now
from signing.x509_signing import sign_crl


class RevocationReason(StrEnum):
    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    CA_COMPROMISE = "cACompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    CERTIFICATE_HOLD = "certificateHold"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"


_REASON_NAMES = {reason.value.lower(): reason for reason in RevocationReason}


def parse_reason(value: str) -> RevocationReason:
    """A revocation reason from "keyCompromise", "key_compromise" or "KEY_COMPROMISE"."""
    reason = _REASON_NAMES.get(str(value).lower().replace("_", ""))
    if reason is None:
        raise ValueError(f"unknown revocation reason {value!r}")
    return reason


def reason_name(reason: str) -> str:
    """RFC 5280's spelling (cessationOfOperation) of an asn1crypto reason name."""
    try:
        return parse_reason(reason).value
    except ValueError:  # aACompromise, removeFromCRL: not reasons we issue
        return reason


@dataclass(frozen=True)
class Revoked:
    serial: int
    revoked_at: datetime
    reason: str | None = None  # a RevocationReason value
    # When the key is known or suspected to have been compromised, if earlier
    # than the revocation: the CRL entry's invalidityDate (RFC 5280 §5.3.2).
    invalid_since: datetime | None = None

    @property
    def reason_flag(self) -> x509.ReasonFlags | None:
        """The reason as cryptography spells it; None for "unspecified" (RFC 5280
        asks not to encode that one)."""
        if not self.reason:
            return None
        reason = parse_reason(self.reason)
        if reason == RevocationReason.UNSPECIFIED:
            return None
        return x509.ReasonFlags(reason.value)


def build_crl(
    issuer: x509.Certificate,
    handle: KeyHandle,
    revoked: Iterable[Revoked],
    next_update: timedelta,
) -> bytes:
    """The CRL (DER) of `issuer`, signed with its key `handle`, listing `revoked`."""
    issued_at = now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(issued_at - BACKDATE)
        .next_update(issued_at + next_update)
        .add_extension(authority_key_identifier(issuer), critical=False)
        # Monotonic enough across processes and restarts.
        .add_extension(x509.CRLNumber(int(issued_at.timestamp() * 1000)), critical=False)
    )
    for item in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(item.serial)
            .revocation_date(item.revoked_at.astimezone(UTC).replace(microsecond=0))
        )
        if item.reason_flag is not None:
            entry = entry.add_extension(x509.CRLReason(item.reason_flag), critical=False)
        if item.invalid_since is not None:
            entry = entry.add_extension(
                x509.InvalidityDate(item.invalid_since.astimezone(UTC).replace(tzinfo=None)),
                critical=False,
            )
        builder = builder.add_revoked_certificate(entry.build())
    return sign_crl(builder, handle)
