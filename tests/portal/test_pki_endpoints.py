"""The PKI endpoints of CONTRACT section 8, asked by openssl over HTTP, and the
portal's register of issued certificates."""

import asyncio
import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509 import ocsp as x509_ocsp
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from portal import trust
from portal.models import IssuedCertificate
from signing.keys import FileKeyStore, KeyUnavailable
from signing.pki import CertificateAuthority, Profile, Subject
from signing.signers import to_asn1
from signing.tsa import InProcessTimeStamper, response_status
from tests.signing.conftest import live_pki, portal_pki_in  # noqa: F401 - fixture

MARIO = Subject(common_name="Mario Rossi", given_name="Mario", surname="Rossi")


@pytest.fixture
def pki(settings, tmp_path, db):
    """The portal's authority in a temporary directory, for the test client."""
    with portal_pki_in(settings, tmp_path / "pki", base_url="http://testserver") as ca:
        yield ca


def pem(*certificates) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


# -- published certificates and CRLs --------------------------------------------------


def test_ca_pem_holds_the_root_and_the_issuing_ca(client, pki):
    response = client.get("/pki/ca.pem")
    assert response.status_code == 200
    assert x509.load_pem_x509_certificates(response.content) == [pki.root, pki.issuing]


def test_issuing_cer_is_der(client, pki):
    response = client.get("/pki/issuing.cer")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(response.content) == pki.issuing


def test_the_crl_follows_revocations(client, pki):
    row = trust.issue(profile=Profile.ONE_TIME, subject=MARIO, owner="signer:1")
    first = client.get("/pki/crl.der")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(first.content)
    assert crl.is_signature_valid(pki.issuing.public_key())
    assert crl.get_revoked_certificate_by_serial_number(row.serial_number) is None

    assert trust.revoke(serial=row.serial, reason="cessationOfOperation")
    assert not trust.revoke(serial=row.serial, reason="keyCompromise")  # already revoked

    crl = x509.load_der_x509_crl(client.get("/pki/crl.der").content)
    entry = crl.get_revoked_certificate_by_serial_number(row.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.cessation_of_operation
    )


def test_the_root_crl_is_published(client, pki):
    response = client.get("/pki/root-crl.der")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.content)
    assert crl.is_signature_valid(pki.root.public_key())
    assert (
        pki.issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        .value[0]
        .full_name[0]
        .value
        == "http://testserver/pki/root-crl.der"
    )


def test_the_disclosure_statement_is_served(client, pki):
    response = client.get("/pki/pds")
    assert response.status_code == 200
    assert "http://testserver/pki/ocsp" in response.content.decode()


# -- the register --------------------------------------------------------------------


def test_issue_records_the_certificate_and_only_a_sealed_key(pki):
    row = trust.issue(profile=Profile.QUALIFIED, subject=MARIO, owner="signer:7")
    row = IssuedCertificate.objects.get(pk=row.pk)

    certificate = x509.load_der_x509_certificate(bytes(row.der))
    assert row.serial == format(certificate.serial_number, "x")
    assert (row.profile, row.owner, row.common_name) == ("qualified", "signer:7", "Mario Rossi")
    assert row.not_after == certificate.not_valid_after_utc
    assert row.revoked_at is None

    reference = bytes(row.key_reference)
    handle = trust.keystore().load(reference, owner="signer:7")
    assert handle.public_key == certificate.public_key()
    with pytest.raises(KeyUnavailable):
        trust.keystore().load(reference, owner="signer:8")
    assert b"PRIVATE KEY" not in reference
    # the clear key is nowhere in the row
    private = trust.keystore()._unseal(reference, owner="signer:7")
    clear = private.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    assert clear not in reference
    assert private.private_numbers().private_value.to_bytes(32, "big") not in reference


def test_signer_signs_for_a_registered_certificate(pki):
    row = trust.issue(profile=Profile.ADVANCED, subject=MARIO, owner="signer:1")
    signer = trust.signer(row)
    assert signer.signing_cert.dump() == bytes(row.der)


