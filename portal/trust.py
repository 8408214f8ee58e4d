"""The portal's PKI, built once per process from the settings.

Everything here is a thin layer over signing.pki, signing.ocsp and signing.tsa:
this module chooses the key store, keeps the authority and the TSA open, and
keeps the register of issued certificates (portal.models.IssuedCertificate)
that the CRL and the OCSP responder answer from.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from portal.models import IssuedCertificate
from signing import ocsp
from signing.keys import FileKeyStore, KeyAlgorithm, KeyStore
from signing.pki import (
    CertificateAuthority,
    Profile,
    RevocationReason,
    Revoked,
    Subject,
    parse_reason,
)
from signing.signers import HandleSigner
from signing.tsa import TimeStampAuthority, external_timestamper

# A CRL is rebuilt when a revocation appears in the register (checked with one
# indexed query per request) and at the latest this often, well inside its
# one-day nextUpdate.
CRL_MAX_AGE = 3600

_lock = threading.RLock()
_cache: dict[str, object] = {}


def reset() -> None:
    """Forget everything built from the settings (tests change them)."""
    with _lock:
        _cache.clear()


def _cached(name: str, build):
    with _lock:
        if name not in _cache:
            _cache[name] = build()
        return _cache[name]


def keystore() -> KeyStore:
    def build():
        if settings.KEY_BACKEND == "pkcs11":
            from signing.pkcs11 import Pkcs11KeyStore

            return Pkcs11KeyStore(
                settings.PKCS11_MODULE, settings.PKCS11_TOKEN_LABEL, settings.PKCS11_PIN
            )
        return FileKeyStore(settings.KEK)

    return _cached("keystore", build)


def authority() -> CertificateAuthority:
    return _cached(
        "authority",
        lambda: CertificateAuthority.open_or_create(
            directory=Path(settings.PKI_DIR),
            keystore=keystore(),
            base_url=settings.BASE_URL,
            name=getattr(settings, "PKI_NAME", "Sigillo"),
        ),
    )


# -- the register -------------------------------------------------------------


def serial_hex(serial: int | str) -> str:
    """The register's spelling of a serial number: lowercase hex, no padding."""
    if isinstance(serial, str):
        serial = int(serial.replace(":", ""), 16)
    return format(serial, "x")


def issue(
    *,
    profile: Profile | str,
    subject: Subject,
    owner: str,
    algorithm: KeyAlgorithm = KeyAlgorithm.P256,
    validity: timedelta | None = None,
) -> IssuedCertificate:
    """A new key and certificate for `owner`, recorded in the register."""
    issued = authority().issue(
        profile=profile, subject=subject, owner=owner, algorithm=algorithm, validity=validity
    )
    certificate = issued.certificate
    return IssuedCertificate.objects.create(
        serial=serial_hex(issued.serial),
        profile=Profile(profile).value,
        owner=owner,
        common_name=subject.common_name[:200],
        der=certificate.public_bytes(Encoding.DER),
        key_reference=issued.key_reference,
        not_after=certificate.not_valid_after_utc,
    )


# A certificate is reused until this close to its end, so a signature never
# lands on one that expires while it is being validated.
REUSE_MARGIN = timedelta(days=1)


def certificate_for(*, profile: Profile | str, subject: Subject, owner: str) -> IssuedCertificate:
    """The signer's certificate of this profile: the one already issued to `owner`
    while it is valid and unrevoked (advanced and qualified identities keep
    their key), else a new one. One-time certificates are always new."""
    profile = Profile(profile)
    if profile != Profile.ONE_TIME:
        current = (
            IssuedCertificate.objects.filter(
                profile=profile.value,
                owner=owner,
                revoked_at__isnull=True,
                not_after__gt=timezone.now() + REUSE_MARGIN,
            )
            .order_by("-issued_at")
            .first()
        )
        if current is not None:
            return current
    return issue(profile=profile, subject=subject, owner=owner)


def signer(row: IssuedCertificate) -> HandleSigner:
    """A pyHanko signer for a registered certificate, its key loaded for its owner."""
    return authority().signer(row.certificate, bytes(row.key_reference), owner=row.owner)


