"""Bounds: sockets per process and per user, and a client that stops reading."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from contextlib import ExitStack

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.sockets.conftest import Client


def closed_with(ws, timeout: float = 10) -> int | None:
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed:
        return ws.close_code
    except TimeoutError:
        return None


def test_sockets_per_user_and_per_process_are_bounded(live_server):
    live = live_server(
        ansflow__dispatch="none",
        ansflow__socket_max_per_user=2,
        ansflow__socket_max_connections=3,
    )
    alice = Client(live, "alice")
    bob = Client(live, "bob", superuser=True)
    execution = alice.run(alice.pipeline(["echo hi"])["id"])
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    with ExitStack() as stack:
        for _ in range(2):
            ws = stack.enter_context(connect(url, additional_headers=alice.bearer()))
            assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        with connect(url, additional_headers=alice.bearer()) as third:
            assert closed_with(third) == 4429
        ws = stack.enter_context(connect(url, additional_headers=bob.bearer()))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        with connect(url, additional_headers=bob.bearer()) as fourth:
            assert closed_with(fourth) == 1013
        assert live.sockets.hub.count() == 3
    deadline = time.monotonic() + 5
    while live.sockets.hub.count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.sockets.hub.count() == 0


def test_a_client_that_stops_reading_is_dropped(live_server):
    live = live_server(ansflow__socket_send_buffer=32768, ansflow__socket_send_timeout=1)
    alice = Client(live, "alice")
    # 8000 lines of 1000 characters: more than the kernel's socket buffers hold.
    lines = "yes $(printf '%01000d' 7) | head -n 8000"
    execution = alice.run(alice.pipeline([lines])["id"])
    assert alice.wait_final(execution["id"])["status"] == "success"
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    # A client that completes the handshake and then never reads again, with a small
    # receive buffer: the server's writes block once the kernel's buffers are full.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", live.port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET /ws/execution/{execution['id']} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{live.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {alice.access}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    try:
        deadline = time.monotonic() + 20
        while live.sockets.hub.stats["dropped_slow"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.sockets.hub.stats["dropped_slow"] == 1
        deadline = time.monotonic() + 20
        while live.sockets.hub.count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.sockets.hub.count() == 0
    finally:
        raw.close()
    # A client that reads gets every line of the same run.
    received = 0
    with connect(url, additional_headers=alice.bearer()) as ws:
        try:
            while True:
                if json.loads(ws.recv(timeout=20))["type"] == "log_entry":
                    received += 1
        except ConnectionClosed:
            assert ws.close_code == 1000
    assert received >= 8000
