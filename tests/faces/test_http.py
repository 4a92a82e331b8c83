"""The outbound fetcher (faces.http): one parser, global addresses only, the connection pinned to
the checked address, every redirect checked, a total deadline."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from faces.http import Fetcher, FetchError
from tests.factories import image_bytes
from tests.netfakes import PUBLIC_IP, Connections, FakeDNS, TrickleServer
from tests.webserver import Answer, LocalWebServer

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(autouse=True)
def _fetch_settings(settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = []
    settings.IDOLSITE_FETCH_HOST_DELAY = 0
    settings.IDOLSITE_FETCH_BACKOFF = 0


@pytest.fixture
def web():
    with LocalWebServer() as server:
        server.routes["/x.jpg"] = Answer(body=image_bytes(seed=3), headers=JPEG)
        yield server


@pytest.fixture
def dns(monkeypatch):
    return FakeDNS(monkeypatch)


@pytest.fixture
def connections(monkeypatch):
    return Connections(monkeypatch)


def _fetch(url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        Fetcher(retries=0).get(url)
    return caught.value


# --- one parser -------------------------------------------------------------------------------


@pytest.mark.parametrize("allowed", [[], ["127.0.0.1"]])
def test_backslash_before_the_at_sign_fetches_nothing(web, dns, settings, allowed):
    """urlsplit reads public.example as the host, urllib3 connects to what stands before the backslash."""
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = allowed
    dns.names["public.example"] = [PUBLIC_IP]
    error = _fetch(f"{web.base}\\@public.example/x.jpg")
    assert error.permanent and "backslash" in error.message
    assert web.requests == []


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://user:pw@public.example/x.jpg", "user name or password"),
        ("http://127.0.0.1:{port}@public.example/x.jpg", "user name or password"),
        ("http://public.example\t.evil/x.jpg", "control character"),
        ("http://public.example\n/x.jpg", "control character"),
        ("http://public .example/x.jpg", "not a valid URL"),
        ("http://public.example:notaport/x.jpg", "not a valid URL"),
        ("http://public.example:99999/x.jpg", "not a valid URL"),
        ("http://public.example:0/x.jpg", "port"),
        ("http:///x.jpg", "no host"),
        ("http://:80/x.jpg", "no host"),
        ("http://public%2eexample/x.jpg", "read differently"),
        ("ftp://public.example/x.jpg", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
    ],
)
def test_malformed_urls_are_permanent_errors_and_connect_nowhere(url, words, web, dns, connections):
    dns.names["public.example"] = [PUBLIC_IP]
    error = _fetch(url.format(port=web.httpd.server_address[1]))
    assert error.permanent and words in error.message
    assert connections.made == [] and web.requests == []


# --- global addresses only ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT (cloud metadata services live here)
        "100.127.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "ff0e::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:100.64.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::7f00:1",  # IPv4-compatible 127.0.0.1
    ],
)
def test_non_global_addresses_are_refused_before_connecting(address, dns, connections):
    dns.names["internal.example"] = [address]
    error = _fetch("http://internal.example/x.jpg")
    assert error.permanent and "internal address" in error.message
    assert connections.made == []


@pytest.mark.parametrize(
    "url", ["http://100.64.0.1/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg", "http://2130706433/x.jpg"]
)
def test_internal_address_literals_are_refused(url, connections):
    error = _fetch(url)
    assert error.permanent and "internal address" in error.message
    assert connections.made == []


def test_one_internal_address_among_public_ones_is_refused(dns, connections):
    dns.names["mixed.example"] = [PUBLIC_IP, "100.64.0.1"]
    assert "internal address (100.64.0.1)" in _fetch("http://mixed.example/x.jpg").message
    assert connections.made == []


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111", "2002:808:808::1"])
def test_global_addresses_are_connected_to(address, dns, connections):
    dns.names["public.example"] = [address]
    error = _fetch("http://public.example/x.jpg")
    assert not error.permanent  # refused by the fake, after the check let it through
    assert connections.made == [(address, 80)]


# --- the connection goes to the checked address --------------------------------------------------


def test_dns_rebinding_cannot_reach_a_local_server(web, dns, connections):
    """The name answers a public address to the check and 127.0.0.1 to any later lookup."""
    port = web.httpd.server_address[1]
    dns.names["rebind.example"] = lambda call: [PUBLIC_IP] if call == 1 else ["127.0.0.1"]
    error = _fetch(f"http://rebind.example:{port}/x.jpg")
    assert not error.permanent
    assert connections.made == [(PUBLIC_IP, port)]
    assert dns.calls["rebind.example"] == 1
    assert web.requests == []


def test_allowed_host_is_resolved_once_and_keeps_its_host_header(web, dns, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["images.test"]
    dns.names["images.test"] = ["127.0.0.1"]
    port = web.httpd.server_address[1]
    response = Fetcher(retries=0).get_image(f"http://images.test:{port}/x.jpg")
    assert response.status == 200 and response.body == image_bytes(seed=3)
    assert dns.calls["images.test"] == 1
    assert web.requests[0].headers["host"] == f"images.test:{port}"


def test_every_checked_address_is_tried_and_no_other(dns, connections):
    dns.names["two.example"] = [PUBLIC_IP, "8.8.8.8"]
    assert not _fetch("http://two.example/x.jpg").permanent
    assert connections.made == [(PUBLIC_IP, 80), ("8.8.8.8", 80)]
    assert dns.calls["two.example"] == 1


def test_an_unreachable_first_address_falls_back_to_the_next(web, dns, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["two.test"]
    dns.names["two.test"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2
    port = web.httpd.server_address[1]
    assert Fetcher(retries=0).get_image(f"http://two.test:{port}/x.jpg").status == 200
    assert len(web.requests) == 1


def test_the_session_refuses_a_request_that_was_not_checked(web, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    with pytest.raises(requests.exceptions.InvalidURL, match="checked address"):
        Fetcher().session.get(web.url("/x.jpg"))
    assert web.requests == []


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:notaport/",
        "http://public.example:notaport/",
        "http://[::1/",
        "http:///x.jpg",
        "ftp://127.0.0.1/x.jpg",
        "http://a\\@b/",
    ],
)
def test_malformed_redirect_is_a_clear_permanent_error(location, web, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    web.routes["/moved"] = Answer(302, headers={"Location": location})
    error = _fetch(web.url("/moved"))
    assert error.permanent and "redirect" in error.message
    assert web.hits("/moved") == 1 and len(web.requests) == 1


def test_each_redirect_hop_is_resolved_and_checked(web, dns, connections, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    dns.names["next.example"] = ["100.64.0.1"]
    web.routes["/moved"] = Answer(302, headers={"Location": "http://next.example/x.jpg"})
    error = _fetch(web.url("/moved"))
    assert "internal address (100.64.0.1)" in error.message
    assert connections.made == [("127.0.0.1", web.httpd.server_address[1])]


# --- a total deadline ---------------------------------------------------------------------------

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "trickle_head"),
    [
        (_HEAD, False),  # the body trickles
        (_HEAD, True),  # so do the status line and headers
        (b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n", False),  # no length
    ],
)
def test_a_trickling_server_is_cut_off_at_the_deadline(head, trickle_head, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IDOLSITE_FETCH_DEADLINE = 1.5
    with TrickleServer(every=0.3, head=head, body=b"\xff" * 1000, trickle_head=trickle_head) as server:
        started = time.monotonic()
        error = _fetch(server.url())
        elapsed = time.monotonic() - started
    assert not error.permanent and "deadline" in error.message
    assert 1.4 < elapsed < 3


def test_each_retry_has_its_own_deadline(settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IDOLSITE_FETCH_DEADLINE = 0.6
    with TrickleServer(every=0.2, head=_HEAD, body=b"\xff" * 1000) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="deadline"):
            Fetcher(retries=1, backoff=0).get(server.url())
        elapsed = time.monotonic() - started
    assert server.hits == 2 and 1.1 < elapsed < 2.5


# --- https: the name is still what TLS checks ---------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=images.test",
            "-addext", "subjectAltName=DNS:images.test", "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def tls_server(certificate):
    cert, key = certificate
    names: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = image_bytes(seed=4)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *args: None  # the refused handshake is expected
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], names
    server.shutdown()
    server.server_close()


def test_https_sends_the_name_and_checks_the_certificate_against_it(tls_server, certificate, dns, settings):
    port, names = tls_server
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["images.test", "other.test"]
    dns.names["images.test"] = ["127.0.0.1"]
    dns.names["other.test"] = ["127.0.0.1"]
    fetcher = Fetcher(retries=0)
    fetcher.session.verify = str(certificate[0])
    assert fetcher.get_image(f"https://images.test:{port}/x.jpg").body == image_bytes(seed=4)
    assert names == ["images.test"]
    with pytest.raises(FetchError, match="SSLError"):
        fetcher.get(f"https://other.test:{port}/x.jpg")
    assert names == ["images.test", "other.test"]
