"""Execution events from the event bus to the sockets on the event loop.

The bus hands events to :class:`~ansflow_pyramid.execution.events.Subscription`
queues read by blocking ``get``.  Rather than a thread per socket, a process keeps one
subscription and one forwarding thread per *watched execution* (and one for the
global feed of the monitor sockets), shared by every socket watching it; the thread
passes each event to the loop, which hands it to each watcher.  The thread ends when
the last watcher leaves.

Watchers get ``(event, lagged)``: ``lagged`` says events may have been lost before
this one (the bus dropped some, or lost Redis), and the watcher resynchronises from
the store, as the SSE streams do.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from ansflow_pyramid.execution.events import EventBus, ExecutionEvent

log = logging.getLogger(__name__)

Watcher = Callable[[ExecutionEvent | None, bool], None]


class _Feed:
    def __init__(self, feeds: Feeds, key: int | None, loop: asyncio.AbstractEventLoop) -> None:
        self.feeds = feeds
        self.key = key
        self.loop = loop
        self.watchers: list[Watcher] = []
        self.stop = threading.Event()
        # Subscribe before anyone reads the store: what changes afterwards arrives.
        self.subscription = feeds.bus.subscribe(key)
        self.thread = threading.Thread(
            target=self._forward, name=f"ansflow-socket-feed-{key}", daemon=True
        )
        self.thread.start()

    def _forward(self) -> None:
        subscription = self.subscription
        try:
            while not self.stop.is_set():
                event = subscription.get(timeout=0.5)
                lagged = subscription.take_lagged()
                if event is None and not lagged:
                    continue
                try:
                    self.loop.call_soon_threadsafe(self._dispatch, event, lagged)
                except RuntimeError:  # the loop is closed
                    return
        finally:
            subscription.close()

    def _dispatch(self, event: ExecutionEvent | None, lagged: bool) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(event, lagged)
            except Exception:
                log.exception("a socket watcher failed")


class Feeds:
    """Shared bus subscriptions for the sockets of one event loop."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._feeds: dict[int | None, _Feed] = {}
        self._lock = threading.Lock()

    def watch(self, key: int | None, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher`` on the running loop with every event of execution ``key``
        (None: every execution's status and step events); returns ``unwatch``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            feed = self._feeds.get(key)
            if feed is None or feed.stop.is_set():
                feed = self._feeds[key] = _Feed(self, key, loop)
            feed.watchers.append(watcher)

        def unwatch() -> None:
            with self._lock:
                if watcher in feed.watchers:
                    feed.watchers.remove(watcher)
                if not feed.watchers and self._feeds.get(key) is feed:
                    feed.stop.set()
                    del self._feeds[key]

        return unwatch

    def count(self) -> int:
        return len(self._feeds)

    def close(self) -> None:
        with self._lock:
            for feed in self._feeds.values():
                feed.stop.set()
            self._feeds.clear()


def bus_of(registry: Any) -> EventBus:
    from ansflow_pyramid.execution.runtime import get_runtime

    return get_runtime(registry).bus
