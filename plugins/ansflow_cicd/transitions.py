"""The execution state machine as SQL statements, built once and shared.

Every change of an execution's state is one conditional ``UPDATE`` whose ``WHERE``
names the states it may start from, so two writers racing (a user's cancel and the
engine finishing the run, two cancels, the reaper and a late worker) cannot both win:
the loser's statement matches no row.  After each transition the pipeline's
``status`` mirrors the execution's, unless a newer execution of that pipeline exists.

These functions take anything with SQLAlchemy's ``execute`` (an ORM ``Session`` in
requests, a ``Connection`` in the engine), so the API's service and the engine's store
run the very same statements.  They do not commit.  The statements name the mapped
classes, not their tables: a session's transaction then knows it wrote (an UPDATE on a
bare table is invisible to the ORM, and the request would end with ROLLBACK).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from ansflow_pipelines.models import Pipeline
from sqlalchemy import bindparam, case, exists, update
from sqlalchemy.orm import aliased

from ansflow_cicd.models import Execution, StepExecution

#: States a run may still leave.
ACTIVE_STATUSES = ("pending", "running")
#: Pipelines know no "timeout": a timed-out run leaves its pipeline "failed".
PIPELINE_STATUS_FOR = {"timeout": "failed"}

_newer = aliased(Execution, name="newer_execution")
#: Nothing in a session needs refreshing from these statements' effects by SQLAlchemy:
#: the callers refresh what they hold.
_NO_SYNC = {"synchronize_session": False}


class Executor(Protocol):
    """A SQLAlchemy ``Session`` or ``Connection``."""

    def execute(self, statement: Any, parameters: Any = None) -> Any: ...


# -- the pipeline follows its newest execution ------------------------------------
_SYNC_PIPELINE = (
    update(Pipeline)
    .where(
        Pipeline.id == bindparam("p_pipeline"),
        ~exists().where(
            _newer.pipeline_id == bindparam("p_pipeline"),
            _newer.id > bindparam("p_execution"),
        ),
    )
    .values(status=bindparam("p_status"))
    .execution_options(**_NO_SYNC)
)


def sync_pipeline(executor: Executor, execution_id: int, pipeline_id: int, status: str) -> None:
    """Mirror ``status`` of execution ``execution_id`` on its pipeline, unless a newer
    execution of the pipeline exists (its state is the one the pipeline shows)."""
    executor.execute(
        _SYNC_PIPELINE,
        {
            "p_pipeline": pipeline_id,
            "p_execution": execution_id,
            "p_status": PIPELINE_STATUS_FOR.get(status, status),
        },
    )


# -- transitions of the execution -------------------------------------------------
def start(executor: Executor, execution_id: int, worker: str, now: dt.datetime) -> bool:
    """``pending -> running`` unless a cancel was asked for; False when refused."""
    row = executor.execute(
        update(Execution)
        .where(
            Execution.id == execution_id,
            Execution.status == "pending",
            Execution.cancel_requested.is_(False),
        )
        .values(
            status="running",
            worker=worker[:200],
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
        )
        .returning(Execution.pipeline_id)
        .execution_options(**_NO_SYNC)
    ).first()
    if row is None:
        return False
    sync_pipeline(executor, execution_id, row.pipeline_id, "running")
    return True


def finish(
    executor: Executor, execution_id: int, status: str, reason: str | None, now: dt.datetime
) -> bool:
    """``running -> status`` (a final state); False when the run is not running any
    more (a cancel of the pending run, or the reaper, got there first)."""
    row = executor.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == "running")
        .values(status=status, error_message=reason or "", completed_at=now, updated_at=now)
        .returning(Execution.pipeline_id)
        .execution_options(**_NO_SYNC)
    ).first()
    if row is None:
        return False
    sync_pipeline(executor, execution_id, row.pipeline_id, status)
    return True


def cancel_pending(executor: Executor, execution_id: int, now: dt.datetime) -> int | None:
    """``pending -> cancelled`` at once (no engine runs it yet); its steps end
    ``skipped``.  Returns the pipeline's id, or None when the run was not pending."""
    row = executor.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == "pending")
        .values(status="cancelled", cancel_requested=True, completed_at=now, updated_at=now)
        .returning(Execution.pipeline_id)
        .execution_options(**_NO_SYNC)
    ).first()
    if row is None:
        return None
    end_open_steps(executor, execution_id, "cancelled", "", now)
    sync_pipeline(executor, execution_id, row.pipeline_id, "cancelled")
    return int(row.pipeline_id)


def request_cancel(executor: Executor, execution_id: int, now: dt.datetime) -> bool:
    """Flag a running run ``cancel_requested``: its engine stops it and records
    ``cancelled``, staying the only writer of the run's state while it runs."""
    result = executor.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == "running")
        .values(cancel_requested=True, updated_at=now)
        .execution_options(**_NO_SYNC)
    )
    return result.rowcount == 1


def fail_stale(
    executor: Executor,
    execution_id: int,
    heartbeat_before: dt.datetime,
    reason: str,
    now: dt.datetime,
) -> str | None:
    """End a running run whose worker went silent: ``cancelled`` when a cancel was
    asked for, else ``failed``.  Returns the final state, or None when refused."""
    row = executor.execute(
        update(Execution)
        .where(
            Execution.id == execution_id,
            Execution.status == "running",
            Execution.heartbeat_at < heartbeat_before,
        )
        .values(
            status=case((Execution.cancel_requested.is_(True), "cancelled"), else_="failed"),
            error_message=reason,
            completed_at=now,
            updated_at=now,
        )
        .returning(Execution.pipeline_id, Execution.status)
        .execution_options(**_NO_SYNC)
    ).first()
    if row is None:
        return None
    end_open_steps(executor, execution_id, "failed", reason, now)
    sync_pipeline(executor, execution_id, row.pipeline_id, row.status)
    return str(row.status)


def end_open_steps(
    executor: Executor, execution_id: int, running_becomes: str, error: str, now: dt.datetime
) -> None:
    """Close the steps still open when their run ends early: a running step becomes
    ``running_becomes`` (with ``error``), a pending one ``skipped``."""
    running = StepExecution.status == "running"
    executor.execute(
        update(StepExecution)
        .where(
            StepExecution.execution_id == execution_id, StepExecution.status.in_(ACTIVE_STATUSES)
        )
        .values(
            status=case((running, running_becomes), else_="skipped"),
            error_message=case((running, error), else_=""),
            completed_at=now,
            updated_at=now,
        )
        .execution_options(**_NO_SYNC)
    )


# -- transitions of a step --------------------------------------------------------
def start_step(executor: Executor, execution_id: int, step_id: int, now: dt.datetime) -> None:
    """A step execution begins."""
    executor.execute(
        update(StepExecution)
        .where(StepExecution.id == step_id, StepExecution.execution_id == execution_id)
        .values(status="running", started_at=now, updated_at=now)
        .execution_options(**_NO_SYNC)
    )


def finish_step(
    executor: Executor,
    execution_id: int,
    step_id: int,
    status: str,
    exit_code: int | None,
    error: str | None,
    now: dt.datetime,
) -> None:
    """A step execution ends in ``status``."""
    executor.execute(
        update(StepExecution)
        .where(StepExecution.id == step_id, StepExecution.execution_id == execution_id)
        .values(
            status=status,
            exit_code=exit_code,
            error_message=error or "",
            completed_at=now,
            updated_at=now,
        )
        .execution_options(**_NO_SYNC)
    )
