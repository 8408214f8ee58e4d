"""Signers of one group who sign at the same moment, each on its own database
connection: the document's lock makes them sign one after the other, so every
signature lands on the revision its predecessor produced and all stay valid."""

import threading

import pytest
from django.db import connection

from portal import trust
from portal.models import IssuedCertificate
from practices.audit import audit_verify
from practices.models import Practice, Revision
from tests.conftest import ApiClient, bearer
from tests.integration import pytest_on_postgresql
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing.conftest import portal_pki_in

SIGNERS = 3


@pytest.fixture
def pki(settings, tmp_path):
    with portal_pki_in(settings, tmp_path / "pki") as ca:
        yield ca


@pytest.mark.integration
def test_parallel_seals_of_one_group_sign_in_turn(integration_db, pki, admin):
    token = bearer(admin)
    seals = [
        signature_request(
            signer={"email": f"seal{n}@acme.example", "first_name": "Acme", "last_name": "Seal"},
            profile="pades-t",
            where={"page": 1},
            automatic=True,
        )
        for n in range(SIGNERS)
    ]
    dst = ApiClient(token).post(url(), dst_body(groups=[seals], generate_report=False))
    dst = dst.json()["data"]
    start = threading.Barrier(SIGNERS)
    answers = []

    def perform(signature_id):
        try:
            start.wait()
            response = ApiClient(token).post(f"/api/v1/acme/signatures/{signature_id}/perform")
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=perform, args=(item["id"],))
        for item in dst["documents"][0]["groups"][0]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert answers == [200] * SIGNERS
    assert IssuedCertificate.objects.filter(owner="org:acme").count() == 1
    revisions = Revision.objects.filter(document_id=dst["documents"][0]["id"]).order_by("number")
    assert [r.number for r in revisions] == list(range(SIGNERS + 1))
    final = revisions.last().file.read()
    report = signatures_report(final)
    assert report.valid, report.as_text()
    assert len(report.signatures) == SIGNERS
    practice = Practice.objects.get(pk=dst["id"])
    assert practice.status == "performed"
    assert audit_verify(practice=practice) is None


def signatures_report(data: bytes):
    from signing.validate import validate

    return validate(
        data,
        trust_roots=trust.validation_roots(),
        other_certs=[trust.authority().issuing],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )


@pytest.mark.integration
def test_signing_passes_on_postgresql():
    """This module and test_perform again on PostgreSQL, where the lock is a
    real row lock (SELECT ... FOR UPDATE) rather than SQLite's write lock."""
    run = pytest_on_postgresql(
        "tests/practices/test_perform_concurrent.py::test_parallel_seals_of_one_group_sign_in_turn",
        "tests/practices/test_perform.py",
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
