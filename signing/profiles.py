"""What each kind of certificate says: profiles, their OIDs, subjects, extensions.

A profile is the part of a certificate that depends on what it is for (a
signer's advanced or qualified signature, an organization's seal, our own
TSA and OCSP responder, and the CAs themselves), not on who issues it: key usage and extended key
usage, certificate policies, the QCStatements of a qualified certificate, the
shape of the subject name, the default validity. The authority that issues
(signing.ca) supplies what depends on it: issuer, validity window, and where
its CRL, OCSP responder and certificate are published.

Kept apart from the authority so that a profile can be read, and checked
against ETSI EN 319 412, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from asn1crypto import core
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier


class Profile(StrEnum):
    SEAL = "seal"
    SIMPLE = "simple"
    ADVANCED = "advanced"
    QUALIFIED = "qualified"
    ONE_TIME = "one_time"  # SPID: a certificate per signature, revoked after use
    TSA = "tsa"
    OCSP = "ocsp"


# Our policy arc: a UUID-derived OID (ITU-T X.667), one policy per profile.
POLICY_ARC = "2.25.117236763662036980632506905809172951495"
POLICY_OIDS = {
    profile: ObjectIdentifier(f"{POLICY_ARC}.1.{number}")
    for number, profile in enumerate(Profile, start=1)
}
QCP_N_QSCD = ObjectIdentifier("0.4.0.194112.1.2")
ANY_POLICY = ObjectIdentifier("2.5.29.32.0")

OID_QC_STATEMENTS = ObjectIdentifier("1.3.6.1.5.5.7.1.3")
OID_OCSP_NOCHECK = x509.OCSPNoCheck.oid
QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_SSCD = "0.4.0.1862.1.4"
QC_PDS = "0.4.0.1862.1.5"
QC_TYPE = "0.4.0.1862.1.6"
QC_TYPE_ESIGN = "0.4.0.1862.1.6.1"
QC_SYNTAX_V2 = "1.3.6.1.5.5.7.11.2"
SEMANTICS_NATURAL_PERSON = "0.4.0.194121.1.1"

ROOT_VALIDITY = timedelta(days=20 * 365)
ISSUING_VALIDITY = timedelta(days=10 * 365)
DEFAULT_VALIDITY = {
    Profile.SEAL: timedelta(days=3 * 365),
    Profile.SIMPLE: timedelta(days=2 * 365),
    Profile.ADVANCED: timedelta(days=2 * 365),
    Profile.QUALIFIED: timedelta(days=2 * 365),
    Profile.ONE_TIME: timedelta(hours=1),
    Profile.TSA: timedelta(days=5 * 365),
    Profile.OCSP: timedelta(days=365),
}
# Clocks of relying parties drift; a certificate valid from a few minutes ago
# is not rejected as "not yet valid" by a validator slightly behind.
BACKDATE = timedelta(minutes=5)


def now() -> datetime:
    """The time certificates and CRLs are dated from, in whole seconds: X.509
    times carry no fractions."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Subject:
    common_name: str
    email: str = ""
    given_name: str = ""
    surname: str = ""
    serial_number: str = ""  # e.g. a fiscal code as TINIT-RSSMRA80A01H501U
    organization: str = ""
    country: str = "IT"


def subject_name(profile: Profile, subject: Subject) -> x509.Name:
    """The distinguished name a certificate of `profile` gives `subject`."""
    attributes = []
    if subject.country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, subject.country))
    if profile == Profile.SEAL:
        # An electronic seal names the organization (ETSI EN 319 412-3).
        organization = subject.organization or subject.common_name
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        if subject.serial_number:
            attributes.append(
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, subject.serial_number)
            )
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, organization))
        return x509.Name(attributes)
    if subject.organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.organization))
    if subject.surname:
        attributes.append(x509.NameAttribute(NameOID.SURNAME, subject.surname))
    if subject.given_name:
        attributes.append(x509.NameAttribute(NameOID.GIVEN_NAME, subject.given_name))
    if subject.serial_number:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, subject.serial_number))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name))
    return x509.Name(attributes)


def ca_name(organization: str, role: str) -> x509.Name:
    """The name of one of our CAs: "Sigillo Root CA", "Sigillo Issuing CA"."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} {role}"),
        ]
    )


def ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key,
    *,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
) -> x509.CertificateBuilder:
    """A CA certificate: what the root and the issuing CA have in common."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(key_usage(ca=True), critical=True)
        .add_extension(subject_key_identifier(public_key), critical=False)
    )


