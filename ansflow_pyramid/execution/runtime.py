"""The execution runtime of one application: bus, engine, dispatcher, reaper, streams.

One :class:`ExecutionRuntime` lives in ``registry["ansflow.execution"]``.  The bus
and the stream limiter exist from the start; the engine, the dispatcher and the
store are created on first use, so commands that never run anything (``ansflow
migrate``) start no threads and open no connections.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ansflow_pyramid.execution.config import EngineSettings
from ansflow_pyramid.execution.dispatch import (
    Dispatcher,
    NullDispatcher,
    RQDispatcher,
    ThreadDispatcher,
)
from ansflow_pyramid.execution.engine import Engine
from ansflow_pyramid.execution.events import (
    CONTROL,
    STATUS,
    EventBus,
    ExecutionEvent,
    InProcessEventBus,
)
from ansflow_pyramid.execution.handle import REGISTRY_KEY, get_runtime
from ansflow_pyramid.execution.reaper import Reaper
from ansflow_pyramid.execution.runners import RunnerRegistry, get_runner_registry
from ansflow_pyramid.execution.specs import ExecutionStatus
from ansflow_pyramid.execution.sse import StreamLimiter
from ansflow_pyramid.execution.store import ExecutionStore, get_execution_store
from ansflow_pyramid.redis_client import get_redis

log = logging.getLogger(__name__)


def build_event_bus(registry: Any, settings: EngineSettings) -> EventBus:
    if settings.events == "redis":
        client = get_redis(registry)
        if client is None:
            raise ValueError("ansflow.events = redis needs redis.url (or REDIS_URL)")
        from ansflow_pyramid.execution.redis_events import RedisEventBus

        return RedisEventBus(client, settings.redis_prefix)
    return InProcessEventBus()


class ExecutionRuntime:
    """Everything that runs executions in this process."""

    def __init__(self, registry: Any, settings: EngineSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.bus = build_event_bus(registry, settings)
        self.streams = StreamLimiter(settings.max_streams)
        self._lock = threading.RLock()
        self._engine: Engine | None = None
        self._dispatcher: Dispatcher | None = None
        self._reaper: Reaper | None = None
        self.closed = False

    @property
    def runners(self) -> RunnerRegistry:
        return get_runner_registry(self.registry)

    @property
    def store(self) -> ExecutionStore:
        return get_execution_store(self.registry)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = Engine(
                        self.store,
                        self.bus,
                        self.runners,
                        self.settings,
                        app_settings=dict(self.registry.settings or {}),
                    )
        return self._engine

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            with self._lock:
                if self._dispatcher is None:
                    self._dispatcher = self._build_dispatcher()
        return self._dispatcher

    def _build_dispatcher(self) -> Dispatcher:
        if self.settings.dispatch == "none":
            return NullDispatcher()
        if self.settings.dispatch == "rq":
            client = get_redis(self.registry)
            if client is None:
                raise ValueError("ansflow.dispatch = rq needs redis.url (or REDIS_URL)")
            return RQDispatcher(client, self.settings.rq_queue)
        return ThreadDispatcher(
            lambda execution_id: self.engine.run(execution_id), self.settings.dispatch_threads
        )

    def active_ids(self) -> list[int]:
        return [] if self._engine is None else self._engine.active.ids()

    # -- what the API calls ----------------------------------------------------------
    def submit(self, execution_id: int) -> None:
        """Run a pending execution.  If it cannot even be queued, it fails at once
        with the reason, instead of staying pending forever."""
        try:
            if self.settings.dispatch == "threads":
                self.engine  # noqa: B018 - the engine must exist before its first job
            self.dispatcher.submit(execution_id)
        except Exception as error:
            reason = f"could not be dispatched: {type(error).__name__}: {error}"
            log.exception("execution %s %s", execution_id, reason)
            try:
                self.store.mark_finished(execution_id, ExecutionStatus.FAILED, reason)
            finally:
                self.publish(
                    ExecutionEvent(
                        STATUS, execution_id, {"status": ExecutionStatus.FAILED, "reason": reason}
                    )
                )

    def cancel(self, execution_id: int, by: str | None = None) -> None:
        """Tell whichever process runs ``execution_id`` to cancel it now (the stored
        cancel flag, polled by the engine, covers a lost message).  ``by`` names who
        asked, for the log."""
        if self._engine is not None:
            self._engine.active.cancel(execution_id, by)
        data: dict[str, Any] = {"action": "cancel"}
        if by:
            data["by"] = by
        self.publish(ExecutionEvent(CONTROL, execution_id, data))

    def publish(self, event: ExecutionEvent) -> None:
        try:
            self.bus.publish(event)
        except Exception:
            log.warning("publishing a %s event failed", event.kind, exc_info=True)

    def resume_pending(self) -> int:
        """Thread dispatch: queue the pending executions a previous process left
        behind (claims are atomic, so one queued twice still runs once)."""
        if self.settings.dispatch != "threads":
            return 0
        try:
            pending = self.store.find_pending()
        except Exception:  # no store, no tables yet (before migrate)
            log.debug("no pending executions to resume", exc_info=True)
            return 0
        for execution_id in pending:
            self.submit(execution_id)
        if pending:
            log.info("resumed %d pending executions", len(pending))
        return len(pending)

    # -- background work -------------------------------------------------------------
    def start_reaper(self) -> Reaper:
        with self._lock:
            if self._reaper is None:
                self._reaper = Reaper(self)
                self._reaper.start()
            return self._reaper

    def close(self, timeout: float = 10.0) -> None:
        """Stop the reaper and the dispatcher, cancel what runs here (waiting up to
        ``timeout`` seconds for it to end), then close the bus."""
        with self._lock:
            self.closed = True
            reaper, self._reaper = self._reaper, None
            dispatcher, self._dispatcher = self._dispatcher, None
        if reaper is not None:
            reaper.stop()
        if dispatcher is not None:
            dispatcher.close()
        for execution_id in self.active_ids():
            if self._engine is not None:
                self._engine.active.cancel(execution_id, "shutdown")
        deadline = time.monotonic() + timeout
        while self.active_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._engine is not None:
            self._engine.monitor.stop()
        self.bus.close()


__all__ = ["REGISTRY_KEY", "ExecutionRuntime", "get_runtime"]
