"""Applying signatures: the automatic seal through the API, and signature_apply
for groups, several signers and CAdES, against the portal's real PKI."""

import json
import socket
import subprocess
from io import BytesIO

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from accounts.services import robot_configuration_update
from portal import trust
from practices import signatures
from practices.audit import Actor, audit_verify
from practices.models import AuditEvent, Practice, Revision, SignatureRequest
from signing.cades import read_signed_data
from signing.pki import Profile, Subject
from signing.signers import to_asn1
from signing.validate import validate
from tests.practices.conftest import PDF, dst_body, error_of, signature_request, url
from tests.signing.conftest import OFFLINE_BASE_URL, portal_pki_in
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def pki(db, settings, tmp_path):
    """The portal's own PKI in a temporary directory, offline URLs."""
    with portal_pki_in(settings, tmp_path / "pki") as ca:
        yield ca


@pytest.fixture
def hooked_robot(robot):
    robot_configuration_update(
        robot=robot,
        request_headers={},
        authentication={},
        webhook_url="https://erp.example.com/hooks",
    )
    return robot


def person(n: int, **overrides) -> dict:
    return signature_request(
        signer={"email": f"s{n}@mail.com", "first_name": f"Name{n}", "last_name": f"Surname{n}"},
        **overrides,
    )


def seal_request(**overrides) -> dict:
    return signature_request(
        signer={"email": "seal@acme.example", "first_name": "Acme", "last_name": "Seal"},
        automatic=True,
        **overrides,
    )


def perform_url(signature_id, slug="acme") -> str:
    return f"/api/v1/{slug}/signatures/{signature_id}/perform"


def latest(document_id) -> bytes:
    revision = Revision.objects.filter(document_id=document_id).order_by("-number").first()
    with revision.file.open("rb") as handle:
        return handle.read()


def report_of(data: bytes):
    return validate(
        data,
        trust_roots=trust.validation_roots(),
        other_certs=[trust.authority().issuing],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )


