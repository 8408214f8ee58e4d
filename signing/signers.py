"""pyHanko signers backed by our key handles.

pyHanko's SimpleSigner re-parses its private key on every signature; this
signer asks a cached KeyHandle instead, which may also live on a PKCS#11 token.
"""

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.keys import KeyHandle


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


class HandleSigner(Signer):
    def __init__(
        self,
        *,
        handle: KeyHandle,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
    ):
        super().__init__(
            signing_cert=to_asn1(certificate),
            cert_registry=SimpleCertificateStore.from_certs([to_asn1(c) for c in chain]),
        )
        self._handle = handle

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        return self._handle.sign(data, digest_algorithm)
