"""Server-Sent Events: one execution's live view, and the global dashboard stream.

An execution stream sends, in order:

1. ``snapshot``: the execution and its steps (AnsFlow's ``execution_status``);
2. ``log`` events for every stored line after the client's ``Last-Event-ID``;
3. live ``step``, ``status`` and ``log`` events, with ``: keep-alive`` comments in
   between;
4. ``end`` once the execution is in a final state, after its last line.

Every event's ``id`` is the number of the last log line sent, so a client that
reconnects with ``Last-Event-ID`` (the header browsers send, or ``?last_event_id=``)
gets the lines after it exactly once: replay from the store, then live events with
numbers at or below the replayed ones skipped.  A gap in the live numbers (a lost
message, a lagging subscriber) is filled from the store, so no line is lost either.

Streams hold a server thread each; :class:`StreamLimiter` bounds them per process,
and the body releases its slot when the server closes it (client gone, stream over).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pyramid.request import Request
from pyramid.response import Response

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.execution.events import LOG, STATUS, STEP, ExecutionEvent
from ansflow_pyramid.execution.handle import get_runtime
from ansflow_pyramid.execution.specs import LogLine, is_final

if TYPE_CHECKING:
    from ansflow_pyramid.execution.runtime import ExecutionRuntime

log = logging.getLogger(__name__)

REPLAY_PAGE = 1000
#: Milliseconds a browser waits before reconnecting (the ``retry:`` field).
RECONNECT_MS = 2000


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def format_event(event: str | None, data: Any, event_id: int | str | None = None) -> bytes:
    """One SSE event (``data`` as JSON on a single line)."""
    parts = []
    if event_id is not None:
        parts.append(f"id: {event_id}\n")
    if event:
        parts.append(f"event: {event}\n")
    parts.append(f"data: {_json(data)}\n\n")
    return "".join(parts).encode()


def format_comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


# -- bounding concurrent streams ------------------------------------------------------
class StreamSlot:
    """A held place among the process's streams; released once."""

    def __init__(self, limiter: StreamLimiter) -> None:
        self._limiter = limiter
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._limiter._release()


class StreamLimiter:
    """At most ``limit`` live streams per process (each holds a server thread)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.active = 0

    def try_acquire(self) -> StreamSlot | None:
        with self._lock:
            if self.active >= self.limit:
                return None
            self.active += 1
        return StreamSlot(self)

    def _release(self) -> None:
        with self._lock:
            self.active -= 1


class StreamBody:
    """A WSGI body: iterates the event generator; ``close()`` (called by the server
    when the client went away or the stream ended) stops it and frees the slot."""

    def __init__(self, events: Iterator[bytes], slot: StreamSlot | None) -> None:
        self._events = events
        self._slot = slot

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._events)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        try:
            close = getattr(self._events, "close", None)
            if close is not None:
                close()
        finally:
            if self._slot is not None:
                self._slot.release()


def too_many_streams(retry_after: int = 5) -> Response:
    """503 with ``Retry-After``: every stream slot of this process is taken."""
    return error_response(
        503,
        "Too many live streams on this server; retry shortly.",
        "too_many_streams",
        headers={"Retry-After": str(retry_after)},
    )


def sse_response(events: Iterator[bytes], slot: StreamSlot | None) -> Response:
    """A streaming ``text/event-stream`` response around ``events``."""
    response = Response(status=200)
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    response.headers["Cache-Control"] = "no-cache"
    # nginx and similar proxies would otherwise buffer the stream.
    response.headers["X-Accel-Buffering"] = "no"
    response.app_iter = StreamBody(events, slot)
    return response


def last_event_id(request: Request) -> int:
    """The client's resume point: ``Last-Event-ID`` or ``?last_event_id=`` (0: none)."""
    raw = request.headers.get("Last-Event-ID") or request.params.get("last_event_id") or ""
    try:
        value = int(str(raw).strip())
    except ValueError:
        return 0
    return max(0, value)


