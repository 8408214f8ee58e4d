"""Poppler's pdfsig, with an NSS database trusting only /pki/ca.pem, accepts
every PAdES level, and every signature of a document signed in turn.

pdfsig checks the signer's certificate online (the OCSP URL it carries), so
these tests run against the live server (`live_pki`).
"""

import re
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
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
