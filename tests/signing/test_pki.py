"""Our CA: what each profile's certificate says, CRLs, and a CA that survives
restarts and concurrent starts."""

import asyncio
import os
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.ades.qualified_asn1 import get_qc_statements

from signing.keys import KeyAlgorithm, KeyUnavailable
from signing.pki import (
    POLICY_OIDS,
    QCP_N_QSCD,
    CertificateAuthority,
    Profile,
    Revoked,
    Subject,
)
from signing.signers import to_asn1
from tests.signing.conftest import OFFLINE_BASE_URL

MARIO = Subject(
    common_name="Mario Rossi",
    email="mario.rossi@example.it",
    given_name="Mario",
    surname="Rossi",
    serial_number="TINIT-RSSMRA80A01H501U",
)
SIGNING_PROFILES = [Profile.SIMPLE, Profile.ADVANCED, Profile.QUALIFIED, Profile.ONE_TIME]


def ext(certificate: x509.Certificate, kind):
    return certificate.extensions.get_extension_for_class(kind)


def write_pem(path, *certificates) -> str:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return str(path)


def openssl(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, **kwargs)


# -- the two CAs ------------------------------------------------------------------


def test_root_is_self_signed_and_issuing_ca_is_limited_to_end_entities(ca):
    root, issuing = ca.root, ca.issuing
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(root)
    assert ca.chain == [issuing, root]

    assert ext(root, x509.BasicConstraints).critical
    assert ext(root, x509.BasicConstraints).value.ca
    assert root.not_valid_after_utc - root.not_valid_before_utc > timedelta(days=15 * 365)

    constraints = ext(issuing, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ext(issuing, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    crl_dp = ext(issuing, x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value == f"{OFFLINE_BASE_URL}/pki/root-crl.der"
    assert (
        ext(issuing, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(root, x509.SubjectKeyIdentifier).value.digest
    )


def test_ca_files_are_private_and_hold_no_clear_key(ca):
    files = {p.name: p for p in ca.directory.iterdir() if not p.name.startswith(".")}
    assert {"root.pem", "issuing.pem", "root.key", "issuing.key"} <= set(files)
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for name in ("root.key", "issuing.key"):
        reference = files[name].read_bytes()
        assert b"PRIVATE KEY" not in reference
        with pytest.raises(KeyUnavailable):
            ca.keystore.load(reference, owner="someone else")


def test_the_ca_survives_a_restart(tmp_path, keystore):
    first = CertificateAuthority.open_or_create(
        directory=tmp_path, keystore=keystore, base_url=OFFLINE_BASE_URL
    )
    again = CertificateAuthority.open_or_create(
        directory=tmp_path, keystore=keystore, base_url=OFFLINE_BASE_URL
    )
    assert again.root == first.root
    assert again.issuing == first.issuing
    issued = again.issue(profile=Profile.ADVANCED, subject=MARIO, owner="signer:1")
    issued.certificate.verify_directly_issued_by(first.issuing)


def test_two_threads_starting_together_make_one_ca(tmp_path, keystore):
    barrier = threading.Barrier(4)
    results, errors = [], []

    def start():
        barrier.wait()
        try:
            results.append(
                CertificateAuthority.open_or_create(
                    directory=tmp_path / "pki", keystore=keystore, base_url=OFFLINE_BASE_URL
                )
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len({ca.root.serial_number for ca in results}) == 1
    assert len({ca.issuing.serial_number for ca in results}) == 1
    on_disk = x509.load_pem_x509_certificate((tmp_path / "pki" / "root.pem").read_bytes())
    assert on_disk == results[0].root


def test_two_processes_starting_together_make_one_ca(tmp_path):
    kek = os.urandom(32).hex()
    script = (
        "import sys; from pathlib import Path; from signing.keys import FileKeyStore;"
        "from signing.pki import CertificateAuthority;"
        f"ca = CertificateAuthority.open_or_create(directory=Path({str(tmp_path)!r}),"
        f" keystore=FileKeyStore(bytes.fromhex({kek!r})), base_url={OFFLINE_BASE_URL!r});"
        "print(ca.root.serial_number)"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    serials = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert len(serials) == 1


# -- end-entity certificates ---------------------------------------------------------


@pytest.mark.parametrize("profile", [*SIGNING_PROFILES, Profile.SEAL])
def test_signing_certificates_carry_the_common_extensions(ca, profile):
    subject = MARIO if profile != Profile.SEAL else Subject("Acme", organization="Acme S.p.A.")
    issued = ca.issue(profile=profile, subject=subject, owner="signer:1")
    certificate = issued.certificate

    assert issued.serial == certificate.serial_number
    certificate.verify_directly_issued_by(ca.issuing)
    constraints = ext(certificate, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = ext(certificate, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    crl_dp = ext(certificate, x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value == f"{OFFLINE_BASE_URL}/pki/crl.der"
    aia = {
        d.access_method: d.access_location.value
        for d in ext(certificate, x509.AuthorityInformationAccess).value
    }
    assert aia[x509.AuthorityInformationAccessOID.OCSP] == f"{OFFLINE_BASE_URL}/pki/ocsp"
    assert aia[x509.AuthorityInformationAccessOID.CA_ISSUERS] == (
        f"{OFFLINE_BASE_URL}/pki/issuing.cer"
    )
    policies = [p.policy_identifier for p in ext(certificate, x509.CertificatePolicies).value]
    assert POLICY_OIDS[profile] in policies
    assert str(POLICY_OIDS[profile].dotted_string).startswith("2.25.")
    assert ext(certificate, x509.SubjectKeyIdentifier)
    assert (
        ext(certificate, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(ca.issuing, x509.SubjectKeyIdentifier).value.digest
    )
    with pytest.raises(x509.ExtensionNotFound):
        ext(certificate, x509.ExtendedKeyUsage)


def test_every_profile_has_its_own_policy():
    assert len(set(POLICY_OIDS.values())) == len(Profile)


def test_a_personal_certificate_names_the_person(ca):
    certificate = ca.issue(profile=Profile.ADVANCED, subject=MARIO, owner="s").certificate
    name = certificate.subject
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Mario Rossi"
    assert name.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == "Mario"
    assert name.get_attributes_for_oid(NameOID.SURNAME)[0].value == "Rossi"
    assert name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == MARIO.serial_number
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "IT"
    emails = ext(certificate, x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name
    )
    assert emails == [MARIO.email]


def test_a_seal_names_the_organization_as_o_and_cn(ca):
    subject = Subject("ignored", organization="Acme S.p.A.", serial_number="VATIT-01234567890")
    name = ca.issue(profile=Profile.SEAL, subject=subject, owner="org:1").certificate.subject
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme S.p.A."
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Acme S.p.A."
    assert (
        name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "VATIT-01234567890"
    )


def test_a_qualified_certificate_carries_the_etsi_statements(ca):
    certificate = ca.issue(profile=Profile.QUALIFIED, subject=MARIO, owner="s").certificate
    raw = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3"))
    assert not raw.critical
    policies = [p.policy_identifier for p in ext(certificate, x509.CertificatePolicies).value]
    assert QCP_N_QSCD in policies
    assert QCP_N_QSCD.dotted_string == "0.4.0.194112.1.2"

    statements = {s["statement_id"].dotted: s for s in get_qc_statements(to_asn1(certificate))}
    assert set(statements) == {
        "0.4.0.1862.1.1",  # QcCompliance
        "0.4.0.1862.1.4",  # QcSSCD
        "0.4.0.1862.1.6",  # QcType
        "0.4.0.1862.1.5",  # QcPDS
        "1.3.6.1.5.5.7.11.2",  # semantics: natural person
    }
    assert statements["0.4.0.1862.1.6"]["statement_info"].native == ["qct_esign"]
    (pds,) = statements["0.4.0.1862.1.5"]["statement_info"].native
    assert pds["url"].startswith(OFFLINE_BASE_URL + "/")
    assert pds["language"] == "en"
    semantics = statements["1.3.6.1.5.5.7.11.2"]["statement_info"].parsed
    assert semantics[0].dotted == "0.4.0.194121.1.1"


def test_an_advanced_certificate_has_no_qualified_statements(ca):
    certificate = ca.issue(profile=Profile.ADVANCED, subject=MARIO, owner="s").certificate
    assert len(get_qc_statements(to_asn1(certificate))) == 0


def test_a_one_time_certificate_lives_one_hour(ca):
    certificate = ca.issue(profile=Profile.ONE_TIME, subject=MARIO, owner="s").certificate
    now = datetime.now(UTC)
    assert now + timedelta(minutes=55) < certificate.not_valid_after_utc
    assert certificate.not_valid_after_utc <= now + timedelta(hours=1, seconds=5)


def test_validity_can_be_chosen_but_not_beyond_the_issuing_ca(ca):
    short = ca.issue(
        profile=Profile.SIMPLE, subject=MARIO, owner="s", validity=timedelta(days=3)
    ).certificate
    assert short.not_valid_after_utc < datetime.now(UTC) + timedelta(days=3, seconds=5)
    endless = ca.issue(
        profile=Profile.SIMPLE, subject=MARIO, owner="s", validity=timedelta(days=100 * 365)
    ).certificate
    assert endless.not_valid_after_utc <= ca.issuing.not_valid_after_utc


def test_tsa_certificate_is_for_time_stamping_only(ca):
    certificate = ca.issue(profile=Profile.TSA, subject=Subject("TSA"), owner="tsa").certificate
    eku = ext(certificate, x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    usage = ext(certificate, x509.KeyUsage).value
    assert usage.digital_signature and not usage.content_commitment


def test_ocsp_responder_certificate_needs_no_revocation_check(ca):
    certificate, handle = ca.service(Profile.OCSP)
    assert list(ext(certificate, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert ext(certificate, x509.OCSPNoCheck)
    certificate.verify_directly_issued_by(ca.issuing)
    assert handle.public_key == certificate.public_key()
    # kept in the directory: the same responder after a restart
    again = CertificateAuthority.open_or_create(
        directory=ca.directory, keystore=ca.keystore, base_url=OFFLINE_BASE_URL
    )
    assert again.service(Profile.OCSP)[0] == certificate


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_openssl_verifies_the_chain(ca, tmp_path, algorithm):
    issued = ca.issue(profile=Profile.ADVANCED, subject=MARIO, owner="s", algorithm=algorithm)
    result = openssl(
        "verify",
        "-CAfile",
        write_pem(tmp_path / "root.pem", ca.root),
        "-untrusted",
        write_pem(tmp_path / "issuing.pem", ca.issuing),
        "-x509_strict",
        write_pem(tmp_path / "ee.pem", issued.certificate),
    )
    assert result.returncode == 0, result.stderr
    assert ": OK" in result.stdout


def test_the_key_reference_is_bound_to_its_owner(ca):
    issued = ca.issue(profile=Profile.ADVANCED, subject=MARIO, owner="signer:1")
    assert issued.owner == "signer:1"
    assert ca.keystore.load(issued.key_reference, owner="signer:1").public_key == (
        issued.certificate.public_key()
    )
    with pytest.raises(KeyUnavailable):
        ca.signer(issued, issued.key_reference, owner="signer:2")


def test_the_signer_makes_cms_that_openssl_verifies(ca, tmp_path):
    issued = ca.issue(profile=Profile.ADVANCED, subject=MARIO, owner="signer:1")
    signer = ca.signer(issued, issued.key_reference, owner="signer:1")
    signed = asyncio.run(
        signer.async_sign_general_data(b"contratto", "sha256", detached=False, use_cades=True)
    )
    assert isinstance(signed, cms.ContentInfo)
    (tmp_path / "f.p7m").write_bytes(signed.dump())
    result = openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        tmp_path / "f.p7m",
        "-CAfile",
        write_pem(tmp_path / "ca.pem", ca.root),
        "-purpose",
        "any",
        "-out",
        tmp_path / "content",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "content").read_bytes() == b"contratto"


# -- revocation lists ------------------------------------------------------------------


def test_the_crl_lists_revoked_serials_and_openssl_verifies_it(ca, tmp_path):
    revoked = ca.issue(profile=Profile.ONE_TIME, subject=MARIO, owner="s")
    kept = ca.issue(profile=Profile.ADVANCED, subject=MARIO, owner="s")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    der = ca.crl([Revoked(revoked.serial, when, "cessationOfOperation")])

    crl = x509.load_der_x509_crl(der)
    assert crl.issuer == ca.issuing.subject
    assert crl.is_signature_valid(ca.issuing.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial)
    assert entry is not None
    assert entry.revocation_date_utc == when
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.cessation_of_operation
    )
    assert crl.get_revoked_certificate_by_serial_number(kept.serial) is None
    assert crl.next_update_utc - datetime.now(UTC) > timedelta(hours=20)

    (tmp_path / "crl.der").write_bytes(der)
    result = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        tmp_path / "crl.der",
        "-CAfile",
        write_pem(tmp_path / "ca.pem", ca.root, ca.issuing),
        "-noout",
        "-text",
    )
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr + result.stdout
    assert format(revoked.serial, "X") in result.stdout.replace(":", "")

    # and openssl rejects the revoked certificate against that CRL
    crl_pem = tmp_path / "crl.pem"
    crl_pem.write_bytes(crl.public_bytes(Encoding.PEM))
    verdict = openssl(
        "verify",
        "-crl_check",
        "-CAfile",
        write_pem(tmp_path / "chain.pem", ca.root, ca.issuing),
        "-CRLfile",
        crl_pem,
        write_pem(tmp_path / "revoked.pem", revoked.certificate),
    )
    assert verdict.returncode != 0
    assert "certificate revoked" in verdict.stderr + verdict.stdout


def test_the_root_crl_is_empty_and_signed_by_the_root(ca):
    crl = x509.load_der_x509_crl(ca.root_crl())
    assert crl.issuer == ca.root.subject
    assert crl.is_signature_valid(ca.root.public_key())
    assert len(crl) == 0


def test_unspecified_reason_is_left_out_of_the_crl(ca):
    issued = ca.issue(profile=Profile.SIMPLE, subject=MARIO, owner="s")
    crl = x509.load_der_x509_crl(ca.crl([Revoked(issued.serial, datetime.now(UTC))]))
    entry = crl.get_revoked_certificate_by_serial_number(issued.serial)
    assert len(entry.extensions) == 0
