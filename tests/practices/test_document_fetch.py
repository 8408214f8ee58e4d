"""Fetching document_uri through the outbound guard, from real servers on loopback."""

import base64
import json

import pytest
from django.core.management import call_command

from accounts.services import robot_configuration_update
from practices import fetching
from practices.models import AuditEvent, Document, Practice, Revision
from tests.practices.conftest import (
    PDF,
    dst_body,
    encrypted_pdf,
    signature_request,
    simple_pdf,
    url,
)
from tests.servers import DocumentServer, PrivateCA, ServerAuth

pytestmark = pytest.mark.django_db

OTHER_PDF = PDF.replace(b"Contratto di prova", b"Contratto diverso!")


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.DOCUMENT_FETCH_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def docs():
    with DocumentServer() as server:
        server.add("/contract.pdf", PDF)
        server.add("/other.pdf", OTHER_PDF)
        server.add("/encrypted.pdf", encrypted_pdf())
        server.add("/text.pdf", b"this is not a pdf", content_type="text/plain")
        server.add("/missing.pdf", b"gone", status=404)
        server.add("/busy.pdf", b"later", status=503)
        server.add("/one-page.pdf", simple_pdf())
        yield server


@pytest.fixture
def served(docs):
    docs.reset()
    return docs


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return PrivateCA(tmp_path_factory.mktemp("ca"))


def _waiting(api, uri: str, options: dict | None = None, **request) -> Document:
    body = dst_body(document=None, groups=[[signature_request(**request)]])
    body["documents"][0]["document_uri"] = uri
    if options is not None:
        body["documents"][0]["document_uri_options"] = options
    response = api.post(url(), body)
    assert response.status_code == 201, response.content
    assert response.json()["data"]["status"] == "waiting"
    return Document.objects.get(pk=response.json()["data"]["documents"][0]["id"])


def _practice(document: Document) -> Practice:
    return Practice.objects.get(pk=document.practice_id)


def test_fetched_document_becomes_revision_zero_and_the_dst_pending(admin_api, served):
    document = _waiting(admin_api, served.url("/contract.pdf"))

    fetching.document_fetch(document=document)

    practice = _practice(document)
    assert practice.status == "pending"
    revision = Revision.objects.get(document=document)
    assert (revision.number, revision.file.read()) == (0, PDF)
    assert [e.kind for e in AuditEvent.objects.filter(practice=practice)] == [
        "practice.created",
        "document.fetched",
        "practice.pending",
    ]
    assert AuditEvent.objects.get(kind="document.fetched").revision_sha256 == revision.sha256
    (request,) = served.requests
    assert request.method == "GET"
    dst = admin_api.get(url(tail=f"/{practice.id}")).json()["data"]
    assert dst["status"] == "pending"
    download = admin_api.get(dst["documents"][0]["document"].split("127.0.0.1:8000")[-1])
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"


def test_a_second_fetch_changes_nothing(admin_api, served):
    document = _waiting(admin_api, served.url("/contract.pdf"))
    fetching.document_fetch(document=document)

    fetching.document_fetch(document=document)

    assert Revision.objects.filter(document=document).count() == 1
    assert len(served.requests) == 1


def test_dst_is_pending_only_when_every_document_is_there(admin_api, served):
    body = dst_body(document=None)
    body["documents"][0]["document_uri"] = served.url("/contract.pdf")
    second = {**body["documents"][0], "document_uri": served.url("/other.pdf")}
    body["documents"].append(second)
    practice_id = admin_api.post(url(), body).json()["data"]["id"]
    first, last = Document.objects.filter(practice_id=practice_id).order_by("order")

    fetching.document_fetch(document=first)
    assert Practice.objects.get(pk=practice_id).status == "waiting"
    fetching.document_fetch(document=last)

    assert Practice.objects.get(pk=practice_id).status == "pending"
    assert Revision.objects.get(document=last).file.read() == OTHER_PDF


