"""Scratch runs: one :class:`RunSpec` run through the engine, kept in memory.

For "try this step once" features (an atomic step's ``test/``): the same engine, step
runners, timeouts, environment and workspace handling as a real execution, but no
stored execution, no events on the application's bus and nothing for the reaper: the
run's state lives in a :class:`ScratchStore` and is returned when it ends.

    outcome = run_scratch(registry, RunSpec(execution_id=0, steps=(step,)))
    outcome.status, outcome.steps[0].exit_code, outcome.text()

The caller waits for the run: bound it (each step's ``timeout_seconds``) before
calling.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ansflow_pyramid.execution.engine import Engine
from ansflow_pyramid.execution.events import InProcessEventBus
from ansflow_pyramid.execution.runtime import get_runtime
from ansflow_pyramid.execution.specs import LogLine, RunSpec
from ansflow_pyramid.execution.store import ExecutionStore


@dataclass
class ScratchStep:
    """What became of one step of a scratch run."""

    step_id: int
    name: str
    status: str = "pending"
    exit_code: int | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return round(self.finished - self.started, 3)


@dataclass
class ScratchOutcome:
    """The end of a scratch run: its status, reason, steps and log lines."""

    status: str
    reason: str | None
    steps: list[ScratchStep]
    lines: list[LogLine] = field(default_factory=list)
    duration: float = 0.0

    def text(self) -> str:
        """The log as one text, in the order the engine numbered the lines."""
        return "\n".join(line.text for line in sorted(self.lines, key=lambda line: line.number))


class ScratchStore(ExecutionStore):
    """An :class:`ExecutionStore` for one run, in memory (thread-safe: group steps
    report from their own threads)."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.status = "pending"
        self.reason: str | None = None
        self.steps = {step.step_id: ScratchStep(step.step_id, step.name) for step in spec.steps}
        self.lines: list[LogLine] = []

    def _own(self, execution_id: int) -> None:
        if execution_id != self.spec.execution_id:
            raise KeyError(execution_id)

    def load_run_spec(self, execution_id: int) -> RunSpec | None:
        return self.spec if execution_id == self.spec.execution_id else None

    def mark_running(self, execution_id: int, worker: str) -> bool:
        self._own(execution_id)
        with self.lock:
            if self.status != "pending":
                return False
            self.status = "running"
            return True

    def mark_finished(self, execution_id: int, status: str, reason: str | None = None) -> None:
        self._own(execution_id)
        with self.lock:
            self.status, self.reason = status, reason

    def step_started(self, execution_id: int, step_id: int) -> None:
        self._own(execution_id)
        with self.lock:
            step = self.steps[step_id]
            step.status, step.started = "running", time.monotonic()

    def step_finished(
        self,
        execution_id: int,
        step_id: int,
        status: str,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        self._own(execution_id)
        with self.lock:
            step = self.steps[step_id]
            step.status, step.exit_code, step.error = status, exit_code, error
            step.finished = time.monotonic()

    def append_log_lines(self, execution_id: int, lines: Sequence[LogLine]) -> None:
        self._own(execution_id)
        with self.lock:
            self.lines.extend(lines)

    def heartbeat(self, execution_id: int) -> None:
        """Nobody reaps a scratch run: nothing to record."""

    def is_cancel_requested(self, execution_id: int) -> bool:
        return False

    def find_stale(self, heartbeat_before: dt.datetime) -> list[int]:
        return []

    def finish_stale(self, execution_id: int, heartbeat_before: dt.datetime, reason: str) -> bool:
        return False

    def snapshot(self, execution_id: int) -> dict[str, Any] | None:
        if execution_id != self.spec.execution_id:
            return None
        with self.lock:
            steps = [
                {"step_id": s.step_id, "step_name": s.name, "status": s.status}
                for s in self.steps.values()
            ]
            return {"execution_id": execution_id, "status": self.status, "steps": steps}

    def read_log_lines(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[LogLine]:
        with self.lock:
            lines = sorted((x for x in self.lines if x.number > after), key=lambda x: x.number)
        return lines[:limit]


def run_scratch(registry: Any, spec: RunSpec) -> ScratchOutcome:
    """Run ``spec`` through an engine of its own (the application's runners and
    settings, a private store and event bus) and return its outcome."""
    runtime = get_runtime(registry)
    store = ScratchStore(spec)
    engine = Engine(
        store,
        InProcessEventBus(),
        runtime.runners,
        runtime.settings,
        app_settings=dict(registry.settings or {}),
        name=f"scratch-{threading.get_ident()}",
    )
    started = time.monotonic()
    try:
        status = engine.run(spec.execution_id)
    finally:
        engine.monitor.stop()
    with store.lock:
        return ScratchOutcome(
            status=status or store.status,
            reason=store.reason,
            steps=list(store.steps.values()),
            lines=list(store.lines),
            duration=round(time.monotonic() - started, 3),
        )
