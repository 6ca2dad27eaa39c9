"""The execution service: every rule about executions, written once.

Shows the service pattern plugins copy: a class implementing an interface
(:class:`~ansflow_cicd.interfaces.IExecutionService`), built from a database session
and an :class:`~ansflow_projects.interfaces.Actor` (never a request), raising domain
exceptions (never HTTP errors).  The API views build one per request with
:func:`execution_service`; the engine's store uses the same transitions
(:mod:`ansflow_cicd.transitions`) on its own connections.

* create: a new ``pending`` execution whose ``definition`` is a snapshot of the
  pipeline and its steps, plus one ``pending`` step execution per step;
* cancel: ``pending`` -> ``cancelled`` at once (its steps end ``skipped``);
  ``running`` -> ``cancel_requested``, and the engine running it stops the steps and
  records ``cancelled`` within seconds;
* retry: from a final state (``success``, ``failed``, ``cancelled``, ``timeout``) ->
  a *new* pending execution with the same definition and parameters, whose
  ``retry_of`` names the run it repeats;
* statistics over the executions the actor may see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansflow_pipelines.models import Pipeline, PipelineStep
from ansflow_projects.acl import actor_of, restrict_to_visible_for
from ansflow_projects.fields import does_not_exist
from ansflow_projects.interfaces import Actor
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from zope.interface import implementer

from ansflow_cicd import transitions
from ansflow_cicd.group_rules import snapshot_parallel_groups
from ansflow_cicd.interfaces import (
    ExecutionEffects,
    IExecutionService,
    InvalidReference,
    InvalidTransition,
    PipelineInactive,
)
from ansflow_cicd.logs import append_lines
from ansflow_cicd.models import EXECUTION_STATUSES, FINAL_STATUSES, Execution, StepExecution, Tool
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution import (
    STATUS_EVENT,
    ExecutionEvent,
    cancel_after_commit,
    publish_after_commit,
    submit_after_commit,
)

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


def duration_seconds_expression(dialect: str) -> Any:
    """SQL for ``completed_at - started_at`` in seconds on this database."""
    if dialect == "postgresql":
        return func.extract("epoch", Execution.completed_at - Execution.started_at)
    return (func.julianday(Execution.completed_at) - func.julianday(Execution.started_at)) * 86400.0


class NoEffects:
    """Effects for callers outside any transaction manager: run nothing."""

    def submit(self, execution_id: int) -> None:
        pass

    def cancel(self, execution_id: int, by: str) -> None:
        pass

    def publish(self, event: Any) -> None:
        pass


class RequestEffects:
    """Effects run after a request's transaction commits (through the engine runtime)."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def submit(self, execution_id: int) -> None:
        submit_after_commit(self.request, execution_id)

    def cancel(self, execution_id: int, by: str) -> None:
        cancel_after_commit(self.request, execution_id, by=by)

    def publish(self, event: Any) -> None:
        publish_after_commit(self.request, event)