def pyhanko_statuses(data: bytes):
    ca = trust.authority()
    context = ValidationContext(
        trust_roots=[to_asn1(ca.root)],
        other_certs=[to_asn1(ca.issuing)],
        crls=[trust.issuing_crl(), trust.root_crl()],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    reader = PdfFileReader(BytesIO(data))
    return [
        validate_pdf_signature(sig, signer_validation_context=context)
        for sig in reader.embedded_regular_signatures
    ]


def advanced(email: str):
    return trust.certificate_for(
        profile=Profile.ADVANCED, subject=Subject(common_name=email), owner=f"signer:{email}"
    )


def create(client, body) -> dict:
    response = client.post(url(), body)
    assert response.status_code == 201, response.content
    return response.json()["data"]


def test_robot_seals_an_automatic_request(hooked_robot, api_as):
    client = api_as(hooked_robot)
    dst = create(client, dst_body(groups=[[seal_request(profile="pades-t")]]))
    signature = dst["documents"][0]["groups"][0][0]

    response = client.post(perform_url(signature["id"]))

    assert response.status_code == 200, response.content
    answer = response.json()["data"]
    assert answer["status"] == "performed"
    assert answer["documents"][0]["groups"][0][0]["status"] == "performed"
    download = client.get(answer["documents"][0]["document"].replace(OFFLINE_BASE_URL, ""))
    assert download["Content-Type"] == "application/pdf"
    data = b"".join(download.streaming_content)
    assert data.startswith(PDF[:8]) and data[: len(PDF)] == PDF  # incremental
    (status,) = pyhanko_statuses(data)
    assert status.intact and status.valid and status.trusted
    report = report_of(data)
    assert report.valid
    (only,) = report.signatures
    assert (only.signer, only.level) == ("Acme", "B-T")
    practice = Practice.objects.get(pk=dst["id"])
    assert audit_verify(practice=practice) is None
    signed_event = AuditEvent.objects.get(practice=practice, kind="signature.performed")
    revision = Revision.objects.get(document_id=answer["documents"][0]["id"], number=1)
    assert signed_event.revision_sha256 == revision.sha256
    assert signed_event.actor == hooked_robot
    assert str(revision.produced_by_id) == signature["id"]
    messages = [
        json.loads(row.body)
        for row in Delivery.objects.filter(stream=dst["id"]).order_by("sequence")
    ]
    tail = [(m["message"], m["data"]["status"]) for m in messages[-2:]]
    assert tail == [("SIGNATURE_STATUS_CHANGED", "performed"), ("DST_STATUS_CHANGED", "performed")]
    assert len(messages) == 4


def test_second_group_is_locked_until_first_signs(admin, admin_api):
    body = dst_body(
        groups=[[person(1, where={"page": 1})], [seal_request(where={"page": 2})]],
        generate_report=False,
    )
    dst = create(admin_api, body)
    first, seal = (g[0]["id"] for g in dst["documents"][0]["groups"])

    locked = admin_api.post(perform_url(seal))
    assert locked.status_code == 403
    assert error_of(locked).startswith("group : ")
    assert SignatureRequest.objects.get(pk=seal).status == "pending"

    signatures.signature_apply(
        request=SignatureRequest.objects.get(pk=first),
        certificate=advanced("s1@mail.com"),
        actor=Actor(user=admin),
    )
    assert admin_api.post(perform_url(seal)).status_code == 200

    data = latest(dst["documents"][0]["id"])
    report = report_of(data)
    assert report.valid
    assert [s.signer for s in report.signatures] == ["s1@mail.com", "Acme"]
    assert Practice.objects.get(pk=dst["id"]).status == "performed"


def test_three_signatures_in_turn_stay_valid(admin, admin_api):
    body = dst_body(
        groups=[
            [person(1, profile="pades-t", where={"page": 1, "position": "rect: 20,20,200,80"})],
            [person(2, profile="pades-lt", where={"page": 2, "position": "rect: 20,20,200,80"})],
            [person(3, profile="pades-lta", where={"page": 1})],
        ],
        generate_report=False,
    )
    dst = create(admin_api, body)
    for n, group in enumerate(dst["documents"][0]["groups"], start=1):
        signatures.signature_apply(
            request=SignatureRequest.objects.get(pk=group[0]["id"]),
            certificate=advanced(f"s{n}@mail.com"),
            actor=Actor(user=admin),
        )

    data = latest(dst["documents"][0]["id"])
    report = report_of(data)
    assert report.valid, report.as_text()
    assert [s.signer for s in report.signatures] == [f"s{n}@mail.com" for n in (1, 2, 3)]
    assert [s.level for s in report.signatures][-1] == "B-LTA"
    assert all(s.intact and s.valid for s in pyhanko_statuses(data))
    revisions = Revision.objects.filter(document_id=dst["documents"][0]["id"])
    assert sorted(revisions.values_list("number", flat=True)) == [0, 1, 2, 3]
    assert Practice.objects.get(pk=dst["id"]).status == "performed"
    assert audit_verify(practice=Practice.objects.get(pk=dst["id"])) is None


def test_two_cades_signers_make_one_p7m_with_two_signer_infos(admin, admin_api, pki, tmp_path):
    body = dst_body(
        groups=[
            [person(1, profile="cades-t", where=None), person(2, profile="cades-bes", where=None)]
        ],
        generate_report=False,
    )
    dst = create(admin_api, body)
    for n, item in enumerate(dst["documents"][0]["groups"][0], start=1):
        signatures.signature_apply(
            request=SignatureRequest.objects.get(pk=item["id"]),
            certificate=advanced(f"s{n}@mail.com"),
            actor=Actor(user=admin),
        )

    download = admin_api.get(f"/api/v1/acme/documents/{dst['documents'][0]['id']}/download")
    assert download["Content-Type"] == "application/pkcs7-mime"
    p7m = tmp_path / "signed.p7m"
    p7m.write_bytes(b"".join(download.streaming_content))
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(_pem_chain())
    out = tmp_path / "content.pdf"
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            p7m,
            "-CAfile",
            ca_pem,
            "-purpose",
            "any",
            "-out",
            out,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == PDF
    # openssl verifies every SignerInfo; there are two, side by side in one SignedData.
    signed_data = read_signed_data(p7m.read_bytes())
    signer_names = [info["sid"].chosen["issuer"].native for info in signed_data["signer_infos"]]
    assert len(signer_names) == 2
    report = report_of(p7m.read_bytes())
    assert report.valid and len(report.signatures) == 2
    assert Practice.objects.get(pk=dst["id"]).status == "performed"


def _pem_chain() -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    ca = trust.authority()
    return ca.root.public_bytes(Encoding.PEM) + ca.issuing.public_bytes(Encoding.PEM)


# --- errors ---------------------------------------------------------------------


@pytest.fixture
def sealable(admin_api):
    body = dst_body(groups=[[seal_request(), person(2, where={"page": 1})]], generate_report=False)
    dst = create(admin_api, body)
    seal, other = (item["id"] for item in dst["documents"][0]["groups"][0])
    return dst, seal, other


def test_unknown_signature_is_404(admin_api, sealable):
    for wrong in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = admin_api.post(perform_url(wrong))
        assert response.status_code == 404
        assert response.json()["meta"]["error_type"] == "NotFound"


def test_another_organizations_signature_is_404(sealable, other_org, api_as):
    _, seal, _ = sealable
    response = api_as(other_org.admin).post(perform_url(seal, slug="rival"))
    assert response.status_code == 404
    assert SignatureRequest.objects.get(pk=seal).status == "pending"


def test_signers_cannot_perform(sealable, signer, api_as):
    _, seal, _ = sealable
    assert api_as(signer).post(perform_url(seal)).status_code == 403
    assert SignatureRequest.objects.get(pk=seal).status == "pending"


def test_a_request_that_is_not_automatic_is_403(admin_api, sealable):
    _, _, other = sealable
    response = admin_api.post(perform_url(other))
    assert response.status_code == 403
    assert error_of(response).startswith("automatic : ")
    assert not Revision.objects.filter(number__gt=0).exists()


def test_performing_twice_is_409(admin_api, sealable):
    _, seal, _ = sealable
    assert admin_api.post(perform_url(seal)).status_code == 200
    again = admin_api.post(perform_url(seal))
    assert again.status_code == 409
    assert again.json()["meta"]["error_type"] == "Conflict"
    assert Revision.objects.filter(number__gt=0).count() == 1


def test_a_cancelled_dst_is_410(admin_api, sealable):
    dst, seal, _ = sealable
    admin_api.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "changed"})
    response = admin_api.post(perform_url(seal))
    assert response.status_code == 410
    assert response.json()["meta"]["error_type"] == "Gone"


