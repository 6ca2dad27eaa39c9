"""Custom actions of the cicd plugin.

Shows: item actions that change state with a permission of their own (``cancel/``
and ``retry/`` need ``run``), read-only item actions (``logs/``, ``timeline/``), a
collection action with validated query parameters (``statistics/?days=``), an action
the cicd plugin adds to another plugin's resource (``pipelines/{id}/run/``), and
connection checks that give up after a bounded time.
"""

from __future__ import annotations

import re
from typing import Any

from ansflow_pipelines.resources import PipelineItem
from ansflow_projects.acl import require_project
from pyramid.request import Request
from sqlalchemy import select

from ansflow_cicd.executions import (
    cancel_execution,
    create_execution,
    retry_execution,
    statistics,
)
from ansflow_cicd.logs import MERGED_MAX_LINES, read_lines
from ansflow_cicd.models import FINAL_STATUSES, StepExecution, Tool
from ansflow_cicd.resources import (
    ExecutionCollection,
    ExecutionItem,
    GitCredentialItem,
    ToolCollection,
    ToolItem,
    describe_steps,
    execution_detail,
)
from ansflow_cicd.schemas import (
    CheckOut,
    LocalExecutorRequest,
    RunRequest,
    label,
    seconds_between,
)
from ansflow_cicd.secrets import get_secret_box
from ansflow_cicd.tooltypes import CheckResult, ToolConnection, check_timeout, tool_types
from ansflow_pyramid.api import ValidationFailed, validated_body
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.outbound import get_outbound_client

WHOLE_NUMBER = re.compile(r"-?[0-9]{1,15}")
#: ``logs/?limit=`` at most.
MAX_LOG_PAGE = 5000
DEFAULT_LOG_PAGE = 1000


def int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    """A bounded integer query parameter; anything else is a 400 naming it."""
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not WHOLE_NUMBER.fullmatch(raw):
        raise ValidationFailed({name: ["A whole number is required."]})
    value = int(raw)
    if not low <= value <= high:
        raise ValidationFailed({name: [f"Must be between {low} and {high}."]})
    return value


def _created(request: Request, collection: ExecutionCollection, execution: Any) -> dict[str, Any]:
    request.response.status = 201
    request.response.headers["Location"] = request.resource_url(collection.item_for(execution))
    return execution_detail(request.dbsession, execution)


def executions_collection(request: Request, context: Any) -> ExecutionCollection:
    """The executions collection at its canonical path (for Location headers)."""
    return context.root["api"]["v1"]["cicd"]["executions"]


# -- executions -------------------------------------------------------------------
def cancel(context: ExecutionItem, request: Request) -> dict[str, Any]:
    """Cancel a pending or running execution (409 once it has finished)."""
    execution = cancel_execution(request, context.obj)
    return context.collection.serialize(execution)


def retry(context: ExecutionItem, request: Request) -> dict[str, Any]:
    """Run a finished execution again: returns the new execution (201)."""
    execution = retry_execution(request, context.obj)
    return _created(request, context.collection, execution)


def logs(context: ExecutionItem, request: Request) -> dict[str, Any]:
    """The execution's log: merged text, or lines by offset with ``?offset=&limit=``.

    Without ``offset``/``limit``: ``{"logs": text, ...}`` (at most 50000 lines;
    ``truncated`` says when more exist).  With them: ``{"lines": [...], "offset",
    "next_offset", "has_more", "complete"}``, where ``offset`` is the number of the
    last line already read (0 at first), ``next_offset`` the value to send next time,
    ``has_more`` whether more lines are stored now, and ``complete`` whether the
    execution has finished and every line has been read.  ``?step=<id>`` narrows to
    one step execution.
    """
    execution = context.obj
    dbsession = request.dbsession
    step_id = int_param(request, "step", None, 1, 2**31 - 1)
    offset = int_param(request, "offset", None, 0, 2**62)
    limit = int_param(request, "limit", None, 1, MAX_LOG_PAGE)
    final = execution.status in FINAL_STATUSES
    if offset is None and limit is None:
        lines = read_lines(dbsession, execution.id, 0, MERGED_MAX_LINES + 1, step_id)
        truncated = len(lines) > MERGED_MAX_LINES
        lines = lines[:MERGED_MAX_LINES]
        return {
            "execution_id": execution.id,
            "status": execution.status,
            "logs": "\n".join(line.text for line in lines),
            "line_count": len(lines),
            "next_offset": lines[-1].number if lines else 0,
            "truncated": truncated,
            "complete": final and not truncated,
        }
    offset = offset or 0
    limit = limit or DEFAULT_LOG_PAGE
    lines = read_lines(dbsession, execution.id, offset, limit + 1, step_id)
    has_more = len(lines) > limit
    lines = lines[:limit]
    names = {s.id: s.step_name for s in _described_steps(request, execution) if s.id is not None}
    return {
        "execution_id": execution.id,
        "status": execution.status,
        "offset": offset,
        "limit": limit,
        "lines": [
            {
                "number": line.number,
                "step_id": line.step_execution_id,
                "step_name": names.get(line.step_execution_id),
                "stream": line.stream,
                "text": line.text,
                "timestamp": line.created_at,
            }
            for line in lines
        ],
        "next_offset": lines[-1].number if lines else offset,
        "has_more": has_more,
        "complete": final and not has_more,
    }


def _described_steps(request: Request, execution: Any) -> list[StepExecution]:
    steps = list(
        request.dbsession.scalars(
            select(StepExecution)
            .where(StepExecution.execution_id == execution.id)
            .order_by(StepExecution.order, StepExecution.id)
        )
    )
    describe_steps(execution, steps, {})
    return steps


