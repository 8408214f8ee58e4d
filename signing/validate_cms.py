"""Validating the signatures of an enveloping CAdES file (.p7m).

pyHanko validates a SignedData with exactly one SignerInfo, and checks a
signature time-stamp only on a detached signature: so each co-signature is
taken out on its own and validated as a detached signature over the
encapsulated content. Its level is B-T with a trusted signature time-stamp,
B-B otherwise: the long-term levels are a PDF matter here.
"""

from __future__ import annotations

from functools import partial

from asn1crypto import cms
from pyhanko.sign.validation import async_validate_detached_cms

from signing.cades import encapsulated_content
from signing.validate_report import (
    Report,
    SignatureReport,
    signature_problems,
    signature_timestamp,
)
from signing.validate_time import judge
from signing.validate_trust import Trust


async def validate_p7m(signed_data: cms.SignedData, trust: Trust) -> Report:
    try:
        content = encapsulated_content(signed_data)
    except Exception as exc:
        return Report(kind="p7m", error=str(exc))
    report = Report(kind="p7m")
    certificates = [c.chosen for c in signed_data["certificates"] or [] if c.name == "certificate"]
    for signer_info in signed_data["signer_infos"]:
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
        present = trust.context(certs=certificates)
        validate_with = partial(async_validate_detached_cms, content, single)
        try:
            status = await validate_with(
                signer_validation_context=present,
                ts_validation_context=trust.context(certs=certificates),
            )
            verdict = await judge(
                status=status,
                revalidate=trust.revalidator(
                    validate_with, present=present, signer=status.signing_cert, certs=certificates
                ),
            )
        except Exception as exc:
            report.signatures.append(SignatureReport.broken(exc))
            continue
        report.signatures.append(
            SignatureReport.judged(
                status,
                verdict,
                level="B-T" if signature_timestamp(status)[1] else "B-B",
                problems=signature_problems(
                    status, verdict, tampered="the signed content does not match the signature"
                ),
            )
        )
    if not report.signatures:
        report.error = "the .p7m has no signatures"
    return report
