"""The event bus: execution status, step and log events, and engine control messages.

Publishers (the engine, the API) publish :class:`ExecutionEvent` objects; subscribers
(live streams) get them from a :class:`Subscription` queue.  A subscription follows
one execution (every kind of event) or, with ``execution_id=None``, every execution's
``status`` and ``step`` events (dashboards).  ``control`` events (``{"action":
"cancel"}``) go to control handlers: the engine of whichever process runs the
execution.

The in-process bus below serves a single process.  :mod:`.redis_events` carries the
same events across processes through Redis pub/sub.

Delivery is best effort by design: a subscriber that falls behind (its queue is
full) or a bus that lost its connection marks the subscription ``lagged``, and the
consumer resynchronises from the store, where every line and state is durable.  Log
lines carry their number, so a consumer can also detect a gap and fill it from the
store.
"""

from __future__ import annotations

import abc
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

REGISTRY_KEY = "ansflow.event_bus"

#: Event kinds.
STATUS = "status"
STEP = "step"
LOG = "log"
CONTROL = "control"
#: Kinds a global (all executions) subscription receives.
GLOBAL_KINDS = frozenset({STATUS, STEP})


@dataclass(frozen=True)
class ExecutionEvent:
    """Something that happened to an execution.

    * ``status``: ``{"status", "reason", "started_at", "completed_at"}``;
    * ``step``: ``{"step_id", "step_name", "status", "exit_code", "error_message", ...}``;
    * ``log``: ``{"lines": [log line event data, ...]}`` (a stored batch, in order);
    * ``control``: ``{"action": "cancel"}`` for the engine running the execution.
    """

    kind: str
    execution_id: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "execution_id": self.execution_id, "data": self.data},
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> ExecutionEvent:
        document = json.loads(raw)
        return cls(document["kind"], int(document["execution_id"]), document.get("data") or {})


ControlHandler = Callable[[ExecutionEvent], None]


class Subscription:
    """A subscriber's queue of events; close it (or use ``with``) when done."""

    def __init__(self, bus: LocalFanout, execution_id: int | None, maxsize: int) -> None:
        self.bus = bus
        self.execution_id = execution_id
        self.queue: queue.Queue[ExecutionEvent] = queue.Queue(maxsize=maxsize)
        self._lagged = threading.Event()
        self.closed = False

    def deliver(self, event: ExecutionEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            # Dropping is safe: the consumer resynchronises from the store.
            self._lagged.set()

    def mark_lagged(self) -> None:
        self._lagged.set()

    def take_lagged(self) -> bool:
        """True (once) if events may have been missed since the last call."""
        if self._lagged.is_set():
            self._lagged.clear()
            return True
        return False

    def get(self, timeout: float | None = None) -> ExecutionEvent | None:
        """The next event, or None after ``timeout`` seconds without one."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def get_nowait(self) -> ExecutionEvent | None:
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventBus(abc.ABC):
    """Publish/subscribe for execution events."""

    @abc.abstractmethod
    def publish(self, event: ExecutionEvent) -> None:
        """Send ``event`` to every subscriber (in every process, for a shared bus)."""

    @abc.abstractmethod
    def subscribe(self, execution_id: int | None) -> Subscription:
        """Follow one execution, or every execution's status and step events (None).

        Events published after this returns are delivered (or the subscription is
        marked lagged)."""

    @abc.abstractmethod
    def unsubscribe(self, subscription: Subscription) -> None: ...

    @abc.abstractmethod
    def add_control_handler(self, handler: ControlHandler) -> None:
        """Call ``handler`` with every ``control`` event (from any process)."""

    def close(self) -> None:  # noqa: B027 - nothing to stop by default
        """Stop background work (listener threads, connections)."""


class LocalFanout(EventBus):
    """Delivery to this process's subscribers; the base of every bus."""

    def __init__(self, queue_size: int = 10000) -> None:
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._by_execution: dict[int, list[Subscription]] = {}
        self._global: list[Subscription] = []
        self._control: list[ControlHandler] = []

    def _register(self, execution_id: int | None) -> Subscription:
        subscription = Subscription(self, execution_id, self.queue_size)
        with self._lock:
            if execution_id is None:
                self._global = [*self._global, subscription]
            else:
                current = self._by_execution.get(execution_id, [])
                self._by_execution[execution_id] = [*current, subscription]
        return subscription

    def subscribe(self, execution_id: int | None) -> Subscription:
        return self._register(execution_id)

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription.execution_id is None:
                self._global = [s for s in self._global if s is not subscription]
                return
            remaining = [
                s
                for s in self._by_execution.get(subscription.execution_id, [])
                if s is not subscription
            ]
            if remaining:
                self._by_execution[subscription.execution_id] = remaining
            else:
                self._by_execution.pop(subscription.execution_id, None)

    def add_control_handler(self, handler: ControlHandler) -> None:
        with self._lock:
            if handler not in self._control:
                self._control = [*self._control, handler]

    def has_local_interest(self, kind: str, execution_id: int) -> bool:
        """Whether an event of ``kind`` would reach anyone in this process."""
        if kind == CONTROL:
            return bool(self._control)
        if execution_id in self._by_execution:
            return True
        return kind in GLOBAL_KINDS and bool(self._global)

    def all_subscriptions(self) -> list[Subscription]:
        with self._lock:
            return [*self._global, *(s for subs in self._by_execution.values() for s in subs)]

    def deliver(self, event: ExecutionEvent) -> None:
        """Hand ``event`` to the local subscribers and handlers (lists are copied on
        write, so reading them here needs no lock)."""
        if event.kind == CONTROL:
            for handler in self._control:
                try:
                    handler(event)
                except Exception:
                    log.exception("control handler failed for %s", event)
            return
        for subscription in self._by_execution.get(event.execution_id, ()):
            subscription.deliver(event)
        if event.kind in GLOBAL_KINDS:
            for subscription in self._global:
                subscription.deliver(event)


class InProcessEventBus(LocalFanout):
    """The default bus: events never leave the process."""

    def publish(self, event: ExecutionEvent) -> None:
        self.deliver(event)


def get_event_bus(registry: Any) -> EventBus:
    """The application's event bus."""
    return registry[REGISTRY_KEY]
