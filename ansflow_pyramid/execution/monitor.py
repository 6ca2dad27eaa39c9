"""One thread per engine that watches every execution the process runs.

It heartbeats the running executions, notices stored cancel requests (the fallback
when a cancel message was lost), and fires step timeouts.  One thread for all runs,
instead of a heartbeat thread and a timer thread per execution, keeps a trivial
execution cheap and lets a process run many executions without a thread explosion;
heartbeats and cancel checks of all runs go to the store in one statement each.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ansflow_pyramid.execution.store import ExecutionStore

if TYPE_CHECKING:
    from ansflow_pyramid.execution.engine import RunState

log = logging.getLogger(__name__)


class Deadline:
    """A scheduled call; ``cancel()`` before it fires and it never does."""

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Monitor:
    """Heartbeats, cancel checks and deadlines for the runs of one engine."""

    def __init__(
        self, store: ExecutionStore, heartbeat_interval: float, cancel_poll_interval: float
    ) -> None:
        self.store = store
        self.heartbeat_interval = heartbeat_interval
        self.poll = max(0.05, min(cancel_poll_interval, heartbeat_interval))
        self._cond = threading.Condition()
        self._runs: dict[int, RunState] = {}
        self._deadlines: list[tuple[float, int, Deadline]] = []
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- what the engine calls -----------------------------------------------------------
    def watch(self, state: RunState) -> None:
        with self._cond:
            self._runs[state.execution_id] = state
            self._ensure_thread()

    def unwatch(self, state: RunState) -> None:
        with self._cond:
            if self._runs.get(state.execution_id) is state:
                del self._runs[state.execution_id]

    def call_later(self, delay: float, callback: Callable[[], None]) -> Deadline:
        deadline = Deadline(time.monotonic() + delay, callback)
        with self._cond:
            heapq.heappush(self._deadlines, (deadline.when, next(self._sequence), deadline))
            self._ensure_thread()
            self._cond.notify()
        return deadline

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    # -- the thread --------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="ansflow-monitor", daemon=True)
            self._thread.start()

    def _due(self, now: float) -> list[Deadline]:
        due = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline = heapq.heappop(self._deadlines)[2]
            if not deadline.cancelled:
                due.append(deadline)
        # Cancelled entries at the top would only cause early wake-ups: drop them.
        while self._deadlines and self._deadlines[0][2].cancelled:
            heapq.heappop(self._deadlines)
        return due

    def _run(self) -> None:
        next_poll = time.monotonic() + self.poll
        last_beat = time.monotonic()
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                wake = next_poll
                if self._deadlines:
                    wake = min(wake, self._deadlines[0][0])
                if wake > now:
                    self._cond.wait(wake - now)
                    now = time.monotonic()
                if self._stopped:
                    return
                due = self._due(now)
                runs = dict(self._runs) if now >= next_poll else {}
            for deadline in due:
                try:
                    deadline.callback()
                except Exception:
                    log.exception("a deadline callback failed")
            if now >= next_poll:
                next_poll = now + self.poll
                if runs:
                    beat = now - last_beat >= self.heartbeat_interval
                    if beat:
                        last_beat = now
                    self._check(runs, beat)

    def _check(self, runs: dict[int, RunState], beat: bool) -> None:
        ids = sorted(runs)
        try:
            if beat:
                self.store.heartbeat_many(ids)
            watching = [i for i in ids if not runs[i].cancelled.is_set()]
            if watching:
                for execution_id in self.store.cancel_requested_among(watching):
                    runs[execution_id].request_cancel()
        except Exception:
            log.warning("heartbeat / cancel check failed", exc_info=True)
