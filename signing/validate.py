"""A validation report for any PDF or .p7m.

One function answers `manage.py verify`, POST /api/v1/validate and the public
/validate page. Per signature: who signed (CN), the claimed signing time, the
PAdES/CAdES level actually reached, whether the signed bytes are intact,
whether the certificate chains to one of `trust_roots` (revocation checked
with what is at hand: the caller's CRLs and OCSP responses, the document's
own DSS, and the network only if `allow_fetching`), the signature timestamp,
and what changed in the document after it was signed.

A certificate revoked or expired today is judged again at the signature
time-stamp, when there is a trusted one (signing.validate_time): a one-time
certificate revoked right after its signature stays trusted for it.

It never raises on bad input: an unsigned, broken or foreign file gives a
report with `valid` false and an `error`.

This module is the entry point and tells the formats apart; the work is in
signing.validate_pdf and signing.validate_cms, the report and its wording in
signing.validate_report (re-exported here), the trusted material and the
validation contexts in signing.validate_trust.
"""

import logging
from collections.abc import Iterable

from asn1crypto import crl, ocsp

from signing.cades import read_signed_data
from signing.engine_thread import run_sync
from signing.errors import DEFAULT_MAX_BYTES
from signing.validate_cms import validate_p7m
from signing.validate_pdf import validate_pdf
from signing.validate_report import LEVEL_ORDER, Report, SignatureReport, TimestampReport
from signing.validate_time import Revocation
from signing.validate_trust import Trust, load_all, load_certificate

__all__ = [
    "LEVEL_ORDER",
    "Report",
    "Revocation",
    "SignatureReport",
    "TimestampReport",
    "async_validate",
    "validate",
]

log = logging.getLogger(__name__)


async def async_validate(
    data: bytes,
    *,
    trust_roots: Iterable,
    other_certs: Iterable = (),
    crls: Iterable = (),
    ocsps: Iterable = (),
    allow_fetching: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Report:
    """Validate a PDF or a .p7m. Certificates may be asn1crypto or cryptography
    objects or DER/PEM bytes; CRLs and OCSP responses asn1crypto objects or DER."""
    if len(data) > max_bytes:
        return Report(kind=None, error=f"the file is larger than {max_bytes} bytes")
    trust = Trust(
        roots=[load_certificate(c) for c in trust_roots],
        others=[load_certificate(c) for c in other_certs],
        crls=load_all(crls, crl.CertificateList),
        ocsps=load_all(ocsps, ocsp.OCSPResponse),
        allow_fetching=allow_fetching,
    )
    kind = None
    try:
        if bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
            kind = "pdf"
            return await validate_pdf(data, trust)
        signed_data = read_signed_data(data)
        if signed_data is not None:
            kind = "p7m"
            return await validate_p7m(signed_data, trust)
    except Exception as exc:
        log.info("validation failed on a damaged file: %r", exc)
        return Report(kind=kind, error=f"the file cannot be read: {exc}")
    finally:
        await trust.close()
    return Report(kind=None, error="the file is neither a PDF nor a .p7m")


def validate(
    data: bytes,
    *,
    trust_roots: Iterable,
    other_certs: Iterable = (),
    crls: Iterable = (),
    ocsps: Iterable = (),
    allow_fetching: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Report:
    """Synchronous `async_validate`, safe to call from inside an event loop."""
    return run_sync(
        async_validate(
            data,
            trust_roots=trust_roots,
            other_certs=other_certs,
            crls=crls,
            ocsps=ocsps,
            allow_fetching=allow_fetching,
            max_bytes=max_bytes,
        )
    )