def _next_whole_second(moment: datetime) -> datetime:
    return (
        moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)
    )


def revoke(*, serial: int | str, reason: str = RevocationReason.UNSPECIFIED) -> bool:
    """Mark a certificate revoked from now on; False if it was unknown or
    already revoked. The CRL and OCSP answers change at once.

    The time is rounded up to the whole second that CRLs, OCSP and time-stamp
    tokens carry: rounded down, a one-time certificate revoked in the second
    of its signature would look revoked at its own time-stamp, and
    validators (ETSI EN 319 102-1) refuse a time-stamp that is not strictly
    before the revocation."""
    reason = parse_reason(reason or RevocationReason.UNSPECIFIED).value
    updated = IssuedCertificate.objects.filter(
        serial=serial_hex(serial), revoked_at__isnull=True
    ).update(revoked_at=_next_whole_second(timezone.now()), revocation_reason=reason)
    with _lock:
        _cache.pop("crl", None)
    return bool(updated)


def _revoked(row) -> Revoked:
    return Revoked(
        serial=int(row.serial, 16),
        revoked_at=row.revoked_at,
        reason=row.revocation_reason or None,
    )


def issuing_crl() -> bytes:
    """The issuing CA's current CRL (DER)."""
    revoked = IssuedCertificate.objects.filter(revoked_at__isnull=False)
    state = revoked.aggregate(n=Count("id"), last=Max("revoked_at"))
    version = (state["n"], state["last"])
    with _lock:
        cached = _cache.get("crl")
        if cached and cached[0] == version and time.monotonic() - cached[1] < CRL_MAX_AGE:
            return cached[2]
    rows = revoked.only("serial", "revoked_at", "revocation_reason")
    der = authority().crl(_revoked(row) for row in rows.iterator())
    with _lock:
        _cache["crl"] = (version, time.monotonic(), der)
    return der


def root_crl() -> bytes:
    """The root's CRL (DER): it has revoked nothing."""
    with _lock:
        cached = _cache.get("root_crl")
        if cached and time.monotonic() - cached[0] < CRL_MAX_AGE:
            return cached[1]
    der = authority().root_crl()
    with _lock:
        _cache["root_crl"] = (time.monotonic(), der)
    return der


def status_of(serial: int) -> Revoked | None:
    """OCSP status of a serial of our issuing CA: revoked if the register says
    so, otherwise good. Like a CRL, "good" means "not revoked": the certificates
    of our own services (the TSA, the responder) are not in the register."""
    row = (
        IssuedCertificate.objects.filter(serial=serial_hex(serial))
        .only("serial", "revoked_at", "revocation_reason")
        .first()
    )
    if row is not None and row.revoked_at is not None:
        return _revoked(row)
    return None


def ocsp_response(request_der: bytes) -> bytes:
    ca = authority()
    return ocsp.respond(request_der, ca=ca, responder=ca.service(Profile.OCSP), status_of=status_of)


# -- time-stamping ----------------------------------------------------------------


def tsa() -> TimeStampAuthority:
    """Our own time-stamping authority (served at /tsa)."""

    ca = authority()
    certificate, handle = ca.service(Profile.TSA)  # renewed before it expires
    with _lock:
        current = _cache.get("tsa")
        if current is None or current.certificate != certificate:
            current = _cache["tsa"] = TimeStampAuthority(certificate, handle, ca.chain)
        return current


def timestamper():
    """The pyHanko timestamper signatures use: TSA_URL's authority when set,
    ours in-process otherwise. One instance per process, reused."""
    if settings.TSA_URL:
        return _cached("external_timestamper", lambda: external_timestamper(settings.TSA_URL))
    return tsa().timestamper()


# -- validation -------------------------------------------------------------------


def validation_roots() -> list[x509.Certificate]:
    """The roots validation trusts: ours and those in EXTRA_TRUST_ROOTS files."""

    def build():
        roots = [authority().root]
        for path in getattr(settings, "EXTRA_TRUST_ROOTS", []):
            roots.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
        return roots

    return list(_cached("validation_roots", build))
