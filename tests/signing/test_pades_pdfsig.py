"""Poppler's pdfsig, with an NSS database trusting only /pki/ca.pem, accepts
every PAdES level, and every signature of a document signed in turn.

pdfsig checks the signer's certificate online (the OCSP URL it carries), so
these tests run against the live server (`live_pki`).
"""

import re
import urllib.request
from io import BytesIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko_certvalidator import ValidationContext

from portal import trust
from signing.appearance import parse_where
from signing.documents import check_pdf
from signing.keys import KeyAlgorithm
from signing.pades import sign_pdf
from signing.pki import Profile, Subject
from signing.signers import to_asn1
from tests.signing import pdfs
from tests.signing.conftest import live_pki  # noqa: F401 - a fixture


@pytest.fixture
def nssdb(live_pki, live_server, tmp_path):  # noqa: F811 - the imported fixture
    """An NSS database trusting the root published at /pki/ca.pem, and nothing else."""
    with urllib.request.urlopen(f"{live_server.url}/pki/ca.pem", timeout=10) as answer:  # noqa: S310
        published = x509.load_pem_x509_certificates(answer.read())
    root = next(c for c in published if c.subject == c.issuer)
    (tmp_path / "root.pem").write_bytes(root.public_bytes(Encoding.PEM))
    directory = tmp_path / "nss"
    directory.mkdir()
    pdfs.run("certutil", "-N", "-d", f"sql:{directory}", "--empty-password")
    pdfs.run(
        "certutil", "-A", "-d", f"sql:{directory}", "-n", "root", "-t", "CT,C,C",
        "-i", str(tmp_path / "root.pem"),
    )  # fmt: skip
    return directory


def pdfsig(nssdb, path) -> list[dict[str, str]]:
    result = pdfs.run("pdfsig", "-nssdir", f"sql:{nssdb}", str(path), check=False)
    out = result.stdout.decode()
    signatures = []
    for block in re.split(r"^Signature #\d+:\n", out, flags=re.MULTILINE)[1:]:
        fields = dict(re.findall(r"^[ \t]+- ([^:\n]+): (.*)$", block, flags=re.MULTILINE))
        signatures.append(fields)
    assert signatures, out + result.stderr.decode()
    return signatures


def signature_alone(data: bytes, field_name: str) -> bytes:
    """`data` with one more incremental update in which `field_name` is the only
    signature field: the others leave the form and their widgets leave the
    pages. The signed revisions are untouched, so the signature is checked on
    exactly the bytes it signed."""
    writer = IncrementalPdfFileWriter(BytesIO(data))

    def another_signature(reference) -> bool:
        field = reference.get_object()
        while "/T" not in field and "/Parent" in field:
            field = field["/Parent"]
        return field.get("/FT") == "/Sig" and str(field.get("/T")) != field_name

    form = writer.root["/AcroForm"]
    form["/Fields"] = generic.ArrayObject(f for f in form["/Fields"] if not another_signature(f))
    writer.update_container(form)

    def pages(node):
        if node.get("/Type") == "/Pages":
            for kid in node["/Kids"]:
                yield from pages(kid.get_object())
        else:
            yield node

    for page in pages(writer.root["/Pages"]):
        if "/Annots" in page:
            page["/Annots"] = generic.ArrayObject(
                a for a in page["/Annots"] if not another_signature(a)
            )
            writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def pdfsig_each(nssdb, path) -> list[dict[str, str]]:
    """pdfsig's report on every signature of `path`, each from a run of its own
    on the document where that signature is the only one (`signature_alone`).

    Poppler 22.12 (Debian 12) cannot check one certificate twice in a run: it
    imports the certificates of each signature as NSS temporary certificates
    without copying their DER (CERT_NewTempCertificate(..., copyDER=PR_FALSE)),
    then frees the DER with the signature while NSS's libpkix still holds the
    certificates it verified. The next signature carrying the same certificate
    meets that entry, found by issuer and serial number, and its encoding is
    compared with freed memory: SEC_ERROR_REUSED_ISSUER_AND_SERIAL, which
    pdfsig prints as "Unknown issue with Certificate or corrupted data.". Its
    signature still reads "Signature is Valid.". Nothing of ours is involved:
    any CA with an intermediate does it, with or without OCSP (docs/operations.md,
    "Validators")."""
    signatures = pdfsig(nssdb, path)
    data = path.read_bytes()
    alone = []
    for number, signature in enumerate(signatures, start=1):
        field_name = signature["Signature Field Name"]
        single = path.with_name(f"{path.stem}.alone-{number}.pdf")
        single.write_bytes(signature_alone(data, field_name))
        (report,) = pdfsig(nssdb, single)
        assert report["Signature Field Name"] == field_name, report
        alone.append(report)
    return alone