def test_one_of_two_performed_leaves_the_dst_pending(admin_api, sealable):
    dst, seal, _ = sealable
    answer = admin_api.post(perform_url(seal)).json()["data"]
    assert answer["status"] == "pending"
    statuses = [item["status"] for item in answer["documents"][0]["groups"][0]]
    assert statuses == ["performed", "pending"]


def test_a_required_clause_must_be_accepted(admin, admin_api):
    clauses = [
        {"id": 1, "required": True, "description": "Art. 1341", "where": {"page": 1}},
        {"id": 2, "required": False, "description": "Privacy", "where": {"page": 1}},
    ]
    dst = create(admin_api, dst_body(groups=[[person(1, clauses=clauses)]], generate_report=False))
    request = SignatureRequest.objects.get(pk=dst["documents"][0]["groups"][0][0]["id"])

    with pytest.raises(signatures.ClauseMissing):
        signatures.signature_apply(
            request=request,
            certificate=advanced("s1@mail.com"),
            actor=Actor(user=admin),
            accepted_clauses=[2],
        )
    assert SignatureRequest.objects.get(pk=request.pk).status == "pending"

    signatures.signature_apply(
        request=request,
        certificate=advanced("s1@mail.com"),
        actor=Actor(user=admin),
        accepted_clauses=[1],
    )
    event = AuditEvent.objects.get(practice_id=dst["id"], kind="signature.performed")
    assert event.data["accepted_clauses"] == ["1"]


def test_a_declined_request_cannot_be_signed(admin, admin_api):
    dst = create(admin_api, dst_body(groups=[[person(1), person(2)]], generate_report=False))
    request = SignatureRequest.objects.get(pk=dst["documents"][0]["groups"][0][0]["id"])
    SignatureRequest.objects.filter(pk=request.pk).update(status="declined")

    with pytest.raises(signatures.RequestNotPending):
        signatures.signature_apply(
            request=request, certificate=advanced("s1@mail.com"), actor=Actor(user=admin)
        )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failing_tsa_leaves_nothing_behind(admin_api, sealable, settings):
    dst = create(admin_api, dst_body(groups=[[seal_request(profile="pades-t")]]))
    seal = dst["documents"][0]["groups"][0][0]["id"]
    settings.TSA_URL = f"http://127.0.0.1:{_closed_port()}/tsa"
    trust.reset()
    events_before = AuditEvent.objects.filter(practice_id=dst["id"]).count()

    response = admin_api.post(perform_url(seal))

    assert response.status_code == 502, response.content
    assert response.json()["meta"]["error_type"] == "SignatureFailed"
    assert not Revision.objects.filter(document_id=dst["documents"][0]["id"], number__gt=0).exists()
    assert SignatureRequest.objects.get(pk=seal).status == "pending"
    assert Practice.objects.get(pk=dst["id"]).status == "pending"
    assert AuditEvent.objects.filter(practice_id=dst["id"]).count() == events_before


