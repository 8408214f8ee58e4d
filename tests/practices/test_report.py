"""The audit report of a DST created with generate_report: built when the last
signature lands, sealed by the organization, served by the API."""

import hashlib
import subprocess

import pytest

from portal import trust
from practices import report
from practices.audit import audit_verify
from practices.models import AuditEvent, Practice, Revision
from tests.practices.conftest import dst_body, error_of, url
from tests.practices.test_perform import (
    _closed_port,
    create,
    perform_url,
    pki,  # noqa: F401
    report_of,
    seal_request,
)
from tests.signing.conftest import OFFLINE_BASE_URL

pytestmark = pytest.mark.django_db


def pdftotext(data: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", path, "-"], capture_output=True, text=True, check=True
    ).stdout


def performed_with_report(api, django_capture_on_commit_callbacks) -> dict:
    dst = create(api, dst_body(groups=[[seal_request(profile="pades-bes")]]))
    before = api.get(url(tail=f"/{dst['id']}"))
    assert before.json()["data"]["report"] is None
    missing = api.get(url(tail=f"/{dst['id']}/report"))
    assert missing.status_code == 404
    assert error_of(missing).startswith("report : ")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(perform_url(dst["documents"][0]["groups"][0][0]["id"]))
    assert response.status_code == 200, response.content
    return dst


def test_the_sealed_report_lists_the_hashes_and_events(
    admin_api, celery_eager, django_capture_on_commit_callbacks, tmp_path
):
    dst = performed_with_report(admin_api, django_capture_on_commit_callbacks)

    answer = admin_api.get(url(tail=f"/{dst['id']}")).json()["data"]
    report_path = url(tail=f"/{dst['id']}/report")
    assert answer["report"] == OFFLINE_BASE_URL + report_path
    response = admin_api.get(url(tail=f"/{dst['id']}/report"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    data = b"".join(response.streaming_content)

    text = pdftotext(data, tmp_path)
    revisions = Revision.objects.filter(document_id=dst["documents"][0]["id"]).order_by("number")
    assert [r.number for r in revisions] == [0, 1]
    for revision in revisions:
        assert revision.sha256 in text
    assert "Rapporto di audit" in text and dst["id"] in text
    assert "completata" in text and "sigillo automatico" in text
    for kind in ("practice.created", "document.received", "signature.performed"):
        assert kind in text
    assert "boss@acme" in text  # the actor

    verdict = report_of(data)
    assert verdict.valid, verdict.as_text()
    (seal,) = verdict.signatures
    assert (seal.signer, seal.level) == ("Acme", "B-T")

    practice = Practice.objects.get(pk=dst["id"])
    assert audit_verify(practice=practice) is None
    last = AuditEvent.objects.filter(practice=practice).order_by("sequence").last()
    assert last.kind == "report.generated"
    assert last.revision_sha256 == hashlib.sha256(data).hexdigest()


def test_the_report_is_made_once(admin_api, celery_eager, django_capture_on_commit_callbacks):
    dst = performed_with_report(admin_api, django_capture_on_commit_callbacks)
    practice = Practice.objects.get(pk=dst["id"])

    assert report.report_generate(practice=practice) is False
    assert AuditEvent.objects.filter(practice=practice, kind="report.generated").count() == 1


def test_the_report_speaks_the_organizations_language(
    org, admin_api, celery_eager, django_capture_on_commit_callbacks, tmp_path
):
    org.organization.language = "en"
    org.organization.save()
    dst = performed_with_report(admin_api, django_capture_on_commit_callbacks)

    data = b"".join(admin_api.get(url(tail=f"/{dst['id']}/report")).streaming_content)

    text = pdftotext(data, tmp_path)
    assert "Audit report" in text and "Rapporto" not in text
    assert "performed" in text and "automatic seal" in text


def test_no_report_without_generate_report(
    admin_api, celery_eager, django_capture_on_commit_callbacks
):
    body = dst_body(groups=[[seal_request()]], generate_report=False)
    dst = create(admin_api, body)
    with django_capture_on_commit_callbacks(execute=True):
        admin_api.post(perform_url(dst["documents"][0]["groups"][0][0]["id"]))

    assert admin_api.get(url(tail=f"/{dst['id']}")).json()["data"]["report"] is None
    assert admin_api.get(url(tail=f"/{dst['id']}/report")).status_code == 404


def test_a_report_that_cannot_be_timestamped_is_not_stored(admin_api, settings):
    dst = create(admin_api, dst_body(groups=[[seal_request()]]))
    admin_api.post(perform_url(dst["documents"][0]["groups"][0][0]["id"]))  # no task run
    practice = Practice.objects.get(pk=dst["id"])
    assert practice.status == "performed"
    settings.TSA_URL = f"http://127.0.0.1:{_closed_port()}/tsa"
    trust.reset()

    with pytest.raises(report.ReportFailed):
        report.report_generate(practice=practice)

    assert not report.report_exists(practice)
    assert not AuditEvent.objects.filter(practice=practice, kind="report.generated").exists()
