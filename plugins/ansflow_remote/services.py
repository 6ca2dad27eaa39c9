"""What the API views of the CI tool plugins share: a tool's remote connection, the
remote errors as JSON answers, remote contexts built from a pipeline.

Remote errors become API errors as follows: the job, build or run does not exist ->
404 ``remote_not_found``; the tool refused the credentials -> 400
``tool_credentials_refused``; the tool cannot be reached or keeps failing -> 424
``tool_unavailable`` (with ``Retry-After`` when the tool gave one); anything else the
tool refused -> 400 ``tool_refused``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ansflow_cicd.models import Tool
from ansflow_cicd.secrets import get_secret_box

from ansflow_pyramid.api import APIError, NotFound
from ansflow_pyramid.execution.remote import (
    REMOTE,
    RemoteAuthError,
    RemoteError,
    RemoteNotFound,
    RemoteRunContext,
    RemoteTarget,
    RemoteTool,
    RemoteUnavailable,
    remote_steps,
)
from ansflow_pyramid.execution.specs import RunSpec, StepSpec

T = TypeVar("T")


def remote_tool(registry: Any, tool: Tool) -> RemoteTool:
    """The tool as backends see it (token decrypted)."""
    token = ""
    if tool.token_encrypted:
        try:
            token = get_secret_box(registry).decrypt(tool.token_encrypted)
        except ValueError as error:
            raise APIError(
                "The tool's stored token cannot be decrypted (was the secret key changed?).",
                code="tool_token_unreadable",
            ) from error
    return RemoteTool(
        tool.id,
        tool.tool_type,
        tool.base_url,
        tool.username,
        token,
        dict(tool.config or {}),
        tool.project_id,
        tool.name,
    )


def api_error(error: RemoteError) -> APIError:
    if isinstance(error, RemoteNotFound):
        return NotFound(str(error), code="remote_not_found")
    if isinstance(error, RemoteAuthError):
        return APIError(str(error), code="tool_credentials_refused", status=400)
    if isinstance(error, RemoteUnavailable):
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(error.retry_after)))
        return APIError(str(error), code="tool_unavailable", status=424, headers=headers)
    return APIError(str(error), code="tool_refused", status=400)


@contextmanager
def remote_call() -> Iterator[None]:
    """Run remote calls; their errors become JSON API errors."""
    try:
        yield
    except RemoteError as error:
        raise api_error(error) from error
    except (ValueError, KeyError, TypeError) as error:
        # A tool answering something unexpected (not JSON, fields missing) is the
        # tool's failure, reported as such rather than as our 500.
        raise APIError(
            f"The tool gave an unexpected answer ({type(error).__name__}).",
            code="tool_unexpected_answer",
            status=424,
        ) from error


def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with remote_call():
        return function(*args, **kwargs)


def pipeline_context(
    registry: Any,
    pipeline: Any,
    tool: RemoteTool,
    *,
    job_name: str = "",
    job_config: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    mode: str | None = None,
) -> RemoteRunContext:
    """A remote context for a pipeline as it is now (for sync and preview)."""
    steps = tuple(
        StepSpec(
            step_id=step.id,
            name=step.name,
            step_type=step.step_type,
            command=step.command,
            environment_vars=dict(step.environment_vars or {}),
            timeout_seconds=step.timeout_seconds or None,
            parallel_group=step.parallel_group or "",
            order=step.order,
            config={"conditions": step.conditions},
        )
        for step in sorted(pipeline.steps, key=lambda s: (s.order, s.id))
    )
    spec = RunSpec(
        execution_id=0,
        steps=steps,
        parameters=dict(parameters or {}),
        pipeline_name=pipeline.name,
        event_data={"project_id": pipeline.project_id, "pipeline_id": pipeline.id},
    )
    effective_mode = mode or (
        pipeline.execution_mode if pipeline.execution_mode != "local" else REMOTE
    )
    target = RemoteTarget(
        tool_id=tool.tool_id,
        tool_type=tool.tool_type,
        mode=effective_mode,
        job_name=job_name or pipeline.tool_job_name or "",
        job_config={**(pipeline.tool_job_config or {}), **(job_config or {})},
    )
    return RemoteRunContext(
        execution_id=0,
        tool=tool,
        target=target,
        spec=spec,
        steps=remote_steps(spec, target),
        dispatch_token="",
        registry=registry,
    )
