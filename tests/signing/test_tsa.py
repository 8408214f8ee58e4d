"""The time-stamping authority: openssl verifies its tokens for RSA and EC keys,
pyHanko validates them, and bad requests get RFC 3161 rejections."""

import asyncio
import hashlib
import os
import subprocess

import pytest
from asn1crypto import cms, core, tsp
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.keys import FileKeyStore, KeyAlgorithm
from signing.pki import CertificateAuthority, Profile, Subject
from signing.signers import to_asn1
from signing.tsa import (
    POLICY,
    TimeStampAuthority,
    TimestampUnavailable,
    external_timestamper,
    response_status,
)
from tests.signing.conftest import OFFLINE_BASE_URL


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """One CA and an RSA and an EC authority for the module."""
    keystore = FileKeyStore(os.urandom(32))
    directory = tmp_path_factory.mktemp("tsa")
    ca = CertificateAuthority.open_or_create(
        directory=directory / "pki", keystore=keystore, base_url=OFFLINE_BASE_URL
    )
    authorities = {}
    for algorithm in KeyAlgorithm:
        issued = ca.issue(
            profile=Profile.TSA, subject=Subject("TSA"), owner="tsa", algorithm=algorithm
        )
        authorities[algorithm] = TimeStampAuthority(
            issued.certificate, keystore.load(issued.key_reference, owner="tsa"), ca.chain
        )
    (directory / "ca.pem").write_bytes(ca.root.public_bytes(Encoding.PEM))
    return ca, authorities, directory


def request(digest: bytes = b"\x01" * 32, algorithm="sha256", **fields) -> bytes:
    value = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": digest,
        },
        "cert_req": True,
        "nonce": 12345678901234567,
    }
    value.update(fields)
    return tsp.TimeStampReq(value).dump()


def status(response: bytes) -> tuple[str, set]:
    return response_status(response)[:2]


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
@pytest.mark.parametrize("ask_for_certificates", [True, False])
def test_openssl_verifies_the_token(pki, tmp_path, algorithm, ask_for_certificates):
    ca, authorities, directory = pki
    data = tmp_path / "document.pdf"
    data.write_bytes(b"%PDF-1.7 a document to timestamp")
    query = ["openssl", "ts", "-query", "-data", data, "-sha256", "-out", tmp_path / "q.tsq"]
    if ask_for_certificates:
        query.insert(-2, "-cert")
    subprocess.run(query, check=True, capture_output=True)

    reply = authorities[algorithm].respond((tmp_path / "q.tsq").read_bytes())
    (tmp_path / "reply.tsr").write_bytes(reply)

    verify = ["openssl", "ts", "-verify", "-data", data, "-in", tmp_path / "reply.tsr"]
    verify += ["-CAfile", directory / "ca.pem"]
    if not ask_for_certificates:
        untrusted = tmp_path / "untrusted.pem"
        untrusted.write_bytes(
            authorities[algorithm].certificate.public_bytes(Encoding.PEM)
            + ca.issuing.public_bytes(Encoding.PEM)
        )
        verify += ["-untrusted", untrusted]
    result = subprocess.run(verify, capture_output=True, text=True)
    assert "Verification: OK" in result.stdout, result.stderr


