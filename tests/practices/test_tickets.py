"""The signer's ticket API (CONTRACT §7): describe, one-time codes, signing by
every signature type, declining, and every refusal, against the real engine
and the portal's PKI; codes come back from the file SMS backend."""

import base64
import json
import re
from datetime import timedelta
from io import BytesIO

import pytest
from cryptography import x509
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from accounts.services import robot_configuration_update
from portal import trust
from portal.models import IssuedCertificate
from practices import tickets
from practices.audit import audit_verify
from practices.models import AuditEvent, OtpChallenge, Practice, Revision, SignatureRequest
from practices.signature_types import DISPOSABLE, QUALIFIED, SIMPLE, SPID_FLOW
from signing.pki import POLICY_OIDS, Profile
from signing.signers import to_asn1
from signing.validate import validate
from tests.practices.conftest import PDF, dst_body, error_of, signature_request, url
from tests.signing.conftest import portal_pki  # noqa: F401
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

PHONE = "+393331234567"


@pytest.fixture(autouse=True)
def _pki_and_sms(portal_pki, settings):  # noqa: F811
    settings.SMS_BACKEND = "file"
    return portal_pki


# --- helpers ----------------------------------------------------------------------------


def person(n: int = 1, *, phone: str = PHONE, **overrides) -> dict:
    signer = {
        "email": f"s{n}@mail.com",
        "first_name": f"Name{n}",
        "last_name": f"Surname{n}",
    }
    if phone:
        signer["phone"] = phone
    return signature_request(signer=signer, **overrides)


def of_type(kind: str, n: int = 1, **overrides) -> dict:
    if kind in ("click", "otp", "grapho"):
        return person(n, constraints=[SIMPLE], provider_options={"unlock_mode": kind}, **overrides)
    constraints = {
        "advanced": [],
        "qualified": [QUALIFIED],
        "spid": [DISPOSABLE, SPID_FLOW],
    }[kind]
    return person(n, constraints=constraints, **overrides)


def create(client, groups, **overrides) -> dict:
    response = client.post(url(), dst_body(groups=groups, **overrides))
    assert response.status_code == 201, response.content
    return response.json()["data"]


def ticket_of(item: dict) -> str:
    return item["signature_ticket"].rsplit("/sign/", 1)[1]


def tickets_of(dst: dict) -> list[str]:
    return [ticket_of(item) for group in dst["documents"][0]["groups"] for item in group]


def t_url(ticket: str, action: str = "") -> str:
    return f"/api/v1/tickets/{ticket}" + (f"/{action}" if action else "")


def sent_codes(settings) -> list[dict]:
    try:
        with open(settings.SMS_FILE_PATH) as handle:
            return [json.loads(line) for line in handle]
    except FileNotFoundError:
        return []


def last_code(settings) -> str:
    message = sent_codes(settings)[-1]
    return re.search(r"\b(\d{6})\b", message["text"]).group(1)


def send_code(client, ticket: str, settings) -> str:
    response = client.post(t_url(ticket, "otp"), {})
    assert response.status_code == 204, response.content
    return last_code(settings)


def allow_resend(request_id) -> None:
    """Move the last code back past the resend cooldown."""
    OtpChallenge.objects.filter(request_id=request_id).update(
        created=timezone.now() - timedelta(minutes=1)
    )


def latest(document_id) -> bytes:
    revision = Revision.objects.filter(document_id=document_id).order_by("-number").first()
    with revision.file.open("rb") as handle:
        return handle.read()


def assert_valid(data: bytes) -> None:
    report = validate(
        data,
        trust_roots=trust.validation_roots(),
        other_certs=[trust.authority().issuing],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )
    assert report.valid, report


def trusted_at(data: bytes, moment) -> bool:
    """pyHanko's verdict on the only signature, with our CRLs, at `moment`."""
    ca = trust.authority()
    context = ValidationContext(
        trust_roots=[to_asn1(ca.root)],
        other_certs=[to_asn1(ca.issuing)],
        crls=[trust.issuing_crl(), trust.root_crl()],
        allow_fetching=False,
        revocation_mode="hard-fail",
        moment=moment,
    )
    (sig,) = PdfFileReader(BytesIO(data)).embedded_regular_signatures
    status = validate_pdf_signature(sig, signer_validation_context=context)
    return bool(status.intact and status.valid and status.trusted and not status.revoked)


