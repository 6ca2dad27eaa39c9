"""Request-level entry points kept for existing callers: each one builds the
request's :class:`~ansflow_cicd.services.ExecutionService` and delegates to it.

New code should call the service (``execution_service(request)`` in views, or
``ExecutionService(dbsession, actor)`` elsewhere): the rules live there and in
:mod:`ansflow_cicd.transitions`.
"""

from __future__ import annotations

from typing import Any

from ansflow_pipelines.models import Pipeline
from pyramid.request import Request
from sqlalchemy.orm import Session

from ansflow_cicd import transitions
from ansflow_cicd.models import Execution, Tool
from ansflow_cicd.services import (
    DEFINITION_VERSION,
    STEP_SNAPSHOT_FIELDS,
    duration_seconds_expression,
    execution_service,
    snapshot_definition,
)
from ansflow_cicd.transitions import ACTIVE_STATUSES, PIPELINE_STATUS_FOR

__all__ = [
    "ACTIVE_STATUSES",
    "DEFINITION_VERSION",
    "PIPELINE_STATUS_FOR",
    "STEP_SNAPSHOT_FIELDS",
    "cancel_execution",
    "create_execution",
    "duration_seconds_expression",
    "find_tool",
    "retry_execution",
    "snapshot_definition",
    "statistics",
    "sync_pipeline_status",
]


def find_tool(request: Request, tool_id: int, project_id: int, field: str) -> Tool:
    """Tool ``tool_id`` of project ``project_id``, or a 400 on ``field``."""
    return execution_service(request).find_tool(tool_id, project_id, field)


def create_execution(request: Request, pipeline: Pipeline, **options: Any) -> Execution:
    """Trigger ``pipeline`` (see :meth:`ExecutionService.create`)."""
    return execution_service(request).create(pipeline, **options)


def cancel_execution(request: Request, execution: Execution) -> Execution:
    """Cancel ``execution`` (see :meth:`ExecutionService.cancel`)."""
    return execution_service(request).cancel(execution)


def retry_execution(request: Request, execution: Execution) -> Execution:
    """Run ``execution`` again (see :meth:`ExecutionService.retry`)."""
    return execution_service(request).retry(execution)


def statistics(request: Request, days: int, **scope: Any) -> dict[str, Any]:
    """Execution statistics (see :meth:`ExecutionService.statistics`)."""
    return execution_service(request).statistics(days, **scope)


def sync_pipeline_status(dbsession: Session, execution: Execution) -> None:
    """Mirror the status of a pipeline's newest execution on the pipeline."""
    transitions.sync_pipeline(dbsession, execution.id, execution.pipeline_id, execution.status)
