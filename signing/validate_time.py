"""Judging a signer's certificate at the signature time-stamp (past validation).

A signature validated today first has its certificate judged at the present,
with the revocation data at hand. When that says "revoked" or "expired" and
the signature carries a signature time-stamp that is intact and trusted, the
time-stamp is proof that the signature existed at its time (ETSI EN 319 102-1
§5.5.4 and the past signature validation of §5.6.2.4): the certificate is then
judged again, as it stood at that time.

That second judgement is pyhanko-certvalidator's point-in-time validation
(`ValidationContext(moment=..., best_signature_time=...)`), fed with the
revocation data the present judgement used, retroactively: a CRL or OCSP
response issued today still lists every revocation with its date, so it tells
whether the certificate was revoked before the time-stamp. A certificate
expired today is checked against its validity period at the time-stamp.

We use point-in-time validation rather than pyHanko's
`ades_with_time_validation`: the latter never looks at revocation once the
certificate has expired (certvalidator stops at the expiry), so a one-time
certificate, valid for an hour, revoked *before* its time-stamp would pass
an hour later.

The verdict, per ETSI: the time-stamp must be strictly before the revocation
time; at or after it the certificate stays not trusted, and so does a
signature without a (trusted) signature time-stamp.

Revocation reasons. keyCompromise (and cA/aACompromise) gets the same rule:
the revocation date is the CA's statement of when the certificate stopped
being good, and refusing every earlier signature would let the report of a
lost token undo the honest signatures made before it, which is what
time-stamps exist to prevent. Where the CA knows better, RFC 5280 §5.3.2 gives
it the CRL entry's invalidityDate ("known or suspected" compromise time): for
a compromise reason, a time-stamp at or after the invalidityDate is refused
too. That date is read only from CRLs signed by the certificate's issuer, and
only ever makes the verdict stricter.

Limits: the time-stamping authority is judged at the present (an expired or
revoked TSA certificate makes the time-stamp untrusted: that is what B-LTA
document time-stamps are for); a certificate on hold at the time-stamp and
released since is not listed by today's CRL, so it is accepted.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import crl, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation.status import SignatureStatus

from signing.revocation import reason_name
from signing.validate_report import Revocation, human, signature_timestamp

log = logging.getLogger(__name__)

# Present-time verdicts that a proof of existence before the event can reverse.
PAST_VALIDATION_INDICATIONS = frozenset(
    {
        AdESIndeterminate.REVOKED_NO_POE,
        AdESIndeterminate.REVOKED_CA_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
    }
)
COMPROMISE_REASONS = frozenset({"key_compromise", "ca_compromise", "aa_compromise"})


@dataclass(frozen=True)
class TimeVerdict:
    """How the certificate was judged: `checked_at` is the time it was judged
    at (the signature time-stamp when past validation applied)."""

    trusted: bool
    checked_at: datetime
    at_timestamp: bool
    revocation: Revocation | None = None
    problem: str | None = None


def _crl_entry(
    *,
    certificate: x509.Certificate,
    crls: Iterable[crl.CertificateList],
    issuers: Iterable[x509.Certificate],
) -> crl.RevokedCertificate | None:
    """The entry for `certificate` in a CRL that its issuer signed, if any.
    The signature is checked here because the entry is read outside
    certvalidator; CRLs from the document itself are untrusted input."""
    serial = certificate.serial_number
    for candidate in crls:
        tbs = candidate["tbs_cert_list"]
        if tbs["issuer"] != certificate.issuer:
            continue
        entry = next(
            (e for e in tbs["revoked_certificates"] if e["user_certificate"].native == serial),
            None,
        )
        if entry is None:
            continue
        loaded = cx509.load_der_x509_crl(candidate.dump())
        for issuer in issuers:
            try:
                if loaded.is_signature_valid(
                    cx509.load_der_x509_certificate(issuer.dump()).public_key()
                ):
                    return entry
            except (InvalidSignature, TypeError, ValueError):
                continue
    return None


def _revocation(
    *,
    present: SignatureStatus,
    past: SignatureStatus,
    crls: list[crl.CertificateList],
    timestamp: datetime,
) -> Revocation | None:
    """The revocation of the signer's certificate (or of a CA above it), as
    the present judgement reported it, completed from the issuer's CRL: its
    invalidityDate, and the revocation itself when the present judgement
    stopped at the certificate's expiry before looking at revocation."""
    certificate = present.signing_cert
    path = past.validation_path or present.validation_path
    issuers = list(path.iter_certs(include_root=True)) if path is not None else []
    entry = _crl_entry(certificate=certificate, crls=crls, issuers=issuers)
    # The present judgement stops at an expired certificate's expiry; the one
    # at the time-stamp reports a revocation before it.
    details = present.revocation_details or past.revocation_details
    if details is not None:
        revoked_at, reason = details.revocation_date, details.revocation_reason.native
        ca_revoked = details.ca_revoked
    elif entry is not None:
        revoked_at, reason = entry["revocation_date"].native, None
        ca_revoked = False
    else:
        return None
    if entry is not None and not ca_revoked:
        reason = reason or (entry.crl_reason_value.native if entry.crl_reason_value else None)
        invalidity = entry.invalidity_date_value
        compromised_since = invalidity.native if invalidity is not None else None
    else:
        compromised_since = None
    reason = reason or "unspecified"
    return Revocation(
        revoked_at=revoked_at,
        reason=reason,
        ca_revoked=ca_revoked,
        compromised_since=compromised_since if reason in COMPROMISE_REASONS else None,
        after_timestamp=timestamp < revoked_at,
    )


