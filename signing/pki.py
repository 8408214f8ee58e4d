"""Our own certification authority: a root, an issuing CA and what they sign.

The root and the issuing CA are created on first use in a directory (PEM
certificates beside sealed key references, mode 0600) and reopened afterwards.
The issuing CA signs the end-entity certificates of every profile, its CRL and
the certificates of our OCSP responder and time-stamping authority; the root
signs only the issuing CA and its own, normally empty, CRL.

Keys never leave their KeyStore: the X.509 structures are assembled with
`cryptography`, and their to-be-signed part is then signed by a KeyHandle, so
the same code works with the file store and a PKCS#11 token.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from signing.keys import KeyAlgorithm, KeyHandle, KeyStore
from signing.signers import HandleSigner


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
# Service certificates (OCSP responder, TSA) are renewed this long before expiry.
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class Subject:
    common_name: str
    email: str = ""
    given_name: str = ""
    surname: str = ""
    serial_number: str = ""  # e.g. a fiscal code as TINIT-RSSMRA80A01H501U
    organization: str = ""
    country: str = "IT"


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key_reference: bytes
    serial: int
    owner: str


class RevocationReason(StrEnum):
    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    CA_COMPROMISE = "cACompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    CERTIFICATE_HOLD = "certificateHold"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"


@dataclass(frozen=True)
class Revoked:
    serial: int
    revoked_at: datetime
    reason: str | None = None  # a RevocationReason value
    # When the key is known or suspected to have been compromised, if earlier
    # than the revocation: the CRL entry's invalidityDate (RFC 5280 §5.3.2).
    invalid_since: datetime | None = None

    @property
    def reason_flag(self) -> x509.ReasonFlags | None:
        """The reason as cryptography spells it; None for "unspecified" (RFC 5280
        asks not to encode that one)."""
        if not self.reason:
            return None
        reason = parse_reason(self.reason)
        if reason == RevocationReason.UNSPECIFIED:
            return None
        return x509.ReasonFlags(reason.value)


def parse_reason(value: str) -> RevocationReason:
    """A revocation reason from "keyCompromise", "key_compromise" or "KEY_COMPROMISE"."""
    reason = _REASON_NAMES.get(str(value).lower().replace("_", ""))
    if reason is None:
        raise ValueError(f"unknown revocation reason {value!r}")
    return reason


_REASON_NAMES = {reason.value.lower(): reason for reason in RevocationReason}


# -- signing X.509 structures with a KeyHandle ---------------------------------


@cache
def _throwaway_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def throwaway_key(handle: KeyHandle):
    """A throwaway private key of the handle's type: `cryptography` builders
    want one to sign with; we only keep the structure they produce and replace
    its signature with the handle's."""
    if isinstance(handle.public_key, rsa.RSAPublicKey):
        return _throwaway_rsa_key()
    if isinstance(handle.public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError("unsupported key type")


def _sign_certificate(builder: x509.CertificateBuilder, handle: KeyHandle) -> x509.Certificate:
    draft = asn1_x509.Certificate.load(
        builder.sign(throwaway_key(handle), hashes.SHA256()).public_bytes(Encoding.DER)
    )
    tbs = draft["tbs_certificate"]
    signed = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": draft["signature_algorithm"],
            "signature_value": handle.sign(tbs.dump(), "sha256"),
        }
    )
    return x509.load_der_x509_certificate(signed.dump())


def _sign_crl(builder: x509.CertificateRevocationListBuilder, handle: KeyHandle) -> bytes:
    draft = asn1_crl.CertificateList.load(
        builder.sign(throwaway_key(handle), hashes.SHA256()).public_bytes(Encoding.DER)
    )
    tbs = draft["tbs_cert_list"]
    signed = asn1_crl.CertificateList(
        {
            "tbs_cert_list": tbs,
            "signature_algorithm": draft["signature_algorithm"],
            "signature": handle.sign(tbs.dump(), "sha256"),
        }
    )
    return signed.dump()


def signature_algorithm(handle: KeyHandle, digest: str = "sha256") -> str:
    """asn1crypto's name of the signature algorithm a handle signs with."""
    if isinstance(handle.public_key, rsa.RSAPublicKey):
        return f"{digest}_rsa"
    if isinstance(handle.public_key, ec.EllipticCurvePublicKey):
        return f"{digest}_ecdsa"
    raise ValueError("unsupported key type")


# -- QCStatements (ETSI EN 319 412-5), built with asn1crypto ---------------------


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


# -- the authority ---------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically (temporary file, then rename) with mode 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.PEM)


def _ski(public_key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(*, signature=False, non_repudiation=False, ca=False) -> x509.KeyUsage:
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


def _policies(*oids: ObjectIdentifier) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(oid, None) for oid in oids])


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


