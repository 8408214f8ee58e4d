"""PKI fixtures: a key store, a throwaway CA, and the portal's PKI served live."""

import contextlib
import os
from pathlib import Path

import pytest

from signing.keys import FileKeyStore
from signing.pki import CertificateAuthority

# Nothing listens on port 9 (discard): certificates of the unit-test CA carry
# URLs that no validator can reach, which is the point for offline tests.
OFFLINE_BASE_URL = "http://127.0.0.1:9"


@contextlib.contextmanager
def portal_pki_in(settings, directory: Path, *, base_url: str = OFFLINE_BASE_URL):
    """portal.trust on a PKI of its own in `directory`, its certificates
    pointing at `base_url`, keys in files, our own TSA; forgotten afterwards."""
    from portal import trust

    settings.BASE_URL = base_url
    settings.PKI_DIR = directory
    settings.TSA_URL = ""
    settings.KEY_BACKEND = "file"
    trust.reset()
    try:
        yield trust.authority()
    finally:
        trust.reset()


@pytest.fixture
def keystore():
    return FileKeyStore(os.urandom(32))


@pytest.fixture
def ca(tmp_path, keystore):
    return CertificateAuthority.open_or_create(
        directory=tmp_path / "pki", keystore=keystore, base_url=OFFLINE_BASE_URL
    )


@pytest.fixture
def live_pki(live_server, transactional_db, settings, tmp_path):
    """The portal's own authority (portal.trust), created for this test and
    reachable at live_server.url: its certificates point at the live server,
    so pdfsig and openssl can fetch /pki/ocsp, /pki/crl.der and /tsa.
    Issue through portal.trust.issue so that revocation has a row to mark."""
    with portal_pki_in(settings, tmp_path / "live-pki", base_url=live_server.url) as ca:
        yield ca


@pytest.fixture
def portal_pki(db, settings, tmp_path):
    """The portal's own PKI (portal.trust) in a temporary directory, offline URLs."""
    with portal_pki_in(settings, tmp_path / "pki") as ca:
        yield ca
