"""PKI fixtures: a key store, a throwaway CA, and the portal's PKI served live."""

import os

import pytest

from signing.keys import FileKeyStore
from signing.pki import CertificateAuthority

# Nothing listens on port 9 (discard): certificates of the unit-test CA carry
# URLs that no validator can reach, which is the point for offline tests.
OFFLINE_BASE_URL = "http://127.0.0.1:9"


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
    from portal import trust

    settings.BASE_URL = live_server.url
    settings.PKI_DIR = tmp_path / "live-pki"
    settings.TSA_URL = ""
    settings.KEY_BACKEND = "file"
    trust.reset()
    yield trust.authority()
    trust.reset()


@pytest.fixture
def portal_pki(db, settings, tmp_path):
    """The portal's own PKI (portal.trust) in a temporary directory, offline URLs."""
    from portal import trust

    settings.BASE_URL = OFFLINE_BASE_URL
    settings.PKI_DIR = tmp_path / "pki"
    settings.TSA_URL = ""
    settings.KEY_BACKEND = "file"
    trust.reset()
    yield trust.authority()
    trust.reset()