class CertificateAuthority:
    ROOT_OWNER = "ca:root"
    ISSUING_OWNER = "ca:issuing"

    def __init__(
        self,
        *,
        directory: Path,
        keystore: KeyStore,
        base_url: str,
        root: x509.Certificate,
        issuing: x509.Certificate,
    ):
        self.directory = directory
        self.keystore = keystore
        self.base_url = base_url.rstrip("/")
        self.root = root
        self.issuing = issuing
        self.chain = [issuing, root]
        self._services: dict[Profile, tuple[x509.Certificate, KeyHandle]] = {}
        self._references: dict[str, bytes] = {}
        self._services_lock = threading.Lock()

    # URLs that certificates carry; portal.pki_views serves them.
    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/pki/crl.der"

    @property
    def root_crl_url(self) -> str:
        return f"{self.base_url}/pki/root-crl.der"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/pki/ocsp"

    @property
    def issuing_url(self) -> str:
        return f"{self.base_url}/pki/issuing.cer"

    @property
    def pds_url(self) -> str:
        return f"{self.base_url}/pki/pds"

    # -- opening ------------------------------------------------------------

    @classmethod
    def open_or_create(
        cls, *, directory: Path, keystore: KeyStore, base_url: str, name: str = "Sigillo"
    ) -> CertificateAuthority:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        ca = cls._open(directory, keystore, base_url)
        if ca is not None:
            return ca
        # Two processes (or threads) may start together: the first to hold the
        # lock creates, the others find the result once they get it. The files
        # are renamed into place, issuing.pem last, so a reader never sees half.
        with open(directory / ".lock", "a") as lock:
            os.chmod(lock.name, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                ca = cls._open(directory, keystore, base_url)
                if ca is None:
                    ca = cls._create(directory, keystore, base_url, name)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return ca

    @classmethod
    def _open(cls, directory: Path, keystore: KeyStore, base_url: str):
        if not (directory / "issuing.pem").exists():
            return None
        root = x509.load_pem_x509_certificate((directory / "root.pem").read_bytes())
        issuing = x509.load_pem_x509_certificate((directory / "issuing.pem").read_bytes())
        return cls(
            directory=directory, keystore=keystore, base_url=base_url, root=root, issuing=issuing
        )

    @classmethod
    def _create(cls, directory: Path, keystore: KeyStore, base_url: str, name: str):
        base_url = base_url.rstrip("/")
        now = _now()

        root_ref = keystore.generate(owner=cls.ROOT_OWNER, algorithm=KeyAlgorithm.P256)
        root_key = keystore.load(root_ref, owner=cls.ROOT_OWNER)
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA"),
            ]
        )
        root = _sign_certificate(
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(_ski(root_key.public_key), critical=False),
            root_key,
        )

        issuing_ref = keystore.generate(owner=cls.ISSUING_OWNER, algorithm=KeyAlgorithm.P256)
        issuing_key = keystore.load(issuing_ref, owner=cls.ISSUING_OWNER)
        issuing = _sign_certificate(
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                        x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Issuing CA"),
                    ]
                )
            )
            .issuer_name(root_name)
            .public_key(issuing_key.public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ISSUING_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(_ski(issuing_key.public_key), critical=False)
            .add_extension(_aki(root), critical=False)
            .add_extension(_crl_dp(f"{base_url}/pki/root-crl.der"), critical=False)
            # Without a policy here, RFC 5280 policy processing drops the
            # end-entity policies (QCP-n-qscd among them) from the path.
            .add_extension(_policies(ANY_POLICY), critical=False),
            root_key,
        )

        _write_private(directory / "root.key", root_ref)
        _write_private(directory / "issuing.key", issuing_ref)
        _write_private(directory / "root.pem", _pem(root))
        _write_private(directory / "issuing.pem", _pem(issuing))
        return cls(
            directory=directory, keystore=keystore, base_url=base_url, root=root, issuing=issuing
        )

    def _ca_key(self, which: str) -> KeyHandle:
        owner = self.ROOT_OWNER if which == "root" else self.ISSUING_OWNER
        reference = self._references.get(which)
        if reference is None:
            reference = self._references[which] = (self.directory / f"{which}.key").read_bytes()
        return self.keystore.load(reference, owner=owner)

    # -- issuing --------------------------------------------------------------

    def issue(
        self,
        *,
        profile: Profile | str,
        subject: Subject,
        owner: str,
        algorithm: KeyAlgorithm = KeyAlgorithm.P256,
        validity: timedelta | None = None,
    ) -> Issued:
        """A new key pair for `owner` in the keystore and its certificate."""
        profile = Profile(profile)
        reference = self.keystore.generate(owner=owner, algorithm=algorithm)
        public_key = self.keystore.load(reference, owner=owner).public_key
        certificate = self.certify(
            profile=profile, subject=subject, public_key=public_key, validity=validity
        )
        return Issued(
            certificate=certificate,
            key_reference=reference,
            serial=certificate.serial_number,
            owner=owner,
        )

    def certify(
        self,
        *,
        profile: Profile | str,
        subject: Subject,
        public_key,
        validity: timedelta | None = None,
    ) -> x509.Certificate:
        """A certificate of `profile` for an existing public key."""
        profile = Profile(profile)
        now = _now()
        not_after = min(
            now + (validity or DEFAULT_VALIDITY[profile]), self.issuing.not_valid_after_utc
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(self._subject_name(profile, subject))
            .issuer_name(self.issuing.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_ski(public_key), critical=False)
            .add_extension(_aki(self.issuing), critical=False)
            .add_extension(_crl_dp(self.crl_url), critical=False)
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(self.ocsp_url),
                        ),
                        x509.AccessDescription(
                            x509.AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(self.issuing_url),
                        ),
                    ]
                ),
                critical=False,
            )
        )
        if profile == Profile.TSA:
            builder = builder.add_extension(_key_usage(signature=True), critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
        elif profile == Profile.OCSP:
            builder = builder.add_extension(_key_usage(signature=True), critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
            )
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        else:
            builder = builder.add_extension(
                _key_usage(signature=True, non_repudiation=True), critical=True
            )
        if profile == Profile.QUALIFIED:
            builder = builder.add_extension(
                _policies(POLICY_OIDS[profile], QCP_N_QSCD), critical=False
            )
            builder = builder.add_extension(
                x509.UnrecognizedExtension(
                    OID_QC_STATEMENTS, qc_statements_natural_person(self.pds_url)
                ),
                critical=False,
            )
        else:
            builder = builder.add_extension(_policies(POLICY_OIDS[profile]), critical=False)
        if subject.email and profile not in (Profile.TSA, Profile.OCSP):
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(subject.email)]), critical=False
            )
        return _sign_certificate(builder, self._ca_key("issuing"))

    @staticmethod
    def _subject_name(profile: Profile, subject: Subject) -> x509.Name:
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

    def signer(
        self, issued_or_cert: Issued | x509.Certificate, key_reference: bytes, *, owner: str
    ) -> HandleSigner:
        certificate = (
            issued_or_cert.certificate if isinstance(issued_or_cert, Issued) else issued_or_cert
        )
        return HandleSigner(
            handle=self.keystore.load(key_reference, owner=owner),
            certificate=certificate,
            chain=self.chain,
        )

    def service(
        self, profile: Profile, *, algorithm: KeyAlgorithm = KeyAlgorithm.P256
    ) -> tuple[x509.Certificate, KeyHandle]:
        """The certificate and key of one of our own services (Profile.OCSP for
        the responder, Profile.TSA for the time-stamping authority), kept in
        the directory and renewed a month before they expire."""
        profile = Profile(profile)
        with self._services_lock:
            cached = self._services.get(profile)
            if cached and cached[0].not_valid_after_utc - RENEW_BEFORE > datetime.now(UTC):
                return cached
            owner = f"ca:{profile}"
            cert_path = self.directory / f"{profile}.pem"
            key_path = self.directory / f"{profile}.key"
            with open(self.directory / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    current = None
                    if cert_path.exists() and key_path.exists():
                        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
                        if certificate.not_valid_after_utc - RENEW_BEFORE > datetime.now(UTC):
                            current = (certificate, key_path.read_bytes())
                    if current is None:
                        names = {Profile.TSA: "Time-Stamping Authority", Profile.OCSP: "OCSP"}
                        organization = self.issuing.subject.get_attributes_for_oid(
                            NameOID.ORGANIZATION_NAME
                        )[0].value
                        issued = self.issue(
                            profile=profile,
                            subject=Subject(
                                common_name=f"{organization} {names.get(profile, profile)}",
                                organization=str(organization),
                            ),
                            owner=owner,
                            algorithm=algorithm,
                        )
                        _write_private(key_path, issued.key_reference)
                        _write_private(cert_path, _pem(issued.certificate))
                        current = (issued.certificate, issued.key_reference)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            result = (current[0], self.keystore.load(current[1], owner=owner))
            self._services[profile] = result
            return result

    # -- revocation -----------------------------------------------------------

    def crl(
        self, revoked: Iterable[Revoked], *, next_update: timedelta = timedelta(days=1)
    ) -> bytes:
        """The issuing CA's CRL (DER) listing `revoked`."""
        return self._crl(self.issuing, self._ca_key("issuing"), revoked, next_update)

    def root_crl(self, revoked: Iterable[Revoked] = (), *, next_update=timedelta(days=7)) -> bytes:
        """The root's CRL (DER): revoked CA certificates, normally none."""
        return self._crl(self.root, self._ca_key("root"), revoked, next_update)

    @staticmethod
    def _crl(
        issuer: x509.Certificate,
        handle: KeyHandle,
        revoked: Iterable[Revoked],
        next_update: timedelta,
    ) -> bytes:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(now - BACKDATE)
            .next_update(now + next_update)
            .add_extension(_aki(issuer), critical=False)
            # Monotonic enough across processes and restarts.
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        )
        for item in revoked:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(item.serial)
                .revocation_date(item.revoked_at.astimezone(UTC).replace(microsecond=0))
            )
            if item.reason_flag is not None:
                entry = entry.add_extension(x509.CRLReason(item.reason_flag), critical=False)
            if item.invalid_since is not None:
                entry = entry.add_extension(
                    x509.InvalidityDate(item.invalid_since.astimezone(UTC).replace(tzinfo=None)),
                    critical=False,
                )
            builder = builder.add_revoked_certificate(entry.build())
        return _sign_crl(builder, handle)