def test_revocation_reasons_read_in_either_spelling(pki):
    row = trust.issue(profile=Profile.ONE_TIME, subject=MARIO, owner="signer:1")
    assert trust.revoke(serial=row.serial_number, reason="key_compromise")
    row.refresh_from_db()
    assert row.revocation_reason == "keyCompromise"
    assert row.revoked_at is not None
    with pytest.raises(ValueError):
        trust.revoke(serial=row.serial, reason="bored")


def test_revoking_an_unknown_serial_changes_nothing(pki):
    assert not trust.revoke(serial=12345, reason="keyCompromise")


def test_validation_roots_add_the_configured_extra_roots(pki, settings, tmp_path):
    other = CertificateAuthority.open_or_create(
        directory=tmp_path / "other",
        keystore=FileKeyStore(os.urandom(32)),
        base_url="http://127.0.0.1:9",
    )
    extra = tmp_path / "extra.pem"
    extra.write_bytes(pem(other.root))
    settings.EXTRA_TRUST_ROOTS = [str(extra)]
    trust.reset()
    assert trust.validation_roots() == [trust.authority().root, other.root]


def test_the_timestamper_is_ours_and_reused_unless_tsa_url_is_set(pki, settings):
    timestamper = trust.timestamper()
    assert isinstance(timestamper, InProcessTimeStamper)
    assert trust.timestamper() is timestamper

    settings.TSA_URL = "http://127.0.0.1:9/tsa"
    external = trust.timestamper()
    assert not isinstance(external, InProcessTimeStamper)
    assert external.url == "http://127.0.0.1:9/tsa"


# -- garbage never makes a 500 ------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x80", bytes(range(256)) * 4])
def test_garbage_to_ocsp_gets_malformed_request(client, pki, body):
    response = client.post("/pki/ocsp", body, content_type="application/ocsp-request")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ocsp-response"
    status = asn1_ocsp.OCSPResponse.load(response.content)["response_status"].native
    assert status == "malformed_request"


@pytest.mark.parametrize("path", ["!!!", "AAAA", "not%20base64", "a/b/c", "MAA="])
def test_garbage_to_ocsp_get_gets_malformed_request(client, pki, path):
    response = client.get(f"/pki/ocsp/{path}")
    assert response.status_code == 200
    status = asn1_ocsp.OCSPResponse.load(response.content)["response_status"].native
    assert status == "malformed_request"


def test_an_oversized_ocsp_request_is_refused_without_reading_it_all(client, pki):
    response = client.post("/pki/ocsp", b"\x30" * 100_000, content_type="application/ocsp-request")
    assert response.status_code == 200
    assert asn1_ocsp.OCSPResponse.load(response.content)["response_status"].native == (
        "malformed_request"
    )


# (Django's test client drops the content type of an empty body: that case is a 400.)
@pytest.mark.parametrize("body", [b"\x00", b"garbage", b"\x30\x03\x02\x01\x01", bytes(range(256))])
def test_garbage_to_tsa_gets_a_der_rejection(client, pki, body):
    response = client.post("/tsa", body, content_type="application/timestamp-query")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/timestamp-reply"
    assert response_status(response.content)[:2] == ("rejection", {"bad_data_format"})


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data"])
def test_the_wrong_content_type_to_tsa_is_a_400(client, pki, content_type):
    response = client.post("/tsa", b"{}", content_type=content_type)
    assert response.status_code == 400


def test_an_oversized_tsa_request_is_rejected(client, pki):
    response = client.post("/tsa", b"\x30" * 100_000, content_type="application/timestamp-query")
    assert response.status_code == 200
    assert response_status(response.content)[0] == "rejection"


def test_the_endpoints_want_their_methods(client, pki):
    assert client.get("/tsa").status_code == 405
    assert client.post("/pki/ca.pem").status_code == 405
    assert client.get("/pki/ocsp").status_code == 405


def test_posts_need_no_csrf_token(pki):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/tsa", b"x", content_type="application/timestamp-query")
    assert response.status_code == 200
    response = strict.post("/pki/ocsp", b"x", content_type="application/ocsp-request")
    assert response.status_code == 200


# -- against the live server, as validators see it -------------------------------------------


