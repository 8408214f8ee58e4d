"""Helpers for the DST tests: request bodies, documents, a client per role."""

import base64
import copy

import pytest

from tests.integration import *  # noqa: F403
from tests.signing.pdfs import A4, encrypted_pdf, simple_pdf

__all__ = ["A4", "encrypted_pdf", "simple_pdf"]

PDF = simple_pdf(pages=2)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signature_request(**overrides) -> dict:
    request = {
        "signer": {"email": "mrossi@mail.com", "first_name": "Mario", "last_name": "Rossi"},
        "profile": "pades-bes",
        "display_name": "nominativofirma",
        "reason": "Per accettazione",
        "declinable": False,
        "where": {"page": 2, "position": "rect: 134,25,197,34"},
        "constraints": ["certificate__is_simple__exact=true"],
        "metadata": {},
    }
    request.update(overrides)
    return request


def dst_body(*, document: bytes | None = PDF, groups=None, **overrides) -> dict:
    """A valid create body: one inline two-page PDF, one group of one signer."""
    body = {
        "title": "Titolo pratica",
        "generate_report": True,
        "metadata": {"studio_email_disabled": True},
        "documents": [
            {
                "display_name": "Contratto utenza",
                "metadata": {"kind": "contract"},
                "document": b64(document) if document is not None else None,
                "groups": groups if groups is not None else [[signature_request()]],
            }
        ],
    }
    if document is None:
        del body["documents"][0]["document"]
    body.update(overrides)
    return copy.deepcopy(body)


def url(slug: str = "acme", tail: str = "") -> str:
    return f"/api/v1/{slug}/signature-transactions{tail}"


@pytest.fixture
def admin_api(admin, api_as):
    return api_as(admin)


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"meta"}, body
    assert body["meta"]["code"] == response.status_code
    return body["meta"]["error_message"]
