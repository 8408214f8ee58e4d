"""The OCSP responder, checked by openssl on requests openssl makes."""

import subprocess
from datetime import UTC, datetime

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from signing import ocsp
from signing.pki import CertificateAuthority, Profile, Revoked, Subject
from tests.signing.conftest import OFFLINE_BASE_URL


@pytest.fixture
def setup(ca, tmp_path):
    issued = ca.issue(profile=Profile.ADVANCED, subject=Subject("Mario Rossi"), owner="s")
    (tmp_path / "issuing.pem").write_bytes(ca.issuing.public_bytes(Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(ca.root.public_bytes(Encoding.PEM))
    (tmp_path / "ee.pem").write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    return ca, issued, tmp_path


def openssl_request(directory, digest: str) -> bytes:
    subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            directory / "issuing.pem",
            f"-{digest}",  # applies to the -cert after it
            "-cert",
            directory / "ee.pem",
            "-reqout",
            directory / "req.der",
        ],
        check=True,
        capture_output=True,
    )
    return (directory / "req.der").read_bytes()


def openssl_reads(directory, response: bytes, digest: str = "sha1") -> str:
    (directory / "resp.der").write_bytes(response)
    result = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-no_nonce",  # the echo is checked on its own below
            "-respin",
            directory / "resp.der",
            "-issuer",
            directory / "issuing.pem",
            f"-{digest}",
            "-cert",
            directory / "ee.pem",
            "-CAfile",
            directory / "ca.pem",
        ],
        capture_output=True,
        text=True,
    )
    assert "Response verify OK" in result.stderr, result.stderr + result.stdout
    return result.stdout


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, "good"), ("unknown", "unknown"), ("revoked", "revoked")],
)
def test_openssl_accepts_every_status_in_the_hash_it_asked_with(setup, digest, status, expected):
    ca, issued, directory = setup
    request = openssl_request(directory, digest)
    asked = []

    def status_of(serial):
        asked.append(serial)
        if status == "revoked":
            return Revoked(serial, datetime(2026, 5, 1, tzinfo=UTC), "keyCompromise")
        return status

    response = ocsp.respond(request, ca=ca, responder=ca.service(Profile.OCSP), status_of=status_of)

    assert asked == [issued.serial]
    output = openssl_reads(directory, response, digest)
    assert f"ee.pem: {expected}" in output
    if status == "revoked":
        assert "Reason: keyCompromise" in output
    parsed = x509_ocsp.load_der_ocsp_response(response)
    assert parsed.hash_algorithm.name == digest
    assert parsed.serial_number == issued.serial


def test_the_nonce_is_echoed(setup):
    ca, _, directory = setup
    request = openssl_request(directory, "sha1")
    response = ocsp.respond(
        request, ca=ca, responder=ca.service(Profile.OCSP), status_of=lambda s: None
    )
    asked = x509_ocsp.load_der_ocsp_request(request).extensions.get_extension_for_class(
        x509.OCSPNonce
    )
    answered = x509_ocsp.load_der_ocsp_response(response).extensions.get_extension_for_class(
        x509.OCSPNonce
    )
    assert answered.value.nonce == asked.value.nonce


def test_the_answer_is_signed_by_the_delegated_responder(setup):
    ca, issued, _ = setup
    request = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(issued.certificate, ca.issuing, hashes.SHA256())
        .build()
        .public_bytes(Encoding.DER)
    )
    responder_certificate, _ = ca.service(Profile.OCSP)
    response = x509_ocsp.load_der_ocsp_response(
        ocsp.respond(
            request,
            ca=ca,
            responder=(responder_certificate, ca.service(Profile.OCSP)[1]),
            status_of=lambda s: None,
        )
    )
    assert response.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert response.certificates == [responder_certificate]
    from cryptography.hazmat.primitives.asymmetric import ec

    responder_certificate.public_key().verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )


@pytest.mark.parametrize(
    "garbage",
    [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30\x80" + b"\x00" * 10, bytes(range(256))],
)
def test_garbage_gets_malformed_request(ca, garbage):
    response = ocsp.respond(
        garbage, ca=ca, responder=ca.service(Profile.OCSP), status_of=lambda s: None
    )
    assert asn1_ocsp.OCSPResponse.load(response)["response_status"].native == "malformed_request"


def test_a_trailing_byte_is_malformed(setup):
    ca, _, directory = setup
    request = openssl_request(directory, "sha1") + b"\x00"
    response = ocsp.respond(
        request, ca=ca, responder=ca.service(Profile.OCSP), status_of=lambda s: None
    )
    assert asn1_ocsp.OCSPResponse.load(response)["response_status"].native == "malformed_request"


def test_another_cas_certificate_is_not_ours_to_answer(setup, keystore, tmp_path):
    ca, _, directory = setup
    other = CertificateAuthority.open_or_create(
        directory=tmp_path / "other", keystore=keystore, base_url=OFFLINE_BASE_URL
    )
    stranger = other.issue(profile=Profile.ADVANCED, subject=Subject("X"), owner="x")
    request = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(stranger.certificate, other.issuing, hashes.SHA1())
        .build()
        .public_bytes(Encoding.DER)
    )
    response = ocsp.respond(
        request, ca=ca, responder=ca.service(Profile.OCSP), status_of=lambda s: None
    )
    assert asn1_ocsp.OCSPResponse.load(response)["response_status"].native == "unauthorized"


def test_a_failing_lookup_says_try_later_not_good(setup):
    ca, _, directory = setup

    def broken(serial):
        raise RuntimeError("database down")

    response = ocsp.respond(
        openssl_request(directory, "sha1"),
        ca=ca,
        responder=ca.service(Profile.OCSP),
        status_of=broken,
    )
    assert asn1_ocsp.OCSPResponse.load(response)["response_status"].native == "try_later"
