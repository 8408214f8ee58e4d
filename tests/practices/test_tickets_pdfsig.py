"""Poppler's pdfsig, trusting only the published root, accepts a document that
three signers signed through the ticket API: drawn, by OTP, and qualified (the
live server answers the OCSP requests pdfsig makes)."""

import json
import re

import pytest
from django.test import Client

from practices.models import Revision
from practices.signature_types import QUALIFIED, SIMPLE
from tests.practices.conftest import dst_body, signature_request, url
from tests.practices.test_tickets import data_url, png
from tests.signing.conftest import live_pki  # noqa: F401 - a fixture
from tests.signing.test_pades_pdfsig import assert_all_valid_and_trusted, nssdb, pdfsig  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def signer(n: int, **overrides) -> dict:
    return signature_request(
        signer={
            "email": f"s{n}@mail.com",
            "first_name": f"Name{n}",
            "last_name": f"Surname{n}",
            "phone": "+393331234567",
        },
        profile="pades-t",
        where={"page": 1, "position": f"rect: 20mm, {20 + 25 * n}mm, 90mm, {40 + 25 * n}mm"},
        **overrides,
    )


def test_pdfsig_trusts_ticket_signatures_of_three_types(
    live_pki,  # noqa: F811
    nssdb,  # noqa: F811
    admin_api,
    settings,
    tmp_path,
):
    settings.SMS_BACKEND = "file"
    groups = [
        [signer(0, constraints=[SIMPLE], provider_options={"unlock_mode": "grapho"})],
        [signer(1, constraints=[SIMPLE], provider_options={"unlock_mode": "otp"})],
        [signer(2, constraints=[QUALIFIED])],
    ]
    response = admin_api.post(url(), dst_body(groups=groups, generate_report=False))
    assert response.status_code == 201, response.content
    dst = response.json()["data"]
    grapho, otp, qualified = (
        g[0]["signature_ticket"].rsplit("/sign/", 1)[1] for g in dst["documents"][0]["groups"]
    )
    client = Client()

    def post(ticket, action, body):
        return client.post(
            f"/api/v1/tickets/{ticket}/{action}", body, content_type="application/json"
        )

    def code() -> str:
        with open(settings.SMS_FILE_PATH) as handle:
            text = json.loads(handle.readlines()[-1])["text"]
        return re.search(r"\b(\d{6})\b", text).group(1)

    assert post(grapho, "sign", {"graphometric": {"image": data_url(png())}}).status_code == 200
    assert post(otp, "otp", {}).status_code == 204
    assert post(otp, "sign", {"otp": code()}).status_code == 200
    assert post(qualified, "otp", {}).status_code == 204
    assert post(qualified, "sign", {"otp": code()}).status_code == 200

    revision = Revision.objects.filter(document_id=dst["documents"][0]["id"]).latest("number")
    path = tmp_path / "signed.pdf"
    path.write_bytes(revision.file.read())
    assert_all_valid_and_trusted(
        pdfsig(nssdb, path), ["Name0 Surname0", "Name1 Surname1", "Name2 Surname2"]
    )