def _png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (300, 100), (255, 255, 255, 0))
    ImageDraw.Draw(image).line([(10, 80), (150, 20), (290, 70)], fill=(0, 0, 128, 255), width=6)
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_the_drawn_signature_is_the_background_of_the_appearance(admin, admin_api):
    where = {"page": 1, "position": "rect: 20mm, 20mm, 90mm, 45mm"}
    dst = create(admin_api, dst_body(groups=[[person(1, where=where)]], generate_report=False))
    request = SignatureRequest.objects.get(pk=dst["documents"][0]["groups"][0][0]["id"])

    signatures.signature_apply(
        request=request, certificate=advanced("s1@mail.com"), actor=Actor(user=admin), image=_png()
    )

    data = latest(dst["documents"][0]["id"])
    reader = PdfFileReader(BytesIO(data))
    (sig,) = reader.embedded_regular_signatures
    appearance = sig.sig_field["/AP"]["/N"]
    images = [
        x
        for x in appearance["/Resources"]["/XObject"].values()
        if x.get_object().get("/Subtype") == "/Image"
    ]
    assert images
    assert report_of(data).valid
    assert sig.sig_object["/Name"] == "Name1 Surname1"


def test_a_group_that_completes_unlocks_the_next(admin, admin_api, monkeypatch):
    from practices import notifications

    unlocked = []
    monkeypatch.setattr(
        notifications,
        "group_unlocked",
        lambda **kw: unlocked.append((kw["document"].id, kw["group"])),
    )
    groups = [[person(1, where={"page": 1}), person(2, where={"page": 1})], [seal_request()]]
    dst = create(admin_api, dst_body(groups=groups, generate_report=False))
    document_id = dst["documents"][0]["id"]
    unlocked.clear()  # the first group is told on creation
    one, two = (SignatureRequest.objects.get(pk=i["id"]) for i in dst["documents"][0]["groups"][0])

    signatures.signature_apply(
        request=two, certificate=advanced("s2@mail.com"), actor=Actor(user=admin)
    )
    assert unlocked == []
    signatures.signature_apply(
        request=one, certificate=advanced("s1@mail.com"), actor=Actor(user=admin)
    )
    assert [(str(d), g) for d, g in unlocked] == [(document_id, 1)]


def test_the_dst_is_performed_when_every_document_is(admin, admin_api):
    body = dst_body(groups=[[seal_request()]], generate_report=False)
    body["documents"].append({**body["documents"][0], "display_name": "Allegato"})
    dst = create(admin_api, body)
    first, second = (d["groups"][0][0]["id"] for d in dst["documents"])

    assert admin_api.post(perform_url(first)).json()["data"]["status"] == "pending"
    answer = admin_api.post(perform_url(second)).json()["data"]

    assert answer["status"] == "performed"
    for document in answer["documents"]:
        assert report_of(latest(document["id"])).valid
    kinds = list(
        AuditEvent.objects.filter(practice_id=dst["id"])
        .order_by("sequence")
        .values_list("kind", flat=True)
    )
    assert kinds[-3:] == ["signature.performed", "signature.performed", "practice.performed"]


def test_a_stored_revision_changed_on_disk_is_not_signed(admin_api, sealable):
    dst, seal, _ = sealable
    revision = Revision.objects.get(document_id=dst["documents"][0]["id"], number=0)
    with open(revision.file.path, "r+b") as handle:
        handle.seek(-20, 2)
        handle.write(b"%% changed by hand\n")

    response = admin_api.post(perform_url(seal))

    assert response.status_code == 502
    assert "does not match its hash" in error_of(response)
    assert SignatureRequest.objects.get(pk=seal).status == "pending"