def signer_certificates(data: bytes) -> list[x509.Certificate]:
    reader = PdfFileReader(BytesIO(data))
    return [
        x509.load_der_x509_certificate(sig.signer_cert.dump())
        for sig in reader.embedded_regular_signatures
    ]


def policies(certificate: x509.Certificate) -> set:
    extension = certificate.extensions.get_extension_for_class(x509.CertificatePolicies)
    return {p.policy_identifier for p in extension.value}


def png(width: int = 120, height: int = 40) -> bytes:
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    for x in range(10, width - 10):
        image.putpixel((x, height // 2), (0, 0, 128, 255))
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def has_image_xobject(data: bytes) -> bool:
    reader = PdfFileReader(BytesIO(data))
    seen = set()

    def walk(stream) -> bool:
        resources = stream.get("/Resources")
        if resources is None:
            return False
        xobjects = resources.get("/XObject") or {}
        for key in xobjects:
            ref = xobjects.raw_get(key)
            marker = getattr(ref, "idnum", id(ref))
            if marker in seen:
                continue
            seen.add(marker)
            xobject = xobjects[key]
            if xobject.get("/Subtype") == "/Image":
                return True
            if walk(xobject):
                return True
        return False

    for sig in reader.embedded_regular_signatures:
        field = sig.sig_field
        appearance = field.get("/AP")
        if appearance is None:
            for kid in field.get("/Kids") or []:
                appearance = kid.get("/AP")
                if appearance:
                    break
        if appearance is not None and walk(appearance["/N"]):
            return True
    return False


@pytest.fixture
def client(admin_api):
    return admin_api


@pytest.fixture
def anon():
    from django.test import Client

    class Anon(Client):
        def post(self, path, data=None, content_type="application/json", **kw):
            return super().post(path, data, content_type=content_type, **kw)

    return Anon()


# --- describe ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["click", "otp", "grapho", "advanced", "qualified", "spid"])
def test_describe_shows_the_request_its_document_and_signer(client, anon, kind):
    clauses = [
        {"id": "c1", "required": True, "description": "Privacy", "where": {"page": 1}},
    ]
    dst = create(client, [[of_type(kind, clauses=clauses)]])
    item = dst["documents"][0]["groups"][0][0]

    response = anon.get(t_url(ticket_of(item)))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dst"] == {"id": dst["id"], "title": "Titolo pratica", "status": "pending"}
    signature = body["signature"]
    assert signature["id"] == item["id"]
    assert signature["signature_type"] == kind
    assert signature["status"] == "pending"
    assert signature["profile"] == "pades-bes"
    assert signature["declinable"] is False
    assert signature["locked"] is False
    assert signature["where"] == {"page": 2, "position": "rect: 134,25,197,34"}
    assert [c["id"] for c in signature["clauses"]] == ["c1"]
    assert signature["document"] == {
        "id": dst["documents"][0]["id"],
        "display_name": "Contratto utenza",
        "pages": 2,
    }
    assert body["signer"] == {
        "email": "s1@mail.com",
        "first_name": "Name1",
        "last_name": "Surname1",
    }
    assert set(body) == {"dst", "signature", "signer"}


def test_describe_says_locked_while_an_earlier_group_has_not_signed(client, anon):
    dst = create(client, [[of_type("click", 1)], [of_type("click", 2)]])
    first, second = tickets_of(dst)
    assert anon.get(t_url(second)).json()["signature"]["locked"] is True
    assert anon.get(t_url(first)).json()["signature"]["locked"] is False


def test_unknown_ticket_is_404_everywhere(anon):
    for method, action, body in [
        ("get", "", None),
        ("post", "otp", {}),
        ("post", "sign", {"accepted_clauses": []}),
        ("post", "decline", {"reason": "no"}),
    ]:
        call = getattr(anon, method)
        response = (
            call(t_url("not-a-ticket", action), body)
            if body is not None
            else call(t_url("not-a-ticket", action))
        )
        assert response.status_code == 404, (action, response.content)
        assert response.json()["meta"]["error_type"] == "NotFound"


# --- click and clauses ------------------------------------------------------------------


def test_click_signs_and_the_document_validates(client, anon):
    dst = create(client, [[of_type("click", urlback="https://shop.example/done")]])
    (ticket,) = tickets_of(dst)

    response = anon.post(t_url(ticket, "sign"), {"accepted_clauses": []})

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "performed", "redirect": "https://shop.example/done"}
    request = SignatureRequest.objects.get(pk=dst["documents"][0]["groups"][0][0]["id"])
    assert request.status == "performed"
    practice = Practice.objects.get(pk=dst["id"])
    assert practice.status == "performed"
    data = latest(request.document_id)
    assert data[: len(PDF)] == PDF
    assert_valid(data)
    (certificate,) = signer_certificates(data)
    assert POLICY_OIDS[Profile.SIMPLE] in policies(certificate)
    assert audit_verify(practice=practice) is None
    event = AuditEvent.objects.get(practice=practice, kind="signature.performed")
    assert event.actor_label == "signer:s1@mail.com"


def test_redirect_falls_back_to_the_dst_then_null(client, anon):
    dst = create(
        client, [[of_type("click", 1)], [of_type("click", 2)]], urlback="https://a.example/"
    )
    first, second = tickets_of(dst)
    assert anon.post(t_url(first, "sign"), {}).json()["redirect"] == "https://a.example/"
    dst = create(client, [[of_type("click", 3)]])
    (third,) = tickets_of(dst)
    assert anon.post(t_url(third, "sign"), {}).json()["redirect"] is None


def test_a_required_clause_must_be_accepted(client, anon):
    clauses = [
        {"id": "privacy", "required": True, "description": "Privacy", "where": {"page": 1}},
        {"id": "news", "required": False, "description": "News", "where": {"page": 1}},
    ]
    dst = create(client, [[of_type("click", clauses=clauses)]])
    (ticket,) = tickets_of(dst)

    refused = anon.post(t_url(ticket, "sign"), {"accepted_clauses": ["news"]})
    assert refused.status_code == 400
    assert error_of(refused).startswith("accepted_clauses : ")
    assert SignatureRequest.objects.get().status == "pending"

    signed = anon.post(t_url(ticket, "sign"), {"accepted_clauses": ["privacy"]})
    assert signed.status_code == 200, signed.content


def test_already_signed_is_409(client, anon):
    dst = create(client, [[of_type("click")]])
    (ticket,) = tickets_of(dst)
    assert anon.post(t_url(ticket, "sign"), {}).status_code == 200
    dst_two = create(client, [[of_type("click", 1), of_type("click", 2)]])
    one, two = tickets_of(dst_two)
    assert anon.post(t_url(one, "sign"), {}).status_code == 200

    again = anon.post(t_url(one, "sign"), {})

    assert again.status_code == 409
    assert again.json()["meta"]["error_type"] == "Conflict"
    # The other signer of the group is untouched and still signs.
    assert anon.post(t_url(two, "sign"), {}).status_code == 200
    assert_valid(latest(dst_two["documents"][0]["id"]))
    assert len(signer_certificates(latest(dst_two["documents"][0]["id"]))) == 2


def test_locked_group_is_403_then_signs_once_unlocked(client, anon):
    dst = create(client, [[of_type("click", 1)], [of_type("click", 2)]])
    first, second = tickets_of(dst)

    locked = anon.post(t_url(second, "sign"), {})
    assert locked.status_code == 403
    assert locked.json()["meta"]["error_type"] == "Forbidden"

    assert anon.post(t_url(first, "sign"), {}).status_code == 200
    assert anon.get(t_url(second)).json()["signature"]["locked"] is False
    assert anon.post(t_url(second, "sign"), {}).status_code == 200
    assert_valid(latest(dst["documents"][0]["id"]))


def test_cancelled_dst_is_410(client, anon):
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    assert client.post(url(tail=f"/{dst['id']}/cancel"), {"reason": "x"}).status_code == 200
    for action, body in [("sign", {"otp": "123456"}), ("otp", {}), ("decline", {"reason": "x"})]:
        response = anon.post(t_url(ticket, action), body)
        assert response.status_code == 410, (action, response.content)
        assert response.json()["meta"]["error_type"] == "Gone"
    assert anon.get(t_url(ticket)).json()["dst"]["status"] == "cancelled"


def test_ticket_past_not_after_is_410(client, anon):
    dst = create(client, [[of_type("click")]])
    (ticket,) = tickets_of(dst)
    Practice.objects.filter(pk=dst["id"]).update(not_after=timezone.now() - timedelta(seconds=1))
    response = anon.post(t_url(ticket, "sign"), {})
    assert response.status_code == 410
    assert "expired" in error_of(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accepted_clauses": "all"}, "accepted_clauses"),
        ({"otp": "12345"}, "otp"),
        ({"otp": "abcdef"}, "otp"),
        ({"graphometric": {"image": 3}}, "graphometric.image"),
        ({"graphometric": {}}, "graphometric.image"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_sign_bodies_are_400_with_the_field(client, anon, body, field):
    dst = create(client, [[of_type("click")]])
    (ticket,) = tickets_of(dst)
    response = anon.post(t_url(ticket, "sign"), body)
    assert response.status_code == 400, response.content
    assert error_of(response).startswith(f"{field} : ")


def test_bad_decline_bodies_are_400_with_the_field(client, anon):
    dst = create(client, [[of_type("click", declinable=True)]])
    (ticket,) = tickets_of(dst)
    for body in ({}, {"reason": ""}, {"reason": 1}):
        response = anon.post(t_url(ticket, "decline"), body)
        assert response.status_code == 400, response.content
        assert error_of(response).startswith("reason : ")


def test_a_first_group_click_signature_runs_fifteen_statements(client, anon):
    """The hot path's statement budget: the ticket, the signer's certificate
    (found, else issued), the request read again before signing and under the
    lock, the latest revision twice, the locks, the writes. A first group has
    no earlier group to ask about."""
    dst = create(client, [[of_type("click")]])
    (ticket,) = tickets_of(dst)

    with CaptureQueriesContext(connection) as queries:
        response = anon.post(t_url(ticket, "sign"), {"accepted_clauses": []})

    assert response.status_code == 200, response.content
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))
    ]
    assert not [sql for sql in statements if '"group" <' in sql]
    assert len(statements) == 15, "\n".join(sql[:120] for sql in statements)


