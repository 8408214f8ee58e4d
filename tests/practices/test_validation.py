"""Every rule of the create body answers 400 with the field path, and creates nothing."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from practices.models import AuditEvent, Practice, SignatureRequest
from tests.practices.conftest import (
    A4,
    b64,
    dst_body,
    encrypted_pdf,
    error_of,
    signature_request,
    simple_pdf,
    url,
)

pytestmark = pytest.mark.django_db

SIGNER = {"email": "mrossi@mail.com", "first_name": "Mario", "last_name": "Rossi"}


def _request(**overrides) -> dict:
    return dst_body(groups=[[signature_request(**overrides)]])


def _second_request(**overrides) -> dict:
    return dst_body(
        groups=[[signature_request()], [signature_request(), signature_request(**overrides)]]
    )


def _document(**overrides) -> dict:
    body = dst_body()
    body["documents"][0].update(overrides)
    return {k: v for k, v in body.items()}


def _without_document_field(field: str) -> dict:
    body = dst_body()
    del body["documents"][0][field]
    return body


def _uri(**options) -> dict:
    body = dst_body(document=None)
    body["documents"][0]["document_uri"] = "https://docs.example.com/a.pdf"
    if options:
        body["documents"][0]["document_uri_options"] = options
    return body


CASES = {
    # the body itself
    "no documents": ({**dst_body(), "documents": []}, "documents"),
    "unknown top-level field": ({**dst_body(), "colour": "red"}, "colour : Unknown field"),
    "title too long": ({**dst_body(), "title": "t" * 256}, "title"),
    "metadata not an object": ({**dst_body(), "metadata": [1]}, "metadata"),
    "not_after in the past": (
        {**dst_body(), "not_after": (timezone.now() - timedelta(minutes=1)).isoformat()},
        "not_after : Must be in the future",
    ),
    "not_after not a date": ({**dst_body(), "not_after": "tomorrow"}, "not_after"),
    "urlback not a URL": ({**dst_body(), "urlback": "javascript:alert(1)"}, "urlback : Enter"),
    "cancelback ftp": ({**dst_body(), "cancelback": "ftp://x.example.com/"}, "cancelback : Enter"),
    # one document
    "both document and document_uri": (
        _document(document_uri="https://docs.example.com/a.pdf"),
        "documents.0.document_uri : Give either document or document_uri, not both",
    ),
    "neither document nor document_uri": (
        _without_document_field("document"),
        "documents.0.document_uri : This field is required",
    ),
    "document not base64": (_document(document="%%%not base64%%%"), "documents.0.document : "),
    "document not a PDF": (
        _document(document=b64(b"hello, world")),
        "documents.0.document : This is not a PDF",
    ),
    "encrypted PDF": (
        _document(document=b64(encrypted_pdf())),
        "documents.0.document : The PDF is encrypted",
    ),
    "document_uri not http": (
        {**_uri(), "documents": [{**_uri()["documents"][0], "document_uri": "file:///etc/passwd"}]},
        "documents.0.document_uri : Enter an http or https URL",
    ),
    "options without document_uri": (
        _document(document_uri_options={"method": "GET"}),
        "documents.0.document_uri_options : Only with document_uri",
    ),
    "unknown option": (_uri(proxy="x"), "documents.0.document_uri_options.proxy : Unknown field"),
    "bad method": (_uri(method="DELETE"), "documents.0.document_uri_options.method"),
    "bad auth_mode": (_uri(auth_mode="ntlm"), "documents.0.document_uri_options.auth_mode"),
    "client_cert without key": (
        _uri(client_cert=base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode()),
        "documents.0.document_uri_options.client_key : client_cert and client_key go together",
    ),
    "header with a newline": (
        _uri(headers={"X-Token": "a\r\nInjected: yes"}),
        "documents.0.document_uri_options.headers : Invalid header",
    ),
    "no groups": (_document(groups=[]), "documents.0.groups"),
    "empty group": (_document(groups=[[]]), "documents.0.groups.0"),
    "unknown document field": (_document(pages=3), "documents.0.pages : Unknown field"),
    # the signer
    "no signer": (
        dst_body(groups=[[{k: v for k, v in signature_request().items() if k != "signer"}]]),
        "documents.0.groups.0.0.signer : This field is required",
    ),
    "bad email": (
        _second_request(signer={**SIGNER, "email": "not-an-email"}),
        "documents.0.groups.1.1.signer.email : Enter a valid email address",
    ),
    "no first name": (
        _request(signer={"email": "a@b.it", "last_name": "Rossi"}),
        "documents.0.groups.0.0.signer.first_name : This field is required",
    ),
    "blank last name": (
        _request(signer={**SIGNER, "last_name": "  "}),
        "documents.0.groups.0.0.signer.last_name : This field cannot be blank",
    ),
    "otp without phone": (
        _request(provider_options={"unlock_mode": "otp"}),
        "documents.0.groups.0.0.signer.phone : Required with unlock_mode otp",
    ),
    "phone not a number": (
        _request(signer={**SIGNER, "phone": "call me"}),
        "documents.0.groups.0.0.signer.phone : Enter a phone number",
    ),
    "unknown unlock mode": (
        _request(provider_options={"unlock_mode": "face"}),
        "documents.0.groups.0.0.provider_options.unlock_mode",
    ),
    # the signature
    "unknown profile": (_request(profile="xades-bes"), "documents.0.groups.0.0.profile"),
    "two families on one document": (
        _second_request(profile="cades-bes"),
        "documents.0.groups.1.1.profile : All signatures on a document use one family",
    ),
    "unknown constraint": (
        _request(constraints=["certificate__is_simple__exact=true", "is_nice=true"]),
        "documents.0.groups.0.0.constraints.1 : Unknown constraint",
    ),
    "simple and qualified together": (
        _request(
            constraints=[
                "certificate__is_simple__exact=true",
                "certificate__is_qualified__exact=true",
            ]
        ),
        "documents.0.groups.0.0.constraints : ",
    ),
    "half a SPID": (
        _request(constraints=["is_disposable__eq=true"]),
        "documents.0.groups.0.0.constraints : a SPID signature needs both",
    ),
    "urlback of a request": (
        _request(urlback="not a url"),
        "documents.0.groups.0.0.urlback : Enter an http or https URL",
    ),
    "unknown request field": (_request(delegate=True), "documents.0.groups.0.0.delegate"),
    "too many constraints": (
        _request(constraints=["certificate__is_simple__exact=true"] * 11),
        "documents.0.groups.0.0.constraints",
    ),
    "reason too long": (_request(reason="r" * 256), "documents.0.groups.0.0.reason"),
    # placements
    "page zero": (_request(where={"page": 0}), "documents.0.groups.0.0.where.page"),
    "page beyond the document": (
        _request(where={"page": 3, "position": "rect: 10, 10, 50, 50"}),
        "documents.0.groups.0.0.where.page : page 3 is beyond the document, which has 2 pages",
    ),
    "position without rect": (
        _request(where={"page": 1, "position": "10, 10, 50, 50"}),
        "documents.0.groups.0.0.where.position : ",
    ),
    "position with three numbers": (
        _request(where={"page": 1, "position": "rect: 10, 10, 50"}),
        "documents.0.groups.0.0.where.position : ",
    ),
    "position with an unknown unit": (
        _request(where={"page": 1, "position": "rect: 10cm, 10, 50, 50"}),
        "documents.0.groups.0.0.where.position : unknown unit",
    ),
    "rectangle with no area": (
        _request(where={"page": 1, "position": "rect: 10, 10, 10, 50"}),
        "documents.0.groups.0.0.where.position : ",
    ),
    "rectangle off the page": (
        _request(where={"page": 1, "position": "rect: 500, 800, 700, 900"}),
        "documents.0.groups.0.0.where.position : ",
    ),
    "rectangle off the page in mm": (
        _request(where={"page": 1, "position": "rect: 10mm, 10mm, 220mm, 30mm"}),
        "documents.0.groups.0.0.where.position : ",
    ),
    "font size zero": (
        _request(where={"page": 1, "position": "rect: 1,1,90,30", "text": [{"font": {"size": 0}}]}),
        "documents.0.groups.0.0.where.text.0.font.size",
    ),
    "bad text_align": (
        _request(where={"page": 1, "position": "rect: 1,1,90,30", "text": [{"text_align": "x"}]}),
        "documents.0.groups.0.0.where.text.0.text_align",
    ),
    # clauses
    "duplicate clause id": (
        _request(
            clauses=[
                {"id": 0, "required": True, "where": {"page": 1}},
                {"id": 0, "required": False, "where": {"page": 2}},
            ]
        ),
        "documents.0.groups.0.0.clauses.1.id : Duplicate clause id",
    ),
    "clause id not a scalar": (
        _request(clauses=[{"id": [1], "where": {"page": 1}}]),
        "documents.0.groups.0.0.clauses.0.id : A clause id is an integer or a string",
    ),
    "clause beyond the document": (
        _request(clauses=[{"id": 0, "where": {"page": 9, "position": "rect: 1, 1, 9, 9"}}]),
        "documents.0.groups.0.0.clauses.0.where.page : page 9 is beyond",
    ),
    "clause position bad": (
        _request(clauses=[{"id": "a", "where": {"page": 1, "position": "rect: a, b, c, d"}}]),
        "documents.0.groups.0.0.clauses.0.where.position : ",
    ),
    # text the database cannot store
    "NUL in a title": ({**dst_body(), "title": "a\x00b"}, "title : NUL characters"),
    "lone surrogate in metadata": (
        {**dst_body(), "metadata": {"k": "\ud800"}},
        "metadata.k : Invalid Unicode text",
    ),
}


@pytest.mark.parametrize("body, message", CASES.values(), ids=CASES.keys())
def test_bad_create_is_400_with_the_field_path_and_creates_nothing(admin_api, body, message):
    response = admin_api.post(url(), body)

    assert response.status_code == 400, response.content
    assert response.json()["meta"]["error_type"] == "ValidationError"
    assert error_of(response).startswith(message), error_of(response)
    assert not Practice.objects.exists()
    assert not SignatureRequest.objects.exists()
    assert not AuditEvent.objects.exists()


def test_rectangle_must_fit_the_page_it_is_on(admin_api):
    document = simple_pdf(sizes=[A4, (200.0, 200.0)])
    inside_page_one = {"page": 2, "position": "rect: 300, 300, 400, 400"}
    body = dst_body(document=document, groups=[[signature_request(where=inside_page_one)]])

    response = admin_api.post(url(), body)

    assert response.status_code == 400
    assert "off page 2" in error_of(response)


def test_rectangle_in_every_unit_that_fits_is_accepted(admin_api):
    for position in ("rect: 10mm, 50mm, 110mm, 80mm", "rect: 1in, 1in, 3in, 2in", "rect: 1,1,9,9"):
        body = dst_body(groups=[[signature_request(where={"page": 1, "position": position})]])
        assert admin_api.post(url(), body).status_code == 201, position


def test_placements_of_a_document_to_fetch_are_checked_for_syntax_at_once(admin_api):
    body = _uri()
    body["documents"][0]["groups"][0][0]["where"] = {"page": 40, "position": "rect: 1, 2, 3"}

    response = admin_api.post(url(), body)

    assert response.status_code == 400
    assert error_of(response).startswith("documents.0.groups.0.0.where.position : ")


def test_page_count_of_a_document_to_fetch_is_not_known_yet(admin_api):
    body = _uri()
    body["documents"][0]["groups"][0][0]["where"] = {"page": 40, "position": "rect: 1, 2, 3, 4"}

    assert admin_api.post(url(), body).status_code == 201


def test_document_over_the_size_limit_is_refused(admin_api, settings):
    settings.MAX_DOCUMENT_BYTES = 1000

    response = admin_api.post(url(), dst_body(document=simple_pdf(pages=3)))

    assert response.status_code == 400
    assert error_of(response).startswith("documents.0.document : The document is over the limit")


def test_wrapped_and_url_safe_base64_are_read(admin_api):
    from practices.models import Revision
    from tests.practices.conftest import PDF

    text = base64.urlsafe_b64encode(PDF).decode().rstrip("=")
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))

    response = admin_api.post(url(), _document(document=wrapped))

    assert response.status_code == 201, response.content
    assert Revision.objects.get().file.read() == PDF


def test_not_json_is_refused_without_a_practice(admin_api):
    response = admin_api.post(url(), "{not json", content_type="application/json")

    assert response.status_code == 400
    assert not Practice.objects.exists()
