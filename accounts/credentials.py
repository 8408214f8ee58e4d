"""The rules for a robot's outbound credentials, shared by the Robots API and the pages.

Request headers must be sendable as they are (RFC 9110 token names, one-line
values); client certificates and keys are PEM (or base64 of the PEM, as the
Signing API sends them), unencrypted, and must belong together.
"""

import base64
import binascii
import re

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.utils.translation import gettext_lazy as _

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")
MAX_HEADER_VALUE = 4096
MAX_PEM = 20000


class CredentialError(ValueError):
    pass


def header_is_valid(name: str, value: str) -> bool:
    return bool(
        HEADER_NAME.match(name)
        and not _HEADER_VALUE_FORBIDDEN.search(value)
        and len(value) <= MAX_HEADER_VALUE
    )


def pem_text(value: str) -> str:
    """PEM as text; base64 of a PEM is decoded first."""
    text = value.strip()
    if text and not text.startswith("-----BEGIN"):
        try:
            decoded = base64.b64decode(text, validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            return text
        if decoded.startswith("-----BEGIN"):
            return decoded
    return text


def load_certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CredentialError(_("This is not a PEM certificate.")) from exc


def load_private_key(pem: str):
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError as exc:
        raise CredentialError(_("The private key must not be encrypted.")) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CredentialError(_("This is not a PEM private key.")) from exc


def same_public_key(certificate: x509.Certificate, private_key) -> bool:
    def spki(public_key) -> bytes:
        return public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return spki(certificate.public_key()) == spki(private_key.public_key())
