"""Signing certificates and CRLs with a KeyHandle, whatever holds the key.

`cryptography`'s builders sign only with a private key object they can use
themselves, which a key on a PKCS#11 token is not. So a builder signs with a
throwaway key of the same type (the structure it produces, signature algorithm
included, is what we want), and its to-be-signed part is then signed again by
the real KeyHandle, which replaces the throwaway signature. The same code thus
works with the file key store and a token, and keys never leave their store.
"""

from __future__ import annotations

from functools import cache

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from signing.keys import KeyHandle


@cache
def _throwaway_rsa_key() -> rsa.RSAPrivateKey:
    # RSA key generation takes tens of milliseconds: one per process is enough.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def throwaway_key(handle: KeyHandle):
    """A throwaway private key of the handle's type: `cryptography` builders
    want one to sign with; we only keep the structure they produce and replace
    its signature with the handle's."""
    if isinstance(handle.public_key, rsa.RSAPublicKey):
        return _throwaway_rsa_key()
    if isinstance(handle.public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError("unsupported key type")


def signature_algorithm(handle: KeyHandle, digest: str = "sha256") -> str:
    """asn1crypto's name of the signature algorithm a handle signs with."""
    if isinstance(handle.public_key, rsa.RSAPublicKey):
        return f"{digest}_rsa"
    if isinstance(handle.public_key, ec.EllipticCurvePublicKey):
        return f"{digest}_ecdsa"
    raise ValueError("unsupported key type")


def _resign(draft: core.Sequence, tbs_field: str, signature_field: str, handle: KeyHandle):
    """`draft` with its signature replaced by the handle's over its TBS part."""
    tbs = draft[tbs_field]
    return type(draft)(
        {
            tbs_field: tbs,
            "signature_algorithm": draft["signature_algorithm"],
            signature_field: handle.sign(tbs.dump(), "sha256"),
        }
    )


def sign_certificate(builder: x509.CertificateBuilder, handle: KeyHandle) -> x509.Certificate:
    draft = builder.sign(throwaway_key(handle), hashes.SHA256()).public_bytes(Encoding.DER)
    signed = _resign(
        asn1_x509.Certificate.load(draft), "tbs_certificate", "signature_value", handle
    )
    return x509.load_der_x509_certificate(signed.dump())


def sign_crl(builder: x509.CertificateRevocationListBuilder, handle: KeyHandle) -> bytes:
    """The CRL as DER."""
    draft = builder.sign(throwaway_key(handle), hashes.SHA256()).public_bytes(Encoding.DER)
    return _resign(
        asn1_crl.CertificateList.load(draft), "tbs_cert_list", "signature", handle
    ).dump()