def test_a_click_signature_takes_no_code_or_drawing(client, anon):
    dst = create(client, [[of_type("click")]])
    (ticket,) = tickets_of(dst)
    assert error_of(anon.post(t_url(ticket, "sign"), {"otp": "123456"})).startswith("otp : ")
    drawn = anon.post(t_url(ticket, "sign"), {"graphometric": {"image": data_url(png())}})
    assert error_of(drawn).startswith("graphometric : ")
    assert error_of(anon.post(t_url(ticket, "otp"), {})).startswith("signature_type : ")


# --- one-time codes ---------------------------------------------------------------------


def test_otp_flow_wrong_code_then_right_code_then_no_reuse(client, anon, settings):
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    request = SignatureRequest.objects.get()

    missing = anon.post(t_url(ticket, "sign"), {})
    assert missing.status_code == 400 and error_of(missing).startswith("otp : ")

    code = send_code(anon, ticket, settings)
    (message,) = sent_codes(settings)
    assert set(message) == {"to", "text", "sent_at"} and message["to"] == PHONE
    challenge = OtpChallenge.objects.get(request=request)
    assert code not in challenge.code_digest and len(challenge.code_digest) == 64
    assert challenge.document_sha256 == ""  # a simple OTP is not bound to the bytes

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = anon.post(t_url(ticket, "sign"), {"otp": wrong})
    assert refused.status_code == 401
    assert refused.json()["meta"]["error_type"] == "Unauthorized"

    signed = anon.post(t_url(ticket, "sign"), {"otp": code})
    assert signed.status_code == 200, signed.content
    assert OtpChallenge.objects.get(request=request).used_at is not None
    assert_valid(latest(request.document_id))

    # Reuse: on the same request (already signed) and as a consumed code.
    assert anon.post(t_url(ticket, "sign"), {"otp": code}).status_code == 409
    with pytest.raises(tickets.TicketRefused) as used:
        tickets.otp_check(request=request, code=code)
    assert used.value.status == 401


