"""pyHanko signers backed by our key handles.

pyHanko's SimpleSigner re-parses its private key on every signature; this
signer asks a cached KeyHandle instead, which may also live on a PKCS#11 token.
Its certificates are parsed once per process too (`_parsed`).
"""

from functools import lru_cache

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.keys import KeyHandle


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


@lru_cache(maxsize=512)
def _parsed(der: bytes) -> asn1_x509.Certificate:
    """A signer's certificate parsed once. asn1crypto works out a certificate's
    encodings, hashes and normalised names on first use and keeps them on the
    object: parsed again for every signature, that work was a tenth of a
    one-page signature. Signers only read their certificates, but from many
    threads: asn1crypto parses a structure's children lazily, into a list
    another thread could see half-built, so everything is parsed here, once."""
    certificate = asn1_x509.Certificate.load(der)
    certificate.native  # noqa: B018 - parses every child
    return certificate


def _signer_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return _parsed(certificate.public_bytes(Encoding.DER))


class HandleSigner(Signer):
    def __init__(
        self,
        *,
        handle: KeyHandle,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
    ):
        super().__init__(
            signing_cert=_signer_asn1(certificate),
            cert_registry=SimpleCertificateStore.from_certs([_signer_asn1(c) for c in chain]),
        )
        self._handle = handle

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        return self._handle.sign(data, digest_algorithm)
