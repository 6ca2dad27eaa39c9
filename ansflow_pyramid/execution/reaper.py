"""The heartbeat reaper: executions whose worker died end as failed.

A running execution's engine heartbeats every ``ansflow.heartbeat_interval``
seconds.  When a worker dies (killed, machine lost) the heartbeats stop; every
``ansflow.reaper_interval`` seconds each process running a reaper (the servers and the
workers) asks the store for running executions whose heartbeat is older than
``ansflow.heartbeat_timeout`` and fails them with a reason.  The store's update is
conditional, so several reapers never double-finish an execution and a worker that
heartbeats again in between wins.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.events import STATUS, ExecutionEvent
from ansflow_pyramid.execution.specs import ExecutionStatus
from ansflow_pyramid.execution.store import NoExecutionStore

if TYPE_CHECKING:
    from ansflow_pyramid.execution.runtime import ExecutionRuntime

log = logging.getLogger(__name__)


class Reaper:
    """Periodically fails running executions that lost their heartbeat."""

    def __init__(self, runtime: ExecutionRuntime) -> None:
        self.runtime = runtime
        self.timeout = runtime.settings.heartbeat_timeout
        self.interval = runtime.settings.reaper_interval
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
