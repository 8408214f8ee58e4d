"""The PKCS#11 key store on Debian's SoftHSM2: same interface as the file store,
keys that never leave the token, and a whole CA and TSA running on it."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from signing.keys import KeyAlgorithm, KeyUnavailable
from signing.pki import CertificateAuthority, Profile, Revoked, Subject
from signing.tsa import TimeStampAuthority
from tests.signing.conftest import OFFLINE_BASE_URL

MODULE_PATHS = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
]
MODULE = next((path for path in MODULE_PATHS if os.path.exists(path)), None)
LABEL, PIN = "sigillo-test", "1234"

pytestmark = pytest.mark.skipif(
    MODULE is None or shutil.which("softhsm2-util") is None,
    reason="SoftHSM2 is not installed (Debian package softhsm2)",
)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory):
    """A fresh SoftHSM2 token for this test run. SoftHSM reads its configuration
    when the library initialises, once per process: one token serves all tests."""
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {directory / 'tokens'}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", LABEL]
        + ["--pin", PIN, "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    yield MODULE
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def store(softhsm):
    from signing.pkcs11 import Pkcs11KeyStore

    return Pkcs11KeyStore(softhsm, LABEL, PIN)


def verify(public_key, signature: bytes, data: bytes) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_a_key_made_on_the_token_signs_and_verifies(store, algorithm):
    reference = store.generate(owner="signer:1", algorithm=algorithm)
    handle = store.load(reference, owner="signer:1")

    verify(handle.public_key, handle.sign(b"contract", "sha256"), b"contract")
    expected = rsa.RSAPublicKey if algorithm == KeyAlgorithm.RSA2048 else ec.EllipticCurvePublicKey
    assert isinstance(handle.public_key, expected)


@pytest.mark.parametrize("digest", ["sha384", "sha512"])
def test_other_digests_sign_too(store, digest):
    handle = store.load(store.generate(owner="o", algorithm=KeyAlgorithm.P256), owner="o")
    algorithm = {"sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest]
    handle.public_key.verify(handle.sign(b"data", digest), b"data", ec.ECDSA(algorithm))


def test_a_key_does_not_load_for_another_owner(store):
    reference = store.generate(owner="signer:1", algorithm=KeyAlgorithm.P256)
    store.load(reference, owner="signer:1")  # cached for its owner
    with pytest.raises(KeyUnavailable):
        store.load(reference, owner="signer:2")


def test_another_owner_cannot_use_a_second_store_either(store, softhsm):
    from signing.pkcs11 import Pkcs11KeyStore

    reference = store.generate(owner="signer:1", algorithm=KeyAlgorithm.P256)
    other_process_view = Pkcs11KeyStore(softhsm, LABEL, PIN)
    with pytest.raises(KeyUnavailable):
        other_process_view.load(reference, owner="signer:2")
    assert other_process_view.load(reference, owner="signer:1").public_key == (
        store.load(reference, owner="signer:1").public_key
    )


@pytest.mark.parametrize("reference", [b"", b"P11" + b"\x00" * 16, b"SK1" + b"x" * 100])
def test_unknown_or_foreign_references_are_unavailable(store, reference):
    with pytest.raises(KeyUnavailable):
        store.load(reference, owner="signer:1")


def test_the_private_key_never_leaves_the_token(store):
    from pkcs11 import Attribute, ObjectClass

    reference = store.generate(owner="signer:1", algorithm=KeyAlgorithm.P256)
    handle = store.load(reference, owner="signer:1")
    session = store._open()
    private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=reference[3:])
    assert private[Attribute.SENSITIVE] is True
    assert private[Attribute.EXTRACTABLE] is False
    assert private[Attribute.TOKEN] is True
    assert not hasattr(handle, "private_key")


def test_loading_twice_gives_the_cached_handle(store):
    reference = store.generate(owner="o", algorithm=KeyAlgorithm.RSA2048)
    assert store.load(reference, owner="o") is store.load(reference, owner="o")


@pytest.fixture
def token_ca(store, tmp_path):
    return CertificateAuthority.open_or_create(
        directory=tmp_path / "pki", keystore=store, base_url=OFFLINE_BASE_URL
    )


def write(path: Path, *certificates) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


def test_a_ca_on_the_token_issues_certificates_openssl_accepts(token_ca, tmp_path, softhsm):
    from signing.pkcs11 import Pkcs11KeyStore

    issued = token_ca.issue(
        profile=Profile.QUALIFIED, subject=Subject("Mario Rossi"), owner="signer:1"
    )
    assert issued.key_reference.startswith(b"P11")
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            write(tmp_path / "root.pem", token_ca.root),
            "-untrusted",
            write(tmp_path / "issuing.pem", token_ca.issuing),
            write(tmp_path / "ee.pem", issued.certificate),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr

    crl = x509.load_der_x509_crl(
        token_ca.crl([Revoked(issued.serial, issued.certificate.not_valid_before_utc)])
    )
    assert crl.is_signature_valid(token_ca.issuing.public_key())

    # reopened through another session, as after a restart
    again = CertificateAuthority.open_or_create(
        directory=tmp_path / "pki",
        keystore=Pkcs11KeyStore(softhsm, LABEL, PIN),
        base_url=OFFLINE_BASE_URL,
    )
    assert again.root == token_ca.root
    again.issue(profile=Profile.SEAL, subject=Subject("Acme"), owner="org:1")


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_a_tsa_on_the_token_makes_tokens_openssl_verifies(token_ca, store, tmp_path, algorithm):
    issued = token_ca.issue(
        profile=Profile.TSA, subject=Subject("TSA"), owner="tsa", algorithm=algorithm
    )
    authority = TimeStampAuthority(
        issued.certificate, store.load(issued.key_reference, owner="tsa"), token_ca.chain
    )
    data = tmp_path / "f"
    data.write_bytes(b"timestamp me")
    subprocess.run(
        ["openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", tmp_path / "q"],
        check=True,
        capture_output=True,
    )
    (tmp_path / "r").write_bytes(authority.respond((tmp_path / "q").read_bytes()))
    result = subprocess.run(
        ["openssl", "ts", "-verify", "-data", data, "-in", tmp_path / "r"]
        + ["-CAfile", write(tmp_path / "ca.pem", token_ca.root)],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in result.stdout, result.stderr


def test_the_portal_can_keep_its_keys_on_the_token(softhsm, settings, tmp_path):
    from portal import trust
    from signing.pkcs11 import Pkcs11KeyStore

    settings.KEY_BACKEND = "pkcs11"
    settings.PKCS11_MODULE = softhsm
    settings.PKCS11_TOKEN_LABEL = LABEL
    settings.PKCS11_PIN = PIN
    settings.PKI_DIR = tmp_path / "pki"
    trust.reset()
    try:
        assert isinstance(trust.keystore(), Pkcs11KeyStore)
        ca = trust.authority()
        assert (tmp_path / "pki" / "root.key").read_bytes().startswith(b"P11")
        certificate, _ = ca.service(Profile.OCSP)
        certificate.verify_directly_issued_by(ca.issuing)
    finally:
        trust.reset()