def timeline(context: ExecutionItem, request: Request) -> dict[str, Any]:
    """When the execution and each of its steps started and ended."""
    execution = context.obj
    steps = _described_steps(request, execution)
    return {
        "execution_id": execution.id,
        "status": execution.status,
        "status_display": label(execution.status),
        "created_at": execution.created_at,
        "started_at": execution.started_at,
        "completed_at": execution.completed_at,
        "duration": seconds_between(execution.started_at, execution.completed_at),
        "total_steps": len(steps),
        "completed_steps": sum(1 for s in steps if s.status in (*FINAL_STATUSES, "skipped")),
        "timeline": [
            {
                "step_id": step.id,
                "step_name": step.step_name,
                "step_type": step.step_type,
                "order": step.order,
                "status": step.status,
                "status_display": label(step.status),
                "started_at": step.started_at,
                "completed_at": step.completed_at,
                "duration": seconds_between(step.started_at, step.completed_at),
            }
            for step in steps
        ],
    }


def execution_statistics(context: ExecutionCollection, request: Request) -> dict[str, Any]:
    """Executions of the last ``?days=`` days (1..365, default 30) by status, the
    success rate (percent of finished ones) and the average duration in seconds;
    ``?project_id=`` and ``?pipeline_id=`` narrow it."""
    days = int_param(request, "days", 30, 1, 365)
    assert days is not None
    project_id = int_param(request, "project_id", None, 1, 2**31 - 1)
    pipeline_id = context.fixed_filters.get("pipeline_id") or int_param(
        request, "pipeline_id", None, 1, 2**31 - 1
    )
    return statistics(request, days, project_id=project_id, pipeline_id=pipeline_id)


def run_pipeline(context: PipelineItem, request: Request) -> dict[str, Any]:
    """Start an execution of this pipeline (201 with the new execution)."""
    data = validated_body(request, RunRequest)
    pipeline = context.obj
    tool_id = (
        data.cicd_tool_id if "cicd_tool_id" in data.model_fields_set else pipeline.execution_tool_id
    )
    execution = create_execution(
        request,
        pipeline,
        tool_id=tool_id,
        trigger_type=data.trigger_type,
        parameters=data.parameters,
        trigger_data=data.trigger_data,
    )
    return _created(request, executions_collection(request, context), execution)


# -- tools ------------------------------------------------------------------------
def _check(request: Request, tool: Tool) -> CheckResult:
    tool_type = tool_types(request.registry).get(tool.tool_type)
    if tool_type is None:
        return CheckResult("error", f"No plugin provides the tool type {tool.tool_type!r}.")
    token = ""
    if tool.token_encrypted:
        try:
            token = get_secret_box(request.registry).decrypt(tool.token_encrypted)
        except ValueError:
            return CheckResult("error", "The stored token cannot be decrypted (key changed?).")
    connection = ToolConnection(
        tool.base_url,
        tool.username,
        token,
        dict(tool.config),
        get_outbound_client(request.registry),
    )
    return tool_type.check(connection, check_timeout(request.registry))


def _record_check(request: Request, tool: Tool) -> dict[str, Any]:
    result = _check(request, tool)
    tool.status = result.status
    tool.last_health_check = utcnow()
    request.dbsession.flush()
    return CheckOut(
        tool_id=tool.id,
        status=result.status,
        status_display=label(result.status),
        healthy=result.healthy,
        is_healthy=result.healthy,
        success=result.healthy,
        detailed_status=result.status,
        message=result.message,
        last_health_check=tool.last_health_check,
    ).model_dump(mode="json")


def health_check(context: ToolItem, request: Request) -> dict[str, Any]:
    """Check that the tool answers and accepts its credentials; records the status."""
    return _record_check(request, context.obj)


def test_connection(context: ToolItem, request: Request) -> dict[str, Any]:
    """Like ``health_check/`` (AnsFlow clients call both)."""
    return _record_check(request, context.obj)


def create_local_executor(context: ToolCollection, request: Request) -> dict[str, Any]:
    """The project's local executor tool, created if it has none (201) or as is (200)."""
    data = validated_body(request, LocalExecutorRequest)
    require_project(request, data.project, "add")
    tool = request.dbsession.scalars(
        select(Tool)
        .where(Tool.project_id == data.project, Tool.tool_type == "local")
        .order_by(Tool.id)
    ).first()
    if tool is None:
        tool = context.create(
            context.create_schema.model_validate(
                {"project": data.project, "name": data.name, "tool_type": "local"}
            )
        )
        request.response.status = 201
        request.response.headers["Location"] = request.resource_url(context.item_for(tool))
    return context.serialize(tool)


# -- git credentials --------------------------------------------------------------
def test_git_credential(context: GitCredentialItem, request: Request) -> dict[str, Any]:
    """Check that the credential's git server answers (HTTP reachability)."""
    from ansflow_cicd.tooltypes import http_check

    credential = context.obj
    if not credential.server_url:
        result = CheckResult("error", "The credential has no server_url to test.")
    else:
        connection = ToolConnection(
            credential.server_url, client=get_outbound_client(request.registry)
        )
        result = http_check("/")(connection, check_timeout(request.registry))
        # Without sending the secret, a server that asks for credentials is reachable.
        if result.status == "needs_auth":
            result = CheckResult("authenticated", "The server is reachable.")
    credential.last_test_at = utcnow()
    credential.last_test_result = "success" if result.healthy else "failed"
    request.dbsession.flush()
    return {
        "success": result.healthy,
        "status": result.status,
        "message": result.message,
        "last_test_at": credential.last_test_at,
    }
