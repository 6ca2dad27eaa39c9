"""The read model of executions: one typed record per execution and per step
execution, loaded one way, rendered by the serializers of :mod:`ansflow_cicd.schemas`.

Every document that shows an execution is a projection of these records: the detail
(:class:`~ansflow_cicd.schemas.ExecutionDetail`), the list
(:class:`~ansflow_cicd.schemas.ExecutionSummary`), the timeline
(:class:`~ansflow_cicd.schemas.ExecutionTimeline`) and the live stream's snapshot
(:class:`~ansflow_cicd.schemas.ExecutionSnapshot`).  A step execution's name and type
are those of its step *when the run was triggered* (the definition snapshot), looked
up here and nowhere else (:func:`step_snapshots`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Self

from ansflow_pipelines.models import Pipeline
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from ansflow_cicd.logs import first_lines
from ansflow_cicd.models import Execution, ExecutionLogLine, StepExecution, Tool
from ansflow_pyramid.fastpath import PreparedQuery
from ansflow_pyramid.identity import User

#: The step states after which a step is done (for ``completed_steps``).
STEP_DONE = ("success", "failed", "skipped", "cancelled", "timeout")


class _Record:
    """Construction from a mapping or an object holding (at least) the fields."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        names = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{name: values[name] for name in names if name in values})

    @classmethod
    def from_object(cls, obj: Any) -> Self:
        names = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{name: getattr(obj, name) for name in names if hasattr(obj, name)})


@dataclasses.dataclass(slots=True, kw_only=True)
class StepRecord(_Record):
    """A step execution, with what its run's definition snapshot says about it."""

    id: int
    execution_id: int
    pipeline_step_id: int | None
    order: int
    status: str
    external_id: str
    output: str
    error_message: str
    exit_code: int | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: Name, type and parallel group of the step when the run was triggered.
    step_name: str = ""
    step_type: str = ""
    parallel_group: str = ""
    #: The step's lines among the first lines of the run's log (detail only).
    logs: str = ""


@dataclasses.dataclass(slots=True, kw_only=True)
class ExecutionRecord(_Record):
    """An execution, the names shown next to its ids, and (when loaded) its steps
    and the first lines of its log."""

    id: int
    project_id: int
    pipeline_id: int
    cicd_tool_id: int | None
    status: str
    trigger_type: str
    triggered_by_id: int | None
    definition: dict[str, Any]
    parameters: dict[str, Any]
    trigger_data: dict[str, Any]
    artifacts: list[Any]
    test_results: dict[str, Any]
    external_id: str
    external_url: str
    error_message: str
    retry_of_id: int | None
    cancel_requested: bool
    worker: str
    heartbeat_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    pipeline_name: str | None = None
    cicd_tool_name: str | None = None
    cicd_tool_type: str | None = None
    triggered_by_username: str | None = None
    steps: list[StepRecord] = dataclasses.field(default_factory=list)
    logs: str = ""
    logs_truncated: bool = False


# -- statements ---------------------------------------------------------------------
#: The names shown next to an execution's ids, as labelled columns.
DISPLAY_COLUMNS = (
    Pipeline.name.label("pipeline_name"),
    Tool.name.label("cicd_tool_name"),
    Tool.tool_type.label("cicd_tool_type"),
    User.username.label("triggered_by_username"),
)


def with_display(query: Select[Any]) -> Select[Any]:
    """``query`` (over executions) joined to what :data:`DISPLAY_COLUMNS` read."""
    return (
        query.outerjoin(Pipeline, Pipeline.id == Execution.pipeline_id)
        .outerjoin(Tool, Tool.id == Execution.cicd_tool_id)
        .outerjoin(User, User.id == Execution.triggered_by_id)
    )


#: One execution with its display names (``key``: its id).
EXECUTION_RECORD = with_display(
    select(*Execution.__table__.c, *DISPLAY_COLUMNS).where(Execution.id == bindparam("key"))
)
_EXECUTION = PreparedQuery(EXECUTION_RECORD)
# Statements are built once: building one costs more than running it (the detail is
# the most polled document of the API).
_STEPS = PreparedQuery(
    select(*StepExecution.__table__.c)
    .where(StepExecution.execution_id == bindparam("execution_id"))
    .order_by(StepExecution.order, StepExecution.id)
)


