"""Buffered log writing: numbered lines, stored in batches, then published.

Writing one transaction per line caps a chatty step at a few hundred lines a second
and hammers the database; a flusher thread instead stores whatever accumulated every
``flush_interval`` seconds, or as soon as ``flush_lines`` are waiting, in one
transaction.  Each stored batch is then published as one ``log`` event, so a live
viewer never sees a line the store does not have (a reconnecting client replays from
the store and then continues live without gaps or repeats).

Writers block when ``max_pending`` lines wait for a slow store: back-pressure reaches
the step's pipe instead of memory growing without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.events import LOG, ExecutionEvent
from ansflow_pyramid.execution.specs import LogLine
from ansflow_pyramid.execution.store import ExecutionStore

log = logging.getLogger(__name__)

#: Lines per published event: big batches are split so no message grows huge.
EVENT_CHUNK = 1000
STORE_ATTEMPTS = 4


class LogWriter:
    """Numbers, batches, stores and publishes one execution's log lines."""

    def __init__(
        self,
        execution_id: int,
        store: ExecutionStore,
        publish: Callable[[ExecutionEvent], None],
        *,
        step_names: Mapping[int, str] | None = None,
        flush_lines: int = 1000,
        flush_interval: float = 0.025,
        max_pending: int = 20000,
        first_number: int = 1,
    ) -> None:
        self.execution_id = execution_id
        self.store = store
        self.publish = publish
        self.step_names = dict(step_names or {})
        self.flush_lines = max(1, flush_lines)
        self.flush_interval = max(0.0, flush_interval)
        self.max_pending = max(self.flush_lines, max_pending)
        self._first_number = first_number
        self._next_number = first_number
        self._pending: list[LogLine] = []
        self._first_pending_at = 0.0
        self._flush_requested = False
        self._closing = False
        self._stored_upto = first_number - 1
        self.dropped = 0
        self._cond = threading.Condition()
        # Started with the first line: a step without output costs no thread.
        self._thread = threading.Thread(
            target=self._run, name=f"ansflow-log-{execution_id}", daemon=True
        )

    @property
    def last_number(self) -> int:
        """The number of the last line written (stored or not)."""
        return self._next_number - 1

    def write(self, step_id: int | None, text: str, stream: str = "stdout") -> int:
        """Queue one line and return its number.  Thread-safe."""
        with self._cond:
            while len(self._pending) >= self.max_pending and not self._closing:
                self._cond.wait()
            number = self._next_number
            self._next_number += 1
            self._pending.append(LogLine(number, step_id, text, utcnow(), stream))
            size = len(self._pending)
            if number == self._first_number:
                self._thread.start()
            if size == 1:
                self._first_pending_at = time.monotonic()
                self._cond.notify_all()
            elif size == self.flush_lines:
                self._cond.notify_all()
        return number

    def flush(self, timeout: float | None = None) -> bool:
        """Store and publish every line written so far; True once done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._next_number - 1
            self._flush_requested = True
            self._cond.notify_all()
            while self._stored_upto < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything and stop the flusher thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            started = self._thread.ident is not None
        if started:
            self._thread.join(timeout)

    # -- the flusher thread ------------------------------------------------------------
    def _take_batch(self) -> list[LogLine] | None:
        with self._cond:
            while True:
                if self._pending:
                    due = self._first_pending_at + self.flush_interval
                    wait = due - time.monotonic()
                    if (
                        wait <= 0
                        or len(self._pending) >= self.flush_lines
                        or self._flush_requested
                        or self._closing
                    ):
                        batch, self._pending = self._pending, []
                        self._flush_requested = False
                        self._cond.notify_all()  # writers blocked on a full buffer
                        return batch
                    self._cond.wait(wait)
                elif self._closing:
                    return None
                else:
                    self._flush_requested = False
                    self._cond.wait()

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            stored = self._store(batch)
            if stored:
                self._publish(batch)
            with self._cond:
                self._stored_upto = batch[-1].number
                self._cond.notify_all()

    def _store(self, batch: list[LogLine]) -> bool:
        delay = 0.1
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                self.store.append_log_lines(self.execution_id, batch)
                return True
            except Exception:
                if attempt == STORE_ATTEMPTS:
                    log.exception(
                        "dropping %d log lines of execution %s after %d attempts",
                        len(batch),
                        self.execution_id,
                        attempt,
                    )
                    self.dropped += len(batch)
                    return False
                log.warning("storing log lines failed; retrying", exc_info=True)
                time.sleep(delay)
                delay *= 3
        return False

    def _publish(self, batch: list[LogLine]) -> None:
        names = self.step_names
        for start in range(0, len(batch), EVENT_CHUNK):
            lines = [
                line.as_event_data(names.get(line.step_id) if line.step_id is not None else None)
                for line in batch[start : start + EVENT_CHUNK]
            ]
            try:
                self.publish(ExecutionEvent(LOG, self.execution_id, {"lines": lines}))
            except Exception:
                # Viewers fill the gap from the store; the lines are safe.
                log.warning("publishing log lines failed", exc_info=True)
