"""Keys at rest: encrypted under the KEK, bound to their owner, parsed once."""

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from signing.keys import FileKeyStore, KeyAlgorithm, KeyUnavailable


@pytest.fixture
def store():
    return FileKeyStore(os.urandom(32))


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_a_generated_key_signs_and_verifies(store, algorithm):
    reference = store.generate(owner="signer:1", algorithm=algorithm)
    handle = store.load(reference, owner="signer:1")

    signature = handle.sign(b"contract", "sha256")

    if isinstance(handle.public_key, rsa.RSAPublicKey):
        handle.public_key.verify(signature, b"contract", padding.PKCS1v15(), hashes.SHA256())
    else:
        handle.public_key.verify(signature, b"contract", ec.ECDSA(hashes.SHA256()))


def test_the_key_is_not_in_clear_in_its_reference(store):
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    raw = key.private_numbers().private_value.to_bytes(32, "big")

    reference = store.seal(key, owner="signer:1")

    assert der not in reference and raw not in reference


def test_a_key_does_not_open_for_another_owner(store):
    reference = store.generate(owner="signer:1", algorithm=KeyAlgorithm.P256)

    with pytest.raises(KeyUnavailable):
        store.load(reference, owner="signer:2")


def test_a_key_does_not_open_under_another_kek(store):
    reference = store.generate(owner="signer:1", algorithm=KeyAlgorithm.P256)

    with pytest.raises(KeyUnavailable):
        FileKeyStore(os.urandom(32)).load(reference, owner="signer:1")


@pytest.mark.parametrize("position", [5, 40, 70, -1])
def test_a_tampered_reference_does_not_open(store, position):
    reference = bytearray(store.generate(owner="o", algorithm=KeyAlgorithm.P256))
    reference[position] ^= 0x01

    with pytest.raises(KeyUnavailable):
        store.load(bytes(reference), owner="o")


def test_garbage_is_refused(store):
    with pytest.raises(KeyUnavailable):
        store.load(b"not a key", owner="o")


def test_keys_are_parsed_once_and_cached(store):
    reference = store.generate(owner="o", algorithm=KeyAlgorithm.RSA2048)

    assert store.load(reference, owner="o") is store.load(reference, owner="o")
