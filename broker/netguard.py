"""Where the broker may send a request: URL vetting and address rules.

URLs are parsed with urllib3's parser, the one requests uses to connect, and
refused when they hold anything two parsers could read differently (a
backslash, ``@`` or user info, whitespace or control characters, a non-ASCII
host). The request then goes to a URL rebuilt from the parsed parts, never to
the text a registry sent.

Addresses are classified after unwrapping IPv4 addresses carried inside IPv6
ones (mapped ``::ffff:a.b.c.d``, translated ``::ffff:0:a.b.c.d``, compatible
``::a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``)::

    forbidden  link-local (169.254.0.0/16, fe80::/10, the metadata and credentials
               endpoints among them), fd00:ec2::/64 (EC2's IPv6 metadata and DNS),
               0.0.0.0/8, unspecified, multicast, reserved, broadcast, Teredo,
               site-local fec0::/10, local-use NAT64 64:ff9b:1::/48
    loopback   127.0.0.0/8, ::1
    private    every other address that is not globally routable (RFC 1918, fc00::/7, ...)
    public     the rest

A forbidden address is never contacted. The registry's own name may resolve to
loopback, private or public addresses; any other host (a token realm, a
redirect target) only to public addresses, to private ones when the registry's
are all private or loopback, and to loopback ones when the registry's are all
loopback.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK, PRIVATE, PUBLIC = "loopback", "private", "public"
_RANK = {LOOPBACK: 0, PRIVATE: 1, PUBLIC: 2}
DEFAULT_PORTS = {"http": 80, "https": 443}

_FORBIDDEN = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "fe80::/10", "fec0::/10", "fd00:ec2::/64", "ff00::/8", "2001::/32",
    "64:ff9b:1::/48"))  # local-use NAT64: where the IPv4 address sits depends on the prefix
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_HOSTNAME = re.compile(r"^(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}"
                       r"[a-z0-9])?)*\.?\Z")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


class Refused(Exception):
    """A URL or address the broker will not send a request to; the message is safe to show."""


class Target(NamedTuple):
    """A vetted URL: lower-case scheme and host, an explicit port, and path with query."""

    scheme: str
    host: str  # without IPv6 brackets
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def netloc(self) -> str:
        """``host[:port]`` as a Host header carries it (the port only when not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def safe(self) -> str:
        """The URL for messages: no query (a registry may echo the username there)."""
        return f"{self.scheme}://{self.netloc}{self.path.split('?', 1)[0]}"


def parse_url(url: str, schemes: frozenset[str] | set[str]) -> Target:
    """Vet ``url`` and return its parts; Refused says why without echoing it."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url as urllib3_parse

    if not isinstance(url, str) or _UNSAFE_URL_CHARS.search(url) or not url.isascii():
        raise Refused("a URL holding whitespace, control characters, a backslash or non-ASCII text")
    try:
        parts = urllib3_parse(url)
    except (LocationParseError, ValueError):
        raise Refused("a URL that does not parse") from None
    authority = url.split("//", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if parts.auth is not None or "@" in authority:
        raise Refused("a URL with user info (user@host)")
    scheme = (parts.scheme or "").lower()
    if scheme not in schemes:
        raise Refused(f"a URL whose scheme is not {' or '.join(sorted(schemes))}")
    host = host_of(parts.host or "")
    port = parts.port or DEFAULT_PORTS[scheme]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path)


def host_of(text: str) -> str:
    """A lower-case host name or IP address (IPv6 without brackets); Refused if neither."""
    host = text.lower()
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise Refused("a host that is not an IPv6 address inside [ ]") from None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _HOSTNAME.match(host):
        return host.rstrip(".")
    raise Refused("a host that is neither a DNS name nor an IP address")


def address(text: str) -> IPAddress:
    """An address as a resolver returns it (an IPv6 scope ``%eth0`` is dropped)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def is_ip(host: str) -> bool:
    """True for an IP literal (a host that needs no resolution)."""
    try:
        address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """True for a loopback IP literal (127.0.0.0/8, ::1, and IPv4 loopback inside IPv6): what
    a stand-in for a well-known service may be on in tests (the build refuses it)."""
    try:
        return unwrap(address(host.strip("[]"))).is_loopback
    except ValueError:
        return False


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64), else ``ip``."""
    if ip.version == 4:
        return ip
    embedded = ip.ipv4_mapped or ip.sixtofour
    if embedded is None and (ip in _NAT64 or ip in _TRANSLATED):
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is None and int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated)
        embedded = ipaddress.IPv4Address(int(ip))
    return embedded or ip


def kind_of(ip: IPAddress) -> str:
    """``loopback``, ``private`` or ``public``; Refused for a forbidden address."""
    inner = unwrap(ip)
    if _forbidden(ip) or _forbidden(inner):
        raise Refused(f"a link-local or metadata, multicast or reserved address ({ip})")
    if inner.is_loopback:
        return LOOPBACK
    return PUBLIC if inner.is_global else PRIVATE


def _forbidden(ip: IPAddress) -> bool:
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return True
    if any(ip in net for net in _FORBIDDEN if net.version == ip.version):
        return True
    return ip.version == 4 and ip.is_reserved  # IPv6's "reserved" ::/8 holds ::1 and the mapped forms


def site_of(kinds: list[str]) -> str:
    """Where a set of addresses lives: the most public of their kinds."""
    return max(kinds, key=_RANK.__getitem__)


def reachable(kind: str, registry_site: str) -> bool:
    """May a host other than the registry have an address of ``kind``?"""
    return _RANK[kind] >= _RANK[registry_site]
