"""What a validation trusts, and the certvalidator contexts made from it.

The caller's trust roots, extra certificates, CRLs and OCSP responses, and
whether fetching is allowed, are gathered once per file in a Trust; PDF and
CMS validation ask it for a context per signature (adding what the file
itself carries), and for a context at a past moment when a certificate is
judged at its signature time-stamp (signing.validate_time). The Trust closes
the HTTP sessions of the contexts it opened.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import crl, ocsp, pem, x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext

from signing.validate_time import Revalidate

log = logging.getLogger(__name__)


def load_certificate(value) -> x509.Certificate:
    """An asn1crypto certificate from an asn1crypto or cryptography one, or DER or PEM."""
    if isinstance(value, x509.Certificate):
        return value
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        return x509.Certificate.load(data)
    return x509.Certificate.load(value.public_bytes(Encoding.DER))


def load_all(values: Iterable, loader) -> list:
    """`values` with the DER ones loaded by `loader`, an asn1crypto class."""
    return [loader.load(v) if isinstance(v, bytes | bytearray) else v for v in values]


@dataclass
class Trust:
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

    def revalidator(
        self,
        validate_with: Callable[..., Awaitable],
        *,
        present: ValidationContext,
        signer: x509.Certificate,
        certs: list[x509.Certificate],
    ) -> Revalidate:
        """What signing.validate_time.judge needs to validate a signature again
        with its certificate judged at a past moment. `validate_with` is
        pyHanko's validation of that signature, waiting for its
        `signer_validation_context` and `ts_validation_context`; `present` is
        the context of the validation at the present."""

        async def revalidate(moment: datetime):
            context = await self.context_at(moment, like=present, signer=signer, certs=certs)
            status = await validate_with(
                signer_validation_context=context,
                ts_validation_context=self.context(certs=certs, crls=present.crls),
            )
            return status, context.crls

        return revalidate

    async def close(self) -> None:
        """Release the HTTP sessions that fetching contexts opened."""
        for context in self.opened:
            await context.aclose()
