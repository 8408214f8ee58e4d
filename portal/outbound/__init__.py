"""The one way out: every server-side HTTP request (document_uri fetches,
webhook deliveries, the SMS http backend) goes through `request()`.

This package is its public face only; callers import from here:

    from portal import outbound
    outbound.request(method="GET", url=..., max_bytes=..., timeout=...)

Inside:

- guard: which URLs and addresses may be reached (SSRF): strict URL parsing,
  one resolution per hop, every address checked against OUTBOUND_ALLOWED_NETWORKS.
- deadline: the total deadline of a call and the watchdog that enforces it.
- transport: connections pinned to the checked addresses, TLS, no proxies.
- auth: credentials, HTTP basic and digest.
- client: request() itself, the hop loop, redirects and size limits.
- errors: our exceptions, and the translation of library errors into them.

`resolve` is looked up here at each call, so replacing `outbound.resolve`
changes how every host name is answered (tests do, to point names at loopback).
See docs/outbound.md.
"""

from portal.outbound.auth import Credentials
from portal.outbound.client import REDIRECT_STATUSES, USER_AGENT, Response, request
from portal.outbound.errors import (
    BadRedirect,
    OutboundError,
    Refused,
    TimedOut,
    TooLarge,
    Unreachable,
)
from portal.outbound.guard import address_allowed, resolve, validate_url

__all__ = [
    "REDIRECT_STATUSES",
    "USER_AGENT",
    "BadRedirect",
    "Credentials",
    "OutboundError",
    "Refused",
    "Response",
    "TimedOut",
    "TooLarge",
    "Unreachable",
    "address_allowed",
    "request",
    "resolve",
    "validate_url",
]
