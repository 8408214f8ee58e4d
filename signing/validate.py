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
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from asn1crypto import cms, crl, ocsp, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    async_validate_detached_cms,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signing.cades import encapsulated_content, read_signed_data
from signing.errors import DEFAULT_MAX_BYTES
from signing.pades import run_sync
from signing.validate_time import Revalidate, Revocation, TimeVerdict, judge, reason_name

log = logging.getLogger(__name__)

LEVEL_ORDER = ("B-B", "B-T", "B-LT", "B-LTA")


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

    @property
    def valid(self) -> bool:
        return self.intact and self.trusted and self.changes_allowed

    def as_dict(self) -> dict[str, Any]:
        return {
            "signer": self.signer,
            "signing_time": _iso(self.signing_time),
            "level": self.level,
            "intact": self.intact,
            "trusted": self.trusted,
            "timestamp": _iso(self.timestamp),
            "timestamp_trusted": self.timestamp_trusted,
            "valid": self.valid,
            "field": self.field_name,
            "revision": self.revision,
            "coverage": self.coverage,
            "modifications": self.modifications,
            "changes_allowed": self.changes_allowed,
            "certificate": self.certificate,
            "problems": self.problems,
            "checked_at": _iso(self.checked_at),
            "checked_at_timestamp": self.checked_at_timestamp,
            "revocation": self.revocation.as_dict() if self.revocation else None,
        }


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
            "time": _iso(self.time),
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
            lines.append(f"Signature {number}: {s.signer}  [{s.level}]")
            lines.append(f"  signing time   {_human(s.signing_time)}")
            lines.append(f"  intact         {_yes(s.intact)}")
            lines.append(f"  trusted        {_yes(s.trusted)}")
            timestamp = _human(s.timestamp)
            if s.timestamp is not None and not s.timestamp_trusted:
                timestamp += " (not trusted)"
            lines.append(f"  timestamp      {timestamp}")
            if s.checked_at_timestamp:
                lines.append(f"  checked at     {_human(s.checked_at)} (the signature time-stamp)")
            if s.revocation is not None:
                lines.append(f"  revoked        {_revocation_text(s.revocation)}")
            if s.modifications is not None:
                allowed = "allowed" if s.changes_allowed else "NOT ALLOWED"
                lines.append(f"  changes after  {s.modifications} ({allowed})")
            lines.extend(f"  ! {problem}" for problem in s.problems)
        for t in self.document_timestamps:
            state = "valid" if t.intact and t.trusted else "NOT valid"
            lines.append(f"Document timestamp: {_human(t.time)} by {t.authority} ({state})")
        return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _human(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


def _revocation_text(revocation: Revocation) -> str:
    text = f"{_human(revocation.revoked_at)} ({reason_name(revocation.reason)})"
    if revocation.ca_revoked:
        text += ", a CA of the chain"
    if revocation.after_timestamp:
        text += ", after the signature time-stamp"
    elif revocation.after_timestamp is False:
        text += ", NOT after the signature time-stamp"
    return text


# --- inputs ----------------------------------------------------------------------


def _certificate(value) -> x509.Certificate:
    if isinstance(value, x509.Certificate):
        return value
    if isinstance(value, bytes | bytearray):
        from asn1crypto import pem

        data = bytes(value)
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        return x509.Certificate.load(data)
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.Certificate.load(value.public_bytes(Encoding.DER))


def _loaded(values, loader):
    return [loader.load(v) if isinstance(v, bytes | bytearray) else v for v in values]


@dataclass
class _Trust:
    roots: list[x509.Certificate]
    others: list[x509.Certificate]
    crls: list[crl.CertificateList]
    ocsps: list[ocsp.OCSPResponse]
    allow_fetching: bool
    opened: list[ValidationContext] = field(default_factory=list)

    def context(self, *, certs=(), crls=(), ocsps=()) -> ValidationContext:
        # soft-fail: a revoked certificate is untrusted, but missing revocation
        # data (an offline CA, an expired CRL in an old file) is not a verdict.
        context = ValidationContext(
            trust_roots=self.roots,
            other_certs=self.others + list(certs),
            crls=self.crls + list(crls),
            ocsps=self.ocsps + list(ocsps),
            allow_fetching=self.allow_fetching,
            revocation_mode="soft-fail",
        )
        self.opened.append(context)
        return context

    async def context_at(
        self,
        moment: datetime,
        *,
        like: ValidationContext,
        signer: x509.Certificate,
        certs: Iterable[x509.Certificate] = (),
    ) -> ValidationContext:
        """A context judging certificates as they stood at `moment`, with the
        revocation data `like` had (including what it fetched). Revocation
        data issued after `moment` is used (retroactive_revinfo): today's CRL
        still lists a revocation dated before it. certvalidator fetches only
        for the present, so what is needed is fetched here, through `like`."""
        crls = list(like.crls)
        if like.fetching_allowed:
            # certvalidator reads an OCSP answer "revoked after the moment" as
            # no answer, but a CRL entry dated after it as "not revoked then";
            # the present judgement stops at the OCSP answer without the CRL.
            try:
                fetched = await like.revinfo_manager.fetch_crls(signer)
            except Exception as exc:
                log.info("no CRL for past validation: %s", exc)
                fetched = []
            known = {c.dump() for c in crls}
            crls.extend(c.crl_data for c in fetched if c.crl_data.dump() not in known)
        return ValidationContext(
            trust_roots=self.roots,
            other_certs=self.others + list(certs),
            crls=crls,
            ocsps=like.ocsps,
            moment=moment,
            best_signature_time=moment,
            retroactive_revinfo=True,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )

    async def close(self) -> None:
        """Release the HTTP sessions that fetching contexts opened."""
        for context in self.opened:
            await context.aclose()


def _cn(certificate: x509.Certificate) -> str:
    name = certificate.subject.native
    return name.get("common_name") or certificate.subject.human_friendly


def _certificate_summary(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": certificate.subject.human_friendly,
        "issuer": certificate.issuer.human_friendly,
        "serial": format(certificate.serial_number, "x"),
        "not_before": _iso(certificate["tbs_certificate"]["validity"]["not_before"].native),
        "not_after": _iso(certificate["tbs_certificate"]["validity"]["not_after"].native),
    }


# --- PDF -------------------------------------------------------------------------


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


async def _validate_pdf(data: bytes, trust: _Trust) -> Report:
    reader = PdfFileReader(BytesIO(data), strict=False)
    if reader.encrypted:
        return Report(kind="pdf", error="the PDF is encrypted")
    embedded = reader.embedded_signatures
    if not any(e.sig_object_type == "/Sig" for e in embedded):
        return Report(kind="pdf", error="the PDF has no signatures")
    dss_certs, dss_crls, dss_ocsps = _dss(reader) or ([], [], [])
    dss_revision = _dss_last_change(reader)

    report = Report(kind="pdf")
    for sig in embedded:
        if sig.sig_object_type != "/DocTimeStamp":
            continue
        context = trust.context(certs=dss_certs, crls=dss_crls, ocsps=dss_ocsps)
        try:
            status = await async_validate_pdf_timestamp(sig, validation_context=context)
            report.document_timestamps.append(
                TimestampReport(
                    time=status.timestamp,
                    intact=status.intact and status.valid,
                    trusted=status.trusted,
                    field_name=sig.field_name,
                    revision=sig.signed_revision,
                    authority=_cn(status.signing_cert),
                )
            )
        except Exception as exc:
            log.info("document timestamp %s does not validate: %s", sig.field_name, exc)
            report.document_timestamps.append(
                TimestampReport(
                    time=None,
                    intact=False,
                    trusted=False,
                    field_name=sig.field_name,
                    revision=sig.signed_revision,
                )
            )

    for sig in embedded:
        if sig.sig_object_type == "/DocTimeStamp":
            continue
        context = trust.context(certs=dss_certs, crls=dss_crls, ocsps=dss_ocsps)
        ts_context = trust.context(certs=dss_certs, crls=dss_crls, ocsps=dss_ocsps)
        try:
            status = await async_validate_pdf_signature(
                sig, signer_validation_context=context, ts_validation_context=ts_context
            )
            verdict = await judge(
                status=status,
                revalidate=_pdf_at(sig, trust=trust, present=context, certs=dss_certs),
            )
        except Exception as exc:
            report.signatures.append(_broken_signature(sig, exc))
            continue
        report.signatures.append(
            _pdf_signature_report(
                sig, status, verdict, report, reader, dss_revision, dss_crls, dss_ocsps
            )
        )
    return report


def _pdf_at(
    sig, *, trust: _Trust, present: ValidationContext, certs: list[x509.Certificate]
) -> Revalidate:
    """Validate `sig` again with its certificate judged at a past moment."""

    async def revalidate(moment: datetime):
        context = await trust.context_at(moment, like=present, signer=sig.signer_cert, certs=certs)
        status = await async_validate_pdf_signature(
            sig,
            signer_validation_context=context,
            ts_validation_context=trust.context(certs=certs, crls=present.crls),
        )
        return status, context.crls

    return revalidate


def _broken_signature(sig, exc: Exception) -> SignatureReport:
    try:
        signer = _cn(sig.signer_cert)
    except Exception:
        signer = ""
    return SignatureReport(
        signer=signer,
        signing_time=None,
        level="B-B",
        intact=False,
        trusted=False,
        field_name=getattr(sig, "field_name", None),
        changes_allowed=False,
        problems=[f"the signature cannot be validated: {exc}"],
    )


def _archived(reader, certificate, revision: int) -> bool:
    """Was revocation data for `certificate` in the DSS of `revision`?"""
    try:
        found = _dss(reader.get_historical_resolver(revision))
    except Exception:
        return False
    return found is not None and _revinfo_covers(certificate, found[1], found[2])


def _trust_problems(status, verdict: TimeVerdict) -> list[str]:
    """Why the certificate is not trusted; nothing when it is, at present or
    at the signature time-stamp."""
    if verdict.trusted:
        return []
    problems = []
    indication = status.trust_problem_indic
    problems.append(
        "the certificate does not chain to a trusted root"
        + (f" ({indication.name})" if indication is not None else "")
    )
    if status.revoked:
        problems.append("the signer's certificate is revoked")
    if verdict.problem:
        problems.append(verdict.problem)
    return problems


def _pdf_signature_report(sig, status, verdict, report, reader, dss_revision, dss_crls, dss_ocsps):
    problems = []
    intact = bool(status.intact and status.valid)
    if not intact:
        problems.append("the signed bytes do not match the signature")
    problems.extend(_trust_problems(status, verdict))
    coverage = status.coverage
    covered = coverage in (
        SignatureCoverageLevel.ENTIRE_REVISION,
        SignatureCoverageLevel.ENTIRE_FILE,
    )
    changes_allowed = bool(covered and status.docmdp_ok is not False)
    if not covered:
        problems.append("the signature does not cover its whole revision")
    elif not changes_allowed:
        problems.append("the document was changed after signing in a way that is not allowed")

    tst = status.timestamp_validity
    timestamp = tst.timestamp if tst is not None else None
    timestamp_trusted = bool(tst.intact and tst.valid and tst.trusted) if tst else None
    if tst is not None and not timestamp_trusted:
        problems.append("the signature timestamp does not validate")

    level = "B-B"
    if timestamp_trusted:
        level = "B-T"
        long_term = (
            dss_revision is not None
            and dss_revision > sig.signed_revision
            and _revinfo_covers(status.signing_cert, dss_crls, dss_ocsps)
        )
        if long_term:
            level = "B-LT"
            # B-LTA: a valid document timestamp, later than the signature,
            # over a revision whose DSS already held the signer's revocation data.
            if any(
                t.intact
                and t.trusted
                and t.revision is not None
                and t.revision > sig.signed_revision
                and _archived(reader, status.signing_cert, t.revision)
                for t in report.document_timestamps
            ):
                level = "B-LTA"

    modification = status.modification_level
    return SignatureReport(
        signer=_cn(status.signing_cert),
        signing_time=status.signer_reported_dt,
        level=level,
        intact=intact,
        trusted=verdict.trusted,
        timestamp=timestamp,
        timestamp_trusted=timestamp_trusted,
        field_name=sig.field_name,
        revision=sig.signed_revision,
        coverage=coverage.name.lower() if coverage is not None else None,
        modifications=modification.name.lower() if modification is not None else None,
        changes_allowed=changes_allowed,
        certificate=_certificate_summary(status.signing_cert),
        problems=problems,
        checked_at=verdict.checked_at,
        checked_at_timestamp=verdict.at_timestamp,
        revocation=verdict.revocation,
    )


# --- .p7m ------------------------------------------------------------------------


async def _validate_p7m(signed_data: cms.SignedData, trust: _Trust) -> Report:
    try:
        content = encapsulated_content(signed_data)
    except Exception as exc:
        return Report(kind="p7m", error=str(exc))
    report = Report(kind="p7m")
    certificates = [c.chosen for c in signed_data["certificates"] or [] if c.name == "certificate"]
    for signer_info in signed_data["signer_infos"]:
        # pyHanko validates a SignedData with exactly one SignerInfo: each
        # co-signature is checked on its own, as a detached signature over the
        # encapsulated content (which also checks its signature timestamp).
        single = cms.SignedData(
            {
                "version": signed_data["version"],
                "digest_algorithms": signed_data["digest_algorithms"],
                "encap_content_info": {
                    "content_type": signed_data["encap_content_info"]["content_type"]
                },
                "certificates": signed_data["certificates"],
                "signer_infos": [signer_info],
            }
        )
        context = trust.context(certs=certificates)
        try:
            status = await async_validate_detached_cms(
                content,
                single,
                signer_validation_context=context,
                ts_validation_context=trust.context(certs=certificates),
            )
            verdict = await judge(
                status=status,
                revalidate=_cms_at(
                    content,
                    single,
                    trust=trust,
                    present=context,
                    signer=status.signing_cert,
                    certs=certificates,
                ),
            )
        except Exception as exc:
            report.signatures.append(
                SignatureReport(
                    signer="",
                    signing_time=None,
                    level="B-B",
                    intact=False,
                    trusted=False,
                    problems=[f"the signature cannot be validated: {exc}"],
                )
            )
            continue
        problems = []
        intact = bool(status.intact and status.valid)
        if not intact:
            problems.append("the signed content does not match the signature")
        problems.extend(_trust_problems(status, verdict))
        tst = status.timestamp_validity
        timestamp_trusted = bool(tst.intact and tst.valid and tst.trusted) if tst else None
        if tst is not None and not timestamp_trusted:
            problems.append("the signature timestamp does not validate")
        report.signatures.append(
            SignatureReport(
                signer=_cn(status.signing_cert),
                signing_time=status.signer_reported_dt,
                level="B-T" if timestamp_trusted else "B-B",
                intact=intact,
                trusted=verdict.trusted,
                timestamp=tst.timestamp if tst is not None else None,
                timestamp_trusted=timestamp_trusted,
                certificate=_certificate_summary(status.signing_cert),
                problems=problems,
                checked_at=verdict.checked_at,
                checked_at_timestamp=verdict.at_timestamp,
                revocation=verdict.revocation,
            )
        )
    if not report.signatures:
        report.error = "the .p7m has no signatures"
    return report


def _cms_at(
    content: bytes,
    signed_data: cms.SignedData,
    *,
    trust: _Trust,
    present: ValidationContext,
    signer: x509.Certificate,
    certs: list[x509.Certificate],
) -> Revalidate:
    """Validate the one-SignerInfo `signed_data` over `content` again with
    its certificate judged at a past moment."""

    async def revalidate(moment: datetime):
        context = await trust.context_at(moment, like=present, signer=signer, certs=certs)
        status = await async_validate_detached_cms(
            content,
            signed_data,
            signer_validation_context=context,
            ts_validation_context=trust.context(certs=certs, crls=present.crls),
        )
        return status, context.crls

    return revalidate


# --- entry points -----------------------------------------------------------------


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
    trust = _Trust(
        roots=[_certificate(c) for c in trust_roots],
        others=[_certificate(c) for c in other_certs],
        crls=_loaded(crls, crl.CertificateList),
        ocsps=_loaded(ocsps, ocsp.OCSPResponse),
        allow_fetching=allow_fetching,
    )
    kind = None
    try:
        if bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
            kind = "pdf"
            return await _validate_pdf(data, trust)
        signed_data = read_signed_data(data)
        if signed_data is not None:
            kind = "p7m"
            return await _validate_p7m(signed_data, trust)
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
