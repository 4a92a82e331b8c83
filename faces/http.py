"""The one outbound HTTP client: crawling, and fetching images by URL for the detect and recognize
APIs.

Every URL (and every redirect Location) is parsed once, by urllib3's parser, the one that builds
the request; a URL that Python's ``urlsplit`` would read differently, or with a backslash, a
control character, whitespace or a user name in it, is refused (a permanent FetchError, never a
crash). The host is resolved once, every address it resolves to must be global
(``ipaddress.is_global``, and no multicast, reserved, IPv4-mapped, NAT64 or 6to4 form of an
internal IPv4 address) unless the host is named in ``IDOLSITE_FETCH_ALLOWED_HOSTS``, and the
connection goes to that very address (``PinnedAdapter``: the Host header, SNI and the certificate
check keep the name), so a name that answers differently the second time reaches nothing new.

Timeouts on connect and on each read, and a total deadline for each attempt
(``IDOLSITE_FETCH_DEADLINE``: connect, redirects, headers and body; each retry has its own) that
shuts the sockets down when it passes, so a server that trickles bytes cannot hold a worker. Also:
a size cap while streaming, content type and magic bytes checked, a redirect cap with every hop
checked as above, conditional requests, a politeness delay per host, bounded retries with
backoff on 5xx, 429 and network errors.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError, NewConnectionError
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family

from faces.images import sniff_format

USER_AGENT = "idolsite/0.1 (+https://github.com/idolsite; photo collector)"
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


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    not_modified: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            raise FetchError(f"{self.url}: the answer is not JSON") from None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


# --- parsing, resolving, checking -------------------------------------------------------------

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
        raise FetchError(f"{shown}: the URL is too long")
    if match := _REFUSED_CHARACTERS.search(url):
        what = "a backslash" if match.group() == "\\" else "a control character"
        raise FetchError(f"{shown!r}: a URL with {what} is refused")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise FetchError(f"{shown}: not a valid URL") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchError(f"{shown}: only http and https URLs are fetched")
    if not parsed.host:
        raise FetchError(f"{shown}: the URL has no host")
    if parsed.auth is not None:
        raise FetchError(f"{shown}: a URL with a user name or password is refused")
    port = DEFAULT_PORTS[scheme] if parsed.port is None else parsed.port
    if not 0 < port < 65536:
        raise FetchError(f"{shown}: the port {port} is not usable")
    try:
        split = urlsplit(url)
        same = _same_host(split.hostname or "", parsed.host) and (split.port or DEFAULT_PORTS[scheme]) == port
    except (ValueError, UnicodeError):
        same = False
    if not same or "@" in split.netloc or any(c.isspace() for c in split.netloc):
        raise FetchError(f"{shown}: the URL's host is read differently by different parsers; refused")
    return Target(url=url, scheme=scheme, host=parsed.host, port=port)


def _has_scheme(url: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) is not None


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
        raise FetchError(f"the host {host!r} does not resolve", permanent=False) from None
    addresses: list[IPAddress] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]))
        except ValueError:
            raise FetchError(f"the host {host!r} resolves to an unusable address ({info[4][0]})") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"the host {host!r} does not resolve", permanent=False)
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
                raise FetchError(f"{url}: refused, {target.host} resolves to an internal address ({address})")
    checked = tuple(str(address) for address in addresses)
    return replace(target, address=checked[0], addresses=checked)


# --- the transport: pinned connections under a deadline ------------------------------------------


class Deadline:
    """One attempt's total deadline. Per-read timeouts never fire on a server that sends a byte
    now and then, so when the deadline passes a timer shuts down the attempt's sockets, which
    ends any read or handshake blocked on them."""

    _current = threading.local()

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []  # duplicates of the attempt's sockets, ours to close
        self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None or sock.fileno() < 0:
            return
        duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            if self._done:
                duplicate.close()
                return
            self._sockets.append(duplicate)
            if self.expired:
                _shut(duplicate)

    @classmethod
    def current(cls) -> Deadline | None:
        return getattr(cls._current, "deadline", None)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> Deadline:
        Deadline._current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        Deadline._current.deadline = None
        with self._lock:
            self._done = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _not_connected(exc: requests.RequestException) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedConnection(HTTPConnection):
    """Puts its socket under the deadline of the attempt that uses it (a reused connection too)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        if deadline := Deadline.current():
            deadline.watch(sock)  # before a TLS handshake, which may trickle as well
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if (deadline := Deadline.current()) and self.sock is not None:
            deadline.watch(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """Connects to the address ``check_url`` checked (``request.idolsite_target``), never to a
    fresh lookup of the name; for https the name is still sent (SNI) and the certificate is
    verified against it. A request without a checked target is refused."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        target: Target | None = getattr(request, "idolsite_target", None)
        if target is None or not target.address:
            raise ValueError("refused: the request has no checked address (use faces.http.Fetcher)")
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params = {"scheme": target.scheme, "host": target.address, "port": target.port}
        if target.scheme == "https":
            name = target.host.strip("[]")
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


# --- politeness and the fetcher ------------------------------------------------------------------


@dataclass
class Politeness:
    """At most one request per host every ``delay`` seconds, across the threads of a process."""

    delay: float
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, host: str) -> None:
        if self.delay <= 0:
            return
        with self._lock:
            now = time.monotonic()
            ready = self._last.get(host, 0.0) + self.delay
            self._last[host] = max(now, ready)
        if ready > now:
            time.sleep(ready - now)


_politeness: Politeness | None = None


def politeness() -> Politeness:
    global _politeness
    if _politeness is None or _politeness.delay != settings.IDOLSITE_FETCH_HOST_DELAY:
        _politeness = Politeness(settings.IDOLSITE_FETCH_HOST_DELAY)
    return _politeness


class Fetcher:
    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        timeout: tuple[float, float] | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        max_redirects: int = 5,
        deadline: float | None = None,
    ) -> None:
        self.max_bytes = max_bytes or settings.IDOLSITE_MAX_IMAGE_BYTES
        self.timeout = timeout or (settings.IDOLSITE_FETCH_CONNECT_TIMEOUT, settings.IDOLSITE_FETCH_READ_TIMEOUT)
        self.retries = settings.IDOLSITE_FETCH_RETRIES if retries is None else retries
        self.backoff = settings.IDOLSITE_FETCH_BACKOFF if backoff is None else backoff
        self.max_redirects = max_redirects
        self.deadline = deadline or settings.IDOLSITE_FETCH_DEADLINE
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.trust_env = False  # no proxies from the environment: the guard checks real hosts
        adapter = PinnedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        etag: str = "",
        last_modified: str = "",
        max_bytes: int | None = None,
    ) -> Response:
        """GET with retries on 5xx, 429 and network errors; 4xx raise a permanent FetchError.
        Each attempt, redirects and body included, ends by its own deadline."""
        request_headers = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                with Deadline(self.deadline) as deadline:
                    return self._get_once(url, request_headers, max_bytes or self.max_bytes, deadline)
            except FetchError as exc:
                if exc.permanent or attempt >= self.retries:
                    raise
            attempt += 1
            time.sleep(self.backoff * (2 ** (attempt - 1)))

    def _get_once(self, url: str, headers: dict[str, str], max_bytes: int, deadline: Deadline) -> Response:
        current = url
        for _ in range(self.max_redirects + 1):
            target = check_url(current)
            politeness().wait(target.host)
            answer = self._send(target, headers, deadline)
            with answer:
                if answer.is_redirect or answer.status_code in (301, 302, 303, 307, 308):
                    location = answer.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current}: redirect without a Location")
                    try:
                        # A Location with a scheme stands alone: urljoin would read "http:///x" as a path.
                        following = location if _has_scheme(location) else urljoin(current, location)
                        parse_target(following)
                    except (ValueError, FetchError) as exc:
                        raise FetchError(
                            f"{current}: the redirect to {location[:200]!r} is not usable ({exc})"
                        ) from None
                    current = following
                    continue
                response_headers = {k.lower(): v for k, v in answer.headers.items()}
                if answer.status_code == 304:
                    return Response(current, 304, response_headers, not_modified=True)
                if answer.status_code == 429 or answer.status_code >= 500:
                    raise FetchError(
                        f"{current}: HTTP {answer.status_code}", permanent=False, status=answer.status_code
                    )
                if answer.status_code >= 400:
                    raise FetchError(f"{current}: HTTP {answer.status_code}", status=answer.status_code)
                declared = answer.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"{current}: too large ({int(declared):,} bytes; the limit is {max_bytes:,})")
                return Response(current, answer.status_code, response_headers, self._read(answer, max_bytes, deadline))
        raise FetchError(f"{url}: more than {self.max_redirects} redirects")

    def _send(self, target: Target, headers: dict[str, str], deadline: Deadline) -> requests.Response:
        try:
            prepared = self.session.prepare_request(requests.Request("GET", target.url, headers=headers))
            sent = parse_url(prepared.url)
        except (requests.RequestException, LocationParseError, ValueError) as exc:
            raise FetchError(f"{target.url}: not a valid URL ({exc.__class__.__name__})") from None
        if (sent.host, sent.port or DEFAULT_PORTS[target.scheme]) != (target.host, target.port):
            raise FetchError(f"{target.url}: the URL's host is read differently by different parsers; refused")
        prepared.headers["Host"] = target.host_header
        # The adapter itself, not Session.send, which parses any Location (with urlsplit) on its own.
        adapter = self.session.get_adapter(prepared.url)
        addresses = target.addresses or (target.address,)
        for number, address in enumerate(addresses, start=1):
            prepared.idolsite_target = replace(target, address=address)  # type: ignore[attr-defined]
            remaining = deadline.remaining()
            timeout = (min(self.timeout[0], remaining) or 0.001, min(self.timeout[1], remaining) or 0.001)
            try:
                answer = adapter.send(prepared, stream=True, timeout=timeout, verify=self.session.verify, proxies={})
            except requests.RequestException as exc:
                if deadline.expired:
                    raise self._late(target.url, deadline) from None
                if number < len(addresses) and _not_connected(exc):
                    continue  # as urllib3 itself would, but only among the checked addresses
                if isinstance(exc, requests.Timeout):
                    raise FetchError(f"{target.url}: timed out", permanent=False) from None
                raise FetchError(f"{target.url}: {exc.__class__.__name__}", permanent=False) from None
            extract_cookies_to_jar(self.session.cookies, prepared, answer.raw)
            return answer
        raise AssertionError("unreachable: the last address returns or raises")

    def _read(self, answer: requests.Response, max_bytes: int, deadline: Deadline) -> bytes:
        body = bytearray()
        try:
            for chunk in answer.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FetchError(f"{answer.url}: too large (more than {max_bytes:,} bytes); cut off")
                if deadline.expired:
                    break
        except requests.RequestException as exc:
            if not deadline.expired:
                raise FetchError(f"{answer.url}: {exc.__class__.__name__} while reading", permanent=False) from None
        if deadline.expired:  # a body read until the connection closes ends quietly when cut off
            raise self._late(answer.url, deadline)
        return bytes(body)

    @staticmethod
    def _late(url: str, deadline: Deadline) -> FetchError:
        return FetchError(f"{url}: no complete answer within {deadline.seconds:g} s (the deadline)", permanent=False)

    def get_image(self, url: str) -> Response:
        """An image: content type image/* and the magic bytes of an accepted format."""
        response = self.get(url, headers={"Accept": "image/*"})
        if response.content_type and not response.content_type.startswith("image/"):
            raise FetchError(f"{url}: not an image (content type {response.content_type})")
        if sniff_format(response.body) is None:
            raise FetchError(f"{url}: not an image (the bytes are not JPEG, PNG, GIF, WebP, BMP or TIFF)")
        return response
