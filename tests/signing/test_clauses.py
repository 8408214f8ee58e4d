"""The engine's side of clauses: which accepted clauses become signature areas,
what they show, and that each is a signature of its own before the request's."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from signing.clauses import clause_areas, sign_clauses
from signing.documents import check_pdf
from signing.errors import PlacementError
from signing.pades import sign_pdf
from signing.validate import validate
from tests.signing import pdfs

WHEN = datetime(2026, 3, 14, 9, 26, tzinfo=ZoneInfo("Europe/Rome"))


@pytest.fixture(scope="module")
def a4():
    data = pdfs.simple_pdf(2)
    return data, check_pdf(data)


def where(page=1, position="rect: 20mm, 200mm, 110mm, 225mm", **extra):
    return {"page": page, "position": position, **extra}


def test_only_accepted_clauses_with_a_rectangle_become_areas(a4):
    _, info = a4
    clauses = [
        {"id": 1, "required": True, "description": "Penali", "where": where()},
        {"id": "opt", "required": False, "description": "Newsletter", "where": where()},
        {"id": "nowhere", "required": True, "description": "Foro"},
        {"id": "invisible", "required": True, "description": "Privacy", "where": {"page": 2}},
    ]

    areas = clause_areas(
        clauses, accepted=["1", "nowhere", "invisible"], field_name="Signature1-1", document=info
    )

    assert [a.id for a in areas] == ["1"]
    assert areas[0].field_name == "Signature1-1-clause-1"
    assert areas[0].reason == "Approval of clause 1: Penali"
    (block,) = areas[0].appearance.blocks
    assert block.lines == ("Penali", "Approved by nominativofirma, datafirma")


def test_clause_ids_become_safe_unique_field_names(a4):
    _, info = a4
    clauses = [
        {"id": "a.b", "description": "", "where": where()},
        {"id": "a_b", "description": "", "where": where()},
    ]

    areas = clause_areas(clauses, accepted=["a.b", "a_b"], field_name="F", document=info)

    assert [a.field_name for a in areas] == ["F-clause-a_b", "F-clause-a_b-1"]
    assert all("." not in a.field_name for a in areas)


def test_a_clause_off_the_page_names_its_path(a4):
    _, info = a4
    clauses = [{"id": 0, "description": "x", "where": where(page=3)}]

    with pytest.raises(PlacementError) as caught:
        clause_areas(clauses, accepted=["0"], field_name="F", document=info)

    assert caught.value.field == "clauses.0.where.page"


def test_clause_signatures_come_first_and_all_stay_valid(ca, a4, tmp_path):
    data, info = a4
    signer = pdfs.make_signer(ca, "Niccolò Lucà")
    description = "Clausola vessatoria: recesso anticipato e penalità"
    clauses = [{"id": 3, "required": True, "description": description, "where": where()}]
    areas = clause_areas(clauses, accepted=["3"], field_name="Firma1", document=info)

    signed = sign_clauses(data, areas, signer=signer, name="Niccolò Lucà", signed_at=WHEN)
    signed = sign_pdf(signed, signer=signer, field_name="Firma1", name="Niccolò Lucà")
    (tmp_path / "s.pdf").write_bytes(signed)

    report = validate(signed, trust_roots=[ca.root], crls=[ca.crl([]), ca.root_crl()])
    assert report.valid, report.as_text()
    assert [s.field_name for s in report.signatures] == ["Firma1-clause-3", "Firma1"]
    text = pdfs.run("pdftotext", "-f", "1", "-l", "1", str(tmp_path / "s.pdf"), "-").stdout
    text = " ".join(text.decode().split())
    assert description in text
    assert "Approved by Niccolò Lucà, 14/03/2026 09:26" in text
