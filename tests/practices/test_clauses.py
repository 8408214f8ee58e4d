"""Accepted clauses with a rectangle are drawn on their page, as signatures of
their own by the signer (signing/clauses.py), in the revision the signer
produces; validators that are not ours find every signature valid."""

from io import BytesIO

import pytest
from django.test import Client
from pyhanko.pdf_utils.reader import PdfFileReader

from portal import trust
from practices.models import AuditEvent, Revision
from practices.signature_types import SIMPLE
from signing.cades import encapsulated_content, read_signed_data
from signing.signers import to_asn1
from signing.validate import validate
from tests.practices.conftest import PDF, dst_body, signature_request, url
from tests.signing import pdfs
from tests.signing.conftest import live_pki, portal_pki  # noqa: F401 - fixtures
from tests.signing.test_pades_pdfsig import nssdb, pdfsig, pdfsig_each  # noqa: F401

MM = 72 / 25.4
A4_HEIGHT = pdfs.A4[1]


def person(n: int, *, where_mm: tuple[int, int], clauses: list, **overrides) -> dict:
    x, y = where_mm
    return signature_request(
        signer={"email": f"s{n}@mail.com", "first_name": f"Name{n}", "last_name": f"Surname{n}"},
        constraints=[SIMPLE],
        provider_options={"unlock_mode": "click"},
        where={"page": 2, "position": f"rect: {x}mm, {y}mm, {x + 70}mm, {y + 20}mm"},
        clauses=clauses,
        **overrides,
    )


def clause(cid, rect_mm: tuple[int, int, int, int] | None, *, required=True, **extra) -> dict:
    body = {"id": cid, "required": required, "description": f"Clausola {cid}: penali e recesso"}
    if rect_mm is not None:
        x1, y1, x2, y2 = rect_mm
        body["where"] = {"page": 1, "position": f"rect: {x1}mm, {y1}mm, {x2}mm, {y2}mm"}
    body.update(extra)
    return body


def create(client, groups, **overrides) -> dict:
    response = client.post(url(), dst_body(groups=groups, generate_report=False, **overrides))
    assert response.status_code == 201, response.content
    return response.json()["data"]


def sign(ticket_url: str, accepted: list) -> None:
    ticket = ticket_url.rsplit("/sign/", 1)[1]
    response = Client().post(
        f"/api/v1/tickets/{ticket}/sign",
        {"accepted_clauses": accepted},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content


def latest(document_id) -> Revision:
    return Revision.objects.filter(document_id=document_id).latest("number")


def page_text(path, page: int) -> str:
    result = pdfs.run("pdftotext", "-f", str(page), "-l", str(page), str(path), "-")
    return " ".join(result.stdout.decode().split())


def ink_in(image, rect_mm, *, dpi: int = 72) -> int:
    """Dark pixels strictly inside `rect_mm` (x1, y1, x2, y2 in mm, bottom-left origin)."""
    scale = dpi / 72
    x1, y1, x2, y2 = (v * MM * scale for v in rect_mm)
    height = A4_HEIGHT * scale
    pixels = image.load()
    count = 0
    for y in range(int(height - y2) + 1, int(height - y1)):
        for x in range(int(x1) + 1, int(x2)):
            if max(pixels[x, y]) < 128:
                count += 1
    return count


# --- through the ticket API, checked by poppler -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_accepted_clauses_are_drawn_on_their_page_and_every_signature_stays_valid(
    live_pki,  # noqa: F811
    nssdb,  # noqa: F811
    admin_api,
    tmp_path,
):
    first_clause, optional, second_clause = (
        (20, 200, 100, 225),
        (110, 200, 190, 225),
        (20, 150, 100, 175),
    )
    groups = [
        [
            person(
                0,
                where_mm=(20, 20),
                clauses=[
                    clause("penali", first_clause),
                    clause("privacy", optional, required=False),
                    clause("foro", None),
                ],
            )
        ],
        [person(1, where_mm=(110, 20), clauses=[clause(7, second_clause)], profile="pades-t")],
    ]
    dst = create(admin_api, groups)
    document = dst["documents"][0]
    (first,), (second,) = document["groups"]

    sign(first["signature_ticket"], ["penali", "foro"])
    after_first = tmp_path / "first.pdf"
    after_first.write_bytes(latest(document["id"]).file.read())
    sign(second["signature_ticket"], [7])
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(latest(document["id"]).file.read())

    text = page_text(signed, 1)
    assert "Clausola penali: penali e recesso" in text
    assert "Approved by Name0 Surname0" in text
    assert "Clausola 7: penali e recesso" in text
    assert "Approved by Name1 Surname1" in text
    # The optional clause was not accepted; the one without a rectangle is only audited.
    assert "privacy" not in text
    assert "foro" not in text
    # The first signer's clause is drawn in their own revision, before the second signs.
    assert "Approved by Name0 Surname0" in page_text(after_first, 1)
    assert "Approved by Name1" not in page_text(after_first, 1)

    page = pdfs.rasterise(signed, page=1)
    assert ink_in(page, first_clause) > 50
    assert ink_in(page, second_clause) > 50
    assert ink_in(page, optional) == 0

    # Clause signature, then the request's own: the request's covers its clauses,
    # and the first signer's two signatures stay valid after the second's revision.
    signatures = pdfsig(nssdb, signed)
    names = [s["Signer Certificate Common Name"] for s in signatures]
    assert names == ["Name0 Surname0", "Name0 Surname0", "Name1 Surname1", "Name1 Surname1"]
    assert all(s["Signature Validation"] == "Signature is Valid." for s in signatures), signatures
    # Poppler 22.12 cannot check a certificate a second time in one run (it
    # reads the first signature's certificates from freed memory, see
    # pdfsig_each), so each signature's certificate is checked in a run of its own.
    alone = pdfsig_each(nssdb, signed)
    assert [s["Signature Field Name"] for s in alone] == [
        s["Signature Field Name"] for s in signatures
    ]
    assert all(s["Signature Validation"] == "Signature is Valid." for s in alone), alone
    assert all(s["Certificate Validation"] == "Certificate is Trusted." for s in alone), alone
    ours = validate(
        signed.read_bytes(),
        trust_roots=[to_asn1(root) for root in trust.validation_roots()],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )
    assert ours.valid, ours.as_text()
    assert [s.level for s in ours.signatures] == ["B-B", "B-B", "B-T", "B-T"]
    assert ours.signatures[0].field_name.endswith("-clause-penali")
    assert ours.signatures[2].field_name.endswith("-clause-7")

    performed = AuditEvent.objects.filter(practice_id=dst["id"], kind="signature.performed")
    assert sorted(e.data["accepted_clauses"] for e in performed) == [["7"], ["penali", "foro"]]


