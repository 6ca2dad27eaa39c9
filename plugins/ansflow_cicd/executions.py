"""Execution state rules: create with a snapshot, cancel, retry; statistics.

Shows: state transitions done as conditional updates (``UPDATE ... WHERE status IN
(...)``), so two requests racing to cancel, or a cancel racing the engine finishing
the run, cannot both win; a refused transition is a 409 with a JSON body.

* create: a new ``pending`` execution whose ``definition`` is a snapshot of the
  pipeline and its steps, plus one ``pending`` step execution per step;
* cancel: ``pending`` -> ``cancelled`` at once (its steps end ``skipped``);
  ``running`` -> ``cancel_requested``, and the engine running it stops the steps and
  records ``cancelled`` within seconds;
* retry: from a final state (``success``, ``failed``, ``cancelled``, ``timeout``) ->
  a *new* pending execution with the same definition and parameters.

Running executions is the execution engine's job: every new execution is handed
to it once the request's transaction commits (``submit_after_commit``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansflow_pipelines.models import Pipeline, PipelineStep
from ansflow_projects.acl import current_user_id, restrict_to_visible
from ansflow_projects.fields import does_not_exist
from pyramid.request import Request
from sqlalchemy import case, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from ansflow_cicd.group_rules import snapshot_parallel_groups
from ansflow_cicd.logs import append_lines
from ansflow_cicd.models import (
    EXECUTION_STATUSES,
    FINAL_STATUSES,
    Execution,
    StepExecution,
    Tool,
)
from ansflow_pyramid.api import Conflict, ValidationFailed
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution import (
    STATUS_EVENT,
    ExecutionEvent,
    cancel_after_commit,
    publish_after_commit,
    submit_after_commit,
)

ACTIVE_STATUSES = ("pending", "running")
#: Pipelines know no "timeout": a timed-out run leaves its pipeline "failed".
PIPELINE_STATUS_FOR = {"timeout": "failed"}
DEFINITION_VERSION = 1

STEP_SNAPSHOT_FIELDS = (
    "id",
    "name",
    "description",
    "step_type",
    "command",
    "environment_vars",
    "timeout_seconds",
    "order",
    "parallel_group",
    "dependencies",
    "conditions",
    "retry_policy",
    "ansible_parameters",
)


def snapshot_definition(pipeline: Pipeline, tool: Tool | None) -> dict[str, Any]:
    """What the execution runs, frozen at trigger time (secrets excluded)."""
    return {
        "version": DEFINITION_VERSION,
        "snapshot_at": utcnow().isoformat(),
        "pipeline": {
            "id": pipeline.id,
            "name": pipeline.name,
            "description": pipeline.description,
            "project": pipeline.project_id,
            "config": pipeline.config,
            "execution_mode": pipeline.execution_mode,
            "execution_tool": pipeline.execution_tool_id,
            "tool_job_name": pipeline.tool_job_name,
            "tool_job_config": pipeline.tool_job_config,
        },
        "tool": None
        if tool is None
        else {
            "id": tool.id,
            "name": tool.name,
            "tool_type": tool.tool_type,
            "base_url": tool.base_url,
        },
        "steps": [
            {name: getattr(step, name) for name in STEP_SNAPSHOT_FIELDS}
            for step in sorted(pipeline.steps, key=lambda s: (s.order, s.id))
        ],
        "parallel_groups": snapshot_parallel_groups(pipeline),
    }


def find_tool(request: Request, tool_id: int, project_id: int, field: str) -> Tool:
    """Tool ``tool_id`` of project ``project_id``, or a 400 on ``field``."""
    query = restrict_to_visible(request, select(Tool).where(Tool.id == tool_id), Tool.project_id)
    tool = request.dbsession.scalars(query).first()
    if tool is None:
        raise ValidationFailed({field: does_not_exist(tool_id)})
    if tool.project_id != project_id:
        raise ValidationFailed({field: ["The tool belongs to another project than the pipeline."]})
    return tool


def insert_execution(
    request: Request,
    *,
    project_id: int,
    pipeline_id: int,
    tool_id: int | None,
    definition: dict[str, Any],
    trigger_type: str,
    parameters: dict[str, Any],
    trigger_data: dict[str, Any],
    retry_of_id: int | None = None,
) -> Execution:
    """Insert a pending execution and its pending step executions."""
    dbsession: Session = request.dbsession
    steps = definition.get("steps", [])
    step_ids = [s["id"] for s in steps if s.get("id") is not None]
    # Steps replaced since the snapshot no longer exist: their step executions keep
    # the snapshot's name and order but link to no step.
    existing = (
        set(dbsession.scalars(select(PipelineStep.id).where(PipelineStep.id.in_(step_ids))))
        if step_ids
        else set()
    )
    execution = Execution(
        project_id=project_id,
        pipeline_id=pipeline_id,
        cicd_tool_id=tool_id,
        status="pending",
        trigger_type=trigger_type,
        triggered_by_id=current_user_id(request),
        definition=definition,
        parameters=parameters,
        trigger_data=trigger_data,
        retry_of_id=retry_of_id,
    )
    execution.step_executions = [
        StepExecution(
            order=step["order"],
            pipeline_step_id=step["id"] if step.get("id") in existing else None,
            status="pending",
        )
        for step in steps
    ]
    dbsession.add(execution)
    dbsession.flush()
    sync_pipeline_status(dbsession, execution)
    # The engine runs it once this request's transaction has committed.
    submit_after_commit(request, execution.id)
    return execution


def create_execution(
    request: Request,
    pipeline: Pipeline,
    *,
    tool_id: int | None,
    trigger_type: str,
    parameters: dict[str, Any],
    trigger_data: dict[str, Any] | None = None,
    tool_field: str = "cicd_tool_id",
) -> Execution:
    """Trigger ``pipeline`` (the caller checked the "run" permission)."""
    if not pipeline.is_active:
        raise Conflict("The pipeline is inactive and cannot run.", code="pipeline_inactive")
    tool = find_tool(request, tool_id, pipeline.project_id, tool_field) if tool_id else None
    return insert_execution(
        request,
        project_id=pipeline.project_id,
        pipeline_id=pipeline.id,
        tool_id=tool.id if tool is not None else None,
        definition=snapshot_definition(pipeline, tool),
        trigger_type=trigger_type,
        parameters=parameters,
        trigger_data=trigger_data or {},
    )


def sync_pipeline_status(dbsession: Session, execution: Execution) -> None:
    """Mirror the status of a pipeline's newest execution on the pipeline."""
    newer = aliased(Execution)
    status = PIPELINE_STATUS_FOR.get(execution.status, execution.status)
    dbsession.execute(
        update(Pipeline)
        .where(
            Pipeline.id == execution.pipeline_id,
            ~exists().where(newer.pipeline_id == execution.pipeline_id, newer.id > execution.id),
        )
        .values(status=status)
        .execution_options(synchronize_session="fetch")
    )


