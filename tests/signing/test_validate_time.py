"""Past validation: a certificate revoked (or expired) since is judged at the
signature time-stamp. A one-time certificate, revoked right after its
signature, signs B-T documents that stay valid; revoked before the
time-stamp, or without a time-stamp, it does not."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from signing.cades import sign_cades
from signing.pades import sign_pdf
from signing.pki import CertificateAuthority, Profile, Revoked, Subject
from signing.validate import validate
from tests.signing import pdfs
from tests.signing.conftest import OFFLINE_BASE_URL


@pytest.fixture
def timestamper(ca):
    return pdfs.make_timestamper(ca)


def one_time(ca, *, validity=None):
    issued = ca.issue(
        profile=Profile.ONE_TIME,
        subject=Subject(common_name="Giulia Bianchi", given_name="Giulia", surname="Bianchi"),
        owner="signer:spid",
        validity=validity,
    )
    return ca.signer(issued, issued.key_reference, owner="signer:spid")


def signed(kind: str, signer, *, level: str, timestamper=None) -> bytes:
    if kind == "pades":
        return sign_pdf(
            pdfs.simple_pdf(),
            signer=signer,
            field_name="Firma1",
            level=level,
            timestamper=timestamper,
        )
    return sign_cades(b"Il contratto.", signer=signer, level=level, timestamper=timestamper)


def revoked(ca, signer, *, at: datetime, reason="cessationOfOperation", invalid_since=None):
    """Our issuing CA's CRL listing `signer`'s certificate, and the root's."""
    entry = Revoked(
        serial=signer.signing_cert.serial_number,
        revoked_at=at,
        reason=reason,
        invalid_since=invalid_since,
    )
    return [ca.crl([entry]), ca.root_crl()]


def only_signature(report):
    (signature,) = report.signatures
    return signature


@pytest.mark.parametrize("kind", ["pades", "cades"])
def test_a_one_time_certificate_revoked_after_the_time_stamp_keeps_its_signature_valid(
    ca, timestamper, kind
):
    signer = one_time(ca)
    data = signed(kind, signer, level="B-T", timestamper=timestamper)
    crls = revoked(ca, signer, at=datetime.now(UTC) + timedelta(seconds=1))

    report = validate(data, trust_roots=[ca.root], crls=crls)

    assert report.valid
    signature = only_signature(report)
    assert signature.level == "B-T" and signature.intact and signature.trusted
    assert signature.problems == []
    body = report.as_dict()["signatures"][0]
    assert body["trusted"] is True
    assert body["checked_at_timestamp"] is True
    assert body["checked_at"] == body["timestamp"]
    assert body["revocation"]["after_timestamp"] is True
    assert body["revocation"]["reason"] == "cessationOfOperation"
    assert body["revocation"]["revoked_at"] > body["timestamp"]
    text = report.as_text()
    assert "(the signature time-stamp)" in text and "after the signature time-stamp" in text


@pytest.mark.parametrize("kind", ["pades", "cades"])
def test_a_certificate_revoked_before_the_time_stamp_is_not_trusted(ca, timestamper, kind):
    signer = one_time(ca)
    # Revoked a minute ago; the holder signs anyway and the TSA stamps it now.
    crls = revoked(ca, signer, at=datetime.now(UTC) - timedelta(minutes=1))
    data = signed(kind, signer, level="B-T", timestamper=timestamper)

    report = validate(data, trust_roots=[ca.root], crls=crls)

    signature = only_signature(report)
    assert signature.intact and signature.timestamp_trusted
    assert not signature.trusted and not report.valid
    assert signature.checked_at_timestamp
    assert signature.revocation.after_timestamp is False
    assert any("not after the signature time-stamp" in p for p in signature.problems)


@pytest.mark.parametrize("kind", ["pades", "cades"])
def test_without_a_time_stamp_a_revoked_certificate_is_not_trusted(ca, kind):
    signer = one_time(ca)
    data = signed(kind, signer, level="B-B")
    crls = revoked(ca, signer, at=datetime.now(UTC) + timedelta(seconds=1))

    report = validate(data, trust_roots=[ca.root], crls=crls)

    signature = only_signature(report)
    assert signature.intact and not signature.trusted and not report.valid
    assert not signature.checked_at_timestamp
    body = report.as_dict()["signatures"][0]
    assert body["timestamp"] is None
    assert body["revocation"]["after_timestamp"] is None


def test_a_revocation_in_the_second_of_the_time_stamp_is_not_after_it(ca, timestamper):
    signer = one_time(ca)
    data = signed("pades", signer, level="B-T", timestamper=timestamper)
    stamped_at = validate(data, trust_roots=[ca.root]).signatures[0].timestamp

    report = validate(data, trust_roots=[ca.root], crls=revoked(ca, signer, at=stamped_at))

    signature = only_signature(report)
    assert not signature.trusted and signature.revocation.after_timestamp is False