def test_robot_headers_and_basic_credentials_are_sent(robot, api_as):
    auth = ServerAuth("basic", "jdo", "A12345678z")
    robot_configuration_update(
        robot=robot,
        request_headers={"X-Api-Key": ["k1"], "Accept-Language": ["it", "en"]},
        authentication={"username": "jdo", "password": "A12345678z", "authMode": "basic"},
        webhook_url="",
    )
    with DocumentServer(auth=auth) as server:
        server.add("/contract.pdf", PDF)
        document = _waiting(api_as(robot), server.url("/contract.pdf"))

        fetching.document_fetch(document=document)

        assert _practice(document).status == "pending"
        sent = server.requests[-1].headers
        assert sent["X-Api-Key"] == "k1"
        assert sent["Accept-Language"] == "it, en"


def test_document_options_override_the_robot_configuration(robot, api_as):
    robot_configuration_update(
        robot=robot,
        request_headers={"Authorization": ["Token robot"], "X-Api-Key": ["k1"]},
        authentication={},
        webhook_url="",
    )
    options = {
        "headers": {"authorization": "Bearer xxxxxxxxxxxx"},
        "method": "POST",
        "body": {"example": "Download the document"},
    }
    with DocumentServer() as server:
        server.add("/contract.pdf", PDF)
        document = _waiting(api_as(robot), server.url("/contract.pdf"), options)

        fetching.document_fetch(document=document)

        (sent,) = server.requests
    assert _practice(document).status == "pending"
    assert sent.method == "POST"
    assert json.loads(sent.body) == {"example": "Download the document"}
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == "Bearer xxxxxxxxxxxx"
    assert sent.headers["X-Api-Key"] == "k1"


@pytest.mark.parametrize("mode", ["basic", "digest"])
def test_document_options_credentials(admin_api, mode):
    with DocumentServer(auth=ServerAuth(mode, "jdo", "s3cret")) as server:
        server.add("/contract.pdf", PDF)
        options = {"auth_username": "jdo", "auth_password": "s3cret", "auth_mode": mode}
        document = _waiting(admin_api, server.url("/contract.pdf"), options)

        fetching.document_fetch(document=document)

    assert _practice(document).status == "pending"
    assert Revision.objects.get(document=document).file.read() == PDF


def test_wrong_credentials_cancel_the_dst(admin_api):
    with DocumentServer(auth=ServerAuth("basic", "jdo", "s3cret")) as server:
        server.add("/contract.pdf", PDF)
        options = {"auth_username": "jdo", "auth_password": "wrong"}
        document = _waiting(admin_api, server.url("/contract.pdf"), options)

        fetching.document_fetch(document=document)

    practice = _practice(document)
    assert (practice.status, practice.reason) == ("cancelled", "CANNOT_DOWNLOAD_DOCUMENT")


def test_client_certificate_over_tls(admin_api, ca, settings):
    settings.DOCUMENT_FETCH_CA_BUNDLE = str(ca.cert_path)
    client = ca.issue("sigillo", client=True)
    server_cert = ca.issue("docs", dns=("localhost",), ips=("127.0.0.1",))
    with DocumentServer(tls=server_cert, client_ca=ca.cert_path) as server:
        server.add("/contract.pdf", PDF)
        options = {
            "client_cert": base64.b64encode(client.cert_pem.encode()).decode(),
            "client_key": base64.b64encode(client.key_pem.encode()).decode(),
        }
        document = _waiting(admin_api, server.url("/contract.pdf"), options)

        fetching.document_fetch(document=document)

        assert _practice(document).status == "pending"
        assert len(server.requests) == 1