# -- extensions --------------------------------------------------------------------


def key_usage(*, signature=False, non_repudiation=False, ca=False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def policies(*oids: ObjectIdentifier) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(oid, None) for oid in oids])


def crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def subject_key_identifier(public_key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def end_entity_builder(
    profile: Profile,
    subject: Subject,
    public_key,
    *,
    issuer: x509.Certificate,
    not_before: datetime,
    not_after: datetime,
    crl_url: str,
    ocsp_url: str,
    issuer_url: str,
    pds_url: str,
) -> x509.CertificateBuilder:
    """An end-entity certificate of `profile` for `subject`, issued by
    `issuer`: its CRL at `crl_url`, its OCSP responder at `ocsp_url`, its
    certificate at `issuer_url`, the PKI disclosure statement that a
    qualified certificate points to at `pds_url`."""
    locations = [
        (x509.AuthorityInformationAccessOID.OCSP, ocsp_url),
        (x509.AuthorityInformationAccessOID.CA_ISSUERS, issuer_url),
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(profile, subject))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(subject_key_identifier(public_key), critical=False)
        .add_extension(authority_key_identifier(issuer), critical=False)
        .add_extension(crl_distribution_point(crl_url), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(method, x509.UniformResourceIdentifier(url))
                    for method, url in locations
                ]
            ),
            critical=False,
        )
    )
    return _purpose_extensions(builder, profile, subject, pds_url=pds_url)


def _purpose_extensions(
    builder: x509.CertificateBuilder, profile: Profile, subject: Subject, *, pds_url: str
) -> x509.CertificateBuilder:
    """What sets the profiles apart: key usage, extended key usage, policies,
    QCStatements and the e-mail address."""
    if profile == Profile.TSA:
        builder = builder.add_extension(key_usage(signature=True), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    elif profile == Profile.OCSP:
        builder = builder.add_extension(key_usage(signature=True), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    else:
        builder = builder.add_extension(
            key_usage(signature=True, non_repudiation=True), critical=True
        )
    if profile == Profile.QUALIFIED:
        builder = builder.add_extension(policies(POLICY_OIDS[profile], QCP_N_QSCD), critical=False)
        builder = builder.add_extension(
            x509.UnrecognizedExtension(OID_QC_STATEMENTS, qc_statements_natural_person(pds_url)),
            critical=False,
        )
    else:
        builder = builder.add_extension(policies(POLICY_OIDS[profile]), critical=False)
    if subject.email and profile not in (Profile.TSA, Profile.OCSP):
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(subject.email)]), critical=False
        )
    return builder


# -- QCStatements (ETSI EN 319 412-5), built with asn1crypto ---------------------
# `cryptography` has no type for them: the DER value goes in as an
# UnrecognizedExtension.


class _QcStatement(core.Sequence):
    _fields = [
        ("statement_id", core.ObjectIdentifier),
        ("statement_info", core.Any, {"optional": True}),
    ]


class _QcStatements(core.SequenceOf):
    _child_spec = _QcStatement


class _OidSequence(core.SequenceOf):
    _child_spec = core.ObjectIdentifier


class _PdsLocation(core.Sequence):
    _fields = [("url", core.IA5String), ("language", core.PrintableString)]


class _PdsLocations(core.SequenceOf):
    _child_spec = _PdsLocation


class _SemanticsInformation(core.Sequence):
    _fields = [("semantics_identifier", core.ObjectIdentifier, {"optional": True})]


def qc_statements_natural_person(pds_url: str) -> bytes:
    """The DER value of a QCStatements extension for a qualified certificate for
    electronic signatures of a natural person, key in a QSCD."""

    def statement(oid: str, info: core.Asn1Value | None = None) -> _QcStatement:
        value = {"statement_id": oid}
        if info is not None:
            value["statement_info"] = core.Any.load(info.dump())
        return _QcStatement(value)

    return _QcStatements(
        [
            statement(QC_COMPLIANCE),
            statement(QC_SSCD),
            statement(QC_TYPE, _OidSequence([QC_TYPE_ESIGN])),
            statement(QC_PDS, _PdsLocations([{"url": pds_url, "language": "en"}])),
            statement(
                QC_SYNTAX_V2,
                _SemanticsInformation({"semantics_identifier": SEMANTICS_NATURAL_PERSON}),
            ),
        ]
    ).dump()
