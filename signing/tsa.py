"""An RFC 3161 time-stamping authority, and the timestampers pyHanko signs with.

The token is a CMS SignedData over a TSTInfo, signed with RSA or EC keys alike,
carrying signing-certificate-v2 (ESS, SHA-256) rather than the SHA-1 v1
attribute, and, when the request asks for certificates, the TSA certificate
with the issuing CA: without the intermediate, validators that only trust the
root call the timestamp untrusted.
"""

import hashlib
import logging
import secrets
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

from signing.keys import KeyHandle
from signing.pki import POLICY_OIDS, Profile
from signing.signers import to_asn1

log = logging.getLogger(__name__)

POLICY = POLICY_OIDS[Profile.TSA].dotted_string
DIGEST_SIZES = {"sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


class TimestampUnavailable(TimestampRequestError):
    """No timestamp could be had: the authority refused, failed or did not answer."""


class TimeStampResponse(core.Sequence):
    """TimeStampResp with its token optional, as RFC 3161 has it: asn1crypto's
    own class wants a token even to read or write a rejection."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def response_status(response_der: bytes) -> tuple[str, set[str], str]:
    """(status, failure names, text) of a DER TimeStampResp."""
    info = TimeStampResponse.load(response_der)["status"]
    text = "; ".join(info["status_string"].native or [])
    return info["status"].native, set(info["fail_info"].native or ()), text


def rejection(fail_info: str, text: str) -> bytes:
    """A DER TimeStampResp refusing the request; `fail_info` is an asn1crypto
    PKIFailureInfo name (bad_alg, bad_request, bad_data_format,
    unaccepted_policy, unaccepted_extension, system_failure, ...)."""
    return TimeStampResponse(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({fail_info}),
            }
        }
    ).dump()


class _Refused(Exception):
    def __init__(self, fail_info: str, text: str):
        super().__init__(text)
        self.fail_info, self.text = fail_info, text


class TimeStampAuthority:
    def __init__(
        self,
        certificate: x509.Certificate,
        handle: KeyHandle,
        chain: list[x509.Certificate],
    ):
        self.certificate = certificate
        self._handle = handle
        # Kept as DER and loaded afresh for every token: a parsed asn1crypto
        # value put into a new structure is encoded again from its parts
        # (about 128,000 Python calls and 30 ms a token for the authority's
        # name alone), while one loaded from DER and left unchanged dumps its
        # original bytes (about 5,000 calls, 2 ms).
        cert = to_asn1(certificate)
        self._cert_der = cert.dump()
        # The TSA certificate and its CAs, roots left out: a validator must
        # bring its own trust anchor anyway.
        self._certificates_der = [self._cert_der] + [
            to_asn1(c).dump() for c in chain if c.issuer != c.subject and c != certificate
        ]
        self._signing_certificate_v2_der = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                # hash_algorithm left to its default, SHA-256
                                "cert_hash": hashlib.sha256(self._cert_der).digest(),
                                "issuer_serial": {
                                    "issuer": [
                                        asn1_x509.GeneralName(
                                            name="directory_name", value=cert.issuer
                                        )
                                    ],
                                    "serial_number": cert.serial_number,
                                },
                            }
                        ]
                    }
                ],
            }
        ).dump()
        if isinstance(handle.public_key, rsa.RSAPublicKey):
            self._signature_algorithm = "rsassa_pkcs1v15"
        else:
            self._signature_algorithm = "sha256_ecdsa"
        self._timestamper: TimeStamper | None = None

    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp for a DER TimeStampReq; never raises."""
        try:
            request = self._parse(request_der)
        except _Refused as refused:
            return rejection(refused.fail_info, refused.text)
        except Exception:
            return rejection("bad_data_format", "malformed request")
        try:
            token = self.token(request)
        except Exception:
            log.exception("time-stamping authority failed to sign")
            return rejection("system_failure", "the authority cannot sign now")
        return tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": token}
        ).dump()

    @staticmethod
    def _parse(request_der: bytes) -> tsp.TimeStampReq:
        request = tsp.TimeStampReq.load(bytes(request_der), strict=True)
        request.native  # noqa: B018 - parse every field now
        if request["version"].native != "v1":
            raise _Refused("bad_request", "unsupported version")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in DIGEST_SIZES:
            raise _Refused("bad_alg", f"unsupported hash algorithm {algorithm}")
        if len(imprint["hashed_message"].native) != DIGEST_SIZES[algorithm]:
            raise _Refused("bad_data_format", "the digest does not match its algorithm")
        policy = request["req_policy"].native
        if policy is not None and policy != POLICY:
            raise _Refused("unaccepted_policy", f"policy {policy} not offered")
        if request["extensions"].native:
            raise _Refused("unaccepted_extension", "extensions are not supported")
        return request

    def token(self, request: tsp.TimeStampReq) -> cms.ContentInfo:
        """The signed timestamp token answering a parsed, acceptable request."""
        tst_info = {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": request["message_imprint"],
            "serial_number": secrets.randbits(127) | 1,
            "gen_time": datetime.now(UTC).replace(microsecond=0),
            "accuracy": {"seconds": 1},
        }
        if request["nonce"].native is not None:
            tst_info["nonce"] = request["nonce"].native
        content = tsp.TSTInfo(tst_info).dump()
        cert = asn1_x509.Certificate.load(self._cert_der)

        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
                cms.CMSAttribute.load(self._signing_certificate_v2_der),
            ]
        )
        signature = self._handle.sign(signed_attrs.dump(), "sha256")
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(content),
            },
            "signer_infos": [
                {
                    "version": "v1",
                    "sid": cms.SignerIdentifier(
                        name="issuer_and_serial_number",
                        value={
                            "issuer": cert.issuer,
                            "serial_number": cert.serial_number,
                        },
                    ),
                    "digest_algorithm": {"algorithm": "sha256"},
                    "signed_attrs": signed_attrs,
                    "signature_algorithm": {"algorithm": self._signature_algorithm},
                    "signature": signature,
                }
            ],
        }
        if request["cert_req"].native:
            signed_data["certificates"] = [
                asn1_x509.Certificate.load(der) for der in self._certificates_der
            ]
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})

    def timestamper(self) -> TimeStamper:
        """A pyHanko timestamper answered by this authority in-process; the same
        instance every time, so pyHanko's size estimate is fetched once."""
        if self._timestamper is None:
            self._timestamper = InProcessTimeStamper(self)
        return self._timestamper


class _Unavailable:
    """Turns whatever a timestamper raises into TimestampUnavailable."""

    async def async_timestamp(self, message_digest, md_algorithm):
        try:
            return await super().async_timestamp(message_digest, md_algorithm)
        except TimestampUnavailable:
            raise
        except Exception as exc:
            raise TimestampUnavailable(f"no timestamp: {exc}") from exc


class InProcessTimeStamper(_Unavailable, TimeStamper):
    def __init__(self, authority: TimeStampAuthority):
        super().__init__()
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        response = self.authority.respond(req.dump())
        status, fail_info, text = response_status(response)
        if status not in ("granted", "granted_with_mods"):
            raise TimestampUnavailable(f"the authority refused: {text} ({', '.join(fail_info)})")
        return tsp.TimeStampResp.load(response)


class ExternalTimeStamper(_Unavailable, RequestsHTTPTimeStamper):
    pass


def external_timestamper(url: str, *, timeout: float = 10) -> TimeStamper:
    """pyHanko's HTTP timestamper for an external authority (TSA_URL)."""
    return ExternalTimeStamper(url, timeout=timeout)
