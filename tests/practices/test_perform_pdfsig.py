"""Poppler's pdfsig, trusting only the published root, accepts the signatures
that signature_apply and the automatic seal leave on a DST's document (the
live server answers the OCSP requests pdfsig makes)."""

import pytest

from practices import signatures
from practices.audit import Actor
from practices.models import Revision, SignatureRequest
from signing.pki import Profile, Subject
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing.conftest import live_pki  # noqa: F401 - a fixture
from tests.signing.test_pades_pdfsig import assert_all_valid_and_trusted, nssdb, pdfsig  # noqa: F401


def test_pdfsig_trusts_a_signer_then_the_seal(live_pki, nssdb, admin, admin_api, tmp_path):  # noqa: F811
    from portal import trust

    person = signature_request(
        signer={"email": "s1@mail.com", "first_name": "Giulia", "last_name": "Bianchi"},
        profile="pades-t",
        where={
            "page": 1,
            "position": "rect: 20mm, 20mm, 90mm, 40mm",
            "text": [{"format": ["Firmato da nominativofirma", "il datafirma"]}],
        },
    )
    seal = signature_request(
        signer={"email": "seal@acme.example", "first_name": "Acme", "last_name": "Seal"},
        profile="pades-lta",
        where={"page": 2},
        automatic=True,
    )
    response = admin_api.post(url(), dst_body(groups=[[person], [seal]], generate_report=False))
    dst = response.json()["data"]
    first, sealed = (g[0]["id"] for g in dst["documents"][0]["groups"])

    signatures.signature_apply(
        request=SignatureRequest.objects.get(pk=first),
        certificate=trust.certificate_for(
            profile=Profile.ADVANCED,
            subject=Subject(common_name="Giulia Bianchi"),
            owner="signer:s1@mail.com",
        ),
        actor=Actor(user=admin),
    )
    assert admin_api.post(f"/api/v1/acme/signatures/{sealed}/perform").status_code == 200

    revision = Revision.objects.filter(document_id=dst["documents"][0]["id"]).latest("number")
    path = tmp_path / "signed.pdf"
    path.write_bytes(revision.file.read())
    assert_all_valid_and_trusted(pdfsig(nssdb, path), ["Giulia Bianchi", "Acme"])


pytestmark = pytest.mark.django_db(transaction=True)
