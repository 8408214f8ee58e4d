"""The audit report made by a real Celery worker, fed by a real Redis, on the
test database: a robot asks for it, a signer signs through the ticket API, the
worker builds and seals it, and the API serves what the worker stored."""

import subprocess
import time

import pytest
from django.test import Client

from portal import trust
from practices.models import AuditEvent, Practice, Revision
from signing.signers import to_asn1
from signing.validate import validate
from tests.conftest import ApiClient, bearer
from tests.integration import CeleryWorker
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing.conftest import live_pki  # noqa: F401 - a fixture
from tests.signing.test_pades_pdfsig import nssdb, pdfsig  # noqa: F401 - fixtures

TITLE = "Contratto di fornitura — Società Àlfa"


@pytest.mark.integration
def test_a_worker_seals_the_report_the_api_then_serves(
    live_pki,  # noqa: F811
    nssdb,  # noqa: F811
    live_server,
    integration_db,
    integration_broker,
    robot,
    settings,
    tmp_path,
):
    worker_dir = tmp_path / "worker"
    # One media folder and one PKI for both processes: the worker reads the
    # revisions the web process stored and seals with the authority pdfsig trusts.
    settings.MEDIA_ROOT = str(worker_dir / "media")
    worker = CeleryWorker(
        broker_url=integration_broker.url,
        database_url=integration_db,
        var_dir=worker_dir,
        env={
            "PKI_DIR": str(settings.PKI_DIR),
            "BASE_URL": live_server.url,
            "KEY_BACKEND": "file",
            "TSA_URL": "",
        },
        beat=False,
        concurrency=2,
    ).start()
    try:
        api = ApiClient(bearer(robot))
        request = signature_request(
            provider_options={"unlock_mode": "click"}, profile="pades-t", clauses=[]
        )
        response = api.post(url(), dst_body(groups=[[request]], title=TITLE, generate_report=True))
        assert response.status_code == 201, response.content
        dst = response.json()["data"]
        assert dst["report"] is None
        item = dst["documents"][0]["groups"][0][0]
        ticket = item["signature_ticket"].rsplit("/sign/", 1)[1]

        signed = Client().post(
            f"/api/v1/tickets/{ticket}/sign",
            {"accepted_clauses": []},
            content_type="application/json",
        )
        assert signed.status_code == 200, signed.content
        assert Practice.objects.get(pk=dst["id"]).status == "performed"

        deadline = time.monotonic() + 60
        while not AuditEvent.objects.filter(
            practice_id=dst["id"], kind="report.generated"
        ).exists():
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
    finally:
        worker.stop()
    assert "practices.tasks.practice_report" in worker.log()

    answer = api.get(url(tail=f"/{dst['id']}")).json()["data"]
    report_url = url(tail=f"/{dst['id']}/report")
    assert answer["report"] == live_server.url + report_url
    response = api.get(report_url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    data = b"".join(response.streaming_content)
    path = tmp_path / "report.pdf"
    path.write_bytes(data)

    (seal,) = pdfsig(nssdb, path)
    assert seal["Signer Certificate Common Name"] == "Acme"
    assert seal["Signature Validation"] == "Signature is Valid.", seal
    assert seal["Certificate Validation"] == "Certificate is Trusted.", seal
    # pdfsig does not read signature timestamps: pyHanko's validation does.
    verdict = validate(
        data,
        trust_roots=[to_asn1(root) for root in trust.validation_roots()],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )
    assert verdict.valid, verdict.as_text()
    (sealed,) = verdict.signatures
    assert sealed.level == "B-T"
    assert sealed.timestamp is not None and sealed.timestamp_trusted

    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert TITLE in flat
    revisions = Revision.objects.filter(document_id=dst["documents"][0]["id"]).order_by("number")
    assert [r.number for r in revisions] == [0, 1]
    for revision in revisions:
        assert revision.sha256 in text
    last = AuditEvent.objects.filter(practice_id=dst["id"]).order_by("sequence").last()
    assert last.kind == "report.generated"