def test_resend_has_a_cooldown_and_the_latest_code_counts(client, anon, settings):
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    request = SignatureRequest.objects.get()
    first = send_code(anon, ticket, settings)

    again = anon.post(t_url(ticket, "otp"), {})
    assert again.status_code == 429
    assert 1 <= int(again["Retry-After"]) <= 30

    allow_resend(request.id)
    second = send_code(anon, ticket, settings)
    if first != second:
        assert anon.post(t_url(ticket, "sign"), {"otp": first}).status_code == 401
    assert anon.post(t_url(ticket, "sign"), {"otp": second}).status_code == 200


def test_code_expires_after_five_minutes(client, anon, settings):
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    code = send_code(anon, ticket, settings)
    challenge = OtpChallenge.objects.get()
    assert (
        timedelta(minutes=4, seconds=59)
        < challenge.expires_at - challenge.created
        <= timedelta(minutes=5)
    )
    OtpChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = anon.post(t_url(ticket, "sign"), {"otp": code})

    assert response.status_code == 401
    assert "expired" in error_of(response)
    assert SignatureRequest.objects.get().status == "pending"


def test_five_wrong_codes_lock_the_code_until_a_new_one_is_sent(client, anon, settings):
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    code = send_code(anon, ticket, settings)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert anon.post(t_url(ticket, "sign"), {"otp": wrong}).status_code == 401

    for attempt in (wrong, code):
        locked = anon.post(t_url(ticket, "sign"), {"otp": attempt})
        assert locked.status_code == 429, locked.content
        assert "Retry-After" in locked
    assert SignatureRequest.objects.get().status == "pending"

    allow_resend(SignatureRequest.objects.get().id)
    fresh = send_code(anon, ticket, settings)
    assert anon.post(t_url(ticket, "sign"), {"otp": fresh}).status_code == 200


