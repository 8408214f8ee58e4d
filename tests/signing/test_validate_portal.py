"""Validation for everyone: POST /api/v1/validate, the /validate page and
`manage.py verify`, all over the portal's own PKI."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from portal import trust
from signing.cades import sign_cades
from signing.pades import sign_pdf
from signing.pki import Profile, Subject
from tests.signing import pdfs


@pytest.fixture
def signer(portal_pki):
    row = trust.issue(
        profile=Profile.ADVANCED, subject=Subject(common_name="Niccolò Lucà"), owner="signer:1"
    )
    return trust.signer(row)


@pytest.fixture
def signed_pdf(signer):
    return sign_pdf(
        pdfs.simple_pdf(),
        signer=signer,
        field_name="Firma1",
        level="B-T",
        timestamper=trust.timestamper(),
    )


def post_file(client, data: bytes, name: str = "contratto.pdf"):
    return client.post("/api/v1/validate", {"file": SimpleUploadedFile(name, data)})


def test_the_api_answers_the_report_without_authentication(client, signed_pdf):
    response = post_file(client, signed_pdf)

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    (signature,) = body["signatures"]
    assert signature["signer"] == "Niccolò Lucà"
    assert signature["level"] == "B-T"
    assert signature["intact"] is signature["trusted"] is True
    assert signature["timestamp"] is not None


def test_the_api_validates_a_p7m(client, signer):
    p7m = sign_cades(b"contenuto", signer=signer, level="B-T", timestamper=trust.timestamper())

    body = post_file(client, p7m, "contratto.txt.p7m").json()

    assert body["valid"] is True and body["kind"] == "p7m"


def test_an_unsigned_file_is_a_report_saying_not_valid(client, portal_pki):
    response = post_file(client, pdfs.simple_pdf())

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "no signatures" in response.json()["error"]


def test_a_missing_file_is_a_400_in_the_dst_error_shape(client, portal_pki):
    response = client.post("/api/v1/validate", {})

    assert response.status_code == 400
    meta = response.json()["meta"]
    assert meta["code"] == 400
    assert meta["error_type"] == "ValidationError"
    assert meta["error_message"].startswith("file : ")


def test_a_file_over_the_limit_is_refused(client, settings, signed_pdf):
    settings.MAX_DOCUMENT_BYTES = 1000

    response = post_file(client, signed_pdf)

    assert response.status_code == 400
    assert response.json()["meta"]["error_message"].startswith("file : the file is larger")


def test_the_page_shows_a_form_and_then_the_report(client, signed_pdf):
    page = client.get("/validate")
    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' in page.content

    response = client.post("/validate", {"file": SimpleUploadedFile("contratto.pdf", signed_pdf)})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-valid="true"' in html
    assert "Niccolò Lucà" in html and "contratto.pdf" in html
    assert "B-T" in html


def test_the_page_says_when_a_document_is_not_valid(client, portal_pki):
    response = client.post("/validate", {"file": SimpleUploadedFile("a.pdf", pdfs.simple_pdf())})

    assert response.status_code == 200
    assert 'data-valid="false"' in response.content.decode()


def test_the_page_asks_for_a_file(client, portal_pki):
    response = client.post("/validate", {})

    assert response.status_code == 400
    assert b'role="alert"' in response.content


def test_verify_prints_the_report_and_exits_0_when_valid(signed_pdf, tmp_path, capsys):
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_pdf)

    call_command("verify", str(path))

    out = capsys.readouterr().out
    assert out.startswith("VALID (pdf)")
    assert "Niccolò Lucà  [B-T]" in out


def test_verify_json_and_exit_1_when_not_valid(portal_pki, tmp_path, capsys):
    path = tmp_path / "unsigned.pdf"
    path.write_bytes(pdfs.simple_pdf())

    with pytest.raises(SystemExit) as exited:
        call_command("verify", str(path), "--json")

    assert exited.value.code == 1
    body = json.loads(capsys.readouterr().out)
    assert body["valid"] is False and body["signatures"] == []


def test_validation_is_rate_limited_per_address(client, settings, portal_pki):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "validate": (2, 60)}

    def upload():
        return {"file": SimpleUploadedFile("x.pdf", pdfs.simple_pdf())}

    codes = [client.post("/api/v1/validate", upload()).status_code for _ in range(3)]
    page = client.post("/validate", upload())

    assert codes == [200, 200, 429]
    assert page.status_code == 429
    assert b"Too many validations" in page.content or b"Troppe" in page.content
