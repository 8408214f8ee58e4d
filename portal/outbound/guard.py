"""The private-network guard: which URLs and which addresses may be reached.

A URL given to us by an API client must not become a way into our own network
(SSRF). So a URL is parsed strictly and rebuilt from the checked parts; its host
is resolved once per hop, and every address it resolves to must be public or
inside OUTBOUND_ALLOWED_NETWORKS. The addresses that pass are the only ones the
transport may connect to (see transport.Call.pin): nothing resolves the name a
second time, so a DNS answer that changes between the check and the connect
(rebinding) cannot slip through.

An address is judged by where a packet to it really goes: an IPv4-mapped IPv6
address is its IPv4, and 6to4, Teredo and NAT64 addresses carry an IPv4 too.
Numeric hosts are parsed in every spelling the C library accepts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal.outbound.deadline import Deadline
from portal.outbound.errors import Refused, TimedOut, Unreachable, short_reason

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"[a-z0-9_-][a-z0-9._-]*")
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# -- URLs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One hop's destination, as checked."""

    scheme: str
    host: str  # lower-case ASCII; an IPv6 literal without brackets
    port: int
    url: str  # what is sent: the URL rebuilt from the checked parts


def validate_url(url: str) -> None:
    """Raise Refused if `url` can never be fetched (scheme, credentials, port,
    host syntax). Does not resolve the host: `request()` does that each time."""
    parse_url(url)


def parse_url(url: str) -> Target:
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
    return Target(scheme, host, port, _rebuild(parts, scheme, host, explicit_port))


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


# -- addresses -----------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from None


def _allowed_networks():
    # Read at each call, not at import, so that overridden settings apply.
    return _networks(tuple(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()) or ()))


def _ip(address: str) -> IPAddress:
    # A zone id (fe80::1%eth0) from getaddrinfo says which interface, not where.
    return ipaddress.ip_address(address.split("%", 1)[0])


def _is_public(ip: IPAddress) -> bool:
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


def _effective(address: str) -> list[IPAddress]:
    """The addresses a packet to `address` really reaches: an IPv4-mapped IPv6
    address is its IPv4; 6to4, Teredo and NAT64 addresses also carry one."""
    ip = _ip(address)
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


@dataclass(frozen=True)
class PinnedAddress:
    """An address the guard let through, in the form a socket connects to."""

    family: socket.AddressFamily
    host: str


def _pinned(address: str) -> PinnedAddress:
    ip = _ip(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # Connect to the IPv4 address that was checked, not through the dual stack.
        return PinnedAddress(socket.AF_INET, str(ip.ipv4_mapped))
    if ip.version == 6:
        return PinnedAddress(socket.AF_INET6, address)
    return PinnedAddress(socket.AF_INET, str(ip))


# -- resolution ----------------------------------------------------------------------------


def resolve(host: str, port: int) -> list[str]:
    """The IP addresses of `host`, in order. Tests replace `outbound.resolve`.

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


def admit(target: Target, deadline: Deadline) -> list[PinnedAddress]:
    """Resolve `target`'s host once, within the deadline, and check every
    address: one that is not allowed refuses the whole hop."""
    addresses = _resolve_within(target, deadline)
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
    return [_pinned(a) for a in addresses]


def _resolve_within(target: Target, deadline: Deadline) -> list[str]:
    # The package's `resolve` is looked up at each call because that name is
    # the documented place to replace resolution (tests point names at loopback).
    from portal import outbound

    # getaddrinfo cannot be interrupted: run it aside and stop waiting at the deadline.
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["addresses"] = outbound.resolve(target.host, target.port)
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
        raise Unreachable(f"cannot resolve {target.host}: {short_reason(error)}") from error
    if error is not None:
        raise error
    return list(outcome["addresses"])