def test_key_compromise_after_the_time_stamp_keeps_the_signature(ca, timestamper):
    signer = one_time(ca)
    data = signed("pades", signer, level="B-T", timestamper=timestamper)
    later = datetime.now(UTC) + timedelta(seconds=1)

    report = validate(
        data, trust_roots=[ca.root], crls=revoked(ca, signer, at=later, reason="keyCompromise")
    )

    assert report.valid
    assert only_signature(report).revocation.reason == "key_compromise"


def test_key_compromise_known_since_before_the_time_stamp_is_not_trusted(ca, timestamper):
    signer = one_time(ca)
    data = signed("pades", signer, level="B-T", timestamper=timestamper)
    crls = revoked(
        ca,
        signer,
        at=datetime.now(UTC) + timedelta(seconds=1),
        reason="keyCompromise",
        invalid_since=datetime.now(UTC) - timedelta(hours=1),
    )

    report = validate(data, trust_roots=[ca.root], crls=crls)

    signature = only_signature(report)
    assert not signature.trusted and not report.valid
    assert signature.revocation.after_timestamp is True
    assert signature.revocation.compromised_since is not None
    assert any("reported compromised" in p for p in signature.problems)


def test_an_invalidity_date_without_a_compromise_reason_changes_nothing(ca, timestamper):
    signer = one_time(ca)
    data = signed("cades", signer, level="B-T", timestamper=timestamper)
    crls = revoked(
        ca,
        signer,
        at=datetime.now(UTC) + timedelta(seconds=1),
        invalid_since=datetime.now(UTC) - timedelta(hours=1),
    )

    report = validate(data, trust_roots=[ca.root], crls=crls)

    assert report.valid and only_signature(report).revocation.compromised_since is None


def test_an_expired_one_time_certificate_is_judged_at_its_time_stamp(ca, timestamper):
    # One-time certificates live an hour; these a few seconds. Expired, the
    # present judgement stops at the expiry without looking at revocation:
    # the one at the time-stamp must still find a revocation before it.
    good = one_time(ca, validity=timedelta(seconds=5))
    bad = one_time(ca, validity=timedelta(seconds=5))
    bad_revoked = Revoked(
        serial=bad.signing_cert.serial_number,
        revoked_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    good_pdf = signed("pades", good, level="B-T", timestamper=timestamper)
    bad_pdf = signed("pades", bad, level="B-T", timestamper=timestamper)
    unstamped = signed("cades", good, level="B-B")
    good_revoked = Revoked(
        serial=good.signing_cert.serial_number,
        revoked_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    crls = [ca.crl([good_revoked, bad_revoked]), ca.root_crl()]
    expiry = max(good.signing_cert.not_valid_after, bad.signing_cert.not_valid_after)
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 1.5)

    good_report = validate(good_pdf, trust_roots=[ca.root], crls=crls)
    bad_report = validate(bad_pdf, trust_roots=[ca.root], crls=crls)
    unstamped_report = validate(unstamped, trust_roots=[ca.root], crls=crls)

    assert good_report.valid
    assert only_signature(good_report).revocation.after_timestamp is True
    assert not bad_report.valid
    assert only_signature(bad_report).revocation.after_timestamp is False
    assert not unstamped_report.valid
    assert "OUT_OF_BOUNDS" in " ".join(only_signature(unstamped_report).problems)


def test_a_trusted_certificate_is_checked_now(ca, timestamper):
    signer = one_time(ca)
    data = signed("pades", signer, level="B-T", timestamper=timestamper)

    report = validate(data, trust_roots=[ca.root], crls=[ca.crl([]), ca.root_crl()])

    signature = only_signature(report)
    assert report.valid and not signature.checked_at_timestamp
    assert signature.revocation is None
    assert signature.checked_at > signature.timestamp - timedelta(seconds=1)


def test_a_time_stamp_from_an_untrusted_authority_proves_nothing(ca, keystore, tmp_path):
    stranger = CertificateAuthority.open_or_create(
        directory=tmp_path / "stranger", keystore=keystore, base_url=OFFLINE_BASE_URL
    )
    signer = one_time(ca)
    data = signed("pades", signer, level="B-T", timestamper=pdfs.make_timestamper(stranger))
    crls = revoked(ca, signer, at=datetime.now(UTC) + timedelta(seconds=1))

    report = validate(data, trust_roots=[ca.root], crls=crls)

    signature = only_signature(report)
    assert signature.timestamp is not None and signature.timestamp_trusted is False
    assert not signature.trusted and not signature.checked_at_timestamp
