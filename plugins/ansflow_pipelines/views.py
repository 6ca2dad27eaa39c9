"""Custom actions on pipelines: clone, export, import and tool mappings.

Shows: item actions (``clone/``, ``export/``, ``tool_mappings/``) and a collection
action (``import/``), an action answering 201 with a ``Location`` like a create, and
an export document that round-trips through import.
"""

from __future__ import annotations

from typing import Any

from ansflow_projects.acl import require_project
from pyramid.request import Request

from ansflow_pipelines.extensions import tool_lookup
from ansflow_pipelines.resources import PipelineCollection, PipelineItem, build_pipeline
from ansflow_pipelines.schemas import (
    CloneRequest,
    ExportDocument,
    ImportRequest,
    PipelineDocument,
    StepIn,
    StepOut,
)
from ansflow_pyramid.api import validated_body

STEP_FIELDS = tuple(StepIn.model_fields)


def _created(request: Request, collection: PipelineCollection, pipeline: Any) -> dict[str, Any]:
    request.response.status = 201
    request.response.headers["Location"] = request.resource_url(collection.item_for(pipeline))
    return collection.serialize(pipeline)


def _steps_as_input(pipeline: Any) -> list[StepIn]:
    return [
        StepIn.model_validate(StepOut.model_validate(step).model_dump(include=set(STEP_FIELDS)))
        for step in pipeline.steps
    ]


def clone_pipeline(context: PipelineItem, request: Request) -> dict[str, Any]:
    """Copy the pipeline and its steps (into the same or another project)."""
    data = validated_body(request, CloneRequest)
    source = context.obj
    project_id = data.project or source.project_id
    require_project(request, project_id, "add")
    values = PipelineDocument.model_validate(source, from_attributes=True).model_dump()
    values["name"] = data.name or f"{source.name} (copy)"[:200]
    if project_id == source.project_id:
        values["execution_tool"] = source.execution_tool_id
    pipeline = build_pipeline(request, project_id, values, _steps_as_input(source))
    return _created(request, context.collection, pipeline)


def export_pipeline(context: PipelineItem, request: Request) -> dict[str, Any]:
    """The pipeline as a portable document (no ids) that ``import/`` accepts."""
    document = ExportDocument(
        pipeline=PipelineDocument.model_validate(context.obj, from_attributes=True),
        steps=_steps_as_input(context.obj),
    )
    return document.model_dump(mode="json")


def import_pipeline(context: PipelineCollection, request: Request) -> dict[str, Any]:
    """Create a pipeline from an export document in the project given."""
    data = validated_body(request, ImportRequest)
    require_project(request, data.project, "add")
    values = data.pipeline.model_dump()
    if data.name:
        values["name"] = data.name
    pipeline = build_pipeline(request, data.project, values, data.steps)
    return _created(request, context, pipeline)


def tool_mappings(context: PipelineItem, request: Request) -> list[dict[str, Any]]:
    """The CI/CD tools this pipeline is mapped to, with the job it runs there."""
    pipeline = context.obj
    if pipeline.execution_tool_id is None:
        return []
    lookup = tool_lookup(request.registry)
    tool = lookup(request, pipeline.execution_tool_id) if lookup is not None else None
    if tool is None:
        return []
    return [
        {
            "pipeline": pipeline.id,
            "tool": tool.id,
            "tool_name": tool.name,
            "tool_type": tool.tool_type,
            "external_job_name": pipeline.tool_job_name,
            "job_config": pipeline.tool_job_config,
            "execution_mode": pipeline.execution_mode,
        }
    ]
