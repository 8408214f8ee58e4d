"""PAdES signing at every level, checked by pyHanko's validators and qpdf."""

import asyncio
import sys
import threading
from io import BytesIO

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from signing.appearance import parse_where
from signing.documents import check_pdf
from signing.errors import (
    DocumentTooLarge,
    EncryptedDocument,
    PlacementError,
    SignatureFailed,
    UnreadableDocument,
)
from signing.keys import KeyAlgorithm
from signing.pades import async_sign_pdf, sign_pdf
from signing.pki import Profile, Subject
from signing.signers import HandleSigner, _parsed, to_asn1
from signing.tsa import external_timestamper
from signing.validate import validate
from tests.signing import pdfs

LEVELS = ["B-B", "B-T", "B-LT", "B-LTA"]


@pytest.fixture
def timestamper(ca):
    return pdfs.make_timestamper(ca)


def sign(ca, data, level, *, signer=None, timestamper=None, field="Firma1", **kwargs):
    return sign_pdf(
        data,
        signer=signer or pdfs.make_signer(ca),
        field_name=field,
        level=level,
        timestamper=timestamper,
        validation_context=pdfs.validation_context(ca) if level in ("B-LT", "B-LTA") else None,
        **kwargs,
    )


def reader(data: bytes) -> PdfFileReader:
    return PdfFileReader(BytesIO(data))


def qpdf_check(tmp_path, data: bytes) -> None:
    path = tmp_path / "checked.pdf"
    path.write_bytes(data)
    result = pdfs.run("qpdf", "--check", str(path), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"No syntax or stream encoding errors found" in result.stdout


def pyhanko_status(ca, embedded):
    context = pdfs.validation_context(ca, revocation_mode="soft-fail")
    return validate_pdf_signature(embedded, signer_validation_context=context)


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
@pytest.mark.parametrize("level", LEVELS)
def test_every_level_makes_a_signature_pyhanko_and_qpdf_accept(
    ca, timestamper, tmp_path, level, algorithm
):
    data = pdfs.simple_pdf(2)
    signer = pdfs.make_signer(ca, algorithm=algorithm)

    signed = sign(ca, data, level, signer=signer, timestamper=timestamper, name="Mario Rossi")

    qpdf_check(tmp_path, signed)
    assert signed.startswith(data)  # an incremental update: the original bytes are untouched
    embedded = reader(signed).embedded_regular_signatures
    assert [e.field_name for e in embedded] == ["Firma1"]
    status = pyhanko_status(ca, embedded[0])
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.signing_cert.subject.native["common_name"] == "Mario Rossi"
    if level == "B-B":
        assert status.timestamp_validity is None
    else:
        assert status.timestamp_validity.valid and status.timestamp_validity.trusted
    root = reader(signed).root
    assert ("/DSS" in root) == (level in ("B-LT", "B-LTA"))
    assert len(reader(signed).embedded_timestamp_signatures) == (1 if level == "B-LTA" else 0)
    report = validate(signed, trust_roots=[ca.root], crls=[ca.crl([]), ca.root_crl()])
    assert report.valid and [s.level for s in report.signatures] == [level]


def ades_spec(ca) -> PdfSignatureValidationSpec:
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=[to_asn1(ca.root)]),
                revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_b_lta_passes_pyhankos_ades_validation_offline(ca, timestamper, algorithm):
    signed = sign(
        ca,
        pdfs.simple_pdf(),
        "B-LTA",
        signer=pdfs.make_signer(ca, algorithm=algorithm),
        timestamper=timestamper,
    )

    embedded = reader(signed).embedded_regular_signatures[0]
    result = asyncio.run(ades_lta_validation(embedded, ades_spec(ca)))

    assert result.ades_subindic == AdESPassed.OK


def test_three_signers_in_turn_leave_every_signature_valid(ca, timestamper, tmp_path):
    data = pdfs.simple_pdf(3)
    info = check_pdf(data)
    people = [
        ("Mario Rossi", KeyAlgorithm.P256, "B-B"),
        ("Giulia Bianchi", KeyAlgorithm.RSA2048, "B-T"),
        ("Luca Verdi", KeyAlgorithm.P256, "B-LTA"),
    ]
    for number, (name, algorithm, level) in enumerate(people, start=1):
        where = {"page": number, "position": "rect: 20mm, 20mm, 90mm, 40mm"}
        data = sign(
            ca,
            data,
            level,
            signer=pdfs.make_signer(ca, name, f"signer:{number}", algorithm),
            timestamper=timestamper,
            field=f"Firma{number}",
            appearance=parse_where(where, document=info),
            name=name,
        )

    qpdf_check(tmp_path, data)
    embedded = reader(data).embedded_regular_signatures
    assert [e.field_name for e in embedded] == ["Firma1", "Firma2", "Firma3"]
    for e in embedded:
        status = pyhanko_status(ca, e)
        assert status.bottom_line, status.pretty_print_details()
        assert status.modification_level <= ModificationLevel.FORM_FILLING
    report = validate(data, trust_roots=[ca.root])
    assert report.valid
    assert [s.signer for s in report.signatures] == [name for name, _, _ in people]


def test_a_field_name_is_used_once(ca):
    signed = sign(ca, pdfs.simple_pdf(), "B-B", field="Firma1")

    with pytest.raises(PlacementError, match='already has a signature field "Firma1"'):
        sign(ca, signed, "B-B", field="Firma1")


@pytest.mark.parametrize("name", ["", "Firma.1"])
def test_a_field_name_must_be_plain(ca, name):
    with pytest.raises(PlacementError):
        sign(ca, pdfs.simple_pdf(), "B-B", field=name)


