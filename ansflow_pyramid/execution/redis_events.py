"""The event bus across processes: Redis pub/sub.

Each event is published on ``<prefix>events:<kind>:<execution id>``.  Every process
keeps one listener thread with one pattern subscription (``<prefix>events:*``) and
fans events out to its local subscribers, so a stream costs no Redis connection of
its own and subscribing is race-free: the pattern is active before any local
subscriber exists.  The kind is in the channel name, so a process skips decoding
log batches nobody in it follows.

When the connection drops, the listener reconnects with backoff and marks every
local subscription lagged: events may have been lost, and consumers resynchronise
from the store.  While Redis is unreachable, events are still delivered to this
process's own subscribers (the streams it serves, the engine's cancel handlers), so a
single process keeps working; other processes resynchronise once Redis is back.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from ansflow_pyramid.execution.events import (
    ControlHandler,
    ExecutionEvent,
    LocalFanout,
    Subscription,
)

log = logging.getLogger(__name__)

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


class RedisEventBus(LocalFanout):
    """Events through Redis pub/sub; see the module documentation."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        queue_size: int = 10000,
        ready_timeout: float = 3.0,
    ) -> None:
        super().__init__(queue_size)
        self.client = client
        self.channel_prefix = f"{prefix}events:"
        self.pattern = _GLOB_SPECIAL.sub(r"\\\1", self.channel_prefix) + "*"
        self.ready_timeout = ready_timeout
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def channel(self, kind: str, execution_id: int) -> str:
        return f"{self.channel_prefix}{kind}:{execution_id}"

    def publish(self, event: ExecutionEvent) -> None:
        from redis.exceptions import RedisError

        try:
            self.client.publish(self.channel(event.kind, event.execution_id), event.to_json())
        except (RedisError, OSError) as error:
            # Not through Redis, so not back through our listener either: hand the
            # event to this process's subscribers directly.
            log.warning("event bus: Redis unavailable (%s); delivering locally only", error)
            self._mark_all_lagged()
            self.deliver(event)

    def subscribe(self, execution_id: int | None) -> Subscription:
        subscription = self._register(execution_id)
        if not self.ensure_listening():
            subscription.mark_lagged()
        return subscription

    def add_control_handler(self, handler: ControlHandler) -> None:
        super().add_control_handler(handler)
        self.ensure_listening()

    # -- the listener ----------------------------------------------------------------
    def ensure_listening(self) -> bool:
        """Start the listener if needed; True once its subscription is active."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._listen, name="ansflow-events-redis", daemon=True
                    )
                    self._thread.start()
        return self._ready.wait(self.ready_timeout)

    def _listen(self) -> None:
        backoff = 0.2
        connected_before = False
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.client.pubsub()
                pubsub.psubscribe(self.pattern)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        if connected_before:
                            # Anything published while we were away may be lost.
                            self._mark_all_lagged()
                        connected_before = True
                        self._ready.set()
                        backoff = 0.2
                    elif message["type"] == "pmessage":
                        self._route(message["channel"], message["data"])
            except Exception as error:
                if self._stop.is_set():
                    break
                self._ready.clear()
                self._mark_all_lagged()
                log.warning("event bus lost Redis (%s); reconnecting in %.1f s", error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("closing the pubsub connection failed", exc_info=True)

    def _route(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        try:
            kind, _, execution = name[len(self.channel_prefix) :].partition(":")
            execution_id = int(execution)
        except ValueError:
            return
        if not self.has_local_interest(kind, execution_id):
            return
        try:
            event = ExecutionEvent.from_json(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed event on %s", name)
            return
        self.deliver(event)

    def _mark_all_lagged(self) -> None:
        for subscription in self.all_subscriptions():
            subscription.mark_lagged()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3)
        self._ready.clear()
