"""The one way out: every server-side HTTP request (document_uri fetches,
webhook deliveries) goes through `request()`.

A URL given to us by an API client must not become a way into our own network
(SSRF). So before any connection the host is resolved once, every address it
resolves to is checked against the private-network guard, and the connection is
then pinned to the checked addresses: nothing resolves the name a second time,
so a DNS answer that changes between the check and the connect (rebinding)
cannot slip through. The Host header, TLS SNI and certificate verification still
use the name from the URL.

A slow peer must not hold a worker either: `timeout` is a total deadline for the
whole exchange (resolution, connect, TLS, headers, body, digest round trip,
redirect hops), enforced by a watchdog that shuts the sockets down when it
passes, not only a per-read socket timeout that a server dribbling one byte at a
time would never trip. Bodies are streamed and cut at `max_bytes`.

Logs carry the method, the host and the outcome, never URLs (their query may
hold tokens), header values, bodies, passwords or keys.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
import urllib3.exceptions
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

logger = logging.getLogger(__name__)

USER_AGENT = "Sigillo/1.0"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Framing and routing are ours to set: a caller's Host or Transfer-Encoding
# (say, from a robot's requestHeaders) could desynchronise the peer.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_HOSTNAME = re.compile(r"[a-z0-9_-][a-z0-9._-]*")
_METHOD = re.compile(r"[A-Z]{1,20}")
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# -- errors ------------------------------------------------------------------------------


class OutboundError(Exception):
    """A server-side request that produced no response."""


class Refused(OutboundError):
    """The guard stopped the request before any connection was made."""


class Unreachable(OutboundError):
    """The peer could not be reached: name resolution, connection or TLS failed."""


class TimedOut(OutboundError):
    """The exchange did not finish within its total deadline."""


class TooLarge(OutboundError):
    """The response body is larger than allowed."""


class BadRedirect(OutboundError):
    """A redirect to another host, or more hops than allowed."""


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to the peer: HTTP basic or digest, and/or a TLS client
    certificate. PEMs are text; the key must not be encrypted."""

    username: str = ""
    password: str = field(default="", repr=False)
    mode: Literal["basic", "digest"] = "basic"
    client_cert_pem: str = ""
    client_key_pem: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("basic", "digest"):
            raise ValueError(f"mode must be 'basic' or 'digest', not {self.mode!r}")
        if bool(self.client_cert_pem) != bool(self.client_key_pem):
            raise ValueError("client_cert_pem and client_key_pem go together")


@dataclass(frozen=True)
class Response:
    status: int
    headers: CaseInsensitiveDict = field(repr=False)
    body: bytes = field(repr=False)
    url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# -- the guard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case ASCII; an IPv6 literal without brackets
    port: int
    url: str  # what is sent: the URL rebuilt from the checked parts


def validate_url(url: str) -> None:
    """Raise Refused if `url` can never be fetched (scheme, credentials, port,
    host syntax). Does not resolve the host: `request()` does that each time."""
    _parse(url)


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url.strip())
    except (ValueError, AttributeError):
        raise Refused("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise Refused(f"scheme {scheme or '(none)'!r} is not allowed, only http and https")
    if "@" in parts.netloc:
        raise Refused("credentials in the URL are not allowed")
    try:
        explicit_port = parts.port
    except ValueError:
        raise Refused("bad port") from None
    if explicit_port == 0:
        raise Refused("bad port")
    host = _ascii_host(parts.hostname or "")
    port = explicit_port or _DEFAULT_PORTS[scheme]
    return _Target(scheme, host, port, _rebuild(parts, scheme, host, explicit_port))


def _ascii_host(hostname: str) -> str:
    if not hostname:
        raise Refused("the URL has no host")
    if not hostname.isascii():
        try:
            hostname = hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused("the host name is not valid") from None
    hostname = hostname.lower()
    if "%" in hostname:  # an IPv6 zone id names an interface, not a host
        raise Refused("the host name is not valid")
    if ":" in hostname:
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            raise Refused("the host name is not valid") from None
    elif not _HOSTNAME.fullmatch(hostname):
        raise Refused("the host name is not valid")
    return hostname


def _rebuild(parts: SplitResult, scheme: str, host: str, port: int | None) -> str:
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    url = f"{scheme}://{netloc}{parts.path or '/'}"
    return f"{url}?{parts.query}" if parts.query else url


@lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from None


def _allowed_networks():
    return _networks(tuple(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()) or ()))


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # is_global alone lets multicast through; spell every category out.
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (ip.version == 6 and ip.is_site_local)
    )


