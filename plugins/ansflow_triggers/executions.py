"""The one place where triggers create executions.

Webhooks and schedules start pipelines through :func:`start_pipeline`, which hands
the work to the cicd plugin's execution service (snapshot the definition, insert the
pending execution and its steps, dispatch it once the transaction commits).  The
service needs an actor and the effects to run after the commit; :class:`_Committer`
gives the engine's after-commit helpers what they read - the registry and the
transaction manager the session is joined to - so nothing here needs an HTTP request.
"""

from __future__ import annotations

from typing import Any

from ansflow_cicd.models import Tool
from ansflow_cicd.services import ExecutionService, RequestEffects
from ansflow_pipelines.models import Pipeline
from ansflow_projects.interfaces import Actor as ServiceActor
from sqlalchemy.orm import Session

from ansflow_pyramid.db import MANAGER_KEY
from ansflow_triggers.interfaces import Actor, PipelineNotRunnable


class _Committer:
    """The registry and transaction manager the engine's after-commit helpers use."""

    def __init__(self, dbsession: Session, registry: Any) -> None:
        self.registry = registry
        # Dispatch waits for this manager's commit (see submit_after_commit).
        self.tm = dbsession.info.get(MANAGER_KEY)


def start_pipeline(
    dbsession: Session,
    registry: Any,
    pipeline: Pipeline,
    *,
    trigger_type: str,
    trigger_data: dict[str, Any],
    parameters: dict[str, Any],
    actor: Actor,
) -> int:
    """A pending execution of ``pipeline``, dispatched after the commit; its id."""
    if not pipeline.is_active:
        raise PipelineNotRunnable(f"Pipeline {pipeline.id} is inactive and cannot run.")
    tool_id = pipeline.execution_tool_id
    if tool_id is not None:
        tool = dbsession.get(Tool, tool_id)
        if tool is None or tool.project_id != pipeline.project_id:
            tool_id = None
    # A verified delivery or a due schedule acts for the system: the trigger's own
    # configuration already decided which pipeline may run.
    service = ExecutionService(
        dbsession,
        ServiceActor(user_id=actor.user_id, username=actor.name, unrestricted=True),
        RequestEffects(_Committer(dbsession, registry)),
    )
    execution = service.create(
        pipeline,
        tool_id=tool_id,
        trigger_type=trigger_type,
        parameters=parameters,
        trigger_data=trigger_data,
    )
    return execution.id