def username(request: Request) -> str:
    identity = getattr(request, "identity", None)
    return identity.username if identity is not None else "anonymous"


def cancel_execution(request: Request, execution: Execution) -> Execution:
    """Cancel a pending or running execution; 409 if it has finished already.

    A pending execution is cancelled at once (no engine runs it: the engine only
    claims pending executions).  A running one is flagged ``cancel_requested`` and its
    engine is told to stop: it terminates the step processes and records the end
    (``cancelled``) within seconds, after its last log line - so the engine stays the
    only writer of the run's state and log while it runs.
    """
    dbsession: Session = request.dbsession
    now = utcnow()
    result = dbsession.execute(
        update(Execution)
        .where(Execution.id == execution.id, Execution.status == "pending")
        .values(status="cancelled", cancel_requested=True, completed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        dbsession.execute(
            update(StepExecution)
            .where(
                StepExecution.execution_id == execution.id,
                StepExecution.status.in_(ACTIVE_STATUSES),
            )
            .values(
                status=case((StepExecution.status == "running", "cancelled"), else_="skipped"),
                completed_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        append_lines(
            dbsession,
            execution.id,
            [f"Execution cancelled by {username(request)}."],
            stream="system",
        )
        dbsession.refresh(execution)
        sync_pipeline_status(dbsession, execution)
        publish_after_commit(
            request,
            ExecutionEvent(
                STATUS_EVENT,
                execution.id,
                {
                    "status": "cancelled",
                    "reason": "cancelled before it started",
                    "project_id": execution.project_id,
                    "pipeline_id": execution.pipeline_id,
                },
            ),
        )
        return execution
    result = dbsession.execute(
        update(Execution)
        .where(Execution.id == execution.id, Execution.status == "running")
        .values(cancel_requested=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    dbsession.refresh(execution)
    if result.rowcount != 1:
        raise Conflict(
            f"Execution {execution.id} is {execution.status}; only pending or running "
            "executions can be cancelled.",
            code="invalid_state",
        )
    cancel_after_commit(request, execution.id, by=username(request))
    return execution


def retry_execution(request: Request, execution: Execution) -> Execution:
    """A new pending execution with the same definition; 409 unless ``execution`` ended."""
    if execution.status not in FINAL_STATUSES:
        raise Conflict(
            f"Execution {execution.id} is {execution.status}; only finished executions "
            "can be retried.",
            code="invalid_state",
        )
    return insert_execution(
        request,
        project_id=execution.project_id,
        pipeline_id=execution.pipeline_id,
        tool_id=execution.cicd_tool_id,
        definition=execution.definition,
        trigger_type="manual",
        parameters=execution.parameters,
        trigger_data={"retry_of": execution.id},
        retry_of_id=execution.id,
    )


def duration_seconds_expression(dialect: str) -> Any:
    """SQL for ``completed_at - started_at`` in seconds on this database."""
    if dialect == "postgresql":
        return func.extract("epoch", Execution.completed_at - Execution.started_at)
    return (func.julianday(Execution.completed_at) - func.julianday(Execution.started_at)) * 86400.0


def statistics(
    request: Request, days: int, *, project_id: int | None = None, pipeline_id: int | None = None
) -> dict[str, Any]:
    """Counts by status, success rate and average duration of the last ``days`` days."""
    dbsession: Session = request.dbsession
    since = utcnow() - dt.timedelta(days=days)
    conditions = [Execution.created_at >= since]
    if project_id is not None:
        conditions.append(Execution.project_id == project_id)
    if pipeline_id is not None:
        conditions.append(Execution.pipeline_id == pipeline_id)

    def scoped(query: Any) -> Any:
        return restrict_to_visible(request, query.where(*conditions), Execution.project_id)

    by_status = dict.fromkeys(EXECUTION_STATUSES, 0)
    for status, count in dbsession.execute(
        scoped(select(Execution.status, func.count()).group_by(Execution.status))
    ):
        by_status[status] = int(count)
    duration = duration_seconds_expression(dbsession.get_bind().dialect.name)
    average = dbsession.scalar(
        scoped(
            select(func.avg(duration)).where(
                Execution.started_at.is_not(None), Execution.completed_at.is_not(None)
            )
        )
    )
    day = func.date(Execution.created_at)
    daily = [
        {"date": str(row.day), "total": int(row.total), "success": int(row.success or 0)}
        for row in dbsession.execute(
            scoped(
                select(
                    day.label("day"),
                    func.count().label("total"),
                    func.sum(case((Execution.status == "success", 1), else_=0)).label("success"),
                )
                .group_by(day)
                .order_by(day)
            )
        )
    ]
    finished = sum(by_status[s] for s in FINAL_STATUSES)
    total = sum(by_status.values())
    return {
        "days": days,
        "since": since,
        "total": total,
        "by_status": by_status,
        "finished": finished,
        "success_rate": round(100.0 * by_status["success"] / finished, 2) if finished else None,
        "average_duration": round(float(average), 3) if average is not None else None,
        "daily": daily,
    }
