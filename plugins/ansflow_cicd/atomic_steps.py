"""Actions on atomic steps (reusable step templates): ``validate/``, ``test/``,
``clone/`` on a step; ``categories/`` and ``usage_statistics/`` (alias ``stats/``)
on the collection.

Shows: actions whose rules live in functions taking a database session and a actor
(``atomic_step_categories``, ``atomic_step_usage``) or plain data (``definition_of``),
a step type's own check used without running anything (``validate/``), and a step
run once through the real engine in a scratch run that stores nothing (``test/``),
bounded in time and in how many run at once.

A template's step runs what its ``parameters`` say: ``command`` (shell-like types),
``environment_vars`` (an object), and what its runner reads besides.
"""

from __future__ import annotations

import threading
from typing import Any

from ansflow_pipelines.extensions import step_types
from ansflow_pipelines.models import Pipeline, PipelineStep
from ansflow_pipelines.step_rules import check_definition
from ansflow_projects.acl import actor_of, restrict_to_visible_for
from ansflow_projects.fields import Id, JSONObject, Name, Text, does_not_exist
from ansflow_projects.interfaces import Actor
from pydantic import BaseModel, Field
from pyramid.request import Request
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from ansflow_cicd.models import AtomicStep, Execution, StepExecution, Tool
from ansflow_cicd.resources import AtomicStepCollection, AtomicStepItem
from ansflow_cicd.schemas import AtomicStepOut
from ansflow_pyramid.api import APIError, ValidationFailed, validated_body
from ansflow_pyramid.execution import RunSpec, StepSpec
from ansflow_pyramid.execution.scratch import run_scratch

TEST_TIMEOUT_SETTING = "ansflow.atomic_step_test_timeout"
TEST_CONCURRENCY_SETTING = "ansflow.atomic_step_test_concurrency"
DEFAULT_TEST_TIMEOUT = 60.0
DEFAULT_TEST_CONCURRENCY = 2
#: At most this many log lines come back from ``test/``.
TEST_MAX_LINES = 2000
_SEMAPHORE_KEY = "ansflow_cicd.atomic_step_tests"
_semaphore_lock = threading.Lock()


class DefinitionOverrides(BaseModel):
    """``validate/`` and ``test/``: parameters to use instead of the stored ones
    (merged over them) and, for ``test/``, the tool to run on."""

    parameters: JSONObject = Field(default_factory=dict)
    tool_type: Text(32) | None = None
    tool_id: Id | None = None


class CloneRequest(BaseModel):
    new_name: Name
    new_description: Text(10_000) | None = None


class ValidationOut(BaseModel):
    step_id: int
    step_name: str
    step_type: str
    is_valid: bool
    #: Field errors, e.g. ``{"parameters.command": ["..."]}``.
    errors: dict[str, list[str]]
    warnings: list[str]


class StepTestLogLine(BaseModel):
    number: int
    stream: str
    text: str


class StepTestResult(BaseModel):
    status: str
    success: bool
    exit_code: int | None
    error_message: str
    duration: float | None
    timeout_seconds: float
    logs: str
    log_lines: list[StepTestLogLine]
    truncated: bool


class StepTestOut(BaseModel):
    step_id: int
    step_name: str
    tool_id: int | None
    tool_name: str | None
    test_result: StepTestResult
    message: str


class CloneOut(BaseModel):
    message: str
    original_step_id: int
    cloned_step: AtomicStepOut


class Category(BaseModel):
    name: str
    label: str
    description: str
    total_count: int
    public_count: int
    private_count: int


class CategoriesOut(BaseModel):
    categories: list[Category]
    total_categories: int


class CategoryUsage(BaseModel):
    category: str
    label: str
    total_steps: int
    pipeline_steps: int
    total_executions: int
    successful_executions: int
    success_rate: float


class UsageOut(BaseModel):
    total_steps: int
    category_statistics: list[CategoryUsage]
    most_used_categories: list[str]


# -- services -----------------------------------------------------------------------
def definition_of(step: AtomicStep, overrides: dict[str, Any]) -> dict[str, Any]:
    """The step's parameters with ``overrides`` on top (one level deep)."""
    return {**(step.parameters or {}), **overrides}


def visible_steps(actor: Actor) -> Select[Any]:
    """The atomic steps ``actor`` may see: public ones and their own."""
    query = select(AtomicStep)
    if actor.unrestricted:
        return query
    return query.where(
        or_(AtomicStep.is_public.is_(True), AtomicStep.created_by_id == actor.user_id)
    )


