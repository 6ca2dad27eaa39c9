"""WebSockets for AnsFlow's client: the execution and monitor sockets.

Shows: a plugin serving sockets with the core's handlers
(:mod:`ansflow_pyramid.sockets`), declared in the central registry like its HTTP
paths.  The paths are the ones AnsFlow's client and its older routes use:

* ``/ws/executions/{id}/`` (canonical; the original's route), alias
  ``/ws/execution/{id}`` (what the client opens): one execution, authorized like its
  SSE stream (``GET /api/v1/cicd/executions/{id}/events/``, so a stream token for
  that stream works as ``?token=``); ``control``/stop runs this plugin's ``cancel/``
  with its permission;
* ``/ws/monitor/``: every execution the user may see, authorized like the global
  stream (``/api/v1/cicd/events/``).
"""

from __future__ import annotations

from typing import Any

from ansflow_pipelines.models import Pipeline
from ansflow_projects.acl import visible_project_ids
from pyramid.request import Request
from sqlalchemy import func, select

from ansflow_cicd.models import Execution
from ansflow_cicd.views import cancel
from ansflow_pyramid.execution import get_execution_store
from ansflow_pyramid.sockets import ExecutionSocket, MonitorSocket, MonitorState

#: Executions sent in a monitor's ``recent_executions``.
RECENT_LIMIT = 20


def cancel_from_socket(request: Request, context: Any) -> dict[str, Any]:
    """The ``cancel/`` action, for a socket's ``control``/stop."""
    return cancel(context, request)


def monitor_state(request: Request) -> MonitorState:
    """Counts and recent executions of the projects the caller may view."""
    visible_query = visible_project_ids(request)
    visible = None if visible_query is None else set(request.dbsession.scalars(visible_query))

    def scoped(query: Any) -> Any:
        return query if visible is None else query.where(Execution.project_id.in_(visible))

    counts = dict(
        request.dbsession.execute(
            scoped(
                select(Execution.status, func.count())
                .where(Execution.status.in_(("pending", "running")))
                .group_by(Execution.status)
            )
        ).all()
    )
    rows = request.dbsession.execute(
        scoped(
            select(
                Execution.id,
                Execution.status,
                Execution.project_id,
                Execution.pipeline_id,
                Pipeline.name,
                Execution.trigger_type,
                Execution.started_at,
                Execution.completed_at,
                Execution.created_at,
            )
            .outerjoin(Pipeline, Pipeline.id == Execution.pipeline_id)
            .order_by(Execution.id.desc())
            .limit(RECENT_LIMIT)
        )
    ).all()
    recent = [
        {
            "id": row.id,
            "execution_id": row.id,
            "status": row.status,
            "project_id": row.project_id,
            "pipeline_id": row.pipeline_id,
            "pipeline_name": row.name,
            "trigger_type": row.trigger_type,
            "started_at": row.started_at,
            "completed_at": row.completed_at,
            "created_at": row.created_at,
        }
        for row in rows
    ]
    status = {
        "running_executions": int(counts.get("running", 0)),
        "pending_executions": int(counts.get("pending", 0)),
    }
    return MonitorState(visible, status, recent)


def includeme(config: Any) -> None:
    registry = config.registry
    config.add_socket_endpoint(
        "cicd.execution_socket",
        "/ws/executions/{execution_id}",
        ExecutionSocket(
            guard="/api/v1/cicd/executions/{execution_id}/events/",
            cancel_path="/api/v1/cicd/executions/{execution_id}/cancel/",
            cancel=cancel_from_socket,
        ),
        aliases=["/ws/execution/{execution_id}"],
        description="WebSocket: one execution's status, steps and log lines, live.",
    )
    config.add_socket_endpoint(
        "cicd.monitor_socket",
        "/ws/monitor",
        MonitorSocket(
            guard="/api/v1/cicd/events/",
            read=monitor_state,
            project_of=lambda execution_id: get_execution_store(registry).project_of(execution_id),
        ),
        description="WebSocket: status and step changes of every visible execution.",
    )
