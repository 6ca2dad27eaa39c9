"""The pipelines collection: pipelines with nested, ordered steps.

Shows: a project-scoped collection (``ProjectScopedCollection`` from the projects
plugin gives visibility and ACLs), a nested array written atomically (writing
``steps`` deletes the old steps and inserts the new ones in the request's single
transaction, so readers see either the old list or the new one), validation that
needs the registry (step types, tool ids) done in the write hooks, and a service
function (:func:`build_pipeline`) shared by create, clone and import.
"""

from __future__ import annotations

from typing import Any

from ansflow_projects.acl import current_user_id
from ansflow_projects.fields import does_not_exist
from ansflow_projects.resources import ProjectScopedCollection, ProjectScopedItem
from pydantic import BaseModel
from pyramid.request import Request
from sqlalchemy import func, select

from ansflow_pipelines.extensions import lookup_tools, step_types, tool_lookup
from ansflow_pipelines.models import EXECUTION_MODES, PIPELINE_STATUSES, Pipeline, PipelineStep
from ansflow_pipelines.schemas import PipelineCreate, PipelineFields, PipelineOut, StepIn
from ansflow_pyramid.api import Filter, ValidationFailed


def check_steps(
    request: Request, steps: list[StepIn], field: str = "steps"
) -> list[dict[str, Any]]:
    """Validated step rows: known step types, an order for each step, no order twice.

    A step without ``order`` takes its position in the array (1-based).
    """
    known = step_types(request.registry)
    errors: dict[str, list[str]] = {}
    rows: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for index, step in enumerate(steps):
        row = step.model_dump()
        if row["order"] is None:
            row["order"] = index + 1
        if row["step_type"] not in known:
            errors[f"{field}.{index}.step_type"] = [
                f"Unknown step type {row['step_type']!r}; use one of: {', '.join(sorted(known))}."
            ]
        if row["order"] in seen:
            errors[f"{field}.{index}.order"] = [
                f"Order {row['order']} is used by step {seen[row['order']]} already."
            ]
        seen.setdefault(row["order"], index)
        rows.append(row)
    if errors:
        raise ValidationFailed(errors)
    # The relationship is ordered by "order" when loaded; new lists must match it.
    return sorted(rows, key=lambda row: row["order"])


def check_tool(request: Request, tool_id: int | None, project_id: int) -> None:
    """``execution_tool`` must be a tool of the pipeline's project."""
    if tool_id is None:
        return
    lookup = tool_lookup(request.registry)
    tool = lookup(request, tool_id) if lookup is not None else None
    if tool is None:
        raise ValidationFailed({"execution_tool": does_not_exist(tool_id)})
    if tool.project_id != project_id:
        raise ValidationFailed(
            {"execution_tool": ["The tool belongs to another project than the pipeline."]}
        )


def replace_steps(pipeline: Pipeline, rows: list[dict[str, Any]], dbsession: Any) -> None:
    """Replace every step of ``pipeline`` by ``rows`` (one transaction, so atomic)."""
    pipeline.steps.clear()
    # The old rows must be gone before new rows reuse their (pipeline, order) pairs.
    dbsession.flush()
    pipeline.steps.extend(PipelineStep(**row) for row in rows)
    dbsession.flush()


def build_pipeline(
    request: Request,
    project_id: int,
    values: dict[str, Any],
    steps: list[StepIn],
) -> Pipeline:
    """Insert a pipeline with its steps (the caller checked the project permission)."""
    rows = check_steps(request, steps)
    tool_id = values.pop("execution_tool", None)
    check_tool(request, tool_id, project_id)
    pipeline = Pipeline(
        **values,
        project_id=project_id,
        execution_tool_id=tool_id,
        created_by_id=current_user_id(request),
    )
    pipeline.steps = [PipelineStep(**row) for row in rows]
    request.dbsession.add(pipeline)
    request.dbsession.flush()
    return pipeline


class PipelineItem(ProjectScopedItem):
    obj: Pipeline

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial, exclude={"steps"})
        steps = getattr(data, "steps", None)
        rows = check_steps(self.request, steps) if steps is not None else None
        if "execution_tool" in values:
            tool_id = values.pop("execution_tool")
            check_tool(self.request, tool_id, self.obj.project_id)
            self.obj.execution_tool_id = tool_id
        for key, value in values.items():
            setattr(self.obj, key, value)
        if rows is not None:
            replace_steps(self.obj, rows, self.dbsession)
        self.dbsession.flush()
        return self.obj


class PipelineCollection(ProjectScopedCollection):
    """``/api/v1/pipelines/pipelines/``: pipelines of the projects the caller sees."""

    model = Pipeline
    item_class = PipelineItem
    project_column = Pipeline.project_id
    read_schema = PipelineOut
    create_schema = PipelineCreate
    update_schema = PipelineFields
    filters = {
        "project": Filter(Pipeline.project_id, python_type=int),
        "project_id": Filter(Pipeline.project_id, python_type=int),
        "status": Filter(Pipeline.status, choices=PIPELINE_STATUSES),
        "is_active": Filter(Pipeline.is_active),
        "execution_mode": Filter(Pipeline.execution_mode, choices=EXECUTION_MODES),
        "execution_tool": Filter(Pipeline.execution_tool_id, python_type=int),
        "created_by": Filter(Pipeline.created_by_id, python_type=int),
    }
    ordering_fields = {
        "id": Pipeline.id,
        "name": Pipeline.name,
        "status": Pipeline.status,
        "created_at": Pipeline.created_at,
        "updated_at": Pipeline.updated_at,
    }
    default_ordering = ("-created_at",)
    search_fields = (Pipeline.name, Pipeline.description)

    def serialize(self, obj: Any) -> dict[str, Any]:
        return self.serialize_many([obj])[0]

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        # The tools of the whole page in one lookup (the cicd plugin owns tools).
        tools = lookup_tools(self.request, sorted({r.execution_tool_id for r in rows} - {None}))
        for row in rows:
            tool = tools.get(row.execution_tool_id)
            row.execution_tool_name = tool.name if tool is not None else None
            row.execution_tool_type = tool.tool_type if tool is not None else None
        return [PipelineOut.model_validate(row).model_dump(mode="json") for row in rows]

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, PipelineCreate)
        self.require_project(data.project)
        values = data.model_dump(exclude={"project", "steps"})
        return build_pipeline(self.request, data.project, values, data.steps or [])


def count_pipelines(dbsession: Any, project_ids: list[int]) -> dict[int, int]:
    """``pipeline_count`` of projects (see ``config.add_project_count``)."""
    rows = dbsession.execute(
        select(Pipeline.project_id, func.count())
        .where(Pipeline.project_id.in_(project_ids))
        .group_by(Pipeline.project_id)
    )
    return {project_id: int(count) for project_id, count in rows}