# --- offline checks -------------------------------------------------------------------------


@pytest.fixture
def offline(portal_pki):  # noqa: F811
    return portal_pki


def signature_count(data: bytes) -> int:
    return len(PdfFileReader(BytesIO(data)).embedded_signatures)


@pytest.mark.django_db
def test_an_optional_clause_not_accepted_draws_nothing(offline, admin_api, tmp_path):
    rect = (30, 100, 120, 130)
    dst = create(
        admin_api, [[person(0, where_mm=(20, 20), clauses=[clause("opt", rect, required=False)])]]
    )
    document = dst["documents"][0]
    sign(document["groups"][0][0]["signature_ticket"], [])

    data = latest(document["id"]).file.read()
    (tmp_path / "s.pdf").write_bytes(data)
    assert signature_count(data) == 1
    assert "Clausola opt" not in page_text(tmp_path / "s.pdf", 1)
    assert ink_in(pdfs.rasterise(tmp_path / "s.pdf", page=1), rect) == 0


@pytest.mark.django_db
def test_a_clause_keeps_the_text_its_where_gives_with_accents(offline, admin_api, tmp_path):
    where_text = [
        {
            "font": {"name": "Universal", "size": 50},
            "format": ["Approvo la clausola è", "nominativofirma", "il datafirma"],
            "text_align": "middle",
        }
    ]
    rect = (140, 44, 193, 53)
    body = clause(0, rect)
    body["where"]["text"] = where_text
    dst = create(admin_api, [[person(0, where_mm=(20, 20), clauses=[body])]])
    document = dst["documents"][0]
    sign(document["groups"][0][0]["signature_ticket"], [0])

    (tmp_path / "s.pdf").write_bytes(latest(document["id"]).file.read())
    text = page_text(tmp_path / "s.pdf", 1)
    assert "Approvo la clausola è" in text
    assert "Name0 Surname0" in text
    assert "Approved by" not in text  # the clause's own lines replace the default ones
    assert ink_in(pdfs.rasterise(tmp_path / "s.pdf", page=1, dpi=144), rect, dpi=144) > 20


@pytest.mark.django_db
def test_clauses_on_a_cades_document_are_audited_not_drawn(offline, admin_api):
    dst = create(
        admin_api,
        [
            [
                person(
                    0,
                    where_mm=(20, 20),
                    clauses=[clause("c", (20, 200, 100, 225))],
                    profile="cades-bes",
                )
            ]
        ],
    )
    document = dst["documents"][0]
    sign(document["groups"][0][0]["signature_ticket"], ["c"])

    envelope = latest(document["id"]).file.read()
    assert encapsulated_content(read_signed_data(envelope)) == PDF
    event = AuditEvent.objects.get(practice_id=dst["id"], kind="signature.performed")
    assert event.data["accepted_clauses"] == ["c"]


@pytest.mark.django_db
def test_clause_signatures_under_a_long_term_signature_stay_valid(offline, admin_api):
    dst = create(
        admin_api,
        [
            [
                person(
                    0,
                    where_mm=(20, 20),
                    clauses=[clause("a", (20, 200, 100, 225)), clause("b", (110, 200, 190, 225))],
                    profile="pades-lta",
                )
            ]
        ],
    )
    document = dst["documents"][0]
    sign(document["groups"][0][0]["signature_ticket"], ["a", "b"])

    report = validate(
        latest(document["id"]).file.read(),
        trust_roots=[to_asn1(root) for root in trust.validation_roots()],
        crls=[trust.issuing_crl(), trust.root_crl()],
    )
    assert report.valid, report.as_text()
    names = [s.field_name.rsplit("-", 1)[-1] for s in report.signatures]
    assert names == ["a", "b", "1"]
    assert report.signatures[-1].level == "B-LTA"
    assert all(s.timestamp is not None for s in report.signatures)
