"""The validation report: what it says about good, broken, altered and foreign files."""

import json
from datetime import UTC, datetime
from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing.cades import sign_cades
from signing.pades import sign_pdf
from signing.pki import CertificateAuthority, Revoked
from signing.validate import validate
from tests.signing import pdfs
from tests.signing.conftest import OFFLINE_BASE_URL


@pytest.fixture
def signer(ca):
    return pdfs.make_signer(ca)


@pytest.fixture
def signed(signer):
    return sign_pdf(pdfs.simple_pdf(), signer=signer, field_name="Firma1", level="B-B")


def test_a_good_signature_reports_the_contract_fields(ca, signed):
    report = validate(signed, trust_roots=[ca.root])

    body = report.as_dict()
    json.dumps(body)  # serialisable as it is
    assert body["valid"] is True
    (signature,) = body["signatures"]
    assert {"signer", "signing_time", "level", "intact", "trusted", "timestamp"} <= set(signature)
    assert signature["signer"] == "Mario Rossi"
    assert signature["level"] == "B-B"
    assert signature["intact"] is signature["trusted"] is True
    assert signature["timestamp"] is None
    signing_time = datetime.fromisoformat(signature["signing_time"])
    assert abs((datetime.now(UTC) - signing_time).total_seconds()) < 60
    assert signature["modifications"] == "none"
    assert signature["coverage"] == "entire_file"


def test_a_signature_from_an_unknown_root_is_intact_but_not_trusted(tmp_path, keystore, signed):
    stranger = CertificateAuthority.open_or_create(
        directory=tmp_path / "other", keystore=keystore, base_url=OFFLINE_BASE_URL
    )

    report = validate(signed, trust_roots=[stranger.root])

    (signature,) = report.signatures
    assert signature.intact and not signature.trusted
    assert not report.valid
    assert any("trusted root" in p for p in signature.problems)


def test_a_byte_changed_in_the_signed_range_breaks_integrity(ca, signed):
    altered = bytearray(signed)
    altered[12] ^= 0x01  # inside the header's binary comment: covered by the signature

    report = validate(bytes(altered), trust_roots=[ca.root])

    (signature,) = report.signatures
    assert not signature.intact and not report.valid


def test_content_added_after_signing_is_reported_as_not_allowed(ca, signed):
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    stream = generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 400 Td (PAGATO) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = BytesIO()
    writer.write(out)

    report = validate(out.getvalue(), trust_roots=[ca.root])

    (signature,) = report.signatures
    assert signature.intact and signature.trusted
    assert signature.modifications == "other" and not signature.changes_allowed
    assert not report.valid


def test_a_revoked_certificate_is_not_trusted(ca, signer, signed):
    serial = signer.signing_cert.serial_number
    crl = ca.crl([Revoked(serial=serial, revoked_at=datetime(2020, 1, 1, tzinfo=UTC))])

    report = validate(signed, trust_roots=[ca.root], crls=[crl, ca.root_crl()])

    (signature,) = report.signatures
    assert signature.intact and not signature.trusted and not report.valid


def test_our_own_crl_saying_nothing_keeps_the_signature_trusted(ca, signed):
    report = validate(signed, trust_roots=[ca.root], crls=[ca.crl([]), ca.root_crl()])

    assert report.valid


@pytest.mark.parametrize(
    ("make", "kind", "error"),
    [
        (lambda: pdfs.simple_pdf(), "pdf", "no signatures"),
        (pdfs.encrypted_pdf, "pdf", "encrypted"),
        (pdfs.truncated_pdf, "pdf", "cannot be read"),
        (pdfs.garbage_pdf, "pdf", "cannot be read"),
        (lambda: b"", None, "neither a PDF nor a .p7m"),
        (lambda: b"plain text", None, "neither a PDF nor a .p7m"),
        (lambda: b"\x30\x03\x02\x01\x01", None, "neither a PDF nor a .p7m"),
    ],
)
def test_files_without_a_valid_signature_give_a_report_not_an_exception(ca, make, kind, error):
    report = validate(make(), trust_roots=[ca.root])

    assert not report.valid and report.kind == kind
    assert error in report.error
    assert report.as_dict()["valid"] is False and report.as_dict()["error"] == report.error


def test_a_file_over_the_limit_is_not_read(ca, signed):
    report = validate(signed, trust_roots=[ca.root], max_bytes=100)

    assert not report.valid and "larger than 100 bytes" in report.error


def test_a_p7m_whose_content_changed_is_not_intact(ca, signer):
    p7m = sign_cades(b"Il contratto dice 100 euro.", signer=signer)
    altered = p7m.replace(b"100 euro", b"900 euro")

    report = validate(altered, trust_roots=[ca.root])

    (signature,) = report.signatures
    assert report.kind == "p7m"
    assert not signature.intact and not report.valid


def test_the_text_report_names_signer_level_and_verdict(ca, signed):
    text = validate(signed, trust_roots=[ca.root]).as_text()

    assert text.startswith("VALID (pdf)")
    assert "Signature 1: Mario Rossi  [B-B]" in text
