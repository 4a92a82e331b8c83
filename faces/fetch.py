"""Fetching an image from a URL someone gave us, without letting them reach our own network.

Server-side request forgery: a URL may name (or a DNS name may resolve to) a loopback, private,
link-local or otherwise non-public address, reaching services behind the firewall. Such URLs are
refused unless their host is in IDOLSITE_FETCH_ALLOWED_HOSTS. Every redirect is checked the same
way, the address actually connected to is checked again (against DNS rebinding), and the body
is read with a time limit and a size cap.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from faces.errors import DomainError

MAX_REDIRECTS = 3
USER_AGENT = "idolsite/0.1 (+face detection API)"


class FetchError(DomainError):
    """The URL cannot be fetched, or may not be."""

    code = "fetch_failed"


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> None:
    """Refuse what is not http(s) to a public address (or to an allowed host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("only http:// and https:// URLs can be fetched", field="url")
    host = parts.hostname.lower()
    if host in settings.IDOLSITE_FETCH_ALLOWED_HOSTS:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchError(f"the host {host} cannot be resolved ({exc})", field="url") from None
    for info in infos:
        if not _is_public(str(info[4][0])):
            raise FetchError(
                f"the host {host} resolves to a non-public address ({info[4][0]}); refused",
                code="forbidden_url",
                field="url",
            )


def _peer_address(response: object) -> str | None:
    connection = getattr(getattr(response, "raw", None), "connection", None)
    sock = getattr(connection, "sock", None)
    try:
        return sock.getpeername()[0] if sock is not None else None
    except OSError:
        return None


def fetch_image(url: str, *, max_bytes: int, timeout: float | None = None) -> bytes:
    """The body at ``url`` (following up to MAX_REDIRECTS checked redirects), at most
    ``max_bytes`` long, read within about ``timeout`` seconds per step; FetchError otherwise."""
    import requests

    timeout = timeout or settings.IDOLSITE_FETCH_TIMEOUT
    deadline = time.monotonic() + 3 * timeout
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url)
        try:
            response = requests.get(
                url, stream=True, timeout=timeout, allow_redirects=False, headers={"User-Agent": USER_AGENT}
            )
        except requests.RequestException as exc:
            raise FetchError(f"the URL cannot be fetched: {type(exc).__name__}", field="url") from None
        with response:
            host = (urlsplit(url).hostname or "").lower()
            peer = _peer_address(response)
            if peer and host not in settings.IDOLSITE_FETCH_ALLOWED_HOSTS and not _is_public(peer):
                raise FetchError(
                    f"the host {host} connected to a non-public address ({peer}); refused",
                    code="forbidden_url",
                    field="url",
                )
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code != 200:
                raise FetchError(f"the URL answered HTTP {response.status_code}", field="url")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(
                    f"the image is too large: {int(declared):,} bytes (the limit is {max_bytes:,})",
                    code="too_large",
                    field="url",
                )
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(
                            f"the image is too large: more than {max_bytes:,} bytes", code="too_large", field="url"
                        )
                    if time.monotonic() > deadline:
                        raise FetchError("the URL took too long to answer", field="url")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise FetchError(f"the download failed: {type(exc).__name__}", field="url") from None
            return b"".join(chunks)
    raise FetchError(f"more than {MAX_REDIRECTS} redirects", field="url")