def test_an_invisible_signature_sits_on_the_page_asked_for(ca):
    data = pdfs.simple_pdf(3)
    appearance = parse_where({"page": 3}, document=check_pdf(data))

    signed = sign(ca, data, "B-B", appearance=appearance)

    r = reader(signed)
    widget = r.embedded_regular_signatures[0].sig_field
    assert [float(v) for v in widget["/Rect"]] == [0, 0, 0, 0]
    page3 = r.root["/Pages"]["/Kids"][2].get_object()
    assert any(a.get_object() is widget for a in page3["/Annots"])


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (pdfs.encrypted_pdf, EncryptedDocument),
        (pdfs.truncated_pdf, UnreadableDocument),
        (pdfs.garbage_pdf, UnreadableDocument),
        (lambda: b"PK\x03\x04 a zip, not a PDF", UnreadableDocument),
    ],
)
def test_unsignable_documents_raise_distinct_errors(ca, document, error):
    data = document()
    with pytest.raises(error):
        check_pdf(data)
    with pytest.raises(error):
        sign(ca, data, "B-B")


def test_an_oversized_document_is_refused_before_reading_it():
    data = pdfs.simple_pdf()
    with pytest.raises(DocumentTooLarge) as caught:
        check_pdf(data, max_bytes=len(data) - 1)
    assert caught.value.limit == len(data) - 1
    assert check_pdf(data, max_bytes=len(data)).pages == [pdfs.A4]


@pytest.mark.parametrize("level", ["B-T", "B-LTA"])
def test_a_tsa_that_does_not_answer_fails_the_signature_and_returns_nothing(ca, level):
    # Nothing listens on port 9: the connection is refused at once.
    unreachable = external_timestamper("http://127.0.0.1:9/tsa", timeout=2)

    with pytest.raises(SignatureFailed):
        sign(ca, pdfs.simple_pdf(), level, timestamper=unreachable)


def test_levels_that_need_a_timestamper_or_revocation_data_say_so(ca, timestamper):
    with pytest.raises(ValueError, match="needs a timestamper"):
        sign_pdf(pdfs.simple_pdf(), signer=pdfs.make_signer(ca), field_name="F", level="B-T")
    with pytest.raises(ValueError, match="validation context"):
        sign_pdf(
            pdfs.simple_pdf(),
            signer=pdfs.make_signer(ca),
            field_name="F",
            level="B-LT",
            timestamper=timestamper,
        )


class CountingSigner(HandleSigner):
    """Our HandleSigner, recording each use of the key (dry runs included)."""

    def __init__(self, inner: HandleSigner):
        self.__dict__.update(inner.__dict__)
        self.calls: list[bool] = []

    async def async_sign_raw(self, data, digest_algorithm, dry_run=False):
        self.calls.append(dry_run)
        return await super().async_sign_raw(data, digest_algorithm, dry_run)


@pytest.mark.parametrize("level", LEVELS)
def test_each_signature_uses_the_key_once_without_a_dry_run(ca, timestamper, level):
    signer = CountingSigner(pdfs.make_signer(ca, algorithm=KeyAlgorithm.RSA2048))

    sign(ca, pdfs.simple_pdf(), level, signer=signer, timestamper=timestamper)

    assert signer.calls == [False]


def test_signers_of_one_certificate_share_its_parsed_form_and_both_sign(ca):
    issued = ca.issue(profile=Profile.SIMPLE, subject=Subject(common_name="Mario Rossi"), owner="o")
    first, second = (ca.signer(issued, issued.key_reference, owner="o") for _ in range(2))

    assert first.signing_cert is second.signing_cert
    signed = sign(
        ca, sign(ca, pdfs.simple_pdf(), "B-B", signer=first), "B-B", signer=second, field="B"
    )
    assert validate(signed, trust_roots=[ca.root]).valid


def test_a_shared_certificate_reads_the_same_from_many_threads_at_once(ca):
    """Signers share parsed certificates across threads: asn1crypto's lazy
    parsing must be done before they are shared, or a thread can see a
    half-built list of fields."""
    issued = ca.issue(profile=Profile.SIMPLE, subject=Subject(common_name="Mario Rossi"), owner="o")
    der = issued.certificate.public_bytes(Encoding.DER)
    errors, reads = [], set()

    def read(certificate, start):
        start.wait()
        try:
            reads.add(
                (
                    certificate.issuer_serial,
                    certificate.subject.human_friendly,
                    certificate.sha256,
                    frozenset(certificate.key_usage_value.native),
                )
            )
        except Exception as exc:
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for _ in range(200):
            certificate = _parsed.__wrapped__(der)  # a fresh one each round
            start = threading.Barrier(4)
            readers = [threading.Thread(target=read, args=(certificate, start)) for _ in range(4)]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
    finally:
        sys.setswitchinterval(interval)

    assert errors == []
    assert len(reads) == 1


def test_signing_works_inside_a_running_event_loop(ca, timestamper):
    signer = pdfs.make_signer(ca)

    async def view():
        first = await async_sign_pdf(
            pdfs.simple_pdf(), signer=signer, field_name="A", level="B-T", timestamper=timestamper
        )
        # The sync wrapper too: it must not nest asyncio.run in this loop.
        return sign_pdf(first, signer=signer, field_name="B", level="B-B")

    signed = asyncio.run(view())

    assert validate(signed, trust_roots=[ca.root]).valid


def test_a_ten_megabyte_document_signs(ca, timestamper):
    data = pdfs.large_pdf()
    assert len(data) > 10_000_000

    signed = sign(ca, data, "B-T", timestamper=timestamper)

    assert signed.startswith(data) and len(signed) - len(data) < 64_000
    status = pyhanko_status(ca, reader(signed).embedded_regular_signatures[0])
    assert status.bottom_line