@implementer(IExecutionService)
class ExecutionService:
    """:class:`IExecutionService` over the cicd tables."""

    def __init__(
        self, dbsession: Session, actor: Actor, effects: ExecutionEffects | None = None
    ) -> None:
        self.dbsession = dbsession
        self.actor = actor
        self.effects: ExecutionEffects = effects if effects is not None else NoEffects()

    # -- create and retry ------------------------------------------------------------
    def find_tool(self, tool_id: int, project_id: int, field: str) -> Tool:
        """Tool ``tool_id`` of project ``project_id`` as the actor sees it."""
        query = restrict_to_visible_for(
            self.actor, select(Tool).where(Tool.id == tool_id), Tool.project_id
        )
        tool = self.dbsession.scalars(query).first()
        if tool is None:
            raise InvalidReference({field: does_not_exist(tool_id)})
        if tool.project_id != project_id:
            raise InvalidReference(
                {field: ["The tool belongs to another project than the pipeline."]}
            )
        return tool

    def find_pipeline(self, pipeline_id: int, field: str) -> Pipeline:
        """Pipeline ``pipeline_id`` as the actor sees it."""
        query = restrict_to_visible_for(
            self.actor, select(Pipeline).where(Pipeline.id == pipeline_id), Pipeline.project_id
        )
        pipeline = self.dbsession.scalars(query).first()
        if pipeline is None:
            raise InvalidReference({field: does_not_exist(pipeline_id)})
        return pipeline

    def create(
        self,
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
            raise PipelineInactive(pipeline.id)
        tool = self.find_tool(tool_id, pipeline.project_id, tool_field) if tool_id else None
        return self._insert(
            project_id=pipeline.project_id,
            pipeline_id=pipeline.id,
            tool_id=tool.id if tool is not None else None,
            definition=snapshot_definition(pipeline, tool),
            trigger_type=trigger_type,
            parameters=parameters,
            trigger_data=trigger_data or {},
        )

    def retry(self, execution: Execution) -> Execution:
        """A new pending execution with the same definition, linked by ``retry_of``."""
        if execution.status not in FINAL_STATUSES:
            raise InvalidTransition(
                f"Execution {execution.id} is {execution.status}; only finished executions "
                "can be retried.",
                execution_id=execution.id,
                status=execution.status,
            )
        return self._insert(
            project_id=execution.project_id,
            pipeline_id=execution.pipeline_id,
            tool_id=execution.cicd_tool_id,
            definition=execution.definition,
            trigger_type="manual",
            parameters=execution.parameters,
            trigger_data={"retry_of": execution.id},
            retry_of_id=execution.id,
        )

    def _insert(
        self,
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
        dbsession = self.dbsession
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
            triggered_by_id=self.actor.user_id,
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
        transitions.sync_pipeline(dbsession, execution.id, pipeline_id, execution.status)
        # The engine runs it once the caller's transaction has committed.
        self.effects.submit(execution.id)
        return execution

    # -- cancel ----------------------------------------------------------------------
    def cancel(self, execution: Execution) -> Execution:
        """Cancel a pending or running execution.

        A pending execution is cancelled at once (no engine runs it: the engine only
        claims pending executions).  A running one is flagged ``cancel_requested`` and
        its engine is told to stop: it terminates the step processes and records the
        end (``cancelled``) within seconds, after its last log line - so the engine
        stays the only writer of the run's state and log while it runs.
        """
        dbsession = self.dbsession
        now = utcnow()
        if transitions.cancel_pending(dbsession, execution.id, now) is not None:
            append_lines(
                dbsession,
                execution.id,
                [f"Execution cancelled by {self.actor.display_name}."],
                stream="system",
            )
            dbsession.refresh(execution)
            self.effects.publish(
                ExecutionEvent(
                    STATUS_EVENT,
                    execution.id,
                    {
                        "status": "cancelled",
                        "reason": "cancelled before it started",
                        "project_id": execution.project_id,
                        "pipeline_id": execution.pipeline_id,
                    },
                )
            )
            return execution
        requested = transitions.request_cancel(dbsession, execution.id, now)
        dbsession.refresh(execution)
        if not requested:
            raise InvalidTransition(
                f"Execution {execution.id} is {execution.status}; only pending or running "
                "executions can be cancelled.",
                execution_id=execution.id,
                status=execution.status,
            )
        self.effects.cancel(execution.id, self.actor.display_name)
        return execution

    # -- statistics ------------------------------------------------------------------
    def statistics(
        self, days: int, *, project_id: int | None = None, pipeline_id: int | None = None
    ) -> dict[str, Any]:
        """Counts by status, success rate and average duration of the last ``days`` days."""
        dbsession = self.dbsession
        since = utcnow() - dt.timedelta(days=days)
        conditions = [Execution.created_at >= since]
        if project_id is not None:
            conditions.append(Execution.project_id == project_id)
        if pipeline_id is not None:
            conditions.append(Execution.pipeline_id == pipeline_id)

        def scoped(query: Any) -> Any:
            return restrict_to_visible_for(
                self.actor, query.where(*conditions), Execution.project_id
            )

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
                        func.sum(case((Execution.status == "success", 1), else_=0)).label(
                            "success"
                        ),
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


def execution_service(request: Any) -> ExecutionService:
    """The service acting for ``request``'s caller, in its transaction (a service
    factory: the only place the request is looked at)."""
    return ExecutionService(request.dbsession, actor_of(request), RequestEffects(request))