#: What changes an execution's document besides its own row and the names shown next
#: to its ids: its steps (their ``updated_at``, and their link to a pipeline step, which
#: a deleted step clears without touching the row) and its log (the last line's number).
_steps_of = StepExecution.__table__.alias("version_steps")
_lines_of = ExecutionLogLine.__table__.alias("version_lines")
VERSION_COLUMNS = (
    select(func.max(_steps_of.c.updated_at))
    .where(_steps_of.c.execution_id == Execution.id)
    .scalar_subquery()
    .label("version_steps_updated_at"),
    select(func.count(_steps_of.c.pipeline_step_id))
    .where(_steps_of.c.execution_id == Execution.id)
    .scalar_subquery()
    .label("version_steps_linked"),
    select(func.max(_lines_of.c.number))
    .where(_lines_of.c.execution_id == Execution.id)
    .scalar_subquery()
    .label("version_last_line"),
)
VERSION_NAMES = tuple(column.name for column in VERSION_COLUMNS)
#: The fields of a record that its document shows and that may change.
VERSIONED_FIELDS = (
    "updated_at",
    "pipeline_name",
    "cicd_tool_name",
    "cicd_tool_type",
    "triggered_by_username",
)


def row_version(record: Any) -> tuple[Any, ...]:
    """The part of an execution's version held by its own row and display names."""
    return (record.id, *(getattr(record, name, None) for name in VERSIONED_FIELDS))


# -- loading ------------------------------------------------------------------------
def step_snapshots(definition: Mapping[str, Any] | None) -> dict[int, dict[str, Any]]:
    """The definition snapshot of each step of a run, by order."""
    return {step.get("order"): step for step in (definition or {}).get("steps", [])}


def describe(steps: Iterable[StepRecord], definition: Mapping[str, Any] | None) -> None:
    """Give step records the name, type and group they had at trigger time."""
    snapshots = step_snapshots(definition)
    for step in steps:
        snapshot = snapshots.get(step.order, {})
        step.step_name = snapshot.get("name", "")
        step.step_type = snapshot.get("step_type", "")
        step.parallel_group = snapshot.get("parallel_group") or ""


def load_execution(dbsession: Session, execution_id: int) -> ExecutionRecord | None:
    """Execution ``execution_id`` with its display names (no visibility check: for
    callers that checked already, such as the engine)."""
    row = _EXECUTION.first(dbsession, {"key": execution_id})
    return ExecutionRecord.from_mapping(row) if row is not None else None


def load_steps(dbsession: Session, record: ExecutionRecord) -> list[StepRecord]:
    """The record's step executions, in order, described (also set on ``record``)."""
    steps = [
        StepRecord.from_mapping(row) for row in _STEPS.dicts(dbsession, {"execution_id": record.id})
    ]
    describe(steps, record.definition)
    record.steps = steps
    return steps


def load_logs(dbsession: Session, record: ExecutionRecord) -> None:
    """The first lines of the record's log: merged on the record, and per step on its
    step records (load the steps first)."""
    shown, truncated = first_lines(dbsession, record.id)
    by_step: dict[int | None, list[str]] = {}
    for step_id, text in shown:
        by_step.setdefault(step_id, []).append(text)
    for step in record.steps:
        step.logs = "\n".join(by_step.get(step.id, ()))
    record.logs = "\n".join([text for _, text in shown])
    record.logs_truncated = truncated


def attach_display(dbsession: Session, executions: list[Any]) -> None:
    """Look up the names shown next to ids for rows loaded without them (a page of
    the list, an execution just created): one query per kind for the whole batch."""
    pipeline_ids = {e.pipeline_id for e in executions}
    tool_ids = {e.cicd_tool_id for e in executions if e.cicd_tool_id is not None}
    user_ids = {e.triggered_by_id for e in executions if e.triggered_by_id is not None}
    pipelines = {
        row.id: row.name
        for row in dbsession.execute(
            select(Pipeline.id, Pipeline.name).where(Pipeline.id.in_(pipeline_ids))
        )
    }
    tools = (
        {
            row.id: row
            for row in dbsession.execute(
                select(Tool.id, Tool.name, Tool.tool_type).where(Tool.id.in_(tool_ids))
            )
        }
        if tool_ids
        else {}
    )
    users = (
        {
            row.id: row.username
            for row in dbsession.execute(
                select(User.id, User.username).where(User.id.in_(user_ids))
            )
        }
        if user_ids
        else {}
    )
    for execution in executions:
        tool = tools.get(execution.cicd_tool_id)
        execution.pipeline_name = pipelines.get(execution.pipeline_id)
        execution.cicd_tool_name = tool.name if tool is not None else None
        execution.cicd_tool_type = tool.tool_type if tool is not None else None
        execution.triggered_by_username = users.get(execution.triggered_by_id)


def records_of(dbsession: Session, executions: list[Any]) -> list[ExecutionRecord]:
    """Records of ORM rows (their display names looked up in one batch, unless they
    have them already)."""
    if not executions:
        return []
    if not all(hasattr(execution, "pipeline_name") for execution in executions):
        attach_display(dbsession, executions)
    return [ExecutionRecord.from_object(execution) for execution in executions]
