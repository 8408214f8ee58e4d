"""The wire: requests and urllib3, bent so that a connection can only go where
the guard said and only for as long as the deadline allows.

requests resolves a host name when it connects; we must not let it, or a DNS
answer that changes after the guard's check (rebinding) would take the request
elsewhere. So the connection classes here connect to the addresses pinned for
the host by the current call, and nothing else, while the Host header, TLS SNI
and certificate checks keep using the name from the URL. Every socket is handed
to the call's Deadline to be watched. Proxies are never used, retries never
made, and redirects are left to request(), which sends each hop through the
guard again.

TLS settings (the CA to trust, the client certificate) live in one SSLContext
per call rather than in requests' `verify` and `cert`, because requests takes
the client certificate only as files.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import sys
import tempfile

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from portal.outbound.auth import Credentials
from portal.outbound.deadline import Deadline
from portal.outbound.errors import OutboundError, Refused
from portal.outbound.guard import PinnedAddress


class Call:
    """What one request() call shares with the connections it opens: its
    deadline and, per host, the addresses the guard let through."""

    def __init__(self, timeout: float) -> None:
        self.deadline = Deadline(timeout)
        self._pins: dict[str, list[PinnedAddress]] = {}

    def pin(self, host: str, addresses: list[PinnedAddress]) -> bool:
        """Connections to `host` go to `addresses` from now on. True if it was
        pinned to other addresses before (its name now resolves elsewhere)."""
        key = _pin_key(host)
        previous = self._pins.get(key)
        self._pins[key] = addresses
        return previous is not None and previous != addresses

    def pinned(self, host: str) -> list[PinnedAddress]:
        return self._pins.get(_pin_key(host), [])


def _pin_key(host: str) -> str:
    # urllib3 may hand an IPv6 host back in brackets; the guard has it bare.
    return host.strip("[]").lower()


# -- pinned connections --------------------------------------------------------------------


class _PinnedMixin:
    """Connects to the addresses the guard checked for this host, never to a
    fresh resolution of its name. Host header, SNI and certificate checks keep
    using `self.host`, the name from the URL."""

    def __init__(self, *args, outbound_call: Call, **kwargs) -> None:
        self._outbound_call = outbound_call
        self._outbound_twin: socket.socket | None = None
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        call = self._outbound_call
        addresses = call.pinned(self._dns_host)
        if not addresses:
            raise Refused(f"{self.host} was not checked by the guard")
        last_error: OSError | None = None
        for address in addresses:
            remaining = call.deadline.remaining()
            timeout = self.timeout if isinstance(self.timeout, int | float) else remaining
            sock = socket.socket(address.family, socket.SOCK_STREAM)
            twin = None
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                twin = call.deadline.watch(sock)
                sock.settimeout(min(timeout, remaining))
                sock.connect((address.host, self.port))
            except BaseException as exc:
                if twin is not None:
                    call.deadline.forget(twin)
                sock.close()
                if not isinstance(exc, OSError):
                    raise
                last_error = exc  # try the host's next address
                continue
            self._outbound_twin = twin
            # What socket.create_connection would have announced.
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if isinstance(last_error, TimeoutError):
            raise urllib3.exceptions.ConnectTimeoutError(
                self, f"connection to {self.host} timed out"
            ) from last_error
        raise urllib3.exceptions.NewConnectionError(
            self, f"cannot connect to {self.host}: {last_error}"
        ) from last_error

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._outbound_twin is not None:
                self._outbound_call.deadline.forget(self._outbound_twin)
                self._outbound_twin = None


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    """Makes pinned pools, and hands them the call so their connections can
    find the pins and the deadline."""

    def __init__(self, call: Call, **kwargs) -> None:
        super().__init__(**kwargs)
        self._call = call
        self.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}

    def _new_pool(self, scheme, host, port, request_context=None):
        if request_context is None:
            request_context = self.connection_pool_kw.copy()
        request_context = {**request_context, "outbound_call": self._call}
        return super()._new_pool(scheme, host, port, request_context=request_context)


class PinnedAdapter(HTTPAdapter):
    """requests' adapter over the pinned pools, with our own TLS context (which
    carries verification and the client certificate) and never a proxy."""

    def __init__(self, call: Call, tls: TLS) -> None:
        self._call = call
        self._tls = tls
        super().__init__(pool_connections=2, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _PinnedPoolManager(
            self._call, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise Refused("proxies are not used")

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, _ = super().build_connection_pool_key_attributes(request, False, None)
        if host_params["scheme"] == "https":
            return host_params, {"ssl_context": self._tls.context()}
        return host_params, {}

    def cert_verify(self, conn, url, verify, cert) -> None:
        """Verification and the client certificate live in the SSL context."""


class Session(requests.Session):
    """A session that sends everything through `adapter` and takes nothing from
    the environment (proxy variables, .netrc)."""

    def __init__(self, adapter: PinnedAdapter) -> None:
        super().__init__()
        self.trust_env = False
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def get_redirect_target(self, resp):
        # request() follows redirects itself, hop by hop through the guard.
        # (requests would otherwise read a redirect's whole body, unbounded, to
        # prepare the next request even when not following it.)
        return None


# -- TLS -----------------------------------------------------------------------------------


class TLS:
    """The SSL context of one call, made on the first https hop."""

    def __init__(self, verify: str | bool, credentials: Credentials | None) -> None:
        self._verify = verify
        self._credentials = credentials
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = _ssl_context(self._verify, self._credentials)
        return self._context


def _ssl_context(verify: str | bool, credentials: Credentials | None) -> ssl.SSLContext:
    try:
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif verify is True:
            context = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)
        elif os.path.isdir(verify):
            context = ssl.create_default_context(capath=verify)
        else:
            context = ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise OutboundError(f"the CA bundle cannot be read: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if credentials is not None and credentials.client_cert_pem:
        _load_client_chain(context, credentials.client_cert_pem, credentials.client_key_pem)
    return context


def _load_client_chain(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """ssl loads certificates only from files: write them to a private directory
    (0700, files 0600) just long enough to load them."""
    directory = tempfile.mkdtemp(prefix="sigillo-tls-")
    try:
        paths = []
        for name, text in (("cert.pem", cert_pem), ("key.pem", key_pem)):
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")
            paths.append(path)
        context.load_cert_chain(*paths)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise OutboundError("the client certificate or key cannot be loaded") from exc
    finally:
        shutil.rmtree(directory, ignore_errors=True)
