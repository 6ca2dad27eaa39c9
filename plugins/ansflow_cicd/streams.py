"""Live views of executions: Server-Sent Events streams and their tokens.

* ``GET /api/v1/cicd/executions/{id}/events/``: one execution - a snapshot, its log
  lines, step and status events, then ``end`` (see
  :mod:`ansflow_pyramid.execution.sse`); resumable with ``Last-Event-ID``.
* ``GET /api/v1/cicd/events/``: status and step events of every execution the caller
  may view, for dashboards.
* ``POST .../executions/{id}/stream_token/`` and ``POST /api/v1/cicd/events/token/``:
  a short-lived token for clients that cannot send an ``Authorization`` header (a
  browser's ``EventSource``): ``GET .../events/?token=...``.  The token authenticates
  only GET requests of the stream it names (:func:`stream_token_identity`).

Streams are answered with the session cookie, a Bearer token or a stream token.
"""

from __future__ import annotations

from typing import Any

from ansflow_pipelines.models import Pipeline
from ansflow_projects.acl import current_user_id, visible_project_ids
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from sqlalchemy import select

from ansflow_cicd.models import Execution
from ansflow_cicd.resources import ExecutionCollection, ExecutionItem
from ansflow_pyramid.execution import (
    GLOBAL_SCOPE,
    ExecutionEvent,
    execution_scope,
    execution_stream_response,
    get_execution_store,
    get_runtime,
    global_stream_response,
    make_stream_token,
    stream_token_problem,
    verify_stream_token,
)
from ansflow_pyramid.identity import Identity, User
from ansflow_pyramid.security import refuse_credentials
from ansflow_pyramid.security.policy import IDENTITY_SOURCES_KEY

GLOBAL_PATH = ("api", "v1", "cicd", "events")
#: Pending and running executions sent in the global stream's first snapshot, at most.
INITIAL_LIMIT = 200


def _secret(request: Request) -> str:
    return str(request.registry.settings.get("ansflow.secret_key") or "")


def _issue(request: Request, scope: str, url: str) -> dict[str, Any]:
    user_id = current_user_id(request)
    if user_id is None:
        raise HTTPForbidden()
    ttl = get_runtime(request.registry).settings.stream_token_ttl
    token = make_stream_token(_secret(request), scope, user_id, ttl)
    return {"token": token, "expires_in": ttl, "url": f"{url}?token={token}"}


# -- one execution --------------------------------------------------------------------
def execution_events(context: ExecutionItem, request: Request) -> Any:
    """Server-Sent Events of this execution: snapshot, log lines, steps, status, end."""
    return execution_stream_response(request, context.obj.id)


def execution_stream_token(context: ExecutionItem, request: Request) -> dict[str, Any]:
    """A short-lived token for ``events/?token=`` (browsers' EventSource)."""
    url = request.resource_url(context) + "events/"
    return _issue(request, execution_scope(context.obj.id), url)


# -- every execution ------------------------------------------------------------------
def _visible_projects(request: Request) -> set[int] | None:
    query = visible_project_ids(request)
    if query is None:
        return None
    return set(request.dbsession.scalars(query))


def _active_executions(request: Request, visible: set[int] | None) -> list[dict[str, Any]]:
    query = (
        select(
            Execution.id,
            Execution.status,
            Execution.project_id,
            Execution.pipeline_id,
            Pipeline.name,
            Execution.started_at,
            Execution.created_at,
        )
        .outerjoin(Pipeline, Pipeline.id == Execution.pipeline_id)
        .where(Execution.status.in_(("pending", "running")))
        .order_by(Execution.id.desc())
        .limit(INITIAL_LIMIT)
    )
    if visible is not None:
        query = query.where(Execution.project_id.in_(visible))
    return [
        {
            "execution_id": row.id,
            "status": row.status,
            "project_id": row.project_id,
            "pipeline_id": row.pipeline_id,
            "pipeline_name": row.name,
            "started_at": row.started_at,
            "created_at": row.created_at,
        }
        for row in request.dbsession.execute(query)
    ]


def global_events(context: Any, request: Request) -> Any:
    """Server-Sent Events of every execution the caller may view (status and steps)."""
    if request.identity is None:
        raise HTTPForbidden()
    visible = _visible_projects(request)
    initial = {"type": "executions", "executions": _active_executions(request, visible)}
    store = get_execution_store(request.registry)
    projects: dict[int, int | None] = {}

    def allow(event: ExecutionEvent) -> bool:
        if visible is None:
            return True
        project_id = event.data.get("project_id")
        if project_id is None:
            if event.execution_id not in projects:
                if len(projects) > 10_000:
                    projects.clear()
                projects[event.execution_id] = store.project_of(event.execution_id)  # type: ignore[attr-defined]
            project_id = projects[event.execution_id]
        return project_id in visible

    return global_stream_response(request, allow=allow, initial=lambda: initial)


def global_stream_token(context: Any, request: Request) -> dict[str, Any]:
    """A short-lived token for ``/api/v1/cicd/events/?token=``."""
    return _issue(request, GLOBAL_SCOPE, request.resource_url(context.__parent__))


# -- authenticating stream requests by token --------------------------------------------
def stream_scope_of(request: Request) -> str | None:
    """The stream a GET request asks for, judged by its path (None: not a stream)."""
    if request.method not in ("GET", "HEAD"):
        return None
    segments = [segment for segment in request.path_info.split("/") if segment]
    if len(segments) < 2 or segments[-1] != "events":
        return None
    if tuple(segments) == GLOBAL_PATH:
        return GLOBAL_SCOPE
    # .../executions/{id}/events/ on any path of the executions collection.
    if len(segments) >= 3 and segments[-3] == "executions" and segments[-2].isdigit():
        return execution_scope(int(segments[-2]))
    return None


def stream_token_identity(request: Request) -> Identity | None:
    """The identity a ``?token=`` stream token gives, for its own stream only."""
    token = request.GET.get("token")
    if not token:
        return None
    scope = stream_scope_of(request)
    if scope is None:
        return None
    claimed = verify_stream_token(_secret(request), token, scope)
    if claimed is None or claimed.user_id is None:
        problem = stream_token_problem(_secret(request), token, scope)
        refuse_credentials(
            request, problem or "The stream token names no user.", "stream_token_not_valid"
        )
        return None
    user = request.dbsession.get(User, claimed.user_id)
    if user is None or not user.is_active:
        refuse_credentials(
            request, "The stream token's user is inactive or gone.", "stream_token_not_valid"
        )
        return None
    return Identity.of_user(user, "stream", {"scope": scope})


def includeme(config: Any) -> None:
    config.add_api_action(ExecutionCollection, "events", execution_events, methods=["GET"])
    config.add_api_action(
        ExecutionCollection, "stream_token", execution_stream_token, permission="view"
    )
    config.add_api_endpoint(
        "cicd.events",
        "/api/v1/cicd/events",
        global_events,
        description="Server-Sent Events: status and step changes of every visible execution.",
    )
    config.add_api_endpoint(
        "cicd.events_token",
        "/api/v1/cicd/events/token",
        global_stream_token,
        methods=("POST",),
        description="A short-lived token for /api/v1/cicd/events/?token= (EventSource).",
    )
    config.registry.setdefault(IDENTITY_SOURCES_KEY, []).append(stream_token_identity)
