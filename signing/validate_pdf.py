"""Validating the signatures and document time-stamps of a PDF.

pyHanko validates each signature (bytes, certificate, signature time-stamp,
what changed in later revisions); this module adds the verdict at the
signature time-stamp (signing.validate_time) and the PAdES level the file
actually reaches, which pyHanko does not report: B-LT and B-LTA depend on
what the document security store (DSS) held, and when.
"""

from __future__ import annotations

import logging
from functools import partial
from io import BytesIO

from asn1crypto import crl, ocsp, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.status import SignatureCoverageLevel

from signing.validate_report import (
    Report,
    SignatureReport,
    TimestampReport,
    common_name,
    signature_problems,
    signature_timestamp,
)
from signing.validate_time import TimeVerdict, judge
from signing.validate_trust import Trust

log = logging.getLogger(__name__)


async def validate_pdf(data: bytes, trust: Trust) -> Report:
    reader = PdfFileReader(BytesIO(data), strict=False)
    if reader.encrypted:
        return Report(kind="pdf", error="the PDF is encrypted")
    embedded = reader.embedded_signatures
    if not any(e.sig_object_type == "/Sig" for e in embedded):
        return Report(kind="pdf", error="the PDF has no signatures")
    dss_certs, dss_crls, dss_ocsps = _dss(reader) or ([], [], [])
    dss_revision = _dss_last_change(reader)

    def context():
        return trust.context(certs=dss_certs, crls=dss_crls, ocsps=dss_ocsps)

    report = Report(kind="pdf")
    # Document time-stamps first: a signature's level depends on them.
    for sig in embedded:
        if sig.sig_object_type == "/DocTimeStamp":
            report.document_timestamps.append(await _document_timestamp(sig, context()))

    for sig in embedded:
        if sig.sig_object_type == "/DocTimeStamp":
            continue
        present = context()
        validate_with = partial(async_validate_pdf_signature, sig)
        try:
            status = await validate_with(
                signer_validation_context=present, ts_validation_context=context()
            )
            verdict = await judge(
                status=status,
                revalidate=trust.revalidator(
                    validate_with, present=present, signer=sig.signer_cert, certs=dss_certs
                ),
            )
        except Exception as exc:
            report.signatures.append(_broken(sig, exc))
            continue
        level = _level(sig, status, report, reader, dss_revision, dss_crls, dss_ocsps)
        report.signatures.append(_signature_report(sig, status, verdict, level))
    return report


async def _document_timestamp(sig, context) -> TimestampReport:
    try:
        status = await async_validate_pdf_timestamp(sig, validation_context=context)
    except Exception as exc:
        log.info("document timestamp %s does not validate: %s", sig.field_name, exc)
        return TimestampReport(
            time=None,
            intact=False,
            trusted=False,
            field_name=sig.field_name,
            revision=sig.signed_revision,
        )
    return TimestampReport(
        time=status.timestamp,
        intact=status.intact and status.valid,
        trusted=status.trusted,
        field_name=sig.field_name,
        revision=sig.signed_revision,
        authority=common_name(status.signing_cert),
    )


def _broken(sig, exc: Exception) -> SignatureReport:
    try:
        signer = common_name(sig.signer_cert)
    except Exception:
        signer = ""
    # Nothing is known of what the signature covers, so no change is allowed.
    return SignatureReport.broken(
        exc, signer=signer, field_name=getattr(sig, "field_name", None), changes_allowed=False
    )


def _signature_report(sig, status, verdict: TimeVerdict, level: str) -> SignatureReport:
    coverage = status.coverage
    covered = coverage in (
        SignatureCoverageLevel.ENTIRE_REVISION,
        SignatureCoverageLevel.ENTIRE_FILE,
    )
    changes_allowed = bool(covered and status.docmdp_ok is not False)
    document = []
    if not covered:
        document.append("the signature does not cover its whole revision")
    elif not changes_allowed:
        document.append("the document was changed after signing in a way that is not allowed")
    modification = status.modification_level
    return SignatureReport.judged(
        status,
        verdict,
        level=level,
        problems=signature_problems(
            status,
            verdict,
            tampered="the signed bytes do not match the signature",
            document=document,
        ),
        field_name=sig.field_name,
        revision=sig.signed_revision,
        coverage=coverage.name.lower() if coverage is not None else None,
        modifications=modification.name.lower() if modification is not None else None,
        changes_allowed=changes_allowed,
    )


def _level(sig, status, report, reader, dss_revision, dss_crls, dss_ocsps) -> str:
    """The PAdES level the signature reaches: B-T with a trusted signature
    time-stamp; B-LT when a later revision's DSS holds the signer's revocation
    data; B-LTA when, besides, a valid document time-stamp later than the
    signature covers a revision whose DSS already held that data."""
    if not signature_timestamp(status)[1]:
        return "B-B"
    long_term = (
        dss_revision is not None
        and dss_revision > sig.signed_revision
        and _revinfo_covers(status.signing_cert, dss_crls, dss_ocsps)
    )
    if not long_term:
        return "B-T"
    if any(
        t.intact
        and t.trusted
        and t.revision is not None
        and t.revision > sig.signed_revision
        and _archived(reader, status.signing_cert, t.revision)
        for t in report.document_timestamps
    ):
        return "B-LTA"
    return "B-LT"


# -- the document security store ---------------------------------------------------


def _dss(handler):
    """Certificates, CRLs and OCSP responses in the DSS as `handler` (a reader,
    or a historical revision of it) sees it; None without a DSS."""
    try:
        dss = DocumentSecurityStore.read_dss(handler)
    except NoDSSFoundError:
        return None
    certs = list(dss.load_certs())
    crls = [crl.CertificateList.load(r.get_object().data) for r in dss.crls]
    ocsps = [ocsp.OCSPResponse.load(r.get_object().data) for r in dss.ocsps]
    return certs, crls, ocsps


def _dss_last_change(reader: PdfFileReader) -> int | None:
    raw = reader.root.raw_get("/DSS") if "/DSS" in reader.root else None
    if raw is None:
        return None
    ref = raw.reference if isinstance(raw, generic.IndirectObject) else reader.root_ref
    return reader.xrefs.get_last_change(ref)


def _revinfo_covers(certificate: x509.Certificate, crls, ocsps) -> bool:
    """Is there revocation data about `certificate` among `crls` and `ocsps`?"""
    issuer = certificate.issuer
    if any(c["tbs_cert_list"]["issuer"] == issuer for c in crls):
        return True
    serial = certificate.serial_number
    for response in ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                if single["cert_id"]["serial_number"].native == serial:
                    return True
        except (KeyError, TypeError, ValueError):
            continue
    return False


def _archived(reader, certificate, revision: int) -> bool:
    """Was revocation data for `certificate` in the DSS of `revision`?"""
    try:
        found = _dss(reader.get_historical_resolver(revision))
    except Exception:
        return False
    return found is not None and _revinfo_covers(certificate, found[1], found[2])
