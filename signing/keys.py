"""Private keys at rest and in use.

A key at rest is a *reference*: opaque bytes the caller stores (in a database
row or a file) and hands back to load the key. For the file store the reference
is the key itself, encrypted with AES-256-GCM under a fresh data key, and that
data key wrapped by the key-encryption key (KEK), which never sits beside it.
Both layers carry the owner as associated data, so a reference copied to
another owner does not open: one signer's key can never sign for another.

A loaded key is a KeyHandle: it signs, and it never hands out its private part.
Handles are cached per reference and owner, since parsing an RSA key costs far
more than using it. A PKCS#11 token (signing.pkcs11) offers the same interface.
"""

import hashlib
import os
import threading
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyAlgorithm(StrEnum):
    RSA2048 = "rsa2048"
    P256 = "p256"


class KeyUnavailable(Exception):
    """The reference does not open: tampered with, another owner's, or another KEK's."""


class KeyHandle(Protocol):
    public_key: PublicKeyTypes

    def sign(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign `data` (hashed here with `digest_algorithm`, e.g. "sha256"):
        PKCS#1 v1.5 for RSA, DER-encoded ECDSA for EC."""
        ...


class KeyStore(Protocol):
    def generate(self, *, owner: str, algorithm: KeyAlgorithm) -> bytes:
        """Make a new key pair for `owner` and return its reference."""
        ...

    def load(self, reference: bytes, *, owner: str) -> KeyHandle: ...


_HASHES = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name.lower().replace("-", "")]()
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {name!r}") from None


def new_private_key(algorithm: KeyAlgorithm) -> PrivateKeyTypes:
    if algorithm == KeyAlgorithm.RSA2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


class SoftwareKey:
    """A private key held in process memory."""

    def __init__(self, private_key: PrivateKeyTypes):
        self._private_key = private_key
        self.public_key = private_key.public_key()

    def sign(self, data: bytes, digest_algorithm: str) -> bytes:
        algorithm = hash_algorithm(digest_algorithm)
        if isinstance(self._private_key, rsa.RSAPrivateKey):
            return self._private_key.sign(data, padding.PKCS1v15(), algorithm)
        if isinstance(self._private_key, ec.EllipticCurvePrivateKey):
            return self._private_key.sign(data, ec.ECDSA(algorithm))
        raise ValueError("unsupported key type")


_FORMAT = b"SK1"


class FileKeyStore:
    """Keys encrypted at rest under the KEK; the reference holds the ciphertext."""

    def __init__(self, kek: bytes):
        if len(kek) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self._kek = AESGCM(kek)
        self._cache: dict[tuple[bytes, str], SoftwareKey] = {}
        self._lock = threading.Lock()

    def generate(self, *, owner: str, algorithm: KeyAlgorithm = KeyAlgorithm.P256) -> bytes:
        return self.seal(new_private_key(algorithm), owner=owner)

    def seal(self, private_key: PrivateKeyTypes, *, owner: str) -> bytes:
        """The reference of an existing key, sealed for `owner`."""
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        aad = owner.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce, key_nonce = os.urandom(12), os.urandom(12)
        wrapped = self._kek.encrypt(wrap_nonce, data_key, aad)
        ciphertext = AESGCM(data_key).encrypt(key_nonce, der, aad)
        return _FORMAT + wrap_nonce + wrapped + key_nonce + ciphertext

    def load(self, reference: bytes, *, owner: str) -> SoftwareKey:
        reference = bytes(reference)
        cache_key = (hashlib.sha256(reference).digest(), owner)
        with self._lock:
            cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        handle = SoftwareKey(self._unseal(reference, owner=owner))
        with self._lock:
            self._cache[cache_key] = handle
        return handle

    def _unseal(self, reference: bytes, *, owner: str) -> PrivateKeyTypes:
        if not reference.startswith(_FORMAT) or len(reference) < 3 + 12 + 48 + 12 + 16:
            raise KeyUnavailable("not a key reference of this store")
        body = reference[len(_FORMAT) :]
        wrap_nonce, wrapped = body[:12], body[12:60]
        key_nonce, ciphertext = body[60:72], body[72:]
        aad = owner.encode()
        try:
            data_key = self._kek.decrypt(wrap_nonce, wrapped, aad)
            der = AESGCM(data_key).decrypt(key_nonce, ciphertext, aad)
        except InvalidTag as exc:
            raise KeyUnavailable("the key does not open for this owner") from exc
        return serialization.load_der_private_key(der, password=None)