@pytest.fixture
def live_files(live_pki, tmp_path):  # noqa: F811 - the imported fixture
    ca = live_pki
    row = trust.issue(profile=Profile.ADVANCED, subject=MARIO, owner="signer:1")
    (tmp_path / "ca.pem").write_bytes(pem(ca.root, ca.issuing))
    (tmp_path / "root.pem").write_bytes(pem(ca.root))
    (tmp_path / "issuing.pem").write_bytes(pem(ca.issuing))
    (tmp_path / "ee.pem").write_bytes(pem(row.certificate))
    return ca, row, tmp_path


def openssl_ocsp(directory: Path, url: str, digest: str = "sha1") -> str:
    result = run(
        "openssl", "ocsp", "-issuer", directory / "issuing.pem", f"-{digest}",
        "-cert", directory / "ee.pem", "-url", url, "-CAfile", directory / "root.pem",
    )  # fmt: skip
    assert "Response verify OK" in result.stderr, result.stderr + result.stdout
    return result.stdout


def test_certificates_point_at_the_live_server(live_files, live_server):
    _, row, _ = live_files
    aia = row.certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    urls = [d.access_location.value for d in aia.value]
    assert f"{live_server.url}/pki/ocsp" in urls
    assert f"{live_server.url}/pki/issuing.cer" in urls
    issuing = requests.get(urls[1], timeout=10)
    assert x509.load_der_x509_certificate(issuing.content) == live_files[0].issuing


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_openssl_ocsp_says_good_then_revoked(live_files, live_server, digest):
    _, row, directory = live_files
    url = f"{live_server.url}/pki/ocsp"

    assert "ee.pem: good" in openssl_ocsp(directory, url, digest)

    trust.revoke(serial=row.serial, reason="keyCompromise")
    output = openssl_ocsp(directory, url, digest)
    assert "ee.pem: revoked" in output
    assert "Reason: keyCompromise" in output


def test_ocsp_over_get_answers_too(live_files, live_server):
    ca, row, _ = live_files
    request = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(row.certificate, ca.issuing, hashes.SHA1())
        .build()
        .public_bytes(Encoding.DER)
    )
    encoded = requests.utils.quote(base64.b64encode(request).decode(), safe="")
    response = requests.get(f"{live_server.url}/pki/ocsp/{encoded}", timeout=10)
    assert response.headers["Content-Type"] == "application/ocsp-response"
    answer = x509_ocsp.load_der_ocsp_response(response.content)
    assert answer.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert answer.serial_number == row.serial_number


def test_ocsp_over_get_reads_base64_that_ends_with_a_slash(live_files, live_server):
    # An unpadded base64 can end with "/"; one in 64 such requests once got
    # "malformed request" because the slash was taken for the path's.
    ca, row, _ = live_files
    nonces = (n.to_bytes(size, "big") for size in (4, 5, 6) for n in range(1, 5000))
    for nonce in nonces:
        request = (
            x509_ocsp.OCSPRequestBuilder()
            .add_certificate(row.certificate, ca.issuing, hashes.SHA1())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
            .public_bytes(Encoding.DER)
        )
        encoded = base64.b64encode(request).decode()
        if encoded.endswith("/"):
            break
    assert encoded.endswith("/")
    response = requests.get(f"{live_server.url}/pki/ocsp/{encoded}", timeout=10)
    answer = x509_ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == x509_ocsp.OCSPCertStatus.GOOD