def _effective(address: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a packet to `address` really reaches: an IPv4-mapped IPv6
    address is its IPv4; 6to4, Teredo and NAT64 addresses also carry one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 4:
        return [ip]
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    embedded = []
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.append(ip.teredo[1])
    if ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [ip, *embedded]


def address_allowed(address: str) -> bool:
    """May a request go to this IP address? Public addresses may; private,
    loopback, link-local, reserved, multicast and unspecified ones only inside
    OUTBOUND_ALLOWED_NETWORKS."""
    networks = _allowed_networks()
    return all(
        _is_public(ip) or any(ip in network for network in networks) for ip in _effective(address)
    )


def resolve(host: str, port: int) -> list[str]:
    """The IP addresses of `host`, in order. Tests replace this function.

    Numeric hosts are parsed here without asking any resolver, in the forms the
    C library accepts too (2130706433, 0177.0.0.1, 127.1, 0x7f.1 are all
    127.0.0.1), so the guard sees the address such a URL really reaches.
    """
    with contextlib.suppress(ValueError):
        return [str(ipaddress.ip_address(host))]
    with contextlib.suppress(OSError):
        return [socket.inet_ntoa(socket.inet_aton(host))]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class _Address:
    family: socket.AddressFamily
    host: str


def _connectable(address: str) -> _Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # Connect to the IPv4 address that was checked, not through the dual stack.
        return _Address(socket.AF_INET, str(ip.ipv4_mapped))
    if ip.version == 6:
        return _Address(socket.AF_INET6, address)
    return _Address(socket.AF_INET, str(ip))


# -- the total deadline -------------------------------------------------------------------


class _Deadline:
    """A total deadline for one call. Every socket the call opens is watched
    (through a duplicate descriptor, which also survives the TLS wrapping); when
    the deadline passes they are shut down, which wakes any blocked read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.host = ""
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._closed = False

    def error(self) -> TimedOut:
        return TimedOut(f"{self.host or 'the peer'} did not answer within {self.seconds:g} s")

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0 or self.expired:
            self.expired = True
            raise self.error()
        return left

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def watch(self, sock: socket.socket) -> socket.socket:
        twin = sock.dup()
        with self._lock:
            if self._closed or self.expired:
                twin.close()
                raise self.error()
            self._watched.append(twin)
            if self._timer is None:
                self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), self._expire)
                self._timer.daemon = True
                self._timer.start()
        return twin

    def forget(self, twin: socket.socket) -> None:
        with self._lock:
            if twin in self._watched:
                self._watched.remove(twin)
                twin.close()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for twin in self._watched:
                with contextlib.suppress(OSError):
                    twin.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            for twin in self._watched:
                twin.close()
            self._watched.clear()


class _Call:
    """What one request() call shares with the connections it opens."""

    def __init__(self, timeout: float) -> None:
        self.deadline = _Deadline(timeout)
        self.pins: dict[str, list[_Address]] = {}


def _pin_key(host: str) -> str:
    return host.strip("[]").lower()


# -- pinned connections -------------------------------------------------------------------


class _PinnedMixin:
    """Connects to the addresses the guard checked for this host, never to a
    fresh resolution of its name. Host header, SNI and certificate checks keep
    using `self.host`, the name from the URL."""

    def __init__(self, *args, outbound_call: _Call, **kwargs) -> None:
        self._outbound_call = outbound_call
        self._outbound_twin: socket.socket | None = None
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        call = self._outbound_call
        addresses = call.pins.get(_pin_key(self._dns_host))
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
            except OSError as exc:
                if twin is not None:
                    call.deadline.forget(twin)
                sock.close()
                last_error = exc
                continue
            except BaseException:
                if twin is not None:
                    call.deadline.forget(twin)
                sock.close()
                raise
            self._outbound_twin = twin
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
    def __init__(self, call: _Call, **kwargs) -> None:
        super().__init__(**kwargs)
        self._call = call
        self.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}

    def _new_pool(self, scheme, host, port, request_context=None):
        if request_context is None:
            request_context = self.connection_pool_kw.copy()
        request_context = {**request_context, "outbound_call": self._call}
        return super()._new_pool(scheme, host, port, request_context=request_context)


class _PinnedAdapter(HTTPAdapter):
    """requests' adapter over the pinned pools, with our own TLS context (which
    carries verification and the client certificate) and never a proxy."""

    def __init__(self, call: _Call, tls: _TLS) -> None:
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


class _Session(requests.Session):
    def get_redirect_target(self, resp):
        # request() follows redirects itself, hop by hop through the guard.
        # (requests would otherwise read a redirect's whole body, unbounded, to
        # prepare the next request even when not following it.)
        return None


# -- TLS ------------------------------------------------------------------------------------


class _TLS:
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


# -- authentication ----------------------------------------------------------------------


class _DigestAuth(HTTPDigestAuth):
    """requests' digest auth, except that the challenge's body is read within
    the size limit and the deadline (requests reads it whole)."""

    def __init__(self, username: str, password: str, read_body) -> None:
        super().__init__(username, password)
        self._read_body = read_body

    def handle_401(self, r, **kwargs):
        if r.status_code == 401 and r._content is False:
            r._content = self._read_body(r.raw)
            r._content_consumed = True
        return super().handle_401(r, **kwargs)


def _auth(credentials: Credentials | None, read_body):
    if credentials is None or not credentials.username:
        return None
    if credentials.mode == "digest":
        return _DigestAuth(credentials.username, credentials.password, read_body)
    # RFC 7617: UTF-8, where requests would use Latin-1 for str.
    return HTTPBasicAuth(credentials.username.encode(), credentials.password.encode())


# -- the call --------------------------------------------------------------------------------


def request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    auth: Credentials | None = None,
    timeout: float = 10,
    max_bytes: int,
    redirects: int = 0,
    verify: str | bool = True,
) -> Response:
    """Send one request through the guard and return the peer's answer, whatever
    its status (a 401 or a 500 is a Response, not an error).

    `timeout` bounds the whole call; `max_bytes` the body; `redirects` how many
    same-host redirects are followed (0: a redirect is a BadRedirect). `verify`
    is True (the default CA bundle), a CA bundle file or directory, or False.
    Raises Refused, Unreachable, TimedOut, TooLarge or BadRedirect.
    """
    method = method.upper()
    if not _METHOD.fullmatch(method) or method in ("CONNECT", "TRACE"):
        raise Refused(f"method {method!r} is not allowed")
    if timeout <= 0 or max_bytes < 0 or redirects < 0:
        raise ValueError("timeout must be positive, max_bytes and redirects not negative")
    started = time.monotonic()
    try:
        target = _parse(url)
    except Refused as exc:
        logger.warning("%s (URL not accepted): Refused: %s", method, exc)
        raise
    call = _Call(timeout)
    try:
        response = _exchange(
            call,
            target,
            method=method,
            headers=_headers(headers),
            body=body,
            credentials=auth,
            max_bytes=max_bytes,
            redirects=redirects,
            verify=verify,
        )
    except OutboundError as exc:
        logger.warning("%s %s: %s: %s", method, target.host, type(exc).__name__, exc)
        raise
    finally:
        call.deadline.close()
    logger.info(
        "%s %s: %s, %d bytes in %.0f ms",
        method,
        target.host,
        response.status,
        len(response.body),
        (time.monotonic() - started) * 1000,
    )
    return response


def _headers(headers: Mapping[str, str] | None) -> CaseInsensitiveDict:
    merged = CaseInsensitiveDict(
        {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}
    )
    for name, value in (headers or {}).items():
        if name.lower() in _RESERVED_HEADERS:
            logger.debug("header %s is set by the client, not by callers", name)
            continue
        merged[name] = value
    return merged


def _exchange(
    call: _Call,
    target: _Target,
    *,
    method: str,
    headers: CaseInsensitiveDict,
    body: bytes | None,
    credentials: Credentials | None,
    max_bytes: int,
    redirects: int,
    verify: str | bool,
) -> Response:
    deadline = call.deadline

    def read_body(raw) -> bytes:
        return _read_body(raw, max_bytes=max_bytes, deadline=deadline)

    adapter = _PinnedAdapter(call, _TLS(verify, credentials))
    with _Session() as session:
        session.trust_env = False
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        hops = 0
        while True:
            deadline.host = target.host
            _admit(call, target, adapter)
            try:
                prepared = requests.Request(
                    method,
                    target.url,
                    headers=headers,
                    data=body,
                    auth=_auth(credentials, read_body),
                ).prepare()
            except (requests.exceptions.RequestException, ValueError) as exc:
                raise Refused(f"the request cannot be made: {type(exc).__name__}") from exc
            answer = _guarded(deadline, lambda p=prepared: _send(session, p, deadline))
            status = answer.status_code
            location = answer.headers.get("Location")
            if status in REDIRECT_STATUSES and location:
                answer.close()
                if hops >= redirects:
                    raise BadRedirect(
                        f"{target.host} answered {status} with a redirect; "
                        f"at most {redirects} redirect(s) are followed"
                    )
                try:
                    next_url = urljoin(target.url, location)
                except ValueError:
                    raise BadRedirect(f"{target.host} redirected to an invalid URL") from None
                following = _parse(next_url)
                if not _same_origin(target, following):
                    raise BadRedirect(
                        f"{target.host} redirected to another host or port "
                        f"({following.host}:{following.port}); only same-host redirects "
                        "are followed"
                    )
                hops += 1
                if status == 303 or (status in (301, 302) and method == "POST"):
                    if method != "HEAD":
                        method = "GET"
                    body = None
                    headers.pop("Content-Type", None)
                target = following
                continue
            try:
                if answer._content_consumed:
                    content = answer.content
                else:
                    content = _guarded(deadline, lambda a=answer: read_body(a.raw))
            finally:
                answer.close()
            if deadline.passed():
                # The watchdog may have cut a body that had no length to check.
                raise deadline.error()
            return Response(
                status=status,
                headers=CaseInsensitiveDict(answer.headers),
                body=content,
                url=target.url,
            )


def _admit(call: _Call, target: _Target, adapter: _PinnedAdapter) -> None:
    """Resolve the host once for this hop, check every address, pin them."""
    addresses = _resolve_within(target, call.deadline)
    if not addresses:
        raise Unreachable(f"{target.host} has no address")
    for address in addresses:
        try:
            allowed = address_allowed(address)
        except ValueError:
            raise Unreachable(f"{target.host} resolved to something that is not an IP") from None
        if not allowed:
            raise Refused(
                f"{target.host} resolves to {address}, a private, loopback, link-local or "
                "reserved address outside OUTBOUND_ALLOWED_NETWORKS"
            )
    pinned = [_connectable(a) for a in addresses]
    key = _pin_key(target.host)
    previous = call.pins.get(key)
    call.pins[key] = pinned
    if previous is not None and previous != pinned:
        # The name now resolves elsewhere: drop connections to the old addresses.
        adapter.poolmanager.clear()


def _resolve_within(target: _Target, deadline: _Deadline) -> list[str]:
    # getaddrinfo cannot be interrupted: run it aside and stop waiting at the deadline.
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["addresses"] = resolve(target.host, target.port)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="outbound-resolve", daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        deadline.expired = True
        raise TimedOut(f"resolving {target.host} took more than {deadline.seconds:g} s")
    error = outcome.get("error")
    if isinstance(error, OSError):
        raise Unreachable(f"cannot resolve {target.host}: {_reason(error)}") from error
    if error is not None:
        raise error
    return list(outcome["addresses"])


def _send(session: requests.Session, prepared: requests.PreparedRequest, deadline: _Deadline):
    remaining = deadline.remaining()
    return session.send(
        prepared,
        stream=True,
        timeout=(remaining, remaining),
        allow_redirects=False,
        proxies={},
    )


def _same_origin(a: _Target, b: _Target) -> bool:
    if a.host != b.host:
        return False
    if a.scheme == b.scheme:
        return a.port == b.port
    # An upgrade to TLS on the standard ports keeps the origin in spirit.
    return (a.scheme, a.port, b.scheme, b.port) == ("http", 80, "https", 443)


def _read_body(raw, *, max_bytes: int, deadline: _Deadline) -> bytes:
    declared = raw.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise TooLarge(
            f"{deadline.host} announced {int(declared)} bytes, more than the limit of {max_bytes}"
        )
    parts: list[bytes] = []
    total = 0
    while True:
        deadline.remaining()
        chunk = raw.read(min(_CHUNK, max_bytes + 1 - total), decode_content=True)
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(f"the body from {deadline.host} is larger than {max_bytes} bytes")
        parts.append(chunk)


def _guarded(deadline: _Deadline, step):
    """Run one network step, turning library errors into ours."""
    try:
        return step()
    except OutboundError:
        raise
    except Exception as exc:
        translated = _translate(exc, deadline)
        if translated is None:
            raise
        raise translated from exc


_TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
_TLS_ERRORS = (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)
_CONNECTION_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def _translate(exc: Exception, deadline: _Deadline) -> OutboundError | None:
    host = deadline.host
    if deadline.passed():
        return deadline.error()
    chain = list(_chain(exc))
    if any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain):
        return Unreachable(f"cannot connect to {host}: {_reason(exc)}")
    if isinstance(exc, _TIMEOUTS):
        return TimedOut(f"{host} did not answer in time")
    if any(isinstance(e, _TLS_ERRORS) for e in chain):
        return Unreachable(f"TLS with {host} failed: {_reason(exc)}")
    if isinstance(exc, _CONNECTION_ERRORS):
        return Unreachable(f"cannot reach {host}: {_reason(exc)}")
    return None


def _chain(exc: BaseException):
    """The exception and its causes, following urllib3's `reason` where present."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        else:
            current = current.__cause__ or current.__context__


def _reason(exc: BaseException) -> str:
    """A short cause for messages and logs; never the library's own text, which
    may quote the URL with its query."""
    for candidate in reversed(list(_chain(exc))):
        if isinstance(candidate, ssl.SSLCertVerificationError):
            return candidate.verify_message or "certificate verify failed"
        if isinstance(candidate, ssl.SSLError):
            return candidate.reason or type(candidate).__name__
        if isinstance(candidate, socket.gaierror):
            return candidate.strerror or "name resolution failed"
        if isinstance(candidate, ConnectionRefusedError):
            return "connection refused"
        if isinstance(candidate, OSError) and candidate.strerror:
            return candidate.strerror.lower()
        if isinstance(candidate, OSError | http.client.HTTPException) and str(candidate):
            return str(candidate)
    return type(exc).__name__