def test_codes_sent_per_hour_are_limited(client, anon, settings):
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    request = SignatureRequest.objects.get()
    for _ in range(tickets.OTP_MAX_SENDS):
        send_code(anon, ticket, settings)
        OtpChallenge.objects.filter(request=request).update(
            created=timezone.now() - timedelta(minutes=2)
        )
    response = anon.post(t_url(ticket, "otp"), {})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 60


def test_a_code_is_consumed_once(client, anon, settings):
    """Two submissions of one code: the conditional UPDATE lets one through."""
    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    code = send_code(anon, ticket, settings)
    request = SignatureRequest.objects.get()
    challenge_one = tickets.otp_check(request=request, code=code)
    challenge_two = tickets.otp_check(request=request, code=code)

    assert tickets.otp_consume(challenge=challenge_one) is True
    assert tickets.otp_consume(challenge=challenge_two) is False


def test_a_code_of_one_signer_does_not_open_another(client, anon, settings):
    dst = create(client, [[of_type("otp", 1), of_type("otp", 2)]])
    one, two = tickets_of(dst)
    code = send_code(anon, one, settings)

    response = anon.post(t_url(two, "sign"), {"otp": code})

    assert response.status_code == 401
    first, second = SignatureRequest.objects.order_by("position")
    assert (first.status, second.status) == ("pending", "pending")
    assert anon.post(t_url(one, "sign"), {"otp": code}).status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("performed", "pending")


# --- graphometric -----------------------------------------------------------------------


def test_grapho_draws_the_png_into_the_appearance(client, anon):
    dst = create(client, [[of_type("grapho")]])
    (ticket,) = tickets_of(dst)

    missing = anon.post(t_url(ticket, "sign"), {})
    assert missing.status_code == 400 and error_of(missing).startswith("graphometric : ")

    response = anon.post(t_url(ticket, "sign"), {"graphometric": {"image": data_url(png())}})

    assert response.status_code == 200, response.content
    data = latest(dst["documents"][0]["id"])
    assert has_image_xobject(data)
    assert_valid(data)


@pytest.mark.parametrize(
    "image",
    [
        "data:image/jpeg;base64,AAAA",
        "data:image/png;base64,not base64!",
        data_url(b"GIF89a" + b"\0" * 20),
        data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * 20),
        data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * (tickets.MAX_IMAGE_BYTES + 1)),
    ],
)
def test_grapho_refuses_what_is_not_a_small_png(client, anon, image):
    dst = create(client, [[of_type("grapho")]])
    (ticket,) = tickets_of(dst)
    response = anon.post(t_url(ticket, "sign"), {"graphometric": {"image": image}})
    assert response.status_code == 400, response.content
    assert error_of(response).startswith("graphometric.image : ")


