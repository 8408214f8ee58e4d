"""What can go wrong on the way out, as callers see it.

Callers catch our five errors, never requests', urllib3's or ssl's: the library
exceptions are translated here, in one place, so that a change of HTTP library
cannot leak a new exception type into document fetching, webhooks or SMS. The
messages name the host and the cause, never the library's own text, which may
quote the URL with a token in its query.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import requests
import urllib3.exceptions

if TYPE_CHECKING:
    from portal.outbound.deadline import Deadline


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

_T = TypeVar("_T")


def run_network_step(deadline: Deadline, step: Callable[[], _T]) -> _T:
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


def _translate(exc: Exception, deadline: Deadline) -> OutboundError | None:
    host = deadline.host
    # Whatever the library says, a step that failed after the deadline failed
    # because the watchdog shut its socket down.
    if deadline.passed():
        return deadline.error()
    chain = list(_causes(exc))
    if any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain):
        return Unreachable(f"cannot connect to {host}: {short_reason(exc)}")
    if isinstance(exc, _TIMEOUTS):
        return TimedOut(f"{host} did not answer in time")
    if any(isinstance(e, _TLS_ERRORS) for e in chain):
        return Unreachable(f"TLS with {host} failed: {short_reason(exc)}")
    if isinstance(exc, _CONNECTION_ERRORS):
        return Unreachable(f"cannot reach {host}: {short_reason(exc)}")
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
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


def short_reason(exc: BaseException) -> str:
    """A short cause for messages and logs; never the library's own text, which
    may quote the URL with its query."""
    for candidate in reversed(list(_causes(exc))):
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
