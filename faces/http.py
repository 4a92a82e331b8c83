"""The one outbound HTTP client: crawling, and fetching images by URL for the detect and recognize
APIs.

Every URL (and every redirect Location) goes through faces.netguard's ``check_url``: parsed once
by urllib3's parser, resolved once, global addresses only. The connection goes to that very
address (``PinnedAdapter``: the Host header, SNI and the certificate check keep the name), so a
name that answers differently the second time reaches nothing new.

Timeouts on connect and on each read, and a total deadline for each attempt
(``IDOLSITE_FETCH_DEADLINE``: connect, redirects, headers and body; each retry has its own) that
shuts the sockets down when it passes, so a server that trickles bytes cannot hold a worker. Also:
a size cap while streaming, content type and magic bytes checked, a redirect cap with every hop
checked as above, conditional requests, a politeness delay per host, bounded retries with
backoff on 5xx, 429 and network errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.utils.translation import gettext
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError, NewConnectionError
from urllib3.util import parse_url

from faces.images import sniff_format
from faces.netguard import DEFAULT_PORTS, FetchError, Target, ambiguous_host, check_url, parse_target

__all__ = ["FetchError", "Fetcher", "Response", "check_url"]

USER_AGENT = "idolsite/0.1 (+https://github.com/idolsite; photo collector)"


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
            raise FetchError(gettext("%(url)s: the answer is not JSON") % {"url": self.url}) from None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _has_scheme(url: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) is not None


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
                        raise FetchError(gettext("%(url)s: redirect without a Location") % {"url": current})
                    try:
                        # A Location with a scheme stands alone: urljoin would read "http:///x" as a path.
                        following = location if _has_scheme(location) else urljoin(current, location)
                        parse_target(following)
                    except (ValueError, FetchError) as exc:
                        raise FetchError(
                            gettext("%(url)s: the redirect to %(location)r is not usable (%(error)s)")
                            % {"url": current, "location": location[:200], "error": exc}
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
                    raise FetchError(
                        gettext("%(url)s: too large (%(size)s bytes; the limit is %(limit)s)")
                        % {"url": current, "size": f"{int(declared):,}", "limit": f"{max_bytes:,}"}
                    )
                return Response(current, answer.status_code, response_headers, self._read(answer, max_bytes, deadline))
        raise FetchError(gettext("%(url)s: more than %(count)s redirects") % {"url": url, "count": self.max_redirects})

    def _send(self, target: Target, headers: dict[str, str], deadline: Deadline) -> requests.Response:
        try:
            prepared = self.session.prepare_request(requests.Request("GET", target.url, headers=headers))
            sent = parse_url(prepared.url)
        except (requests.RequestException, LocationParseError, ValueError) as exc:
            raise FetchError(
                gettext("%(url)s: not a valid URL (%(error)s)") % {"url": target.url, "error": exc.__class__.__name__}
            ) from None
        if (sent.host, sent.port or DEFAULT_PORTS[target.scheme]) != (target.host, target.port):
            raise FetchError(ambiguous_host(target.url))
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
                    raise FetchError(gettext("%(url)s: timed out") % {"url": target.url}, permanent=False) from None
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
                    raise FetchError(
                        gettext("%(url)s: too large (more than %(limit)s bytes); cut off")
                        % {"url": answer.url, "limit": f"{max_bytes:,}"}
                    )
                if deadline.expired:
                    break
        except requests.RequestException as exc:
            if not deadline.expired:
                raise FetchError(
                    gettext("%(url)s: %(error)s while reading") % {"url": answer.url, "error": exc.__class__.__name__},
                    permanent=False,
                ) from None
        if deadline.expired:  # a body read until the connection closes ends quietly when cut off
            raise self._late(answer.url, deadline)
        return bytes(body)

    @staticmethod
    def _late(url: str, deadline: Deadline) -> FetchError:
        return FetchError(
            gettext("%(url)s: no complete answer within %(seconds)s s (the deadline)")
            % {"url": url, "seconds": f"{deadline.seconds:g}"},
            permanent=False,
        )

    def get_image(self, url: str) -> Response:
        """An image: content type image/* and the magic bytes of an accepted format."""
        response = self.get(url, headers={"Accept": "image/*"})
        if response.content_type and not response.content_type.startswith("image/"):
            raise FetchError(
                gettext("%(url)s: not an image (content type %(type)s)") % {"url": url, "type": response.content_type}
            )
        if sniff_format(response.body) is None:
            raise FetchError(
                gettext("%(url)s: not an image (the bytes are not JPEG, PNG, GIF, WebP, BMP or TIFF)") % {"url": url}
            )
        return response
