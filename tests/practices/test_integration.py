"""Through real processes: concurrent creates on a shared database (a SQLite
file, or PostgreSQL: see test_postgresql.py), and a document fetched by a real
Celery worker from a loopback server."""

import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from practices.models import AuditEvent, Practice, Revision
from tests.conftest import ApiClient, bearer
from tests.integration import CeleryWorker
from tests.practices.conftest import PDF, dst_body, url
from tests.servers import DocumentServer


@pytest.mark.integration
def test_concurrent_retries_with_one_key_make_one_dst(integration_db, admin):
    """Four clients send the same create with the same Idempotency-Key at once,
    each on its own database connection: one DST, and every answer is it."""
    token = bearer(admin)
    start = threading.Barrier(4)
    answers = []

    def send():
        try:
            start.wait()
            response = ApiClient(token).post(
                url(), dst_body(), headers={"Idempotency-Key": "same-order"}
            )
            answers.append((response.status_code, response.json()["data"]["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(answers) == 4
    assert {status for status, _ in answers} == {201}
    assert len({pk for _, pk in answers}) == 1
    assert Practice.objects.count() == 1
    assert Revision.objects.count() == 1


@pytest.mark.integration
def test_a_worker_fetches_the_document_and_the_dst_becomes_pending(
    integration_db, integration_broker, admin, tmp_path
):
    worker = CeleryWorker(
        broker_url=integration_broker.url,
        database_url=integration_db,
        var_dir=tmp_path / "worker",
        env={"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8", "DOCUMENT_FETCH_TIMEOUT": "5"},
        beat=False,
        concurrency=2,
    ).start()
    try:
        with DocumentServer() as server:
            server.add("/contract.pdf", PDF)
            body = dst_body(document=None)
            body["documents"][0]["document_uri"] = server.url("/contract.pdf")

            response = ApiClient(bearer(admin)).post(url(), body)
            assert response.status_code == 201, response.content
            dst_id = response.json()["data"]["id"]

            deadline = time.monotonic() + 30
            while Practice.objects.get(pk=dst_id).status == "waiting":
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.1)
            assert len(server.requests) == 1
    finally:
        worker.stop()

    practice = Practice.objects.get(pk=dst_id)
    assert practice.status == "pending", worker.log()
    revision = Revision.objects.get(document__practice=practice)
    # The worker stored the file under its own MEDIA_ROOT.
    assert (Path(worker.var_dir) / "media" / revision.file.name).read_bytes() == PDF
    kinds = list(AuditEvent.objects.filter(practice=practice).values_list("kind", flat=True))
    assert kinds == ["practice.created", "document.fetched", "practice.pending"]