def test_tls_server_refuses_a_fetch_without_client_certificate(admin_api, ca, settings):
    settings.DOCUMENT_FETCH_CA_BUNDLE = str(ca.cert_path)
    server_cert = ca.issue("docs", dns=("localhost",), ips=("127.0.0.1",))
    with DocumentServer(tls=server_cert, client_ca=ca.cert_path) as server:
        server.add("/contract.pdf", PDF)
        document = _waiting(admin_api, server.url("/contract.pdf"))

        fetching.document_fetch(document=document)

        assert server.requests == []
    practice = _practice(document)
    assert (practice.status, practice.reason) == ("cancelled", "CANNOT_DOWNLOAD_DOCUMENT")


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/missing.pdf", "CANNOT_DOWNLOAD_DOCUMENT"),
        ("/text.pdf", "INVALID_DOCUMENT"),
        ("/encrypted.pdf", "PROTECTED_DOCUMENT"),
        ("/busy.pdf", "CANNOT_DOWNLOAD_DOCUMENT"),
    ],
)
def test_failures_cancel_the_dst_with_the_contract_reason(admin_api, served, path, reason):
    document = _waiting(admin_api, served.url(path))

    fetching.document_fetch(document=document)

    practice = _practice(document)
    assert (practice.status, practice.reason) == ("cancelled", reason)
    assert set(practice.documents.get().requests.values_list("status", flat=True)) == {"cancelled"}
    assert not Revision.objects.exists()
    failed = AuditEvent.objects.get(practice=practice, kind="document.fetch_failed")
    assert failed.data["reason"] == reason
    dst = admin_api.get(url(tail=f"/{practice.id}")).json()["data"]
    assert (dst["status"], dst["reason"]) == ("cancelled", reason)


def test_document_over_the_limit_is_invalid(admin_api, served, settings):
    settings.MAX_DOCUMENT_BYTES = len(PDF) - 1
    document = _waiting(admin_api, served.url("/contract.pdf"))

    fetching.document_fetch(document=document)

    assert _practice(document).reason == "INVALID_DOCUMENT"


def test_placement_beyond_the_fetched_document_is_invalid(admin_api, served):
    where = {"page": 2, "position": "rect: 10, 10, 50, 50"}
    document = _waiting(admin_api, served.url("/one-page.pdf"), where=where)

    fetching.document_fetch(document=document)

    practice = _practice(document)
    assert (practice.status, practice.reason) == ("cancelled", "INVALID_DOCUMENT")


def test_transient_failure_before_the_last_attempt_leaves_the_dst_waiting(admin_api, served):
    document = _waiting(admin_api, served.url("/busy.pdf"))

    with pytest.raises(fetching.FetchFailed):
        fetching.document_fetch(document=document, final_attempt=False)

    assert _practice(document).status == "waiting"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0177.0.0.1", "127.1"]
)
def test_loopback_is_refused_unless_allowed_and_receives_nothing(admin_api, served, settings, host):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    document = _waiting(admin_api, f"http://{host}:{served.port}/contract.pdf")

    fetching.document_fetch(document=document)

    assert served.connections == 0
    assert served.requests == []
    assert _practice(document).reason == "CANNOT_DOWNLOAD_DOCUMENT"


def test_redirect_to_another_host_is_not_followed(admin_api, served):
    with DocumentServer() as elsewhere:
        elsewhere.add("/contract.pdf", PDF)
        served.redirect("/moved.pdf", elsewhere.url("/contract.pdf", host="127.0.0.2"))
        document = _waiting(admin_api, served.url("/moved.pdf"))

        fetching.document_fetch(document=document)

        assert elsewhere.requests == []
    assert _practice(document).reason == "CANNOT_DOWNLOAD_DOCUMENT"


def test_a_dst_cancelled_while_waiting_is_not_fetched(admin_api, served):
    document = _waiting(admin_api, served.url("/contract.pdf"))
    admin_api.post(url(tail=f"/{document.practice_id}/cancel"), {"reason": "changed my mind"})

    fetching.document_fetch(document=document)

    assert served.requests == []
    practice = _practice(document)
    assert (practice.status, practice.reason) == ("cancelled", "changed my mind")


def test_the_audit_chain_holds_after_fetching(admin_api, served, capsys):
    document = _waiting(admin_api, served.url("/contract.pdf"))
    fetching.document_fetch(document=document)

    call_command("verify_audit", practice=str(document.practice_id))

    assert "OK" in capsys.readouterr().out