def atomic_step_categories(dbsession: Session, actor: Actor, registry: Any) -> dict[str, Any]:
    """Every step type (the categories of templates) with how many templates of it
    the actor sees, in one query."""
    visible = visible_steps(actor).subquery()
    counts = {
        step_type: (int(total), int(public or 0))
        for step_type, total, public in dbsession.execute(
            select(
                visible.c.step_type,
                func.count(),
                func.sum(case((visible.c.is_public.is_(True), 1), else_=0)),
            ).group_by(visible.c.step_type)
        )
    }
    known = step_types(registry)
    names = sorted(set(known) | set(counts))
    categories = []
    for name in names:
        total, public = counts.get(name, (0, 0))
        step_type = known.get(name)
        categories.append(
            {
                "name": name,
                "label": step_type.label if step_type is not None else name,
                "description": step_type.description if step_type is not None else "",
                "total_count": total,
                "public_count": public,
                "private_count": total - public,
            }
        )
    return {"categories": categories, "total_categories": len(categories)}


def atomic_step_usage(dbsession: Session, actor: Actor, registry: Any) -> dict[str, Any]:
    """Per step type: the templates the actor sees, the steps of that type in the
    pipelines they see, and how those ran (three grouped queries)."""
    visible = visible_steps(actor).subquery()
    templates = dict(
        dbsession.execute(
            select(visible.c.step_type, func.count()).group_by(visible.c.step_type)
        ).all()
    )
    in_pipelines = dict(
        dbsession.execute(
            restrict_to_visible_for(
                actor,
                select(PipelineStep.step_type, func.count())
                .join(Pipeline, Pipeline.id == PipelineStep.pipeline_id)
                .group_by(PipelineStep.step_type),
                Pipeline.project_id,
            )
        ).all()
    )
    runs = {
        step_type: (int(total), int(success or 0))
        for step_type, total, success in dbsession.execute(
            restrict_to_visible_for(
                actor,
                select(
                    PipelineStep.step_type,
                    func.count(),
                    func.sum(case((StepExecution.status == "success", 1), else_=0)),
                )
                .join(PipelineStep, PipelineStep.id == StepExecution.pipeline_step_id)
                .join(Execution, Execution.id == StepExecution.execution_id)
                .group_by(PipelineStep.step_type),
                Execution.project_id,
            )
        )
    }
    known = step_types(registry)
    statistics = []
    for name in sorted(set(templates) | set(in_pipelines) | set(runs)):
        total, success = runs.get(name, (0, 0))
        step_type = known.get(name)
        statistics.append(
            {
                "category": name,
                "label": step_type.label if step_type is not None else name,
                "total_steps": int(templates.get(name, 0)),
                "pipeline_steps": int(in_pipelines.get(name, 0)),
                "total_executions": total,
                "successful_executions": success,
                "success_rate": round(100.0 * success / total, 2) if total else 0.0,
            }
        )
    statistics.sort(key=lambda entry: (-entry["total_executions"], entry["category"]))
    return {
        "total_steps": sum(int(count) for count in templates.values()),
        "category_statistics": statistics,
        "most_used_categories": [e["category"] for e in statistics if e["total_executions"]][:5],
    }


# -- views ----------------------------------------------------------------------------
def validate_step(context: AtomicStepItem, request: Request) -> dict[str, Any]:
    """Check the step's definition (with ``parameters`` from the body on top) against
    its step type: ``is_valid`` and field ``errors``; nothing runs."""
    data = validated_body(request, DefinitionOverrides)
    step = context.obj
    errors = check_definition(
        request.registry, step.step_type, definition_of(step, data.parameters)
    )
    warnings = []
    if data.tool_type is not None and data.tool_type != "local":
        warnings.append(
            f"Steps are tested on the local executor here; {data.tool_type!r} runs them remotely."
        )
    return {
        "step_id": step.id,
        "step_name": step.name,
        "step_type": step.step_type,
        "is_valid": not errors,
        "errors": errors,
        "warnings": warnings,
    }


def _test_slots(registry: Any) -> threading.BoundedSemaphore:
    with _semaphore_lock:
        slots = registry.get(_SEMAPHORE_KEY)
        if slots is None:
            raw = registry.settings.get(TEST_CONCURRENCY_SETTING)
            size = (
                int(raw) if str(raw or "").isdigit() and int(raw) > 0 else DEFAULT_TEST_CONCURRENCY
            )
            slots = registry[_SEMAPHORE_KEY] = threading.BoundedSemaphore(size)
        return slots


def _test_timeout(registry: Any, step: AtomicStep) -> float:
    raw = registry.settings.get(TEST_TIMEOUT_SETTING)
    try:
        limit = float(raw) if raw not in (None, "") else DEFAULT_TEST_TIMEOUT
    except ValueError:
        limit = DEFAULT_TEST_TIMEOUT
    return max(0.1, min(float(step.timeout_seconds or limit), limit))


