"""A Server-Sent Events client for the tests and benchmarks, on httpx + httpx-sse.

``SSEClient(url, ...)`` opens one streaming GET (``Last-Event-ID`` when resuming);
iterate it for events, ``close()`` to disconnect.  :func:`parse_stream` parses the
events of a body given as chunks (a WSGI ``app_iter``), as they come.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

__all__ = ["SSEClient", "ServerSentEvent", "parse_stream"]


def events_of(source: EventSource) -> Iterator[ServerSentEvent]:
    """The stream's events; a block carrying only a ``retry:`` advice is no event."""
    for event in source.iter_sse():
        if event.event == "message" and not event.data and event.retry is not None:
            continue
        yield event


def parse_stream(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Events from an iterable of body chunks, parsed lazily."""
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=iter(chunks)
    )
    return events_of(EventSource(response))


class SSEClient:
    """One streaming GET of an event stream."""

    def __init__(
        self,
        url: str,
        last_event_id: str | int | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        request_headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if last_event_id is not None:
            request_headers["Last-Event-ID"] = str(last_event_id)
        request_headers.update(headers or {})
        self.http = httpx.Client(timeout=timeout)
        self.response = self.http.send(
            self.http.build_request("GET", url, headers=request_headers), stream=True
        )
        self.status = self.response.status_code
        self.headers = self.response.headers
        # One parser for the whole body: iterating twice continues where it stopped.
        self._events: Iterator[ServerSentEvent] | None = None

    def body(self) -> bytes:
        """The rest of the body (for error responses)."""
        return self.response.read()

    def __iter__(self) -> Iterator[ServerSentEvent]:
        if self._events is None:
            self._events = events_of(EventSource(self.response))
        return self._events

    def close(self) -> None:
        try:
            self.response.close()
        finally:
            self.http.close()

    def __enter__(self) -> SSEClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
