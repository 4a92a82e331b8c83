"""A careful HTTP client for crawling and for fetching images by URL.

Timeouts on connect and read, a size cap while streaming, content type and magic bytes checked,
a redirect cap with every hop checked, conditional requests, a politeness delay per host,
bounded retries with backoff on 5xx and timeouts, and an SSRF guard: a URL (or a redirect) that
resolves to a loopback, private, link-local or otherwise internal address is refused unless its
host is named in ``IDOLSITE_FETCH_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from faces.images import sniff_format

USER_AGENT = "idolsite/0.1 (+https://github.com/idolsite; photo collector)"


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


def check_url(url: str) -> None:
    """Refuse URLs that are not http(s) or whose host resolves to an internal address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs are fetched")
    host = parts.hostname
    if not host:
        raise FetchError(f"{url}: the URL has no host")
    allowed = {h.lower() for h in settings.IDOLSITE_FETCH_ALLOWED_HOSTS}
    if host.lower() in allowed:
        return
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"{url}: the host {host!r} does not resolve", permanent=False) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or (address.version == 6 and address.ipv4_mapped is not None and not address.ipv4_mapped.is_global)
        ):
            raise FetchError(f"{url}: refused, {host} resolves to an internal address ({address})")


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
    ) -> None:
        self.max_bytes = max_bytes or settings.IDOLSITE_MAX_IMAGE_BYTES
        self.timeout = timeout or (settings.IDOLSITE_FETCH_CONNECT_TIMEOUT, settings.IDOLSITE_FETCH_READ_TIMEOUT)
        self.retries = settings.IDOLSITE_FETCH_RETRIES if retries is None else retries
        self.backoff = settings.IDOLSITE_FETCH_BACKOFF if backoff is None else backoff
        self.max_redirects = max_redirects
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.trust_env = False  # no proxies from the environment: the guard checks real hosts

    def get(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        etag: str = "",
        last_modified: str = "",
        max_bytes: int | None = None,
    ) -> Response:
        """GET with retries on 5xx, 429 and network errors; 4xx raise a permanent FetchError."""
        request_headers = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                return self._get_once(url, request_headers, max_bytes or self.max_bytes)
            except FetchError as exc:
                if exc.permanent or attempt >= self.retries:
                    raise
            attempt += 1
            time.sleep(self.backoff * (2 ** (attempt - 1)))

    def _get_once(self, url: str, headers: dict[str, str], max_bytes: int) -> Response:
        current = url
        for _ in range(self.max_redirects + 1):
            check_url(current)
            politeness().wait(urlsplit(current).hostname or "")
            try:
                answer = self.session.get(
                    current, headers=headers, timeout=self.timeout, stream=True, allow_redirects=False
                )
            except requests.Timeout:
                raise FetchError(f"{current}: timed out", permanent=False) from None
            except requests.RequestException as exc:
                raise FetchError(f"{current}: {exc.__class__.__name__}", permanent=False) from None
            with answer:
                if answer.is_redirect or answer.status_code in (301, 302, 303, 307, 308):
                    location = answer.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current}: redirect without a Location")
                    current = urljoin(current, location)
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
                body = bytearray()
                try:
                    for chunk in answer.iter_content(64 * 1024):
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise FetchError(f"{current}: too large (more than {max_bytes:,} bytes); cut off")
                except requests.RequestException as exc:
                    raise FetchError(f"{current}: {exc.__class__.__name__} while reading", permanent=False) from None
                return Response(current, answer.status_code, response_headers, bytes(body))
        raise FetchError(f"{url}: more than {self.max_redirects} redirects")

    def get_image(self, url: str) -> Response:
        """An image: content type image/* and the magic bytes of an accepted format."""
        response = self.get(url, headers={"Accept": "image/*"})
        if response.content_type and not response.content_type.startswith("image/"):
            raise FetchError(f"{url}: not an image (content type {response.content_type})")
        if sniff_format(response.body) is None:
            raise FetchError(f"{url}: not an image (the bytes are not JPEG, PNG, GIF, WebP, BMP or TIFF)")
        return response