def test_openssl_checks_the_chain_with_the_published_crls(live_files, live_server):
    ca, row, directory = live_files
    trust.revoke(serial=row.serial, reason="superseded")
    crls = directory / "crls.pem"
    crls.write_bytes(
        b"".join(
            x509.load_der_x509_crl(requests.get(url, timeout=10).content).public_bytes(Encoding.PEM)
            for url in (f"{live_server.url}/pki/crl.der", f"{live_server.url}/pki/root-crl.der")
        )
    )
    result = run(
        "openssl", "verify", "-crl_check_all", "-CAfile", directory / "ca.pem",
        "-CRLfile", crls, directory / "ee.pem",
    )  # fmt: skip
    assert "certificate revoked" in result.stdout + result.stderr
    fresh = trust.issue(profile=Profile.ADVANCED, subject=MARIO, owner="signer:2")
    (directory / "fresh.pem").write_bytes(pem(fresh.certificate))
    result = run(
        "openssl", "verify", "-crl_check_all", "-CAfile", directory / "ca.pem",
        "-CRLfile", crls, directory / "fresh.pem",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_openssl_ts_verifies_an_answer_from_post_tsa(live_files, live_server):
    _, _, directory = live_files
    data = directory / "document.pdf"
    data.write_bytes(b"%PDF-1.7 the document")
    run("openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", directory / "q.tsq")

    response = requests.post(
        f"{live_server.url}/tsa",
        data=(directory / "q.tsq").read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/timestamp-reply"
    (directory / "reply.tsr").write_bytes(response.content)

    ca_pem = directory / "published-ca.pem"
    ca_pem.write_bytes(requests.get(f"{live_server.url}/pki/ca.pem", timeout=10).content)
    result = run(
        "openssl", "ts", "-verify", "-data", data, "-in", directory / "reply.tsr",
        "-CAfile", ca_pem,
    )  # fmt: skip
    assert "Verification: OK" in result.stdout, result.stderr


def test_the_service_key_of_the_tsa_is_not_in_clear_on_disk(live_pki):  # noqa: F811
    trust.tsa()
    for path in Path(live_pki.directory).iterdir():
        content = path.read_bytes()
        assert b"PRIVATE KEY" not in content
        with pytest.raises(ValueError):
            load_pem_private_key(content, password=None)


def test_an_empty_tsa_request_is_rejected_in_der(live_pki, live_server):  # noqa: F811
    response = requests.post(
        f"{live_server.url}/tsa",
        data=b"",
        headers={"Content-Type": "application/timestamp-query"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response_status(response.content)[:2] == ("rejection", {"bad_data_format"})


@pytest.mark.skipif(
    not (shutil.which("pdfsig") and shutil.which("certutil")),
    reason="needs poppler-utils and libnss3-tools",
)
def test_pdfsig_trusts_a_signature_whose_ocsp_answer_comes_from_us(live_files, tmp_path):
    """NSS asks our responder (with SHA-1) before it calls the certificate trusted."""
    import io

    import pypdfium2
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    ca, row, directory = live_files
    document = pypdfium2.PdfDocument.new()
    document.new_page(595, 842)
    blank = io.BytesIO()
    document.save(blank)
    signed = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(blank.getvalue())),
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=trust.signer(row),
    )
    (tmp_path / "signed.pdf").write_bytes(signed.getvalue())
    nss = tmp_path / "nss"
    nss.mkdir()
    run("certutil", "-N", "-d", f"sql:{nss}", "--empty-password")
    run(
        "certutil",
        "-A",
        "-d",
        f"sql:{nss}",
        "-n",
        "root",
        "-t",
        "CT,C,C",
        "-i",
        directory / "root.pem",
    )

    result = run("pdfsig", "-nssdir", f"sql:{nss}", tmp_path / "signed.pdf")
    assert "Signature is Valid" in result.stdout, result.stdout + result.stderr
    assert "Certificate is Trusted" in result.stdout, result.stdout + result.stderr

    trust.revoke(serial=row.serial, reason="keyCompromise")
    result = run("pdfsig", "-nssdir", f"sql:{nss}", tmp_path / "signed.pdf")
    assert "Certificate is Trusted" not in result.stdout
    assert "Certificate has been Revoked" in result.stdout, result.stdout


def test_pyhanko_fetches_our_crls_and_ocsp_when_revocation_is_required(live_files):
    ca, row, _ = live_files

    async def check():
        # requests rather than aiohttp: its connections close with the backend,
        # none is left open against the live server when the test ends
        backend = RequestsFetcherBackend()
        context = ValidationContext(
            trust_roots=[to_asn1(ca.root)],
            allow_fetching=True,
            revocation_mode="require",
            fetcher_backend=backend,
        )
        validator = CertificateValidator(
            to_asn1(row.certificate),
            intermediate_certs=[to_asn1(ca.issuing)],
            validation_context=context,
        )
        try:
            return await validator.async_validate_usage({"non_repudiation"})
        finally:
            await backend.close()

    def validate():
        return asyncio.run(check())

    assert validate() is not None
    trust.revoke(serial=row.serial, reason="keyCompromise")
    with pytest.raises(RevokedError):
        validate()
