"""An RFC 6960 OCSP responder for the issuing CA.

Answers are signed by a delegated responder certificate (EKU OCSPSigning and
id-pkix-ocsp-nocheck) and repeat the CertID of the request as it came, hash
algorithm included: OpenSSL and NSS ask with SHA-1 and find no status in an
answer keyed by another hash. Whatever arrives, the caller gets DER to send
back, never an exception.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from asn1crypto import ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from signing.keys import KeyHandle
from signing.pki import CertificateAuthority, Revoked, signature_algorithm
from signing.signers import to_asn1

log = logging.getLogger(__name__)

UNKNOWN: Literal["unknown"] = "unknown"
StatusOf = Callable[[int], Revoked | None | Literal["unknown"]]

# How long a relying party may cache an answer.
NEXT_UPDATE = timedelta(hours=1)
# A request for more certificates than this is not a client of ours.
MAX_REQUESTS = 20
_HASHES = {"sha1", "sha256", "sha384", "sha512"}


def failure(status: str) -> bytes:
    """An unsuccessful OCSPResponse: "malformed_request", "internal_error",
    "try_later", "sig_required" or "unauthorized"."""
    return ocsp.OCSPResponse({"response_status": status}).dump()


def _issuer_hashes(issuer: asn1_x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) identifying `issuer` in a CertID."""
    name = issuer.subject.dump()
    # The value of the subjectPublicKey BIT STRING, without the unused-bits byte.
    key = issuer.public_key["public_key"].contents[1:]
    return hashlib.new(algorithm, name).digest(), hashlib.new(algorithm, key).digest()


def _parse(request_der: bytes):
    """The CertIDs and the nonce of a request; raises on anything malformed."""
    request = ocsp.OCSPRequest.load(bytes(request_der), strict=True)
    tbs = request["tbs_request"]
    cert_ids = [item["req_cert"] for item in tbs["request_list"]]
    if not 0 < len(cert_ids) <= MAX_REQUESTS:
        raise ValueError("no or too many requests")
    for cert_id in cert_ids:
        cert_id.native  # noqa: B018 - parse every field now, not while answering
        if cert_id["hash_algorithm"]["algorithm"].native not in _HASHES:
            raise ValueError("unsupported CertID hash algorithm")
    nonce = None
    for extension in tbs["request_extensions"]:
        if extension["extn_id"].native == "nonce":
            nonce = extension["extn_value"].parsed.native
    return cert_ids, nonce


def respond(
    request_der: bytes,
    *,
    ca: CertificateAuthority,
    responder: tuple[x509.Certificate, KeyHandle],
    status_of: StatusOf,
) -> bytes:
    """The DER OCSPResponse answering `request_der`."""
    try:
        cert_ids, nonce = _parse(request_der)
    except Exception:  # any parse failure is the client's
        return failure("malformed_request")

    issuing = to_asn1(ca.issuing)
    now = datetime.now(UTC).replace(microsecond=0)
    responses = []
    for cert_id in cert_ids:
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        asked = (cert_id["issuer_name_hash"].native, cert_id["issuer_key_hash"].native)
        if asked != _issuer_hashes(issuing, algorithm):
            # Not a certificate of our issuing CA: we are not authoritative.
            return failure("unauthorized")
        try:
            status = status_of(cert_id["serial_number"].native)
        except Exception:
            # A failing lookup must never read as "good".
            log.exception("OCSP status lookup failed")
            return failure("try_later")
        if status is None:
            cert_status = ocsp.CertStatus(name="good", value=None)
        elif isinstance(status, Revoked):
            info = {"revocation_time": status.revoked_at.astimezone(UTC).replace(microsecond=0)}
            if status.reason_flag is not None:
                info["revocation_reason"] = _REASONS[status.reason_flag.value]
            cert_status = ocsp.CertStatus(name="revoked", value=info)
        else:
            cert_status = ocsp.CertStatus(name="unknown", value=None)
        responses.append(
            {
                "cert_id": cert_id,
                "cert_status": cert_status,
                "this_update": now,
                "next_update": now + NEXT_UPDATE,
            }
        )

    certificate, handle = responder
    responder_cert = to_asn1(certificate)
    tbs = {
        "responder_id": ocsp.ResponderId(name="by_key", value=responder_cert.public_key.sha1),
        "produced_at": now,
        "responses": responses,
    }
    if nonce is not None:
        tbs["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    tbs = ocsp.ResponseData(tbs)
    try:
        signature = handle.sign(tbs.dump(), "sha256")
    except Exception:
        log.exception("OCSP responder key failed to sign")
        return failure("internal_error")
    basic = ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs,
            "signature_algorithm": {"algorithm": signature_algorithm(handle)},
            "signature": signature,
            "certs": [responder_cert],
        }
    )
    return ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    ).dump()


# cryptography's ReasonFlags values -> asn1crypto's CRLReason names.
_REASONS = {
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
    "removeFromCRL": "remove_from_crl",
}
