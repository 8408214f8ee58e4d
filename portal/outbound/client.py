"""request(): one server-side HTTP exchange, hop by hop through the guard.

For each hop the host is admitted by the guard and pinned for the transport,
the request is sent, and a redirect is followed only to the same host and port
and only as many times as the caller allows: requests' own redirect handling
would resolve the next host behind the guard's back. Bodies are streamed and
cut at `max_bytes`; everything runs under the call's Deadline.

Logs carry the method, the host and the outcome, never URLs (their query may
hold tokens), header values, bodies, passwords or keys.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests
from requests.structures import CaseInsensitiveDict

from portal.outbound.auth import BodyReader, Credentials, http_auth
from portal.outbound.deadline import Deadline
from portal.outbound.errors import (
    BadRedirect,
    OutboundError,
    Refused,
    TooLarge,
    run_network_step,
)
from portal.outbound.guard import Target, admit, parse_url
from portal.outbound.transport import TLS, Call, PinnedAdapter, Session

# The package's logger, whichever module logs: operators configure one name.
logger = logging.getLogger("portal.outbound")

USER_AGENT = "Sigillo/1.0"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_CHUNK = 64 * 1024
# Framing and routing are ours to set: a caller's Host or Transfer-Encoding
# (say, from a robot's requestHeaders) could desynchronise the peer.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_METHOD = re.compile(r"[A-Z]{1,20}")


@dataclass(frozen=True)
class Response:
    status: int
    headers: CaseInsensitiveDict = field(repr=False)
    body: bytes = field(repr=False)
    url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


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
        target = parse_url(url)
    except Refused as exc:
        logger.warning("%s (URL not accepted): Refused: %s", method, exc)
        raise
    call = Call(timeout)
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
    call: Call,
    target: Target,
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

    adapter = PinnedAdapter(call, TLS(verify, credentials))
    with Session(adapter) as session:
        hops = 0
        while True:
            deadline.host = target.host
            if call.pin(target.host, admit(target, deadline)):
                # The name now resolves elsewhere: drop connections to the old addresses.
                adapter.poolmanager.clear()
            prepared = _prepare(method, target, headers, body, credentials, read_body)
            answer = run_network_step(deadline, lambda p=prepared: _send(session, p, deadline))
            status = answer.status_code
            location = answer.headers.get("Location")
            if status in REDIRECT_STATUSES and location:
                answer.close()
                if hops >= redirects:
                    raise BadRedirect(
                        f"{target.host} answered {status} with a redirect; "
                        f"at most {redirects} redirect(s) are followed"
                    )
                hops += 1
                target = _redirect_target(target, location)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    # What browsers do: the next hop asks for the result, without the body.
                    if method != "HEAD":
                        method = "GET"
                    body = None
                    headers.pop("Content-Type", None)
                continue
            try:
                if answer._content_consumed:  # a 401 whose body digest auth has read
                    content = answer.content
                else:
                    content = run_network_step(deadline, lambda a=answer: read_body(a.raw))
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


def _prepare(
    method: str,
    target: Target,
    headers: CaseInsensitiveDict,
    body: bytes | None,
    credentials: Credentials | None,
    read_body: BodyReader,
) -> requests.PreparedRequest:
    try:
        return requests.Request(
            method,
            target.url,
            headers=headers,
            data=body,
            auth=http_auth(credentials, read_body),
        ).prepare()
    except (requests.exceptions.RequestException, ValueError) as exc:
        # A header with a line break, for one: say which kind, never the value.
        raise Refused(f"the request cannot be made: {type(exc).__name__}") from exc


def _redirect_target(current: Target, location: str) -> Target:
    """Where a redirect from `current` leads, if it may be followed at all."""
    try:
        next_url = urljoin(current.url, location)
    except ValueError:
        raise BadRedirect(f"{current.host} redirected to an invalid URL") from None
    following = parse_url(next_url)
    if not _same_origin(current, following):
        raise BadRedirect(
            f"{current.host} redirected to another host or port "
            f"({following.host}:{following.port}); only same-host redirects are followed"
        )
    return following


def _same_origin(a: Target, b: Target) -> bool:
    if a.host != b.host:
        return False
    if a.scheme == b.scheme:
        return a.port == b.port
    # An upgrade to TLS on the standard ports keeps the origin in spirit.
    return (a.scheme, a.port, b.scheme, b.port) == ("http", 80, "https", 443)


def _send(session: requests.Session, prepared: requests.PreparedRequest, deadline: Deadline):
    remaining = deadline.remaining()
    return session.send(
        prepared,
        stream=True,
        timeout=(remaining, remaining),
        allow_redirects=False,
        proxies={},
    )


def _read_body(raw, *, max_bytes: int, deadline: Deadline) -> bytes:
    declared = raw.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise TooLarge(
            f"{deadline.host} announced {int(declared)} bytes, more than the limit of {max_bytes}"
        )
    parts: list[bytes] = []
    total = 0
    while True:
        deadline.remaining()
        # One byte past the limit is enough to know the body is too large.
        chunk = raw.read(min(_CHUNK, max_bytes + 1 - total), decode_content=True)
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(f"the body from {deadline.host} is larger than {max_bytes} bytes")
        parts.append(chunk)
