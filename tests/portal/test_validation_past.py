"""POST /api/v1/validate on SPID signatures: the one-time certificate is
revoked right after signing (portal.trust.revoke, as the signing ticket does),
and a B-T signature stays valid because its certificate is judged at the
signature time-stamp. Revocation is real: the portal's CRL, and over the
live server its OCSP responder and CRL."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portal import trust
from portal.models import IssuedCertificate
from signing.pki import Profile, RevocationReason, Subject
from signing.validate import validate
from tests.signing.conftest import live_pki, portal_pki  # noqa: F401 - fixtures
from tests.signing.test_pades_pdfsig import nssdb, pdfsig  # noqa: F401 - a fixture, a helper
from tests.signing.test_validate_time import signed

CONTRACT_FIELDS = {"signer", "signing_time", "level", "intact", "trusted", "timestamp"}


def one_time_certificate() -> IssuedCertificate:
    return trust.certificate_for(
        profile=Profile.ONE_TIME,
        subject=Subject(common_name="Giulia Bianchi", given_name="Giulia", surname="Bianchi"),
        owner="signer:acme:giulia@example.com",
    )


def sign(row: IssuedCertificate, kind: str, level: str) -> bytes:
    timestamper = trust.timestamper() if level == "B-T" else None
    family = "pades" if kind == "pdf" else "cades"
    return signed(family, trust.signer(row), level=level, timestamper=timestamper)


def revoke(row: IssuedCertificate) -> None:
    """What the signing ticket does once a SPID signature is applied."""
    assert trust.revoke(serial=row.serial, reason=RevocationReason.CESSATION_OF_OPERATION)


def post(client, data: bytes, kind: str) -> dict:
    name = "contratto.pdf" if kind == "pdf" else "contratto.txt.p7m"
    response = client.post("/api/v1/validate", {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("kind", ["pdf", "p7m"])
def test_a_spid_signature_with_a_time_stamp_stays_valid_after_its_certificate_is_revoked(
    client,
    portal_pki,  # noqa: F811 - the imported fixture
    kind,
):
    row = one_time_certificate()
    data = sign(row, kind, "B-T")
    revoke(row)  # within the second of the time-stamp, as a rule

    body = post(client, data, kind)

    assert body["valid"] is True
    (signature,) = body["signatures"]
    assert set(signature) >= CONTRACT_FIELDS
    assert signature["level"] == "B-T"
    assert signature["intact"] is signature["trusted"] is True
    assert signature["checked_at_timestamp"] is True
    assert signature["revocation"]["reason"] == "cessationOfOperation"
    assert signature["revocation"]["after_timestamp"] is True
    assert signature["revocation"]["revoked_at"] > signature["timestamp"]


@pytest.mark.parametrize("kind", ["pdf", "p7m"])
def test_a_certificate_revoked_before_its_time_stamp_is_not_trusted(
    client,
    portal_pki,  # noqa: F811 - the imported fixture
    kind,
):
    row = one_time_certificate()
    revoke(row)
    # Dated a minute back, so the time-stamp that follows is surely after it.
    IssuedCertificate.objects.filter(pk=row.pk).update(
        revoked_at=IssuedCertificate.objects.get(pk=row.pk).revoked_at - timedelta(minutes=1)
    )
    data = sign(row, kind, "B-T")  # the key still signs; the TSA stamps now

    body = post(client, data, kind)

    assert body["valid"] is False
    (signature,) = body["signatures"]
    assert signature["intact"] is True and signature["trusted"] is False
    assert signature["timestamp"] is not None
    assert signature["revocation"]["after_timestamp"] is False


@pytest.mark.parametrize("kind", ["pdf", "p7m"])
def test_a_spid_signature_without_a_time_stamp_is_not_trusted_once_revoked(
    client,
    portal_pki,  # noqa: F811 - the imported fixture
    kind,
):
    row = one_time_certificate()
    data = sign(row, kind, "B-B")
    revoke(row)

    body = post(client, data, kind)

    assert body["valid"] is False
    (signature,) = body["signatures"]
    assert signature["trusted"] is False and signature["timestamp"] is None
    assert signature["checked_at_timestamp"] is False


def test_the_revocation_fetched_from_the_live_ocsp_and_crl_is_judged_at_the_time_stamp(
    live_pki,  # noqa: F811 - the imported fixture
    nssdb,  # noqa: F811 - the imported fixture
    tmp_path,
):
    row = one_time_certificate()
    good = sign(row, "pdf", "B-T")
    revoke(row)
    unstamped_row = one_time_certificate()
    unstamped = sign(unstamped_row, "pdf", "B-B")
    revoke(unstamped_row)

    # No revocation data handed over: the validator asks the certificate's
    # OCSP responder and CRL distribution point on the live server.
    report = validate(good, trust_roots=[live_pki.root], allow_fetching=True)
    unstamped_report = validate(unstamped, trust_roots=[live_pki.root], allow_fetching=True)

    assert report.valid
    (signature,) = report.signatures
    assert signature.checked_at_timestamp and signature.revocation.after_timestamp
    assert not unstamped_report.valid

    # pdfsig (poppler 22.12) has no past validation: it judges the
    # certificate at the present, from the OCSP answer, and says "Certificate
    # has been Revoked." It agrees the signature is intact; its certificate
    # verdict is not compared with ours.
    path = tmp_path / "spid.pdf"
    path.write_bytes(good)
    (checked,) = pdfsig(nssdb, path)
    assert checked["Signature Validation"] == "Signature is Valid."
