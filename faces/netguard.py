"""The SSRF guard of faces.http: every URL is parsed once, by urllib3's parser (the one that
builds the request), and its host resolved once to addresses that must all be global.

A URL that Python's ``urlsplit`` would read differently, or with a backslash, a control
character, whitespace or a user name in it, is refused (a permanent FetchError, never a crash).
Every address the host resolves to must be global (``ipaddress.is_global``, and no multicast,
reserved, IPv4-mapped, NAT64 or 6to4 form of an internal IPv4 address) unless the host is named
in ``IDOLSITE_FETCH_ALLOWED_HOSTS``. faces.http then connects to that very address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family

MAX_URL_LENGTH = 8192
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A fetch that did not give a usable answer. ``permanent`` errors are not worth retrying."""

    def __init__(self, message: str, *, permanent: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status

    def __str__(self) -> str:
        return self.message


# Control characters (urlsplit silently drops tabs and newlines) and backslashes (browsers read
# them as slashes, urllib3 as the start of the path) make parsers disagree: none is fetched.
_REFUSED_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class Target:
    """A URL as it will be requested: the name, the port, and the checked address to connect to."""

    url: str
    scheme: str
    host: str  # as urllib3 normalises it: lower case, IDNA, IPv6 in brackets
    port: int
    address: str = ""  # the one to connect to now
    addresses: tuple[str, ...] = ()  # every checked address, tried in order while connecting fails

    @property
    def host_header(self) -> str:
        return self.host if self.port == DEFAULT_PORTS[self.scheme] else f"{self.host}:{self.port}"


def parse_target(url: str) -> Target:
    """The URL as urllib3 reads it, or a permanent FetchError for anything malformed or ambiguous."""
    shown = url if len(url) <= 200 else url[:200] + "..."
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(gettext("%(url)s: the URL is too long") % {"url": shown})
    if match := _REFUSED_CHARACTERS.search(url):
        if match.group() == "\\":
            raise FetchError(gettext("%(url)r: a URL with a backslash is refused") % {"url": shown})
        raise FetchError(gettext("%(url)r: a URL with a control character is refused") % {"url": shown})
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise FetchError(gettext("%(url)s: not a valid URL") % {"url": shown}) from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchError(gettext("%(url)s: only http and https URLs are fetched") % {"url": shown})
    if not parsed.host:
        raise FetchError(gettext("%(url)s: the URL has no host") % {"url": shown})
    if parsed.auth is not None:
        raise FetchError(gettext("%(url)s: a URL with a user name or password is refused") % {"url": shown})
    port = DEFAULT_PORTS[scheme] if parsed.port is None else parsed.port
    if not 0 < port < 65536:
        raise FetchError(gettext("%(url)s: the port %(port)s is not usable") % {"url": shown, "port": port})
    try:
        split = urlsplit(url)
        same = _same_host(split.hostname or "", parsed.host) and (split.port or DEFAULT_PORTS[scheme]) == port
    except (ValueError, UnicodeError):
        same = False
    if not same or "@" in split.netloc or any(c.isspace() for c in split.netloc):
        raise FetchError(ambiguous_host(shown))
    return Target(url=url, scheme=scheme, host=parsed.host, port=port)


def ambiguous_host(url: str) -> str:
    return gettext("%(url)s: the URL's host is read differently by different parsers; refused") % {"url": url}


def _same_host(split_host: str, urllib3_host: str) -> bool:
    theirs = urllib3_host.strip("[]").lower()
    if split_host.isascii():
        return split_host.lower() == theirs
    import idna  # requests' own dependency, the encoder urllib3 uses for such names

    return idna.encode(split_host.lower(), strict=True, std3_rules=True).decode("ascii") == theirs


def is_public_address(address: IPAddress) -> bool:
    """A global unicast address; an IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4)
    only if that IPv4 address is global too (mapped and NAT64 ones are refused as reserved anyway)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or _nat64(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        any(address in network for network in _NOT_GLOBAL[address.version])
        or address.is_multicast
        or address.is_reserved  # also every IPv4-mapped, IPv4-compatible and NAT64 address (::/8)
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


# IANA's special-purpose ranges that are not global, for Pythons whose ``is_global`` predates them.
_NOT_GLOBAL: dict[int, list[Any]] = {
    4: [
        ipaddress.ip_network(n)
        for n in ("0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "240.0.0.0/4")
    ],
    6: [ipaddress.ip_network(n) for n in ("100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16")],
}
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the name has now (one lookup), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchError(gettext("the host %(host)r does not resolve") % {"host": host}, permanent=False) from None
    addresses: list[IPAddress] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]))
        except ValueError:
            raise FetchError(
                gettext("the host %(host)r resolves to an unusable address (%(address)s)")
                % {"host": host, "address": info[4][0]}
            ) from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(gettext("the host %(host)r does not resolve") % {"host": host}, permanent=False)
    return addresses


def check_url(url: str) -> Target:
    """Parse, resolve once and check: the target with the address to connect to. Allow-listed
    hosts skip the address check only."""
    target = parse_target(url)
    try:
        addresses = resolve(target.host, target.port)
    except FetchError as exc:
        raise FetchError(f"{url}: {exc}", permanent=exc.permanent) from None
    allowed = {h.lower().strip("[]") for h in settings.IDOLSITE_FETCH_ALLOWED_HOSTS}
    if target.host.strip("[]") not in allowed:
        for address in addresses:
            if not is_public_address(address):
                raise FetchError(
                    gettext("%(url)s: refused, %(host)s resolves to an internal address (%(address)s)")
                    % {"url": url, "host": target.host, "address": address}
                )
    checked = tuple(str(address) for address in addresses)
    return replace(target, address=checked[0], addresses=checked)
