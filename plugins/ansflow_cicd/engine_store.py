"""The execution engine's store over the cicd tables.

Shows: a plugin implementing a core interface (:class:`ExecutionStore`) and
registering it with ``config.set_execution_store``.  The engine runs outside any
request, so every method opens its own short transaction on the engine's connection
pool and commits before returning; SQL Core statements keep the per-call cost low
(the engine calls these for every step and every batch of log lines).

State changes are the transitions of :mod:`ansflow_cicd.transitions`, the statements
the API's execution service runs too: the engine claims only a *pending* execution,
and records its end only while the execution is still *running* - a user's cancel of
a pending run, or the reaper failing a run whose worker went silent, is never
overwritten.  What it reads is the plugin's read model (:mod:`ansflow_cicd.records`):
the live stream's snapshot is a projection of the same record as the API's detail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.orm import Session

from ansflow_cicd import transitions
from ansflow_cicd.group_rules import group_specs
from ansflow_cicd.logs import append_lines, last_number, read_lines
from ansflow_cicd.models import Execution, ExecutionLogLine, StepExecution
from ansflow_cicd.records import load_execution, load_steps, step_snapshots
from ansflow_cicd.schemas import ExecutionSnapshot
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution import ExecutionStore, LogLine, RunSpec, StepSpec

_executions = Execution.__table__
_steps = StepExecution.__table__

#: Keys of a step's snapshot handed to its runner as ``StepSpec.config``.
RUNNER_CONFIG_KEYS = ("ansible_parameters", "conditions", "retry_policy", "dependencies")


def _timeout(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 300.0
    return seconds if seconds > 0 else None


class SqlExecutionStore(ExecutionStore):
    """:class:`ExecutionStore` on ``cicd_executions``, ``cicd_step_executions`` and
    ``cicd_execution_log_lines``."""

    def __init__(self, registry: Any) -> None:
        self.engine = registry["db_engine"]

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- loading -------------------------------------------------------------------------
    def load_run_spec(self, execution_id: int) -> RunSpec | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(
                    _executions.c.definition,
                    _executions.c.parameters,
                    _executions.c.project_id,
                    _executions.c.pipeline_id,
                    _executions.c.trigger_type,
                    _executions.c.trigger_data,
                ).where(_executions.c.id == execution_id)
            ).first()
            if row is None:
                return None
            step_rows = connection.execute(
                select(_steps.c.id, _steps.c.order)
                .where(_steps.c.execution_id == execution_id)
                .order_by(_steps.c.order, _steps.c.id)
            ).all()
        definition = row.definition or {}
        snapshots = step_snapshots(definition)
        steps = []
        for step_row in step_rows:
            snapshot = snapshots.get(step_row.order, {})
            steps.append(
                StepSpec(
                    step_id=step_row.id,
                    name=str(snapshot.get("name") or f"step {step_row.order}"),
                    step_type=str(snapshot.get("step_type") or "custom"),
                    command=str(snapshot.get("command") or ""),
                    environment_vars=dict(snapshot.get("environment_vars") or {}),
                    timeout_seconds=_timeout(snapshot.get("timeout_seconds", 300)),
                    parallel_group=str(snapshot.get("parallel_group") or ""),
                    order=int(step_row.order),
                    config={key: snapshot.get(key) for key in RUNNER_CONFIG_KEYS},
                )
            )
        pipeline = definition.get("pipeline") or {}
        config = pipeline.get("config") or {}
        environment = config.get("environment") if isinstance(config, dict) else None
        return RunSpec(
            groups=group_specs(definition.get("parallel_groups")),
            execution_id=execution_id,
            steps=tuple(steps),
            parameters=dict(row.parameters or {}),
            environment=dict(environment) if isinstance(environment, dict) else {},
            pipeline_name=str(pipeline.get("name") or ""),
            event_data={"project_id": row.project_id, "pipeline_id": row.pipeline_id},
            trigger={"type": row.trigger_type, **(row.trigger_data or {})},
        )

    # -- the execution's state ---------------------------------------------------------
    def mark_running(self, execution_id: int, worker: str) -> bool:
        with self.engine.begin() as connection:
            return transitions.start(connection, execution_id, worker, utcnow())

    def mark_finished(self, execution_id: int, status: str, reason: str | None = None) -> None:
        with self.engine.begin() as connection:
            transitions.finish(connection, execution_id, status, reason, utcnow())

    def step_started(self, execution_id: int, step_id: int) -> None:
        with self.engine.begin() as connection:
            transitions.start_step(connection, execution_id, step_id, utcnow())

    def step_finished(
        self,
        execution_id: int,
        step_id: int,
        status: str,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.engine.begin() as connection:
            transitions.finish_step(
                connection, execution_id, step_id, status, exit_code, error, utcnow()
            )

    def append_log_lines(self, execution_id: int, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        rows = [
            {
                "execution_id": execution_id,
                "number": line.number,
                "step_execution_id": line.step_id,
                "stream": line.stream,
                "text": line.text.replace("\x00", ""),
                "created_at": line.timestamp,
            }
            for line in lines
        ]
        with self.engine.begin() as connection:
            connection.execute(insert(ExecutionLogLine), rows)

    def last_line_number(self, execution_id: int) -> int:
        with self._session() as session:
            return last_number(session, execution_id)

    def heartbeat(self, execution_id: int) -> None:
        now = utcnow()
        with self.engine.begin() as connection:
            connection.execute(
                update(Execution)
                .where(Execution.id == execution_id, Execution.status == "running")
                .values(heartbeat_at=now)
            )

    def heartbeat_many(self, execution_ids: Sequence[int]) -> None:
        now = utcnow()
        with self.engine.begin() as connection:
            connection.execute(
                update(_executions)
                .where(_executions.c.id.in_(list(execution_ids)), _executions.c.status == "running")
                .values(heartbeat_at=now)
            )

    def cancel_requested_among(self, execution_ids: Sequence[int]) -> list[int]:
        with self.engine.connect() as connection:
            return list(
                connection.scalars(
                    select(_executions.c.id).where(
                        _executions.c.id.in_(list(execution_ids)),
                        _executions.c.cancel_requested.is_(True),
                    )
                )
            )

    def is_cancel_requested(self, execution_id: int) -> bool:
        with self.engine.connect() as connection:
            return bool(
                connection.scalar(
                    select(Execution.cancel_requested).where(Execution.id == execution_id)
                )
            )

    # -- the reaper ------------------------------------------------------------------------
    def find_stale(self, heartbeat_before: dt.datetime) -> list[int]:
        with self.engine.connect() as connection:
            return list(
                connection.scalars(
                    select(Execution.id)
                    .where(Execution.status == "running", Execution.heartbeat_at < heartbeat_before)
                    .order_by(Execution.id)
                )
            )

    def find_pending(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(
                connection.scalars(
                    select(Execution.id)
                    .where(Execution.status == "pending", Execution.cancel_requested.is_(False))
                    .order_by(Execution.id)
                )
            )

    def finish_stale(self, execution_id: int, heartbeat_before: dt.datetime, reason: str) -> bool:
        with self._session() as session, session.begin():
            ended = transitions.fail_stale(
                session, execution_id, heartbeat_before, reason, utcnow()
            )
            if ended is None:
                return False
            # The worker is gone, so nobody else numbers this execution's lines now.
            append_lines(session, execution_id, [f"Execution failed: {reason}."], stream="system")
        return True

    def find_unclaimed(self, created_before: dt.datetime) -> list[int]:
        with self.engine.connect() as connection:
            return list(
                connection.scalars(
                    select(Execution.id)
                    .where(Execution.status == "pending", Execution.created_at < created_before)
                    .order_by(Execution.id)
                )
            )

    def fail_unclaimed(self, execution_id: int, reason: str) -> bool:
        now = utcnow()
        with self._session() as session, session.begin():
            result = session.execute(
                update(Execution)
                .where(Execution.id == execution_id, Execution.status == "pending")
                .values(
                    # A run cancelled before anyone claimed it ends cancelled.
                    status=case(
                        (Execution.cancel_requested.is_(True), "cancelled"), else_="failed"
                    ),
                    error_message=reason,
                    completed_at=now,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return False
            session.execute(
                update(StepExecution)
                .where(
                    StepExecution.execution_id == execution_id,
                    StepExecution.status.in_(("pending", "running")),
                )
                .values(status="skipped", completed_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            # Nobody runs this execution, so nobody else numbers its lines.
            append_lines(session, execution_id, [f"Execution failed: {reason}."], stream="system")
            row = session.execute(
                select(Execution.pipeline_id, Execution.status).where(Execution.id == execution_id)
            ).one()
            transitions.sync_pipeline(session, execution_id, row.pipeline_id, row.status)
        return True

    # -- readers ----------------------------------------------------------------------------
    def snapshot(self, execution_id: int) -> dict[str, Any] | None:
        with self._session() as session:
            record = load_execution(session, execution_id)
            if record is None:
                return None
            load_steps(session, record)
        return ExecutionSnapshot.of(record).model_dump()

    def read_log_lines(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[LogLine]:
        with self._session() as session:
            lines = read_lines(session, execution_id, after, limit)
        return [
            LogLine(line.number, line.step_execution_id, line.text, line.created_at, line.stream)
            for line in lines
        ]

    def project_of(self, execution_id: int) -> int | None:
        """The project an execution belongs to (for filtering the global stream)."""
        with self.engine.connect() as connection:
            return connection.scalar(
                select(Execution.project_id).where(Execution.id == execution_id)
            )


def includeme(config: Any) -> None:
    config.set_execution_store(SqlExecutionStore)