# --- advanced, qualified, spid ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "profile"), [("advanced", Profile.ADVANCED), ("qualified", Profile.QUALIFIED)]
)
def test_remote_certificate_unlocked_by_a_code_bound_to_the_document(
    client, anon, settings, kind, profile
):
    dst = create(client, [[of_type(kind)]])
    (ticket,) = tickets_of(dst)
    assert error_of(anon.post(t_url(ticket, "sign"), {})).startswith("otp : ")
    code = send_code(anon, ticket, settings)
    original = Revision.objects.get(number=0)
    assert OtpChallenge.objects.get().document_sha256 == original.sha256

    response = anon.post(t_url(ticket, "sign"), {"otp": code})

    assert response.status_code == 200, response.content
    data = latest(dst["documents"][0]["id"])
    assert_valid(data)
    (certificate,) = signer_certificates(data)
    assert POLICY_OIDS[profile] in policies(certificate)
    issued = IssuedCertificate.objects.get(profile=profile.value)
    assert issued.owner == "signer:acme:s1@mail.com"
    assert issued.revoked_at is None


def test_advanced_certificate_is_reused_for_the_same_signer(client, anon, settings):
    for _ in range(2):
        dst = create(client, [[of_type("advanced")]])
        (ticket,) = tickets_of(dst)
        code = send_code(anon, ticket, settings)
        assert anon.post(t_url(ticket, "sign"), {"otp": code}).status_code == 200
    assert IssuedCertificate.objects.filter(profile="advanced").count() == 1


def test_a_bound_code_dies_when_the_document_changes(client, anon, settings):
    dst = create(client, [[of_type("advanced", 1), of_type("click", 2)]])
    advanced, click = tickets_of(dst)
    code = send_code(anon, advanced, settings)
    assert anon.post(t_url(click, "sign"), {}).status_code == 200

    stale = anon.post(t_url(advanced, "sign"), {"otp": code})

    assert stale.status_code == 401
    assert "changed" in error_of(stale)
    allow_resend(SignatureRequest.objects.get(position=0).id)
    fresh = send_code(anon, advanced, settings)
    assert anon.post(t_url(advanced, "sign"), {"otp": fresh}).status_code == 200
    data = latest(dst["documents"][0]["id"])
    assert len(signer_certificates(data)) == 2
    assert_valid(data)


def test_spid_signs_with_a_one_time_certificate_revoked_after_use(client, anon):
    dst = create(client, [[of_type("spid", profile="pades-t")]])
    (ticket,) = tickets_of(dst)

    response = anon.post(t_url(ticket, "sign"), {})

    assert response.status_code == 200, response.content
    issued = IssuedCertificate.objects.get(profile=Profile.ONE_TIME.value)
    assert issued.revoked_at is not None
    data = latest(dst["documents"][0]["id"])
    (certificate,) = signer_certificates(data)
    assert format(certificate.serial_number, "x") == issued.serial
    assert POLICY_OIDS[Profile.ONE_TIME] in policies(certificate)
    crl = x509.load_der_x509_crl(trust.issuing_crl())
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
    # The revocation comes after the signature's time-stamp: at that moment the
    # certificate was good, and the validator judges it there.
    report = validate(
        data,
        trust_roots=trust.validation_roots(),
        other_certs=[trust.authority().issuing],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )
    (only,) = report.signatures
    assert only.intact and only.timestamp_trusted and only.changes_allowed
    assert report.valid and only.trusted and only.checked_at_timestamp, only.problems
    assert only.revocation.after_timestamp
    assert only.revocation.reason == "cessation_of_operation"
    assert issued.revoked_at > only.timestamp
    assert trusted_at(data, only.timestamp)


# --- declining --------------------------------------------------------------------------


