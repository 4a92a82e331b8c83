"""Network fakes for the outbound fetcher's tests: a resolver that answers chosen names, a log of
the addresses urllib3 is asked to connect to, and a server that trickles its answer."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import urllib3.util.connection

# A global address (not documentation, not private): the tests never really connect to it.
PUBLIC_IP = "93.184.215.14"

_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = urllib3.util.connection.create_connection


class FakeDNS:
    """``socket.getaddrinfo`` answering ``names`` (a name to a list of addresses, or to a function
    of the call number giving that list); any other name goes to the real resolver."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: dict[str, list[str] | Callable[[int], list[str]]] = {}
        self.calls: Counter[str] = Counter()
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)

    def _getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.names:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.calls[name] += 1
        answer = self.names[name]
        addresses = answer(self.calls[name]) if callable(answer) else answer
        infos = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            infos.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos


class Connections:
    """Every (host, port) urllib3 opens a socket to; only those to 127.0.0.1 really connect, the
    others fail at once (nothing leaves the machine)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[str, int]] = []
        monkeypatch.setattr(urllib3.util.connection, "create_connection", self._create_connection)

    def _create_connection(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        self.made.append((address[0], int(address[1])))
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"test: no connection to {address[0]}")
        return _real_create_connection(address, *args, **kwargs)


class TrickleServer:
    """Sends ``head`` then ``body``, one byte every ``every`` seconds (``trickle_head``: the
    status line and headers trickle too), for at most ``limit`` seconds."""

    def __init__(self, *, every: float, head: bytes, body: bytes, trickle_head: bool = False, limit: float = 20):
        self.every, self.head, self.body, self.trickle_head, self.limit = every, head, body, trickle_head, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hits = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.hits += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with conn:
            try:
                conn.recv(65536)
                if not self.trickle_head:
                    conn.sendall(self.head)
                for byte in (self.head if self.trickle_head else b"") + self.body:
                    if time.monotonic() - started > self.limit:
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.every)
            except OSError:
                return  # the client hung up

    def url(self, path: str = "/x.jpg") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> TrickleServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.listener.close()
