"""An in-memory ExecutionStore for engine tests (thread-safe, records every call)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution import ExecutionStore, LogLine, RunSpec, StepSpec


@dataclass
class StepRecord:
    spec: StepSpec
    status: str = "pending"
    exit_code: int | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None


@dataclass
class ExecutionRecord:
    spec: RunSpec
    status: str = "pending"
    reason: str | None = None
    worker: str | None = None
    heartbeat: dt.datetime | None = None
    heartbeats: int = 0
    cancel_requested: bool = False
    steps: dict[int, StepRecord] = field(default_factory=dict)
    lines: list[LogLine] = field(default_factory=list)
    batches: int = 0


class MemoryStore(ExecutionStore):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.executions: dict[int, ExecutionRecord] = {}
        self._next_id = 1

    # -- test helpers ------------------------------------------------------------------
    def add(self, steps: Sequence[StepSpec], **spec_fields: Any) -> int:
        with self.lock:
            execution_id = self._next_id
            self._next_id += 1
        step_ids = [s.step_id for s in steps]
        assert len(set(step_ids)) == len(step_ids)
        spec = RunSpec(execution_id=execution_id, steps=tuple(steps), **spec_fields)
        record = ExecutionRecord(spec, steps={s.step_id: StepRecord(s) for s in steps})
        with self.lock:
            self.executions[execution_id] = record
        return execution_id

    def record(self, execution_id: int) -> ExecutionRecord:
        return self.executions[execution_id]

    def step(self, name: str, execution_id: int | None = None) -> StepRecord:
        """The step called ``name`` of ``execution_id`` (default: the latest execution)."""
        if execution_id is None:
            execution_id = max(self.executions)
        for step in self.executions[execution_id].steps.values():
            if step.spec.name == name:
                return step
        raise KeyError(name)

    def request_cancel(self, execution_id: int) -> None:
        with self.lock:
            self.executions[execution_id].cancel_requested = True

    # -- the interface ------------------------------------------------------------------
    def load_run_spec(self, execution_id: int) -> RunSpec | None:
        record = self.executions.get(execution_id)
        return None if record is None else record.spec

    def mark_running(self, execution_id: int, worker: str) -> bool:
        with self.lock:
            record = self.executions[execution_id]
            if record.status != "pending" or record.cancel_requested:
                return False
            record.status = "running"
            record.worker = worker
            record.heartbeat = utcnow()
            return True

    def mark_finished(self, execution_id: int, status: str, reason: str | None = None) -> None:
        with self.lock:
            record = self.executions[execution_id]
            record.status = status
            record.reason = reason

    def step_started(self, execution_id: int, step_id: int) -> None:
        import time

        with self.lock:
            step = self.executions[execution_id].steps[step_id]
            step.status = "running"
            step.started = time.monotonic()

    def step_finished(
        self,
        execution_id: int,
        step_id: int,
        status: str,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        import time

        with self.lock:
            step = self.executions[execution_id].steps[step_id]
            step.status = status
            step.exit_code = exit_code
            step.error = error
            step.finished = time.monotonic()

    def append_log_lines(self, execution_id: int, lines: Sequence[LogLine]) -> None:
        with self.lock:
            record = self.executions[execution_id]
            record.lines.extend(lines)
            record.batches += 1

    def heartbeat(self, execution_id: int) -> None:
        with self.lock:
            record = self.executions[execution_id]
            record.heartbeat = utcnow()
            record.heartbeats += 1

    def is_cancel_requested(self, execution_id: int) -> bool:
        return self.executions[execution_id].cancel_requested

    def find_stale(self, heartbeat_before: dt.datetime) -> list[int]:
        with self.lock:
            return [
                eid
                for eid, r in self.executions.items()
                if r.status == "running"
                and r.heartbeat is not None
                and r.heartbeat < heartbeat_before
            ]

    def finish_stale(self, execution_id: int, heartbeat_before: dt.datetime, reason: str) -> bool:
        with self.lock:
            record = self.executions[execution_id]
            if (
                record.status != "running"
                or record.heartbeat is None
                or record.heartbeat >= heartbeat_before
            ):
                return False
            record.status = "failed"
            record.reason = reason
            for step in record.steps.values():
                if step.status == "running":
                    step.status = "failed"
                elif step.status == "pending":
                    step.status = "skipped"
            return True

    def snapshot(self, execution_id: int) -> dict[str, Any] | None:
        with self.lock:
            record = self.executions.get(execution_id)
            if record is None:
                return None
            steps = [
                {
                    "step_id": s.spec.step_id,
                    "step_name": s.spec.name,
                    "status": s.status,
                    "exit_code": s.exit_code,
                    "error_message": s.error,
                    "order": s.spec.order,
                }
                for s in sorted(record.steps.values(), key=lambda s: s.spec.order)
            ]
            return {
                "type": "execution_status",
                "execution_id": execution_id,
                "status": record.status,
                "reason": record.reason,
                "steps": steps,
                "total_steps": len(steps),
                "completed_steps": sum(
                    1
                    for s in steps
                    if s["status"] in ("success", "failed", "skipped", "cancelled", "timeout")
                ),
            }

    def read_log_lines(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[LogLine]:
        with self.lock:
            lines = [line for line in self.executions[execution_id].lines if line.number > after]
        lines.sort(key=lambda line: line.number)
        return lines[:limit]