def test_the_token_carries_policy_nonce_accuracy_and_the_chain(pki):
    ca, authorities, _ = pki
    authority = authorities[KeyAlgorithm.P256]
    digest = hashlib.sha256(b"x").digest()
    response = tsp.TimeStampResp.load(authority.respond(request(digest)))
    assert response["status"]["status"].native == "granted"

    signed_data = response["time_stamp_token"]["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    assert tst_info["policy"].native == POLICY
    assert tst_info["nonce"].native == 12345678901234567
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["accuracy"]["seconds"].native == 1
    assert tst_info["serial_number"].native > 0

    certificates = [c.chosen.dump() for c in signed_data["certificates"]]
    assert authority.certificate.public_bytes(Encoding.DER) in certificates
    assert ca.issuing.public_bytes(Encoding.DER) in certificates
    assert ca.root.public_bytes(Encoding.DER) not in certificates

    (signer_info,) = signed_data["signer_infos"]
    attributes = {a["type"].native: a for a in signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in attributes
    assert "signing_certificate" not in attributes  # the SHA-1 one
    (cert_id,) = attributes["signing_certificate_v2"]["values"][0]["certs"]
    assert cert_id["hash_algorithm"]["algorithm"].native == "sha256"
    assert (
        cert_id["cert_hash"].native
        == hashlib.sha256(authority.certificate.public_bytes(Encoding.DER)).digest()
    )


def test_serial_numbers_are_unique(pki):
    authority = pki[1][KeyAlgorithm.P256]
    serials = {
        tsp.TimeStampResp.load(authority.respond(request()))["time_stamp_token"]["content"][
            "encap_content_info"
        ]["content"]
        .parsed["serial_number"]
        .native
        for _ in range(20)
    }
    assert len(serials) == 20


def test_a_token_copies_the_authoritys_encoded_parts_instead_of_encoding_them_again(pki):
    # Parsed asn1crypto values put into every token (the authority's name in
    # the signer identifier and in signingCertificateV2, its certificates) were
    # encoded again each time: some 128,000 Python calls and 30 ms a token,
    # and seconds now and then inside a signature. Loaded from DER and left
    # unchanged, they are copied: about 5,000 calls. Counted, not timed.
    import cProfile
    import pstats

    authority = pki[1][KeyAlgorithm.P256]
    authority.respond(request())
    profiler = cProfile.Profile()
    profiler.runcall(authority.respond, request())
    assert pstats.Stats(profiler).total_calls < 20_000


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_pyhanko_validates_a_token_from_the_in_process_timestamper(pki, algorithm):
    ca, authorities, _ = pki
    timestamper = authorities[algorithm].timestamper()
    assert authorities[algorithm].timestamper() is timestamper  # reused
    digest = hashlib.sha256(b"signature value").digest()

    token = asyncio.run(timestamper.async_timestamp(digest, "sha256"))

    context = ValidationContext(
        trust_roots=[to_asn1(ca.root)],
        other_certs=[to_asn1(ca.issuing)],
        revocation_mode="soft-fail",
    )
    result = asyncio.run(
        validate_tst_signed_data(token["content"], context, lambda algorithm: digest)
    )
    verdict = TimestampSignatureStatus(**result)
    assert verdict.intact and verdict.valid
    assert verdict.trusted
    assert verdict.validation_path is not None


@pytest.mark.parametrize(
    "garbage",
    [b"", b"garbage", b"\x30\x00", b"\x30\x80\x00\x00", bytes(range(256)), b"\x30" * 1000],
)
def test_garbage_gets_a_der_rejection(pki, garbage):
    response = pki[1][KeyAlgorithm.P256].respond(garbage)
    assert status(response) == ("rejection", {"bad_data_format"})
    assert core.Sequence.load(response).dump() == response  # valid DER


def test_openssl_reads_the_rejection(pki, tmp_path):
    (tmp_path / "reply.tsr").write_bytes(pki[1][KeyAlgorithm.P256].respond(b"junk"))
    result = subprocess.run(
        ["openssl", "ts", "-reply", "-in", tmp_path / "reply.tsr", "-text"],
        capture_output=True,
        text=True,
    )
    assert "Status: Rejected." in result.stdout
    assert "wrong format" in result.stdout


def test_an_unknown_hash_is_a_bad_algorithm(pki):
    response = pki[1][KeyAlgorithm.P256].respond(request(b"\x01" * 16, algorithm="md5"))
    assert status(response) == ("rejection", {"bad_alg"})


def test_a_digest_of_the_wrong_length_is_bad_data(pki):
    response = pki[1][KeyAlgorithm.P256].respond(request(b"\x01" * 20))
    assert status(response) == ("rejection", {"bad_data_format"})


def test_another_policy_is_refused_ours_is_granted(pki):
    authority = pki[1][KeyAlgorithm.P256]
    assert status(authority.respond(request(req_policy="1.2.3.4"))) == (
        "rejection",
        {"unaccepted_policy"},
    )
    assert status(authority.respond(request(req_policy=POLICY)))[0] == "granted"


def test_a_trailing_byte_is_refused(pki):
    response = pki[1][KeyAlgorithm.P256].respond(request() + b"\x00")
    assert status(response)[0] == "rejection"


def test_without_cert_req_no_certificates_are_sent(pki):
    response = tsp.TimeStampResp.load(pki[1][KeyAlgorithm.P256].respond(request(cert_req=False)))
    assert isinstance(response["time_stamp_token"], cms.ContentInfo)
    assert not response["time_stamp_token"]["content"]["certificates"]


def test_an_unreachable_external_authority_is_unavailable():
    timestamper = external_timestamper("http://127.0.0.1:9/tsa", timeout=2)
    digest = hashlib.sha256(b"x").digest()
    with pytest.raises(TimestampUnavailable):
        asyncio.run(timestamper.async_timestamp(digest, "sha256"))
    # pyHanko's own handlers still recognise it
    assert issubclass(TimestampUnavailable, TimestampRequestError)


def test_a_refusing_authority_is_unavailable(pki):
    class Refusing(TimeStampAuthority):
        def respond(self, request_der):
            return super().respond(b"not a request")

    authority = pki[1][KeyAlgorithm.P256]
    refusing = Refusing(authority.certificate, authority._handle, pki[0].chain)
    with pytest.raises(TimestampUnavailable):
        asyncio.run(refusing.timestamper().async_timestamp(b"\x00" * 32, "sha256"))
