"""The hardened outbound client against real HTTP servers on loopback.

The servers listen on 127.0.0.1 (and 127.0.0.2 for a second "host"), which the
default policy refuses: each test allow-lists exactly the addresses it needs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ansflow_pyramid.outbound import (
    AsyncOutboundClient,
    OutboundAddressRefused,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundRedirectError,
    OutboundResponseTooLarge,
    OutboundTimeout,
    OutboundUnavailable,
    get_outbound_client,
    is_public_address,
)

CREDENTIAL_HEADERS = ("Authorization", "PRIVATE-TOKEN", "Cookie", "X-Signature")


class Recorder(BaseHTTPRequestHandler):
    """``/redirect?status=302&to=URL`` redirects; ``/drip`` answers slowly; anything
    else answers 200 with a cookie.  Every request is recorded with its credentials."""

    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {name: self.headers.get(name) for name in CREDENTIAL_HEADERS}
        self.server.seen.append((self.command, self.path, seen, body))  # type: ignore[attr-defined]
        if self.path.startswith("/redirect"):
            query = parse_qs(urlsplit(self.path).query)
            self.send_response(int(query.get("status", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
            return
        payload = b"y" * int(self.path[len("/big/") :]) if self.path.startswith("/big/") else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=from-the-server; Path=/")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def log_message(self, *args: object) -> None:
        pass


def redirect(base: str, to: str, status: int = 302) -> str:
    """A URL on ``base`` that redirects to ``to`` with ``status``."""
    return f"{base}/redirect?" + urlencode({"to": to, "status": status})


class Server:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer((host, port), Recorder)
        self.httpd.daemon_threads = True
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.host = host
        self.port = self.httpd.server_address[1]
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def seen(self) -> list[tuple[str, str, dict[str, Any], bytes]]:
        return self.httpd.seen  # type: ignore[attr-defined]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def first() -> Iterator[Server]:
    server = Server("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def second() -> Iterator[Server]:
    server = Server("127.0.0.2")
    yield server
    server.close()


def client_for(allowed: str = "127.0.0.0/8", **settings: Any) -> OutboundClient:
    return OutboundClient(
        OutboundPolicy.from_settings({"ansflow.outbound_allowed_networks": allowed, **settings})
    )


CREDENTIALS = {"PRIVATE-TOKEN": "glpat", "Cookie": "sid=1", "X-Signature": "sig"}


def test_credentials_never_follow_a_redirect_to_another_origin(first, second):
    client = client_for()
    target = f"{second.url}/landing"
    response = client.request(
        "GET",
        redirect(first.url, target),
        auth=("robot", "token"),
        headers=CREDENTIALS,
        sensitive_headers=["X-Signature"],
    )
    assert response.status_code == 200 and str(response.url) == target
    assert [r.status_code for r in response.history] == [302]
    sent_first = first.seen[0][2]
    assert sent_first["Authorization"].startswith("Basic ")
    assert (sent_first["PRIVATE-TOKEN"], sent_first["Cookie"], sent_first["X-Signature"]) == (
        "glpat",
        "sid=1",
        "sig",
    )
    assert second.seen[0][2] == dict.fromkeys(CREDENTIAL_HEADERS)


def test_credentials_stay_on_the_same_origin_and_never_come_back(first, second):
    client = client_for()
    away_and_back = redirect(second.url, f"{first.url}/home")
    client.request("GET", redirect(first.url, redirect("", away_and_back)), auth=("robot", "t"))
    paths = [(path, seen["Authorization"] is not None) for _, path, seen, _ in first.seen]
    # The same-origin hop kept the credentials; after leaving the origin they are gone,
    # even on the way back.
    assert paths[0][1] and paths[1][1]
    assert paths[-1] == ("/home", False)
    assert second.seen[0][2]["Authorization"] is None


def test_a_different_port_or_scheme_is_another_origin(first):
    other = Server("127.0.0.1")
    try:
        client_for().request(
            "GET", redirect(first.url, f"{other.url}/x"), headers={"Authorization": "Bearer a"}
        )
        assert other.seen[0][2]["Authorization"] is None
    finally:
        other.close()


def test_redirected_bodies(first, second):
    client = client_for()
    # 303 (and 301/302 for POST) turn the request into a GET without its body.
    client.request("POST", redirect(first.url, "/done", 303), json={"a": 1})
    assert [(m, b) for m, _, _, b in first.seen] == [("POST", b'{"a":1}'), ("GET", b"")]
    assert first.seen[-1][1] == "/done"
    # 307 keeps the method and body on the same origin ...
    client.request("PUT", redirect(first.url, "/put", 307), content=b"data")
    assert first.seen[-1][:2] == ("PUT", "/put") and first.seen[-1][3] == b"data"
    # ... and never re-sends a body to another origin.
    with pytest.raises(OutboundRedirectError):
        client.request("POST", redirect(first.url, f"{second.url}/steal", 307), data={"p": "w"})
    assert second.seen == []


def test_redirects_are_bounded_and_optional(first):
    client = client_for()
    twice = redirect(first.url, redirect("", "/x"))
    with pytest.raises(OutboundRedirectError):
        client.request("GET", twice, max_redirects=1)
    assert client.request("GET", twice, max_redirects=2).status_code == 200
    response = client.request("GET", redirect(first.url, "/x"), follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == "/x"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://2130706433:{port}/",
        "http://0.0.0.0:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://224.0.0.1/",
    ],
)
def test_non_public_addresses_are_refused_before_connecting(url):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    try:
        url = url.format(port=listener.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(OutboundAddressRefused) as caught:
            OutboundClient().request("GET", url)
        assert time.monotonic() - started < 1
        assert "ansflow.outbound_allowed_networks" in str(caught.value)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_a_redirect_into_a_refused_address_is_not_followed(first, second):
    client = client_for("127.0.0.1/32")
    with pytest.raises(OutboundAddressRefused):
        client.request("GET", redirect(first.url, f"{second.url}/internal"))
    assert second.seen == []


def test_host_names_can_be_allow_listed(first):
    response = client_for("localhost").request("GET", f"http://localhost:{first.port}/")
    assert response.status_code == 200


def test_the_checked_address_is_the_one_connected_to(monkeypatch, first):
    """DNS rebinding: the second answer for the name must never be used."""
    rebinding = Server("127.0.0.2", first.port)  # same port, refused address
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1"] + ["127.0.0.2"] * 10)
    calls = []

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "ci.rebind.test":
            calls.append(host)
            return real_getaddrinfo(next(answers), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    try:
        client = client_for("127.0.0.1/32")
        response = client.request("GET", f"http://ci.rebind.test:{first.port}/")
        assert response.status_code == 200
        assert len(calls) == 1 and len(first.seen) == 1 and rebinding.seen == []
        assert first.seen[0][1] == "/"
    finally:
        rebinding.close()


def _failure(client: OutboundClient, url: str, timeout: float = 0.5) -> OutboundError:
    with pytest.raises(OutboundError) as caught:
        client.request("GET", url, timeout=timeout)
    return caught.value


def test_closed_silent_and_non_http_ports_look_the_same():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    talker = socket.socket()
    talker.bind(("127.0.0.1", 0))
    talker.listen()

    def banner() -> None:
        connection, _ = talker.accept()
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        time.sleep(0.3)
        connection.close()

    threading.Thread(target=banner, daemon=True).start()
    client = client_for()
    try:
        messages = set()
        for port in (closed, silent.getsockname()[1], talker.getsockname()[1]):
            error = _failure(client, f"http://127.0.0.1:{port}/")
            assert isinstance(error, OutboundUnavailable)
            messages.add(str(error).replace(str(port), "PORT"))
        assert messages == {"http://127.0.0.1:PORT could not be reached or did not answer in time."}
    finally:
        silent.close()
        talker.close()


def test_the_whole_call_is_bounded_in_time(first):
    started = time.monotonic()
    error = _failure(client_for(), f"{first.url}/drip", timeout=1.0)
    assert isinstance(error, OutboundTimeout)
    assert time.monotonic() - started < 3


def test_answers_are_bounded_in_size(first):
    client = client_for(**{"ansflow.outbound_max_response_bytes": "1000"})
    assert client.request("GET", f"{first.url}/big/1000").content == b"y" * 1000
    with pytest.raises(OutboundResponseTooLarge):
        client.request("GET", f"{first.url}/big/1001")


def test_cookies_set_by_servers_are_not_kept(first):
    client = client_for()
    client.request("GET", f"{first.url}/one")
    client.request("GET", f"{first.url}/two")
    assert [seen["Cookie"] for _, _, seen, _ in first.seen] == [None, None]


def test_streaming_follows_the_same_rules(first, second):
    client = client_for()
    with client.stream(
        "GET", redirect(first.url, f"{second.url}/big/5"), auth=("a", "b")
    ) as response:
        assert b"".join(response.iter_bytes()) == b"yyyyy"
    assert second.seen[0][2]["Authorization"] is None


def test_the_async_client_follows_the_same_rules(first, second):
    async def scenario() -> None:
        client = AsyncOutboundClient(
            OutboundPolicy.from_settings({"ansflow.outbound_allowed_networks": "127.0.0.0/8"})
        )
        try:
            response = await client.request(
                "GET",
                redirect(first.url, f"{second.url}/x"),
                headers=CREDENTIALS,
                sensitive_headers=["x-signature"],
            )
            assert response.status_code == 200
            with pytest.raises(OutboundAddressRefused):
                await AsyncOutboundClient().request("GET", f"{first.url}/")
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert first.seen[0][2]["PRIVATE-TOKEN"] == "glpat"
    assert second.seen[0][2] == dict.fromkeys(CREDENTIAL_HEADERS)
    assert len(first.seen) == 1


def test_policy_settings():
    policy = OutboundPolicy.from_settings(
        {
            "ansflow.outbound_allowed_networks": "10.0.0.0/8, ci.internal ::1",
            "ansflow.outbound_timeout_seconds": "3",
        }
    )
    assert policy.address_allowed("10.2.3.4") and policy.address_allowed("::1")
    assert not policy.address_allowed("192.168.1.1")
    assert policy.host_allowed("CI.internal.")
    assert (policy.timeout, policy.connect_timeout) == (3.0, 3.0)
    assert OutboundPolicy.from_settings({}).timeout == 10.0
    with pytest.raises(ValueError, match="neither a network"):
        OutboundPolicy.from_settings({"ansflow.outbound_allowed_networks": "10.0.0.0/33"})
    with pytest.raises(ValueError, match="must be positive"):
        OutboundPolicy.from_settings({"ansflow.outbound_timeout_seconds": "-1"})
    assert is_public_address(ipaddress.ip_address("93.184.216.34"))


def test_one_client_per_registry():
    class Registry(dict):
        settings = {"ansflow.outbound_allowed_networks": "127.0.0.1"}

    registry = Registry()
    client = get_outbound_client(registry)
    assert get_outbound_client(registry) is client
    assert client.policy.address_allowed("127.0.0.1")
