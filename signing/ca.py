"""Our own certification authority: a root, an issuing CA and what they sign.

The root and the issuing CA are created on first use in a directory (PEM
certificates beside sealed key references, mode 0600) and reopened afterwards.
The issuing CA signs the end-entity certificates of every profile, its CRL and
the certificates of our OCSP responder and time-stamping authority, which it
keeps in the same directory and renews; the root signs only the issuing CA and
its own, normally empty, CRL.

This module owns the authority's life cycle and what a certificate owes to its
issuer (validity window, key identifiers, CRL and OCSP locations); what it
owes to its purpose is in signing.profiles, CRL contents in
signing.revocation, and signing with a KeyHandle in signing.x509_signing.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from signing.keys import KeyAlgorithm, KeyHandle, KeyStore
from signing.profiles import (
    ANY_POLICY,
    BACKDATE,
    DEFAULT_VALIDITY,
    ISSUING_VALIDITY,
    ROOT_VALIDITY,
    Profile,
    Subject,
    authority_key_identifier,
    ca_builder,
    ca_name,
    crl_distribution_point,
    end_entity_builder,
    now,
    policies,
)
from signing.revocation import Revoked, build_crl
from signing.signers import HandleSigner
from signing.x509_signing import sign_certificate

# Service certificates (OCSP responder, TSA) are renewed this long before expiry.
RENEW_BEFORE = timedelta(days=30)
_SERVICE_NAMES = {Profile.TSA: "Time-Stamping Authority", Profile.OCSP: "OCSP"}


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key_reference: bytes
    serial: int
    owner: str


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


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold the directory's lock: several processes (or threads) may create
    the authority or renew a service certificate at the same time."""
    with open(directory / ".lock", "a") as lock:
        os.chmod(lock.name, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.PEM)


def _fresh(certificate: x509.Certificate) -> bool:
    """Not yet due for renewal."""
    return certificate.not_valid_after_utc - RENEW_BEFORE > datetime.now(UTC)


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
        # The first to hold the lock creates, the others find the result once
        # they get it. The files are renamed into place, issuing.pem last, so a
        # reader never sees half.
        with _locked(directory):
            ca = cls._open(directory, keystore, base_url)
            if ca is None:
                ca = cls._create(directory, keystore, base_url, name)
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
        created_at = now()

        root_ref = keystore.generate(owner=cls.ROOT_OWNER, algorithm=KeyAlgorithm.P256)
        root_key = keystore.load(root_ref, owner=cls.ROOT_OWNER)
        root_name = ca_name(name, "Root CA")
        root = sign_certificate(
            ca_builder(
                root_name,
                root_name,
                root_key.public_key,
                not_before=created_at - BACKDATE,
                not_after=created_at + ROOT_VALIDITY,
                path_length=None,
            ),
            root_key,
        )

        issuing_ref = keystore.generate(owner=cls.ISSUING_OWNER, algorithm=KeyAlgorithm.P256)
        issuing_key = keystore.load(issuing_ref, owner=cls.ISSUING_OWNER)
        issuing = sign_certificate(
            ca_builder(
                ca_name(name, "Issuing CA"),
                root_name,
                issuing_key.public_key,
                not_before=created_at - BACKDATE,
                not_after=created_at + ISSUING_VALIDITY,
                path_length=0,
            )
            .add_extension(authority_key_identifier(root), critical=False)
            .add_extension(crl_distribution_point(f"{base_url}/pki/root-crl.der"), critical=False)
            # Without a policy here, RFC 5280 policy processing drops the
            # end-entity policies (QCP-n-qscd among them) from the path.
            .add_extension(policies(ANY_POLICY), critical=False),
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
        issued_at = now()
        # Nothing outlives the issuing CA: a validator would reject the rest.
        not_after = min(
            issued_at + (validity or DEFAULT_VALIDITY[profile]), self.issuing.not_valid_after_utc
        )
        builder = end_entity_builder(
            profile,
            subject,
            public_key,
            issuer=self.issuing,
            not_before=issued_at - BACKDATE,
            not_after=not_after,
            crl_url=self.crl_url,
            ocsp_url=self.ocsp_url,
            issuer_url=self.issuing_url,
            pds_url=self.pds_url,
        )
        return sign_certificate(builder, self._ca_key("issuing"))

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

    # -- our own services -------------------------------------------------------

    def service(
        self, profile: Profile, *, algorithm: KeyAlgorithm = KeyAlgorithm.P256
    ) -> tuple[x509.Certificate, KeyHandle]:
        """The certificate and key of one of our own services (Profile.OCSP for
        the responder, Profile.TSA for the time-stamping authority), kept in
        the directory and renewed a month before they expire."""
        profile = Profile(profile)
        with self._services_lock:
            cached = self._services.get(profile)
            if cached and _fresh(cached[0]):
                return cached
            owner = f"ca:{profile}"
            with _locked(self.directory):
                certificate, reference = self._stored_service(profile, owner, algorithm)
            result = (certificate, self.keystore.load(reference, owner=owner))
            self._services[profile] = result
            return result

    def _stored_service(
        self, profile: Profile, owner: str, algorithm: KeyAlgorithm
    ) -> tuple[x509.Certificate, bytes]:
        """The service's certificate and key reference from the directory,
        issued anew when missing or due for renewal. Under the directory lock:
        another process may be renewing it too."""
        cert_path = self.directory / f"{profile}.pem"
        key_path = self.directory / f"{profile}.key"
        if cert_path.exists() and key_path.exists():
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if _fresh(certificate):
                return certificate, key_path.read_bytes()
        names = self.issuing.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        organization = str(names[0].value)
        issued = self.issue(
            profile=profile,
            subject=Subject(
                common_name=f"{organization} {_SERVICE_NAMES.get(profile, profile)}",
                organization=organization,
            ),
            owner=owner,
            algorithm=algorithm,
        )
        _write_private(key_path, issued.key_reference)
        _write_private(cert_path, _pem(issued.certificate))
        return issued.certificate, issued.key_reference

    # -- revocation -----------------------------------------------------------

    def crl(
        self, revoked: Iterable[Revoked], *, next_update: timedelta = timedelta(days=1)
    ) -> bytes:
        """The issuing CA's CRL (DER) listing `revoked`."""
        return build_crl(self.issuing, self._ca_key("issuing"), revoked, next_update)

    def root_crl(self, revoked: Iterable[Revoked] = (), *, next_update=timedelta(days=7)) -> bytes:
        """The root's CRL (DER): revoked CA certificates, normally none."""
        return build_crl(self.root, self._ca_key("root"), revoked, next_update)
