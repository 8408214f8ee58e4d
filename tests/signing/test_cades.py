"""CAdES .p7m envelopes and co-signatures, checked with openssl."""

import asyncio
import hashlib

import pytest
from asn1crypto import cms, core, pem
from cryptography.hazmat.primitives.serialization import Encoding

from signing.cades import async_sign_cades, read_signed_data, sign_cades
from signing.errors import SignatureFailed, UnreadableDocument
from signing.keys import KeyAlgorithm
from signing.tsa import external_timestamper
from signing.validate import validate
from tests.signing import pdfs

CONTENT = pdfs.simple_pdf()


@pytest.fixture
def timestamper(ca):
    return pdfs.make_timestamper(ca)


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in (ca.root, ca.issuing)))
    return path


def openssl_verify(p7m: bytes, ca_file, tmp_path) -> tuple[bytes, list[str]]:
    """The content openssl extracts after verifying every signer, and the
    subjects of the signers it verified."""
    (tmp_path / "f.p7m").write_bytes(p7m)
    result = pdfs.run(
        "openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "f.p7m"),
        "-CAfile", str(ca_file), "-purpose", "any",
        "-out", str(tmp_path / "content"), "-signer", str(tmp_path / "signers.pem"),
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert b"Verification successful" in result.stderr
    signers = pdfs.run(
        "openssl", "crl2pkcs7", "-nocrl", "-certfile", str(tmp_path / "signers.pem")
    ).stdout
    subjects = pdfs.run("openssl", "pkcs7", "-print_certs", "-noout", input=signers).stdout
    names = [
        line.split("CN = ")[-1] for line in subjects.decode().splitlines() if "subject" in line
    ]
    return (tmp_path / "content").read_bytes(), names


def signer_infos(p7m: bytes):
    return list(read_signed_data(p7m)["signer_infos"])


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_openssl_verifies_the_envelope_and_returns_the_content(
    ca, timestamper, ca_file, tmp_path, level, algorithm
):
    signer = pdfs.make_signer(ca, algorithm=algorithm)

    p7m = sign_cades(CONTENT, signer=signer, level=level, timestamper=timestamper)

    content, names = openssl_verify(p7m, ca_file, tmp_path)
    assert content == CONTENT
    assert names == ["Mario Rossi"]
    (info,) = signer_infos(p7m)
    signed = {a["type"].native for a in info["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= signed
    unsigned = {a["type"].native for a in info["unsigned_attrs"] or []}
    assert ("signature_time_stamp_token" in unsigned) == (level == "B-T")
    report = validate(p7m, trust_roots=[ca.root])
    assert report.valid and [s.level for s in report.signatures] == [level]


def test_openssl_ts_verifies_the_signature_timestamp(ca, timestamper, ca_file, tmp_path):
    p7m = sign_cades(CONTENT, signer=pdfs.make_signer(ca), level="B-T", timestamper=timestamper)

    (info,) = signer_infos(p7m)
    (token,) = next(
        a["values"]
        for a in info["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    )
    (tmp_path / "token.der").write_bytes(token.dump())
    # The token's imprint is the hash of the signature value it vouches for.
    (tmp_path / "signature").write_bytes(info["signature"].native)
    result = pdfs.run(
        "openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
        "-data", str(tmp_path / "signature"), "-CAfile", str(ca_file),
        check=False,
    )  # fmt: skip
    assert b"Verification: OK" in result.stdout, result.stdout + result.stderr


def test_a_second_signer_adds_a_parallel_signature_and_both_verify(
    ca, timestamper, ca_file, tmp_path
):
    first = sign_cades(CONTENT, signer=pdfs.make_signer(ca), level="B-T", timestamper=timestamper)
    second_signer = pdfs.make_signer(ca, "Giulia Bianchi", "signer:2", KeyAlgorithm.RSA2048)

    both = sign_cades(first, signer=second_signer, level="B-B")

    content, names = openssl_verify(both, ca_file, tmp_path)
    assert content == CONTENT
    assert sorted(names) == ["Giulia Bianchi", "Mario Rossi"]
    # Not an envelope in an envelope: one SignedData, the same content, two SignerInfos,
    # the first exactly as it was.
    (original,) = signer_infos(first)
    infos = signer_infos(both)
    assert len(infos) == 2
    assert original.dump() in [i.dump() for i in infos]
    report = validate(both, trust_roots=[ca.root])
    assert report.valid
    assert sorted((s.signer, s.level) for s in report.signatures) == [
        ("Giulia Bianchi", "B-B"),
        ("Mario Rossi", "B-T"),
    ]


def test_a_third_signer_and_a_repeated_signer_both_fit(ca, timestamper, ca_file, tmp_path):
    mario = pdfs.make_signer(ca)
    p7m = sign_cades(CONTENT, signer=mario)
    p7m = sign_cades(p7m, signer=pdfs.make_signer(ca, "Luca Verdi", "signer:3"))
    p7m = sign_cades(p7m, signer=mario, level="B-T", timestamper=timestamper)

    _, names = openssl_verify(p7m, ca_file, tmp_path)

    assert len(signer_infos(p7m)) == 3
    assert sorted(set(names)) == ["Luca Verdi", "Mario Rossi"]
    # Certificates are merged, not repeated.
    certificates = read_signed_data(p7m)["certificates"]
    assert len({c.dump() for c in certificates}) == len(certificates)


def test_a_pem_armoured_p7m_is_co_signed_as_der(ca, ca_file, tmp_path):
    first = sign_cades(CONTENT, signer=pdfs.make_signer(ca))
    armoured = pem.armor("PKCS7", first)

    both = sign_cades(armoured, signer=pdfs.make_signer(ca, "Giulia Bianchi", "signer:2"))

    assert len(signer_infos(both)) == 2
    assert openssl_verify(both, ca_file, tmp_path)[0] == CONTENT


def test_the_crls_an_envelope_carries_stay_when_it_is_co_signed(ca, ca_file, tmp_path):
    first = read_signed_data(sign_cades(CONTENT, signer=pdfs.make_signer(ca)))
    crl = ca.crl([])
    with_crl = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": cms.SignedData(
                {
                    **{name: first[name] for name in first},
                    "crls": [cms.RevocationInfoChoice.load(crl)],
                }
            ),
        }
    ).dump()

    both = sign_cades(with_crl, signer=pdfs.make_signer(ca, "Giulia Bianchi", "signer:2"))

    assert [c.dump() for c in read_signed_data(both)["crls"]] == [crl]
    assert openssl_verify(both, ca_file, tmp_path)[0] == CONTENT


def test_an_envelope_without_crls_gets_none(ca):
    assert isinstance(
        read_signed_data(sign_cades(CONTENT, signer=pdfs.make_signer(ca)))["crls"], core.Void
    )


def test_a_detached_signature_cannot_be_co_signed(ca):
    signer = pdfs.make_signer(ca)
    detached = asyncio.run(
        signer.async_sign_general_data(CONTENT, "sha256", detached=True, use_cades=True)
    )

    with pytest.raises(UnreadableDocument, match="detached"):
        sign_cades(detached.dump(), signer=signer)


def test_a_tsa_failure_fails_the_signature(ca):
    unreachable = external_timestamper("http://127.0.0.1:9/tsa", timeout=2)

    with pytest.raises(SignatureFailed):
        sign_cades(CONTENT, signer=pdfs.make_signer(ca), level="B-T", timestamper=unreachable)


def test_signing_works_inside_a_running_event_loop(ca, timestamper):
    signer = pdfs.make_signer(ca)

    async def view():
        first = await async_sign_cades(CONTENT, signer=signer, level="B-T", timestamper=timestamper)
        return sign_cades(first, signer=signer)

    assert len(signer_infos(asyncio.run(view()))) == 2


def test_the_envelope_carries_the_content_digest(ca):
    p7m = sign_cades(CONTENT, signer=pdfs.make_signer(ca))

    (info,) = signer_infos(p7m)
    digest = next(
        a["values"][0].native for a in info["signed_attrs"] if a["type"].native == "message_digest"
    )
    assert digest == hashlib.sha256(CONTENT).digest()
    assert cms.ContentInfo.load(p7m)["content"]["encap_content_info"]["content"].native == CONTENT
