"""The one place where triggers create executions.

Webhooks and schedules start pipelines through :func:`start_pipeline`, which hands
the work to the cicd plugin's execution rules (snapshot the definition, insert the
pending execution and its steps, dispatch it once the transaction commits).  Those
rules are written against a request today; :class:`_EngineCaller` gives them what
they read from one - the session, the registry, the transaction manager the session
is joined to and the acting user - so nothing here depends on an HTTP request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansflow_cicd.executions import insert_execution, snapshot_definition
from ansflow_cicd.models import Tool
from ansflow_pipelines.models import Pipeline
from sqlalchemy.orm import Session

from ansflow_pyramid.db import MANAGER_KEY
from ansflow_triggers.interfaces import Actor, PipelineNotRunnable


@dataclass(frozen=True)
class _UserIdentity:
    user_id: int


class _EngineCaller:
    """What the cicd plugin's execution functions read from their caller."""

    def __init__(self, dbsession: Session, registry: Any, actor: Actor) -> None:
        self.dbsession = dbsession
        self.registry = registry
        # Dispatch waits for this manager's commit (see submit_after_commit).
        self.tm = dbsession.info.get(MANAGER_KEY)
        self.identity = _UserIdentity(actor.user_id) if actor.user_id is not None else None


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
    tool = None
    if pipeline.execution_tool_id is not None:
        tool = dbsession.get(Tool, pipeline.execution_tool_id)
        if tool is not None and tool.project_id != pipeline.project_id:
            tool = None
    execution = insert_execution(
        _EngineCaller(dbsession, registry, actor),  # type: ignore[arg-type]
        project_id=pipeline.project_id,
        pipeline_id=pipeline.id,
        tool_id=tool.id if tool is not None else None,
        definition=snapshot_definition(pipeline, tool),
        trigger_type=trigger_type,
        parameters=parameters,
        trigger_data=trigger_data,
    )
    return execution.id
