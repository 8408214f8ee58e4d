"""Keys on a PKCS#11 token (an HSM; SoftHSM2 in tests), behind the KeyStore interface.

Keys are generated on the token, marked sensitive and not extractable: the
private part never reaches this process. A reference names the key by a random
CKA_ID; the token keeps the owner in the key's CKA_LABEL, and loading under
another owner fails exactly as a file-store reference opened with the wrong
associated data does. Digests are computed here and only they go to the token
(CKM_ECDSA, or CKM_RSA_PKCS over a DigestInfo), which keeps large documents off
a slow device and needs nothing beyond the mechanisms every token has.
"""

from __future__ import annotations

import hashlib
import os
import threading

import pkcs11
from asn1crypto import algos
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)
from pkcs11.util.rsa import encode_rsa_public_key

from signing.keys import KeyAlgorithm, KeyUnavailable

_FORMAT = b"P11"
_ID_BYTES = 16
_DIGESTS = {"sha256", "sha384", "sha512"}

# One loaded library per module path, and one logged-in session per token, per
# process: C_Initialize may run once, and a login holds for the whole process
# (a second C_Login fails with CKR_USER_ALREADY_LOGGED_IN). Sessions must not
# be used by two threads at once, hence one lock per token.
_libraries: dict[str, tuple[int, pkcs11.lib]] = {}
_sessions: dict[tuple[str, str], tuple[int, object]] = {}
_token_locks: dict[tuple[str, str], threading.RLock] = {}
_registry_lock = threading.Lock()


def _library(module_path: str) -> pkcs11.lib:
    pid, lib = _libraries.get(module_path, (None, None))
    if lib is None:
        lib = pkcs11.lib(module_path)
    elif pid != os.getpid():
        # A forked worker inherits the parent's library state, which PKCS#11
        # forbids using: start the library afresh in this process.
        lib.reinitialize()
    _libraries[module_path] = (os.getpid(), lib)
    return lib


def _token_lock(module_path: str, token_label: str) -> threading.RLock:
    with _registry_lock:
        return _token_locks.setdefault((module_path, token_label), threading.RLock())


def _session(module_path: str, token_label: str, pin: str):
    """The process's logged-in session on the token (call with its lock held)."""
    key = (module_path, token_label)
    with _registry_lock:
        pid, session = _sessions.get(key, (None, None))
        if session is None or pid != os.getpid():
            token = _library(module_path).get_token(token_label=token_label)
            session = token.open(rw=True, user_pin=pin)
            _sessions[key] = (os.getpid(), session)
        return session


class TokenKey:
    """A private key that lives on the token."""

    def __init__(self, store: Pkcs11KeyStore, key, public_key: PublicKeyTypes, key_type):
        self._store = store
        self._key = key
        self._key_type = key_type
        self.public_key = public_key

    def sign(self, data: bytes, digest_algorithm: str) -> bytes:
        name = digest_algorithm.lower().replace("-", "")
        if name not in _DIGESTS:
            raise ValueError(f"unsupported digest algorithm {digest_algorithm!r}")
        digest = hashlib.new(name, data).digest()
        with self._store._lock:
            if self._key_type == KeyType.EC:
                return encode_ecdsa_signature(self._key.sign(digest, mechanism=Mechanism.ECDSA))
            digest_info = algos.DigestInfo(
                {"digest_algorithm": {"algorithm": name}, "digest": digest}
            ).dump()
            return self._key.sign(digest_info, mechanism=Mechanism.RSA_PKCS)


class Pkcs11KeyStore:
    def __init__(self, module_path: str, token_label: str, pin: str):
        self.module_path = module_path
        self.token_label = token_label
        self._pin = pin
        self._lock = _token_lock(module_path, token_label)
        self._cache: dict[tuple[bytes, str], TokenKey] = {}
        self._pid = os.getpid()

    def _open(self):
        """The logged-in session, opened on first use rather than at start, so
        that a server forking workers does not hand them its session."""
        if self._pid != os.getpid():
            self._cache.clear()  # handles of the parent's session
            self._pid = os.getpid()
        return _session(self.module_path, self.token_label, self._pin)

    def generate(self, *, owner: str, algorithm: KeyAlgorithm = KeyAlgorithm.P256) -> bytes:
        key_id = os.urandom(_ID_BYTES)
        private = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
        }
        public = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        with self._lock:
            session = self._open()
            common = {
                "id": key_id,
                "label": owner,
                "store": True,
                "private_template": private,
                "public_template": public,
            }
            if algorithm == KeyAlgorithm.RSA2048:
                session.generate_keypair(KeyType.RSA, 2048, **common)
            else:
                parameters = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                    local=True,
                )
                parameters.generate_keypair(**common)
        return _FORMAT + key_id

    def load(self, reference: bytes, *, owner: str) -> TokenKey:
        reference = bytes(reference)
        if not reference.startswith(_FORMAT) or len(reference) != len(_FORMAT) + _ID_BYTES:
            raise KeyUnavailable("not a key reference of this store")
        key_id = reference[len(_FORMAT) :]
        with self._lock:
            session = self._open()
            cached = self._cache.get((key_id, owner))
            if cached is not None:
                return cached
            try:
                private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
                public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
                label = private[Attribute.LABEL]
            except (NoSuchKey, MultipleObjectsReturned, PKCS11Error) as exc:
                raise KeyUnavailable("no such key on the token") from exc
            if label != owner:
                raise KeyUnavailable("the key does not open for this owner")
            key_type = private.key_type
            if key_type == KeyType.EC:
                der = encode_ec_public_key(public)
            elif key_type == KeyType.RSA:
                der = encode_rsa_public_key(public)
            else:
                raise KeyUnavailable(f"unsupported key type {key_type}")
            handle = TokenKey(self, private, serialization.load_der_public_key(der), key_type)
            self._cache[(key_id, owner)] = handle
            return handle
