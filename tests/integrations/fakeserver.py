"""Real HTTP on loopback for the fake CI servers, with fault injection.

A fake subclasses :class:`FakeServer` and implements ``route(request)``; the base
serves it on ``127.0.0.1`` (threads, keep-alive), records every request, and can
misbehave on purpose:

* ``fail_next(count, status)``: the next requests answer ``status`` (503...);
* ``drop_next(count)``: the next requests get their connection closed unanswered;
* ``stop()`` / ``start()``: the tool goes down (connection refused) and comes back on
  the same port.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        self.headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode()


def json_response(body: Any, status: int = 200, **headers: str) -> FakeResponse:
    return FakeResponse(status, body, {"Content-Type": "application/json", **headers})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeServer:
    """Base of the fake CI servers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[FakeRequest] = []
        self._fail: list[int] = []
        self._drop = 0
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life cycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake.lock:
                    fake._connections.discard(self.connection)
                super().finish()

            def handle_one_request(self) -> None:
                if fake._server is None:  # down: keep-alive connections die too
                    self.close_connection = True
                    return
                super().handle_one_request()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = FakeRequest(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    dict(self.headers.items()),
                    body,
                )
                with fake.lock:
                    fake.requests.append(request)
                    drop = fake._drop > 0
                    if drop:
                        fake._drop -= 1
                    failure = fake._fail.pop(0) if fake._fail and not drop else None
                if drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if failure is not None:
                    response = FakeResponse(
                        failure, f"<html>HTTP {failure}</html>", {"Content-Type": "text/html"}
                    )
                else:
                    try:
                        response = fake.route(request)
                    except Exception as error:  # a bug in the fake shows as a 500
                        response = FakeResponse(500, f"fake error: {error!r}")
                payload = response.encoded()
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve  # noqa: N815

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: the port refuses connections until :meth:`start`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stop()
        self.on_close()

    def on_close(self) -> None:
        """Stop the fake's own threads (builds)."""

    # -- faults --------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 503) -> None:
        with self.lock:
            self._fail.extend([status] * count)

    def drop_next(self, count: int) -> None:
        with self.lock:
            self._drop += count

    def count(self, method: str, path_part: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and path_part in r.path)

    # -- routing -------------------------------------------------------------------------
    def route(self, request: FakeRequest) -> FakeResponse:
        raise NotImplementedError