def test_decline_cancels_the_dst_and_redirects_to_cancelback(robot, api_as, anon):
    robot_configuration_update(
        robot=robot,
        request_headers={},
        authentication={},
        webhook_url="https://erp.example.com/hooks",
    )
    client = api_as(robot)
    dst = create(
        client,
        [
            [
                of_type("click", 1, declinable=True, cancelback="https://erp.example/no"),
                of_type("click", 2),
            ]
        ],
    )
    one, two = tickets_of(dst)
    Delivery.objects.all().delete()

    response = anon.post(t_url(one, "decline"), {"reason": "Wrong amount"})

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "declined", "redirect": "https://erp.example/no"}
    first, second = SignatureRequest.objects.order_by("position")
    assert first.status == "declined"
    assert first.decline_reason == "Wrong amount"
    assert first.decline_datetime is not None
    assert second.status == "cancelled"
    practice = Practice.objects.get(pk=dst["id"])
    assert (practice.status, practice.reason) == ("cancelled", "declined")
    assert audit_verify(practice=practice) is None
    assert AuditEvent.objects.filter(practice=practice, kind="signature.declined").exists()
    bodies = [json.loads(d.body) for d in Delivery.objects.order_by("id")]
    dst_events = [b for b in bodies if b["message"] == "DST_STATUS_CHANGED"]
    assert [(b["data"]["status"], b["data"]["reason"]) for b in dst_events] == [
        ("cancelled", "declined")
    ]
    signature_events = [b for b in bodies if b["message"] == "SIGNATURE_STATUS_CHANGED"]
    assert [b["data"]["status"] for b in signature_events] == ["declined"]

    assert anon.post(t_url(one, "decline"), {"reason": "again"}).status_code == 409
    assert anon.post(t_url(two, "sign"), {}).status_code == 410


def test_decline_redirect_falls_back_to_the_dst_cancelback(client, anon):
    dst = create(client, [[of_type("click", declinable=True)]], cancelback="https://a.example/x")
    (ticket,) = tickets_of(dst)
    answer = anon.post(t_url(ticket, "decline"), {"reason": "no"}).json()
    assert answer == {"status": "declined", "redirect": "https://a.example/x"}


def test_not_declinable_is_403(client, anon):
    dst = create(client, [[of_type("click", declinable=False)]])
    (ticket,) = tickets_of(dst)
    response = anon.post(t_url(ticket, "decline"), {"reason": "no"})
    assert response.status_code == 403
    assert response.json()["meta"]["error_type"] == "Forbidden"
    assert SignatureRequest.objects.get().status == "pending"


def test_a_signed_request_cannot_be_declined(client, anon):
    dst = create(client, [[of_type("click", 1, declinable=True), of_type("click", 2)]])
    one, _two = tickets_of(dst)
    assert anon.post(t_url(one, "sign"), {}).status_code == 200
    assert anon.post(t_url(one, "decline"), {"reason": "late"}).status_code == 409


# --- rate limit -------------------------------------------------------------------------


def test_ticket_calls_are_rate_limited_per_address(anon, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ticket": (3, 60)}
    for _ in range(3):
        assert anon.get(t_url("nope")).status_code == 404
    limited = anon.get(t_url("nope"))
    assert limited.status_code == 429
    assert "Retry-After" in limited


def test_describe_counts_the_pages_of_a_cades_document(client, anon):
    dst = create(client, [[of_type("click", profile="cades-bes", where=None)]])
    (ticket,) = tickets_of(dst)
    body = anon.get(t_url(ticket)).json()
    assert body["signature"]["document"]["pages"] == 2
    assert anon.post(t_url(ticket, "sign"), {}).status_code == 200
    assert anon.get(t_url(ticket)).json()["signature"]["status"] == "performed"


def test_a_locked_signer_cannot_decline_yet(client, anon):
    dst = create(client, [[of_type("click", 1)], [of_type("click", 2, declinable=True)]])
    _first, second = tickets_of(dst)
    assert anon.post(t_url(second, "decline"), {"reason": "no"}).status_code == 403
    assert Practice.objects.get(pk=dst["id"]).status == "pending"


def test_a_code_that_cannot_be_sent_is_502_and_leaves_no_cooldown(client, anon, settings):
    import socket

    dst = create(client, [[of_type("otp")]])
    (ticket,) = tickets_of(dst)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.SMS_BACKEND = "http"
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{closed}/send"
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    response = anon.post(t_url(ticket, "otp"), {})

    assert response.status_code == 502
    assert not OtpChallenge.objects.exists()
    settings.SMS_BACKEND = "file"
    assert anon.post(t_url(ticket, "otp"), {}).status_code == 204


def test_a_ticket_acts_only_on_its_own_dst(client, anon):
    first = create(client, [[of_type("click", 1)]])
    second = create(client, [[of_type("click", 1)]])
    (ticket,) = tickets_of(first)
    assert anon.post(t_url(ticket, "sign"), {}).status_code == 200
    assert Practice.objects.get(pk=first["id"]).status == "performed"
    assert Practice.objects.get(pk=second["id"]).status == "pending"
    assert not Revision.objects.filter(document_id=second["documents"][0]["id"], number=1).exists()
