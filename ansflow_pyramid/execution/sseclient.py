"""A small Server-Sent Events client, for tests, benchmarks and scripts.

It speaks HTTP/1.0 over a plain socket (the server then streams the body as is and
closes at its end), sends ``Last-Event-ID`` when resuming, and yields parsed events
as they arrive, without buffering beyond the current line.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class SSEEvent:
    event: str
    data: str
    id: str | None
    received_at: float

    def json(self) -> Any:
        return json.loads(self.data)


class SSEParser:
    """Feeds on raw lines and returns completed events (comments are dropped)."""

    def __init__(self) -> None:
        self.event = ""
        self.data: list[str] = []
        self.id: str | None = None
        self.last_id: str | None = None
        self.comments = 0

    def feed_line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self.data and not self.event:
                return None
            event = SSEEvent(
                self.event or "message", "\n".join(self.data), self.id, time.monotonic()
            )
            if self.id is not None:
                self.last_id = self.id
            self.event, self.data, self.id = "", [], None
            return event
        if line.startswith(":"):
            self.comments += 1
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        elif field == "id":
            self.id = value
        return None


def parse_stream(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Events from an iterable of body chunks (a WSGI app_iter, for instance)."""
    parser = SSEParser()
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            event = parser.feed_line(raw.decode("utf-8").rstrip("\r"))
            if event is not None:
                yield event


class SSEClient:
    """One streaming GET; iterate it for events, ``close()`` to disconnect."""

    def __init__(
        self,
        url: str,
        last_event_id: str | int | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        request_headers = {"Host": f"{self.host}:{self.port}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            request_headers["Last-Event-ID"] = str(last_event_id)
        request_headers.update(headers or {})
        head = f"GET {target} HTTP/1.0\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in request_headers.items()
        )
        self.sock.sendall((head + "\r\n").encode())
        self.file = self.sock.makefile("rb")
        status_line = self.file.readline().decode("latin-1").strip()
        self.status = int(status_line.split()[1])
        self.headers: dict[str, str] = {}
        while True:
            line = self.file.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.parser = SSEParser()

    def body(self) -> bytes:
        """The rest of the body (for error responses)."""
        return self.file.read()

    def __iter__(self) -> Iterator[SSEEvent]:
        while True:
            raw = self.file.readline()
            if not raw:
                return
            event = self.parser.feed_line(raw.decode("utf-8").rstrip("\r\n"))
            if event is not None:
                yield event

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()

    def __enter__(self) -> SSEClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
