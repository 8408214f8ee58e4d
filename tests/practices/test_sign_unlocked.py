"""The engine signs outside any transaction: while a signature is being made,
other writers go on (on SQLite a writing transaction holds the whole
database), and a signature that another one overtook is made again on top of it."""

import threading

import pytest
from django.db import connection
from django.test import Client

from practices import signatures
from practices.audit import SYSTEM_ACTOR
from practices.models import Practice, Revision, SignatureRequest
from tests.conftest import ApiClient, bearer
from tests.practices.conftest import dst_body, signature_request, url
from tests.practices.test_perform_concurrent import signatures_report
from tests.signing.conftest import portal_pki_in

pytestmark = pytest.mark.integration


@pytest.fixture
def pki(settings, tmp_path):
    with portal_pki_in(settings, tmp_path / "pki") as ca:
        yield ca


def _seals(client, count: int) -> list[str]:
    """A DST of one group of `count` automatic seals; their ids."""
    seals = [
        signature_request(
            signer={"email": f"seal{n}@acme.example", "first_name": "Acme", "last_name": "Seal"},
            where={"page": 1},
            automatic=True,
        )
        for n in range(count)
    ]
    dst = client.post(url(), dst_body(groups=[seals], generate_report=False)).json()["data"]
    return [item["id"] for item in dst["documents"][0]["groups"][0]]


def _in_a_thread(work) -> threading.Thread:
    def run():
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def writer_during_signing(admin, monkeypatch) -> list:
    """While the engine signs, another connection creates a DST; the list
    gets (whether the create had finished before the engine returned, its status)."""
    sign = signatures._sign
    outcomes = []

    def sign_while_a_dst_is_created(*args, **kwargs):
        answers = []
        creating = _in_a_thread(
            lambda: answers.append(ApiClient(bearer(admin)).post(url(), dst_body()).status_code)
        )
        # With the database locked, the create would wait for the signature's commit.
        creating.join(15)
        outcomes.append((not creating.is_alive(), answers))
        return sign(*args, **kwargs)

    monkeypatch.setattr(signatures, "_sign", sign_while_a_dst_is_created)
    return outcomes


def test_another_writer_commits_while_the_seal_is_made(
    integration_db, pki, admin, writer_during_signing
):
    client = ApiClient(bearer(admin))
    (seal,) = _seals(client, 1)

    performed = client.post(f"/api/v1/acme/signatures/{seal}/perform")

    assert performed.status_code == 200, performed.content
    assert writer_during_signing == [(True, [201])]


def test_another_writer_commits_while_a_ticket_signature_is_made(
    integration_db, pki, admin, writer_during_signing
):
    dst = ApiClient(bearer(admin)).post(url(), dst_body(generate_report=False)).json()["data"]
    item = dst["documents"][0]["groups"][0][0]
    ticket = item["signature_ticket"].rsplit("/sign/", 1)[1]

    signed = Client().post(f"/api/v1/tickets/{ticket}/sign", {}, content_type="application/json")

    assert signed.status_code == 200, signed.content
    assert writer_during_signing == [(True, [201])]


def test_a_signature_overtaken_by_another_is_made_again_on_top_of_it(
    integration_db, pki, admin, monkeypatch
):
    client = ApiClient(bearer(admin))
    first, second = _seals(client, 2)
    sign = signatures._sign
    made = []

    def second_lands_while_first_is_made(data, *, request, **kwargs):
        made.append(str(request.pk))
        if len(made) == 1:  # the first seal's first attempt: the second overtakes it
            _in_a_thread(
                lambda: ApiClient(bearer(admin)).post(f"/api/v1/acme/signatures/{second}/perform")
            ).join(60)
        return sign(data, request=request, **kwargs)

    monkeypatch.setattr(signatures, "_sign", second_lands_while_first_is_made)

    performed = client.post(f"/api/v1/acme/signatures/{first}/perform")

    assert performed.status_code == 200, performed.content
    assert made == [first, second, first]  # the first seal was made twice
    document = performed.json()["data"]["documents"][0]["id"]
    revisions = Revision.objects.filter(document_id=document).order_by("number")
    assert [(r.number, str(r.produced_by_id or "")) for r in revisions] == [
        (0, ""),
        (1, second),
        (2, first),
    ]
    report = signatures_report(revisions.last().file.read())
    assert report.valid, report.as_text()
    assert len(report.signatures) == 2
    assert Practice.objects.get(pk=performed.json()["data"]["id"]).status == "performed"


def test_a_signature_overtaken_every_time_gives_up_and_changes_nothing(
    integration_db, pki, admin, monkeypatch
):
    client = ApiClient(bearer(admin))
    (seal,) = _seals(client, 1)
    monkeypatch.setattr(signatures, "_record", lambda made, **kwargs: None)

    performed = client.post(f"/api/v1/acme/signatures/{seal}/perform")

    assert performed.status_code == 502
    assert "kept landing" in performed.json()["meta"]["error_message"]
    assert Revision.objects.count() == 1


def test_a_request_signed_since_its_caller_read_it_answers_as_signed(integration_db, pki, admin):
    """A concurrent submission of one signature: the loser must not sign again
    on top of the winner's signature."""
    client = ApiClient(bearer(admin))
    (seal,) = _seals(client, 1)
    stale = SignatureRequest.objects.select_related("document__practice__organization").get(pk=seal)
    assert client.post(f"/api/v1/acme/signatures/{seal}/perform").status_code == 200

    with pytest.raises(signatures.RequestNotPending):
        signatures.signature_apply(
            request=stale,
            certificate=signatures.seal_certificate(stale.document.practice.organization),
            actor=SYSTEM_ACTOR,
        )
    assert Revision.objects.count() == 2