def signer_for(name: str, owner: str, algorithm: KeyAlgorithm):
    row = trust.issue(
        profile=Profile.ADVANCED,
        subject=Subject(common_name=name),
        owner=owner,
        algorithm=algorithm,
    )
    return trust.signer(row)


def revocation_context():
    """Built in-process from the portal's CRLs: signing never calls the server."""
    ca = trust.authority()
    return ValidationContext(
        trust_roots=[to_asn1(ca.root)],
        other_certs=[to_asn1(ca.issuing)],
        crls=[trust.issuing_crl(), trust.root_crl()],
        allow_fetching=False,
        revocation_mode="require",
    )


def regular(signatures):
    """The PAdES signatures: pdfsig lists document timestamps too, as type
    "unknown", and does not check them (pyHanko's validator does, elsewhere)."""
    found = [s for s in signatures if s.get("Signature Type") == "ETSI.CAdES.detached"]
    others = [s for s in signatures if s not in found]
    assert all(
        s["Signer Certificate Common Name"].endswith("Time-Stamping Authority") for s in others
    )
    return found


def assert_all_valid_and_trusted(signatures, names):
    regular_signatures = regular(signatures)
    assert [s["Signer Certificate Common Name"] for s in regular_signatures] == names
    for s in regular_signatures:
        assert s["Signature Validation"] == "Signature is Valid.", s
        assert s["Certificate Validation"] == "Certificate is Trusted.", s


@pytest.mark.parametrize(
    ("level", "algorithm"),
    [
        ("B-B", KeyAlgorithm.RSA2048),
        ("B-T", KeyAlgorithm.P256),
        ("B-LT", KeyAlgorithm.RSA2048),
        ("B-LTA", KeyAlgorithm.P256),
    ],
)
def test_pdfsig_accepts_every_level(nssdb, tmp_path, level, algorithm):
    signed = sign_pdf(
        pdfs.simple_pdf(),
        signer=signer_for("Mario Rossi", "signer:1", algorithm),
        field_name="Firma1",
        level=level,
        timestamper=trust.timestamper(),
        validation_context=revocation_context() if level in ("B-LT", "B-LTA") else None,
    )
    (tmp_path / "signed.pdf").write_bytes(signed)

    assert_all_valid_and_trusted(pdfsig(nssdb, tmp_path / "signed.pdf"), ["Mario Rossi"])


def test_pdfsig_accepts_three_signatures_made_in_turn(nssdb, tmp_path):
    data = pdfs.simple_pdf(2)
    info = check_pdf(data)
    people = [
        ("Mario Rossi", KeyAlgorithm.P256, "B-T"),
        ("Giulia Bianchi", KeyAlgorithm.RSA2048, "B-T"),
        ("Luca Verdi", KeyAlgorithm.P256, "B-LTA"),
    ]
    for number, (name, algorithm, level) in enumerate(people, start=1):
        where = {
            "page": 1 + number % 2,
            "position": f"rect: {20 + 60 * number}mm, 20mm, {70 + 60 * number}mm, 40mm"
            if number < 3
            else "rect: 20mm, 60mm, 90mm, 80mm",
            "text": [{"format": ["Firmato da nominativofirma", "il datafirma"]}],
        }
        data = sign_pdf(
            data,
            signer=signer_for(name, f"signer:{number}", algorithm),
            field_name=f"Firma{number}",
            level=level,
            appearance=parse_where(where, document=info),
            timestamper=trust.timestamper(),
            validation_context=revocation_context() if level == "B-LTA" else None,
            name=name,
        )
    (tmp_path / "signed.pdf").write_bytes(data)

    signatures = pdfsig(nssdb, tmp_path / "signed.pdf")

    assert_all_valid_and_trusted(signatures, [name for name, _, _ in people])
    assert regular(signatures)[-1]["Signed Ranges"].count("[") == 2


def test_pdfsig_trusts_every_signature_of_one_certificate(nssdb, tmp_path):
    """One signer, two signatures (two groups, or a clause and the main
    signature): each is valid in the whole document, and each certificate
    check passes in a run of its own (see `pdfsig_each`)."""
    signer = signer_for("Mario Rossi", "signer:1", KeyAlgorithm.P256)
    data = pdfs.simple_pdf()
    for number, level in enumerate(("B-B", "B-T"), start=1):
        data = sign_pdf(
            data,
            signer=signer,
            field_name=f"Firma{number}",
            level=level,
            timestamper=trust.timestamper(),
        )
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)

    together = pdfsig(nssdb, path)
    assert [s["Signature Field Name"] for s in together] == ["Firma1", "Firma2"]
    assert all(s["Signature Validation"] == "Signature is Valid." for s in together), together
    assert together[0]["Certificate Validation"] == "Certificate is Trusted.", together

    alone = pdfsig_each(nssdb, path)
    assert [s["Signature Field Name"] for s in alone] == ["Firma1", "Firma2"]
    assert_all_valid_and_trusted(alone, ["Mario Rossi", "Mario Rossi"])