Revalidate = Callable[[datetime], Awaitable[tuple[SignatureStatus, list[crl.CertificateList]]]]


async def judge(*, status: SignatureStatus, revalidate: Revalidate) -> TimeVerdict:
    """The verdict on the signer's certificate for a signature whose present
    status is `status`. `revalidate(moment)` validates the same signature
    again with the certificate judged at `moment` and answers that status
    with the CRLs it had."""
    now = status.validation_time or datetime.now(UTC)
    present_trusted = bool(status.trusted) and not status.revoked
    timestamp, timestamp_trusted = signature_timestamp(status)
    if not timestamp_trusted:
        timestamp = None
    if present_trusted or status.trust_problem_indic not in PAST_VALIDATION_INDICATIONS:
        return TimeVerdict(trusted=present_trusted, checked_at=now, at_timestamp=False)
    if timestamp is None:
        # No proof that the signature existed before the revocation or the
        # expiry: it could have been made afterwards with the same key.
        revocation = _present_revocation(status=status)
        return TimeVerdict(trusted=False, checked_at=now, at_timestamp=False, revocation=revocation)

    try:
        past, crls = await revalidate(timestamp)
    except Exception as exc:
        # The present verdict stands; the signature itself is not at fault.
        log.warning("past validation at %s failed: %r", timestamp, exc)
        return TimeVerdict(
            trusted=False,
            checked_at=now,
            at_timestamp=False,
            revocation=_present_revocation(status=status),
            problem="the certificate could not be judged at the signature time-stamp",
        )
    revocation = _revocation(present=status, past=past, crls=crls, timestamp=timestamp)
    trusted = bool(past.trusted) and not past.revoked
    problem = None
    if revocation is not None and not revocation.after_timestamp:
        # certvalidator reads "revoked at the moment" as revocation < moment
        # on a CRL and <= on OCSP; ETSI wants the time-stamp strictly before.
        trusted = False
        problem = (
            f"the {'CA' if revocation.ca_revoked else 'certificate'} was revoked on "
            f"{human(revocation.revoked_at)} ({reason_name(revocation.reason)}), "
            f"not after the signature time-stamp of {human(timestamp)}"
        )
    elif (
        revocation is not None
        and revocation.compromised_since is not None
        and revocation.compromised_since <= timestamp
    ):
        trusted = False
        problem = (
            f"the key was reported compromised since {human(revocation.compromised_since)}, "
            f"before the signature time-stamp of {human(timestamp)}"
        )
    elif not trusted:
        indication = past.trust_problem_indic
        problem = "the certificate is not trusted at the signature time-stamp either" + (
            f" ({indication.name})" if indication is not None else ""
        )
    return TimeVerdict(
        trusted=trusted,
        checked_at=timestamp,
        at_timestamp=True,
        revocation=revocation,
        problem=problem,
    )


def _present_revocation(*, status: SignatureStatus) -> Revocation | None:
    details = status.revocation_details
    if details is None:
        return None
    return Revocation(
        revoked_at=details.revocation_date,
        reason=details.revocation_reason.native or "unspecified",
        ca_revoked=details.ca_revoked,
    )
