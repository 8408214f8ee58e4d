"""How we prove who we are to the peer: HTTP basic or digest, and/or a TLS
client certificate (loaded by transport.TLS).

The HTTP schemes are requests' own, with two corrections: basic auth is sent in
UTF-8 (RFC 7617), and digest auth reads the 401 challenge's body within the size
limit and the deadline of the call instead of whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

# Reads a urllib3 response body within the call's size limit and deadline.
BodyReader = Callable[[object], bytes]


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


class _DigestAuth(HTTPDigestAuth):
    """requests' digest auth, except that the challenge's body is read within
    the size limit and the deadline (requests reads it whole)."""

    def __init__(self, username: str, password: str, read_body: BodyReader) -> None:
        super().__init__(username, password)
        self._read_body = read_body

    def handle_401(self, r, **kwargs):
        if r.status_code == 401 and r._content is False:
            r._content = self._read_body(r.raw)
            r._content_consumed = True
        return super().handle_401(r, **kwargs)


def http_auth(credentials: Credentials | None, read_body: BodyReader) -> AuthBase | None:
    """The requests auth for `credentials`, or None when no user name is given
    (a client certificate alone needs no HTTP authentication)."""
    if credentials is None or not credentials.username:
        return None
    if credentials.mode == "digest":
        return _DigestAuth(credentials.username, credentials.password, read_body)
    # RFC 7617: UTF-8, where requests would use Latin-1 for str.
    return HTTPBasicAuth(credentials.username.encode(), credentials.password.encode())
