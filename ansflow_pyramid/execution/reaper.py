"""The reaper: executions without an owner end as failed, with a reason.

A running execution's engine heartbeats every ``ansflow.heartbeat_interval``
seconds.  When a worker dies (killed, machine lost) the heartbeats stop; every
``ansflow.reaper_interval`` seconds each process running a reaper (the servers and the
workers) asks the store for running executions whose heartbeat is older than
``ansflow.heartbeat_timeout`` and fails them with a reason.  The store's update is
conditional, so several reapers never double-finish an execution and a worker that
heartbeats again in between wins.

Pending executions have an owner too: the queue that holds them.  One that is still
pending after ``ansflow.pending_timeout`` seconds (600) and that the dispatcher says
is not queued (an RQ job that failed or vanished with a flushed Redis, a thread pool
that died with its process) is failed with a reason.  When the dispatcher cannot
tell (dispatch ``none``, Redis unreachable), the execution is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.events import STATUS, ExecutionEvent
from ansflow_pyramid.execution.specs import ExecutionStatus
from ansflow_pyramid.execution.store import ExecutionStore, NoExecutionStore

if TYPE_CHECKING:
    from ansflow_pyramid.execution.runtime import ExecutionRuntime

log = logging.getLogger(__name__)


class Reaper:
    """Periodically fails running executions that lost their heartbeat."""

    def __init__(self, runtime: ExecutionRuntime) -> None:
        self.runtime = runtime
        self.timeout = runtime.settings.heartbeat_timeout
        self.interval = runtime.settings.reaper_interval
        self.pending_timeout = runtime.settings.pending_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[int]:
        """One pass; returns the executions it failed."""
        try:
            store = self.runtime.store
        except NoExecutionStore:
            return []
        cutoff = utcnow() - dt.timedelta(seconds=self.timeout)
        reaped = []
        local = set(self.runtime.active_ids())
        for execution_id in store.find_stale(cutoff):
            if execution_id in local:
                # Running here: our own heartbeat writes are failing, the worker lives.
                continue
            reason = f"worker lost: no heartbeat for more than {self.timeout:g} s"
            if store.finish_stale(execution_id, cutoff, reason):
                log.warning("execution %s: %s", execution_id, reason)
                reaped.append(execution_id)
                self.runtime.publish(
                    ExecutionEvent(
                        STATUS,
                        execution_id,
                        {
                            "status": ExecutionStatus.FAILED,
                            "reason": reason,
                            "timestamp": utcnow().isoformat(),
                        },
                    )
                )
        reaped.extend(self._reap_unclaimed(store))
        return reaped

    def _reap_unclaimed(self, store: ExecutionStore) -> list[int]:
        if self.pending_timeout <= 0:
            return []
        cutoff = utcnow() - dt.timedelta(seconds=self.pending_timeout)
        candidates = store.find_unclaimed(cutoff)
        if not candidates:
            return []
        dispatcher = self.runtime.dispatcher
        reaped = []
        for execution_id in candidates:
            if dispatcher.is_queued(execution_id) is not False:
                continue
            reason = (
                f"not started within {self.pending_timeout:g} s and no longer queued "
                "(no worker took it)"
            )
            if self.runtime.fail_unclaimed(execution_id, reason):
                reaped.append(execution_id)
        return reaped

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ansflow-reaper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.warning("reaper pass failed", exc_info=True)
