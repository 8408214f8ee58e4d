"""Sealing of secrets at rest: AES-256-GCM under the key-encryption key.

The associated data names what the secret belongs to (for example
"robot-credentials:<user id>"), so a sealed value copied onto another row does
not open there.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_VERSION = b"\x01"


class SealBroken(Exception):
    """The sealed value was tampered with, or belongs to another owner."""


def seal(plaintext: bytes, *, context: str) -> bytes:
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(settings.KEK).encrypt(nonce, plaintext, context.encode())


def unseal(sealed: bytes, *, context: str) -> bytes:
    sealed = bytes(sealed)
    if sealed[:1] != _VERSION:
        raise SealBroken("unknown seal version")
    try:
        return AESGCM(settings.KEK).decrypt(sealed[1:13], sealed[13:], context.encode())
    except InvalidTag as exc:
        raise SealBroken("seal does not open under this context") from exc
