"""The execution runtime of one application: bus, engine, dispatcher, reaper, streams.

One :class:`ExecutionRuntime` lives in ``registry["ansflow.execution"]``.  The bus
and the stream limiter exist from the start; the engine, the dispatcher and the
store are created on first use, so commands that never run anything (``ansflow
migrate``) start no threads and open no connections.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from ansflow_pyramid.db.retryable import DatabaseRetryingProxy
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
from ansflow_pyramid.execution.reaper import Reaper
from ansflow_pyramid.execution.remote_scheduler import (
    ObservationScheduler,
    SchedulerSettings,
    observer_enabled,
)
from ansflow_pyramid.execution.runners import RunnerRegistry, get_runner_registry
from ansflow_pyramid.execution.specs import ExecutionStatus
from ansflow_pyramid.execution.sse import StreamLimiter
from ansflow_pyramid.execution.store import ExecutionStore, get_execution_store
from ansflow_pyramid.redis_client import get_redis

log = logging.getLogger(__name__)

REGISTRY_KEY = "ansflow.execution"


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
        self._retrying_store: DatabaseRetryingProxy | None = None
        self.remote_settings = SchedulerSettings.from_settings(registry.settings or {})
        self._remote: ObservationScheduler | None = None
        self.closed = False

    @property
    def runners(self) -> RunnerRegistry:
        return get_runner_registry(self.registry)

    @property
    def store(self) -> ExecutionStore:
        # Every store method is a short transaction of its own: across a database
        # restart it is retried rather than failing the run (or the RQ job).
        store = get_execution_store(self.registry)
        if self._retrying_store is None or self._retrying_store.wrapped is not store:
            self._retrying_store = DatabaseRetryingProxy(store, self.settings.db_retry_budget)
        return self._retrying_store  # type: ignore[return-value]

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
                        remote_starter=lambda spec: self.remote.hand_off(spec),
                    )
        return self._engine

    @property
    def remote(self) -> ObservationScheduler:
        """The scheduler observing remote runs (created on first use, started by
        :meth:`start_remote_observer`)."""
        if self._remote is None:
            with self._lock:
                if self._remote is None:
                    # Unique per runtime: leases tell observers apart, even two
                    # applications in one process.
                    self._remote = ObservationScheduler(
                        self, self.remote_settings, f"{self.engine.name}:{secrets.token_hex(3)}"
                    )
        return self._remote

    def start_remote_observer(self, in_worker: bool = False) -> bool:
        """Start observing remote runs if this process should (``ansflow.remote_observer``)."""
        if not observer_enabled(self.remote_settings, self.settings.dispatch, in_worker):
            return False
        self.remote.start()
        return True

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
        """Run a pending execution.  If it cannot be queued, queueing is tried again
        (``ansflow.dispatch_retries`` times, waiting ``dispatch_retry_delay`` seconds,
        doubling) in the background; if it still cannot, the execution fails with
        "could not be queued: ..." instead of staying pending forever."""
        self._submit_attempt(execution_id, 0)

    def _submit_attempt(self, execution_id: int, attempt: int) -> None:
        try:
            if self.settings.dispatch == "threads":
                self.engine  # noqa: B018 - the engine must exist before its first job
            self.dispatcher.submit(execution_id)
            return
        except Exception as error:
            failure = f"{type(error).__name__}: {error}"
        if attempt < self.settings.dispatch_retries and not self.closed:
            delay = self.settings.dispatch_retry_delay * 2**attempt
            log.warning(
                "execution %s could not be queued (%s); trying again in %g s",
                execution_id,
                failure,
                delay,
            )
            timer = threading.Timer(delay, self._submit_attempt, (execution_id, attempt + 1))
            timer.daemon = True
            timer.name = f"ansflow-dispatch-retry-{execution_id}"
            timer.start()
            return
        self.fail_unclaimed(execution_id, f"could not be queued: {failure}")

    def fail_unclaimed(self, execution_id: int, reason: str) -> bool:
        """Fail a pending execution nobody will run, with ``reason``; publish it."""
        log.error("execution %s failed: %s", execution_id, reason)
        try:
            marked = self.store.fail_unclaimed(execution_id, reason)
        except Exception:
            log.exception("could not store the failure of execution %s", execution_id)
            return False
        if marked:
            self.publish(
                ExecutionEvent(
                    STATUS, execution_id, {"status": ExecutionStatus.FAILED, "reason": reason}
                )
            )
        return marked

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
            remote, self._remote = self._remote, None
        if reaper is not None:
            reaper.stop()
        if remote is not None:
            remote.stop()
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


def get_runtime(registry: Any) -> ExecutionRuntime:
    """The application's :class:`ExecutionRuntime`."""
    return registry[REGISTRY_KEY]