def test_step(context: AtomicStepItem, request: Request) -> dict[str, Any]:
    """Run the step once, on the local executor, in a scratch run through the engine
    (nothing is stored); answer its outcome and log.  An invalid definition is a 400
    with field errors and does not run."""
    data = validated_body(request, DefinitionOverrides)
    step = context.obj
    tool = None
    if data.tool_id is not None:
        tool = request.dbsession.scalars(
            restrict_to_visible_for(
                actor_of(request), select(Tool).where(Tool.id == data.tool_id), Tool.project_id
            )
        ).first()
        if tool is None:
            raise ValidationFailed({"tool_id": does_not_exist(data.tool_id)})
        if tool.tool_type != "local":
            raise ValidationFailed(
                {
                    "tool_id": [
                        f"Steps are tested on a local executor; this is a {tool.tool_type} tool."
                    ]
                }
            )
    parameters = definition_of(step, data.parameters)
    errors = check_definition(request.registry, step.step_type, parameters)
    if errors:
        raise ValidationFailed(errors, "The step's definition is not valid.")
    timeout = _test_timeout(request.registry, step)
    variables = parameters.get("environment_vars") or {}
    spec = RunSpec(
        execution_id=0,
        steps=(
            StepSpec(
                step_id=1,
                name=step.name,
                step_type=step.step_type,
                command=str(parameters.get("command") or ""),
                environment_vars={str(k): v for k, v in variables.items()},
                timeout_seconds=timeout,
                config={"parameters": parameters, "ansible_parameters": parameters},
            ),
        ),
        pipeline_name=f"test of {step.name}",
    )
    slots = _test_slots(request.registry)
    if not slots.acquire(blocking=False):
        raise APIError(
            "Too many step tests are running; try again shortly.",
            code="busy",
            status=503,
            headers={"Retry-After": "5"},
        )
    try:
        outcome = run_scratch(request.registry, spec)
    finally:
        slots.release()
    result = outcome.steps[0]
    lines = sorted(outcome.lines, key=lambda line: line.number)[:TEST_MAX_LINES]
    return {
        "step_id": step.id,
        "step_name": step.name,
        "tool_id": tool.id if tool is not None else None,
        "tool_name": tool.name if tool is not None else None,
        "test_result": {
            "status": result.status,
            "success": result.status == "success",
            "exit_code": result.exit_code,
            "error_message": result.error or "",
            "duration": result.duration,
            "timeout_seconds": timeout,
            "logs": "\n".join(line.text for line in lines),
            "log_lines": [
                {"number": line.number, "stream": line.stream, "text": line.text} for line in lines
            ],
            "truncated": len(outcome.lines) > TEST_MAX_LINES,
        },
        "message": "Atomic step test completed",
    }


def clone_step(context: AtomicStepItem, request: Request) -> dict[str, Any]:
    """Copy the step as a new private template of the caller (201)."""
    data = validated_body(request, CloneRequest)
    source = context.obj
    actor = actor_of(request)
    if actor.user_id is None:
        raise APIError("Atomic steps belong to a user: authenticate first.", status=403)
    clone = AtomicStep(
        name=data.new_name,
        step_type=source.step_type,
        description=(
            data.new_description
            if data.new_description is not None
            else f"Cloned from {source.name}"
        ),
        parameters=dict(source.parameters or {}),
        timeout_seconds=source.timeout_seconds,
        retry_count=source.retry_count,
        is_public=False,
        created_by_id=actor.user_id,
    )
    request.dbsession.add(clone)
    request.dbsession.flush()
    collection = context.collection
    request.response.status = 201
    request.response.headers["Location"] = request.resource_url(collection.item_for(clone))
    return {
        "message": f"Step {clone.name!r} cloned from {source.name!r}.",
        "original_step_id": source.id,
        "cloned_step": collection.serialize(clone),
    }


def categories(context: AtomicStepCollection, request: Request) -> dict[str, Any]:
    """The step types, with how many templates of each the caller sees."""
    return atomic_step_categories(request.dbsession, actor_of(request), request.registry)


def usage_statistics(context: AtomicStepCollection, request: Request) -> dict[str, Any]:
    """Templates, pipeline steps and step runs per step type, as the caller sees them."""
    return atomic_step_usage(request.dbsession, actor_of(request), request.registry)


def includeme(config: Any) -> None:
    config.add_api_action(
        AtomicStepCollection, "validate", validate_step, permission="view",
        request_schema=DefinitionOverrides, response_schema=ValidationOut,
    )  # fmt: skip
    config.add_api_action(
        AtomicStepCollection, "test", test_step, permission="view",
        request_schema=DefinitionOverrides, response_schema=StepTestOut,
    )  # fmt: skip
    config.add_api_action(
        AtomicStepCollection, "clone", clone_step, permission="view",
        request_schema=CloneRequest, response_schema=CloneOut, success_status=201,
    )  # fmt: skip
    for name, view, schema in (
        ("categories", categories, CategoriesOut),
        ("usage_statistics", usage_statistics, UsageOut),
        ("stats", usage_statistics, UsageOut),
    ):
        config.add_api_action(
            AtomicStepCollection, name, view, methods=["GET"], on="collection",
            response_schema=schema,
        )  # fmt: skip
