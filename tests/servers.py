"""Real HTTP peers on loopback, for tests of everything that calls out.

- `PrivateCA`: a root CA made with `cryptography`, issuing server and client
  certificates (files in a directory, PEM text on the objects).
- `DocumentServer`: serves documents over HTTP or HTTPS, optionally behind basic
  or digest authentication or a required client certificate; routes can
  redirect, dribble, hang or stream huge bodies (with or without a length).
- `WebhookReceiver`: records every POST and answers 200, or fails, hangs and
  recovers as a test scripts it.
- `SilentListener`: accepts TCP connections, counts them and never says a word.

Every server binds 127.0.0.1 (or ::1, or another 127.x address) on a free port,
runs in a daemon thread, counts the connections it accepts and records each
request (method, path, headers, body, SNI, client certificate). Use them as
context managers or call start() and stop().
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import secrets
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from requests.structures import CaseInsensitiveDict

# -- a private CA -------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM text and as files."""

    cert_pem: str
    key_pem: str
    cert_path: Path
    key_path: Path
    common_name: str


def _pem_key(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class PrivateCA:
    """A root CA in `directory`; `cert_path` is the bundle to verify against."""

    def __init__(self, directory: Path, name: str = "Sigillo Test Root") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        public = self._key.public_key()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.cert_path = self.directory / "ca.pem"
        self.cert_path.write_text(self.cert_pem)

    def issue(
        self,
        common_name: str,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        client: bool = False,
    ) -> Issued:
        """A server certificate for `dns` and `ips`, or (client=True) a client one."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        names = [x509.DNSName(d) for d in dns] + [
            x509.IPAddress(ipaddress.ip_address(i)) for i in ips
        ]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        stem = self.directory / f"{common_name.replace(' ', '_')}-{secrets.token_hex(4)}"
        issued = Issued(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=_pem_key(key),
            cert_path=stem.with_suffix(".crt"),
            key_path=stem.with_suffix(".key"),
            common_name=common_name,
        )
        issued.cert_path.write_text(issued.cert_pem)
        issued.key_path.write_text(issued.key_pem)
        issued.key_path.chmod(0o600)
        return issued


# -- what servers record ---------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: CaseInsensitiveDict
    body: bytes
    connection: int  # 1 for the first connection the server accepted, and so on
    server_name: str | None = None  # TLS SNI
    client_cert_cn: str | None = None


# -- the shared server -----------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: LoopbackServer, family: socket.AddressFamily, address) -> None:
        self.address_family = family
        self.owner = owner
        super().__init__(address, _Handler)

    def get_request(self):
        sock, address = self.socket.accept()
        number = self.owner._accepted()
        if self.owner._tls_context is not None:
            sock = self.owner._tls_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        self.owner._numbers[id(sock)] = number
        return sock, address

    def handle_error(self, request, client_address) -> None:
        # Clients that give up (size limits, deadlines, refused TLS) are the point.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SigilloTestServer/1.0"
    timeout = 15

    def log_message(self, format, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server_name = None
        self.client_cert_cn = None
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()
            self.server_name = getattr(self.connection, "sigillo_sni", None)
            peer = self.connection.getpeercert()
            if peer:
                for rdn in peer.get("subject", ()):
                    for key, value in rdn:
                        if key == "commonName":
                            self.client_cert_cn = value

    def _handle(self) -> None:
        owner: LoopbackServer = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = Recorded(
            method=self.command,
            path=self.path,
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
            connection=owner._numbers.get(id(self.connection), 0),
            server_name=self.server_name,
            client_cert_cn=self.client_cert_cn,
        )
        owner._record(record)
        owner.respond(self, record)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    # helpers for respond()

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/octet-stream")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LoopbackServer:
    """An HTTP(S) server on a loopback address; subclasses decide the answers."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: Issued | None = None,
        client_ca: Path | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._tls_context: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_path, tls.key_path)
            if client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(client_ca)

            def remember_sni(sock, name, _context):
                sock.sigillo_sni = name

            context.sni_callback = remember_sni
            self._tls_context = context
        self.scheme = "https" if tls is not None else "http"
        self.requests: list[Recorded] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._numbers: dict[int, int] = {}
        self._lock = threading.Condition()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> LoopbackServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = _HTTPServer(self, family, (self.host, self._requested_port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/", *, host: str | None = None, scheme: str | None = None) -> str:
        host = host or self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{scheme or self.scheme}://{host}:{self.port}{path}"

    # records

    def _accepted(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def _record(self, record: Recorded) -> None:
        with self._lock:
            self.requests.append(record)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """The first `count` requests, waiting up to `timeout` seconds for them."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests[:count])

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections = 0

    def respond(self, handler: _Handler, record: Recorded) -> None:
        raise NotImplementedError


# -- the document server -----------------------------------------------------------------


@dataclass(frozen=True)
class ServerAuth:
    mode: str  # "basic" or "digest"
    username: str
    password: str
    realm: str = "sigillo-tests"
    algorithm: str = "MD5"  # or "SHA-256"
    challenge_body: bytes = b"authentication required"


_DIGESTS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _digest_params(value: str) -> dict[str, str]:
    params = {}
    for part in _split_commas(value):
        name, _, raw = part.strip().partition("=")
        params[name.strip().lower()] = raw.strip().strip('"')
    return params


def _split_commas(value: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


@dataclass
class _Route:
    kind: str
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    location: str = ""
    interval: float = 0.1
    size: int = 0
    framing: str = "length"  # "length", "close" or "chunked"
    headers_too: bool = False
    sent: int = 0


class DocumentServer(LoopbackServer):
    """Serves what tests add; unknown paths are 404. With `auth`, every route
    needs HTTP basic or digest credentials; with `client_ca`, TLS needs a client
    certificate issued by it."""

    def __init__(self, *, auth: ServerAuth | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.auth = auth
        self.routes: dict[str, _Route] = {}
        self._nonces: set[str] = set()

    def add(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/pdf",
        headers: dict[str, str] | None = None,
    ) -> str:
        self.routes[path] = _Route(
            "static",
            body=body,
            status=status,
            headers={"Content-Type": content_type, **(headers or {})},
        )
        return path

    def redirect(self, path: str, location: str, *, status: int = 302) -> str:
        self.routes[path] = _Route("redirect", status=status, location=location)
        return path

    def dribble(
        self, path: str, body: bytes, *, interval: float = 0.1, headers_too: bool = False
    ) -> str:
        """Answers `body` one byte every `interval` seconds (status line and
        headers too, with headers_too)."""
        self.routes[path] = _Route("dribble", body=body, interval=interval, headers_too=headers_too)
        return path

    def hang(self, path: str) -> str:
        """Reads the request and never answers (until the server stops)."""
        self.routes[path] = _Route("hang")
        return path

    def huge(self, path: str, size: int, *, framing: str = "length") -> str:
        """Streams `size` bytes, framed by Content-Length, by closing the
        connection, or chunked; `routes[path].sent` counts what went out."""
        self.routes[path] = _Route("huge", size=size, framing=framing)
        return path

    # answers

    def respond(self, handler: _Handler, record: Recorded) -> None:
        if self.auth is not None and not self._authorized(record):
            self._challenge(handler)
            return
        route = self.routes.get(record.path.split("?", 1)[0])
        if route is None:
            handler.reply(404, b"not found", {"Content-Type": "text/plain"})
            return
        try:
            getattr(self, f"_answer_{route.kind}")(handler, route)
        except OSError:
            handler.close_connection = True

    def _answer_static(self, handler: _Handler, route: _Route) -> None:
        handler.reply(route.status, route.body, route.headers)

    def _answer_redirect(self, handler: _Handler, route: _Route) -> None:
        handler.reply(route.status, b"", {"Location": route.location})

    def _answer_hang(self, handler: _Handler, route: _Route) -> None:
        self.stopping.wait(60)
        handler.close_connection = True

    def _answer_dribble(self, handler: _Handler, route: _Route) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n"
            f"Content-Length: {len(route.body)}\r\n\r\n"
        ).encode()
        if not route.headers_too:
            handler.wfile.write(head)
            handler.wfile.flush()
            head = b""
        for byte in head + route.body:
            if self.stopping.wait(route.interval):
                break
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        handler.close_connection = True

    def _answer_huge(self, handler: _Handler, route: _Route) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        if route.framing == "length":
            handler.send_header("Content-Length", str(route.size))
        elif route.framing == "chunked":
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        block = b"x" * 65536
        left = route.size
        while left > 0 and not self.stopping.is_set():
            piece = block[: min(left, len(block))]
            if route.framing == "chunked":
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                handler.wfile.write(piece)
            route.sent += len(piece)
            left -= len(piece)
        if route.framing == "chunked":
            handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    # authentication

    def _authorized(self, record: Recorded) -> bool:
        header = record.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        auth = self.auth
        if auth.mode == "basic":
            expected = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
            return scheme.lower() == "basic" and hmac.compare_digest(value.strip(), expected)
        if scheme.lower() != "digest":
            return False
        params = _digest_params(value)
        if params.get("nonce") not in self._nonces or params.get("username") != auth.username:
            return False
        digest = _DIGESTS[auth.algorithm]

        def h(text: str) -> str:
            return digest(text.encode()).hexdigest()

        ha1 = h(f"{auth.username}:{auth.realm}:{auth.password}")
        ha2 = h(f"{record.method}:{params.get('uri', '')}")
        expected = h(
            f"{ha1}:{params['nonce']}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
            f"{params.get('qop', '')}:{ha2}"
        )
        return params.get("uri") == record.path and hmac.compare_digest(
            params.get("response", ""), expected
        )

    def _challenge(self, handler: _Handler) -> None:
        headers = {"Content-Type": "text/plain"}
        if self.auth.mode == "basic":
            headers["WWW-Authenticate"] = f'Basic realm="{self.auth.realm}"'
        else:
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            headers["WWW-Authenticate"] = (
                f'Digest realm="{self.auth.realm}", qop="auth", '
                f'algorithm={self.auth.algorithm}, nonce="{nonce}", '
                f'opaque="{secrets.token_hex(8)}"'
            )
        handler.reply(401, self.auth.challenge_body, headers)


# -- the webhook receiver ------------------------------------------------------------------


class WebhookReceiver(LoopbackServer):
    """Records every request and answers `status` (200), unless scripted:

    receiver.fail(times=2)          # the next two get 500
    receiver.fail(times=1, status=410)
    receiver.hang(times=1)          # the next one waits until release() or stop()
    receiver.recover()              # forget the script, answer 200 again
    """

    def __init__(self, *, status: int = 200, **kwargs) -> None:
        super().__init__(**kwargs)
        self.status = status
        self._script: deque[Callable[[_Handler], None]] = deque()
        self._released = threading.Event()

    def fail(self, *, times: int = 1, status: int = 500) -> None:
        with self._lock:
            for _ in range(times):
                self._script.append(
                    lambda handler: handler.reply(status, b"failed", {"Content-Type": "text/plain"})
                )

    def hang(self, *, times: int = 1) -> None:
        self._released.clear()

        def hang(handler: _Handler) -> None:
            deadline = time.monotonic() + 60
            while not (self._released.is_set() or self.stopping.is_set()):
                if time.monotonic() > deadline:
                    break
                self._released.wait(0.05)
            handler.close_connection = True

        with self._lock:
            for _ in range(times):
                self._script.append(hang)

    def release(self) -> None:
        """Let hanging requests go (they end without an answer)."""
        self._released.set()

    def recover(self, status: int = 200) -> None:
        with self._lock:
            self._script.clear()
            self.status = status
        self.release()

    def respond(self, handler: _Handler, record: Recorded) -> None:
        with self._lock:
            action = self._script.popleft() if self._script else None
        if action is None:
            handler.reply(self.status, b"", {"Content-Type": "text/plain"})
        else:
            try:
                action(handler)
            except OSError:
                handler.close_connection = True


# -- a listener that never answers -------------------------------------------------------


class SilentListener:
    """Accepts connections on a loopback address, counts them, holds them open
    and never sends a byte (a peer that hangs before HTTP, or before TLS)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(16)
        self._socket.settimeout(0.05)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(sock)

    def start(self) -> SilentListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._socket.close()
        for sock in self._held:
            sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str = "/", *, scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"