# -- the execution stream -------------------------------------------------------------
class _ExecutionStream:
    def __init__(
        self, runtime: ExecutionRuntime, execution_id: int, after: int, clock: Callable[[], float]
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.execution_id = execution_id
        self.sent = after
        self.step_names: dict[int, str] = {}
        self.clock = clock

    def log_events(self, lines: list[dict[str, Any]]) -> bytes:
        """Live lines as events, dropping any already sent; '' when nothing is new."""
        chunks = []
        for line in lines:
            number = int(line["line"])
            if number <= self.sent:
                continue
            chunks.append(format_event("log", line, number))
            self.sent = number
        return b"".join(chunks)

    def replay(self) -> Iterator[bytes]:
        """Every stored line after the last one sent."""
        while True:
            lines: list[LogLine] = self.store.read_log_lines(
                self.execution_id, after=self.sent, limit=REPLAY_PAGE
            )
            if not lines:
                return
            chunk = self.log_events(
                [
                    line.as_event_data(self.step_names.get(line.step_id) if line.step_id else None)
                    for line in lines
                ]
            )
            if chunk:
                yield chunk
            if len(lines) < REPLAY_PAGE:
                return

    def snapshot(self) -> dict[str, Any] | None:
        snapshot = self.store.snapshot(self.execution_id)
        if snapshot is not None:
            self.step_names = {
                int(step["step_id"]): step.get("step_name", "")
                for step in snapshot.get("steps", [])
                if step.get("step_id") is not None
            }
        return snapshot

    def end(self, status: str | None) -> bytes:
        return format_event("end", {"execution_id": self.execution_id, "status": status}, self.sent)

    def events(self, heartbeat: float, max_seconds: float) -> Iterator[bytes]:
        bus = self.runtime.bus
        # Subscribe before reading the store: whatever changes after the snapshot
        # arrives live, and line numbers drop what the replay already sent.
        subscription = bus.subscribe(self.execution_id)
        try:
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            snapshot = self.snapshot()
            if snapshot is None:
                yield format_event("end", {"execution_id": self.execution_id, "status": None})
                return
            yield format_event("snapshot", snapshot, self.sent)
            yield from self.replay()
            if is_final(snapshot.get("status")):
                yield self.end(snapshot.get("status"))
                return
            deadline = self.clock() + max_seconds
            next_beat = self.clock() + heartbeat
            while True:
                now = self.clock()
                if now >= deadline:
                    yield format_comment("stream time limit reached; reconnect to resume")
                    return
                event = subscription.get(timeout=max(0.0, min(next_beat, deadline) - now))
                if subscription.take_lagged():
                    # Events may be lost: resynchronise from the store.
                    snapshot = self.snapshot()
                    if snapshot is not None:
                        yield format_event("snapshot", snapshot, self.sent)
                    yield from self.replay()
                    if snapshot is None or is_final(snapshot.get("status")):
                        yield self.end(None if snapshot is None else snapshot.get("status"))
                        return
                if event is None:
                    next_beat = self.clock() + heartbeat
                    yield format_comment("keep-alive")
                    # A cheap safety net: catch up with anything the bus did not bring.
                    yield from self.replay()
                    snapshot = self.store.snapshot(self.execution_id)
                    if snapshot is None or is_final(snapshot.get("status")):
                        status = None if snapshot is None else snapshot.get("status")
                        if snapshot is not None:
                            yield format_event("status", _status_data(snapshot), self.sent)
                        yield from self.replay()
                        yield self.end(status)
                        return
                    continue
                if event.kind == LOG:
                    lines = event.data.get("lines") or []
                    if lines and int(lines[0]["line"]) > self.sent + 1:
                        yield from self.replay()  # a gap: fill it from the store
                    chunk = self.log_events(lines)
                    if chunk:
                        yield chunk
                elif event.kind == STEP:
                    yield format_event("step", event.data, self.sent)
                elif event.kind == STATUS:
                    status = event.data.get("status")
                    yield format_event(
                        "status", {"execution_id": self.execution_id, **event.data}, self.sent
                    )
                    if is_final(status):
                        # The engine stores every line before the final status.
                        yield from self.replay()
                        yield self.end(status)
                        return
        finally:
            subscription.close()


def _status_data(snapshot: dict[str, Any]) -> dict[str, Any]:
    keys = ("execution_id", "status", "reason", "started_at", "completed_at")
    return {key: snapshot.get(key) for key in keys if key in snapshot}


def execution_event_stream(
    runtime: ExecutionRuntime,
    execution_id: int,
    after: int = 0,
    heartbeat: float | None = None,
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """The SSE byte stream of one execution (see the module documentation)."""
    settings = runtime.settings
    stream = _ExecutionStream(runtime, execution_id, after, clock)
    return stream.events(
        settings.sse_heartbeat if heartbeat is None else heartbeat,
        settings.stream_max_seconds if max_seconds is None else max_seconds,
    )


def global_event_stream(
    runtime: ExecutionRuntime,
    allow: Callable[[ExecutionEvent], bool] = lambda event: True,
    initial: Callable[[], Any] | None = None,
    heartbeat: float | None = None,
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """Every execution's ``status`` and ``step`` events that ``allow`` lets through.

    ``initial()``, when given, is sent first as a ``snapshot`` event (for instance the
    running executions).  The global stream is not resumable: dashboards reload their
    snapshot on reconnect.
    """
    heartbeat = runtime.settings.sse_heartbeat if heartbeat is None else heartbeat
    max_seconds = runtime.settings.stream_max_seconds if max_seconds is None else max_seconds

    def events() -> Iterator[bytes]:
        subscription = runtime.bus.subscribe(None)
        try:
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            if initial is not None:
                yield format_event("snapshot", initial())
            deadline = clock() + max_seconds
            next_beat = clock() + heartbeat
            while True:
                now = clock()
                if now >= deadline:
                    yield format_comment("stream time limit reached; reconnect")
                    return
                event = subscription.get(timeout=max(0.0, min(next_beat, deadline) - now))
                if subscription.take_lagged():
                    yield format_event("lagged", {"detail": "events may have been missed"})
                if event is None:
                    next_beat = clock() + heartbeat
                    yield format_comment("keep-alive")
                    continue
                if event.kind in (STATUS, STEP) and allow(event):
                    yield format_event(
                        event.kind, {"execution_id": event.execution_id, **event.data}
                    )
        finally:
            subscription.close()

    return events()


# -- helpers for views ----------------------------------------------------------------
def open_stream(runtime: ExecutionRuntime, make_events: Callable[[], Iterator[bytes]]) -> Response:
    """A streaming response, or 503 when this process serves too many streams."""
    slot = runtime.streams.try_acquire()
    if slot is None:
        return too_many_streams()
    try:
        events = make_events()
    except BaseException:
        slot.release()
        raise
    return sse_response(events, slot)


def execution_stream_response(request: Request, execution_id: int) -> Response:
    """The complete view answer for ``GET .../executions/{id}/events/`` (after the
    caller checked access): resume point from the request, slot, headers."""
    runtime = get_runtime(request.registry)
    if request.method == "HEAD":
        return sse_response(iter(()), None)
    after = last_event_id(request)
    return open_stream(runtime, lambda: execution_event_stream(runtime, execution_id, after))


def global_stream_response(
    request: Request,
    allow: Callable[[ExecutionEvent], bool] = lambda event: True,
    initial: Callable[[], Any] | None = None,
) -> Response:
    """The complete view answer for the global events stream."""
    runtime = get_runtime(request.registry)
    if request.method == "HEAD":
        return sse_response(iter(()), None)
    return open_stream(runtime, lambda: global_event_stream(runtime, allow, initial))
