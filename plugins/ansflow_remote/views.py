"""Remote pipelines in the API: sync, preview, external builds, mappings, tool actions.

* ``POST pipelines/pipelines/{id}/sync_to_tool/`` (``edit``): write the remote
  definition of the pipeline's steps on its tool (or ``{"tool_id"}``); the mapping
  records the job name and the outcome;
* ``POST cicd/pipelines/preview/`` (``view`` on the pipeline): the definition
  ``sync_to_tool/`` would write, written nowhere;
* ``POST pipelines/pipelines/{id}/trigger_external_build/`` (``run``): run the mapped
  remote job as it is on the tool (no definition written), observed like any run;
* ``pipelines/pipeline-mappings/``: CRUD of pipeline <-> tool + job name;
* ``GET cicd/tools/{id}/capabilities/`` and ``POST cicd/tools/{id}/execute_pipeline/``.
"""

from __future__ import annotations

from typing import Any

from ansflow_cicd.executions import create_execution
from ansflow_cicd.models import Tool
from ansflow_cicd.resources import ToolCollection, ToolItem, execution_detail
from ansflow_cicd.views import executions_collection
from ansflow_pipelines.models import Pipeline
from ansflow_pipelines.resources import PipelineCollection, PipelineItem
from ansflow_projects.acl import require_authenticated, restrict_to_visible
from ansflow_projects.fields import does_not_exist
from ansflow_projects.resources import ProjectScopedCollection, ProjectScopedItem
from pydantic import BaseModel
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import select

from ansflow_pyramid.api import APIError, Conflict, Filter, ValidationFailed, validated_body
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.remote import (
    HYBRID,
    REMOTE,
    BackendCapabilities,
    RemoteBackend,
    get_remote_backends,
)
from ansflow_remote.models import SYNC_STATUSES, PipelineToolMapping
from ansflow_remote.schemas import (
    CapabilitiesOut,
    DefinitionOut,
    ExecutePipelineRequest,
    ExternalBuildRequest,
    MappingCreate,
    MappingFields,
    MappingOut,
    PreviewRequest,
    SyncOut,
    SyncRequest,
)
from ansflow_remote.services import call, pipeline_context, remote_tool


# -- lookups ----------------------------------------------------------------------
def visible_tool(request: Request, tool_id: int, project_id: int, field: str = "tool_id") -> Tool:
    query = restrict_to_visible(request, select(Tool).where(Tool.id == tool_id), Tool.project_id)
    tool = request.dbsession.scalars(query).first()
    if tool is None:
        raise ValidationFailed({field: does_not_exist(tool_id)})
    if tool.project_id != project_id:
        raise ValidationFailed({field: ["The tool belongs to another project than the pipeline."]})
    return tool


def visible_pipeline(request: Request, pipeline_id: int, field: str = "pipeline_id") -> Pipeline:
    query = restrict_to_visible(
        request, select(Pipeline).where(Pipeline.id == pipeline_id), Pipeline.project_id
    )
    pipeline = request.dbsession.scalars(query).first()
    if pipeline is None:
        raise ValidationFailed({field: does_not_exist(pipeline_id)})
    return pipeline


def backend_of(request: Request, tool: Tool, field: str = "tool_id") -> RemoteBackend:
    backend = get_remote_backends(request.registry).get(tool.tool_type)
    if backend is None:
        raise ValidationFailed(
            {field: [f"{tool.tool_type!r} tools do not run pipelines remotely."]}
        )
    return backend


def chosen_tool(request: Request, pipeline: Pipeline, tool_id: int | None) -> Tool:
    tool_id = tool_id or pipeline.execution_tool_id
    if tool_id is None:
        raise ValidationFailed(
            {"tool_id": ["The pipeline has no execution tool; name one with tool_id."]}
        )
    return visible_tool(request, tool_id, pipeline.project_id)


def mapping_for(request: Request, pipeline: Pipeline, tool: Tool) -> PipelineToolMapping | None:
    return request.dbsession.scalars(
        select(PipelineToolMapping).where(
            PipelineToolMapping.pipeline_id == pipeline.id, PipelineToolMapping.tool_id == tool.id
        )
    ).first()


def definition_document(tool: Tool, definition: Any, steps: int) -> dict[str, Any]:
    return DefinitionOut(
        tool_type=tool.tool_type,
        kind=definition.kind,
        name=definition.name,
        media_type=definition.media_type,
        content=definition.content,
        steps=steps,
    ).model_dump(mode="json")


# -- pipelines: sync, preview, external builds ------------------------------------------
def sync_to_tool(context: PipelineItem, request: Request) -> dict[str, Any]:
    """Create or update the pipeline's remote definition on its tool."""
    body = validated_body(request, SyncRequest) if request.body else SyncRequest()
    pipeline = context.obj
    tool = chosen_tool(request, pipeline, body.tool_id)
    backend = backend_of(request, tool)
    mapping = mapping_for(request, pipeline, tool)
    job_name = body.job_name or (mapping.job_name if mapping else "")
    remote = pipeline_context(
        request.registry,
        pipeline,
        remote_tool(request.registry, tool),
        job_name=job_name,
        job_config=mapping.job_config if mapping else None,
        mode=pipeline.execution_mode if pipeline.execution_mode == HYBRID else REMOTE,
    )
    definition = call(backend.render_definition, remote)
    if mapping is None:
        mapping = PipelineToolMapping(
            project_id=pipeline.project_id, pipeline_id=pipeline.id, tool_id=tool.id
        )
        request.dbsession.add(mapping)
    mapping.job_name = remote.job_name
    # A failure is a JSON error and leaves the mapping as it was (the 4xx aborts the
    # transaction).
    call(backend.prepare, remote)
    mapping.sync_status = "success"
    mapping.sync_message = ""
    mapping.last_synced_at = utcnow()
    request.dbsession.flush()
    document = definition_document(tool, definition, len(remote.steps))
    return SyncOut(
        **document,
        pipeline=pipeline.id,
        tool=tool.id,
        mapping=mapping.id,
        sync_status=mapping.sync_status,
        synced_at=mapping.last_synced_at,
    ).model_dump(mode="json")


def preview(context: Any, request: Request) -> dict[str, Any]:
    """The remote definition a pipeline would produce on a tool (nothing is written)."""
    require_authenticated(request)
    body = validated_body(request, PreviewRequest)
    pipeline = visible_pipeline(request, body.pipeline_id)
    tool = chosen_tool(request, pipeline, body.tool_id)
    backend = backend_of(request, tool)
    mapping = mapping_for(request, pipeline, tool)
    remote = pipeline_context(
        request.registry,
        pipeline,
        remote_tool(request.registry, tool),
        job_name=body.job_name or (mapping.job_name if mapping else ""),
        job_config=mapping.job_config if mapping else None,
        parameters=body.parameters,
    )
    definition = call(backend.render_definition, remote)
    return definition_document(tool, definition, len(remote.steps))


def _created_execution(request: Request, context: Any, execution: Any) -> dict[str, Any]:
    collection = executions_collection(request, context)
    request.response.status = 201
    request.response.headers["Location"] = request.resource_url(collection.item_for(execution))
    return execution_detail(request.dbsession, execution)


def trigger_external_build(context: PipelineItem, request: Request) -> dict[str, Any]:
    """Run the pipeline's mapped remote job as it is on the tool (201, an execution
    observed like any other run)."""
    body = validated_body(request, ExternalBuildRequest) if request.body else ExternalBuildRequest()
    pipeline = context.obj
    tool = chosen_tool(request, pipeline, body.tool_id)
    backend_of(request, tool)
    mapping = mapping_for(request, pipeline, tool)
    job_name = body.job_name or (mapping.job_name if mapping else "") or pipeline.tool_job_name
    if not job_name:
        raise ValidationFailed(
            {"job_name": ["Name the remote job (job_name), or map the pipeline to one."]}
        )
    execution = create_execution(
        request,
        pipeline,
        tool_id=tool.id,
        trigger_type="api",
        parameters=body.parameters,
        trigger_data={"external_build": True, "execution_mode": REMOTE, "job_name": job_name},
        tool_field="tool_id",
    )
    return _created_execution(request, context, execution)


# -- tools: capabilities, execute_pipeline -----------------------------------------------
def capabilities(context: ToolItem, request: Request) -> dict[str, Any]:
    """What the tool can do with pipelines."""
    tool = context.obj
    backend = get_remote_backends(request.registry).get(tool.tool_type)
    caps = (
        backend.capabilities()
        if backend is not None
        else BackendCapabilities(
            sync_definition=False, trigger=False, cancel=True, live_logs=True, per_job_logs=True
        )
    )
    return CapabilitiesOut(
        tool_id=tool.id,
        tool_type=tool.tool_type,
        remote_execution=backend is not None,
        sync_definition=caps.sync_definition,
        trigger=caps.trigger,
        cancel=caps.cancel,
        retry=caps.retry,
        live_logs=caps.live_logs,
        per_job_logs=caps.per_job_logs,
        parameters=caps.parameters,
        execution_modes=["local", REMOTE, HYBRID] if backend is not None else ["local"],
        extra=caps.extra,
    ).model_dump(mode="json")


def execute_pipeline(context: ToolItem, request: Request) -> dict[str, Any]:
    """Run a pipeline of the tool's project on this tool (201 with the execution)."""
    body = validated_body(request, ExecutePipelineRequest)
    tool = context.obj
    pipeline = visible_pipeline(request, body.pipeline_id)
    if pipeline.project_id != tool.project_id:
        raise ValidationFailed(
            {"pipeline_id": ["The pipeline belongs to another project than the tool."]}
        )
    if not request.has_permission("run", pipeline_item(context, pipeline)):
        raise APIError("You may not run this pipeline.", status=403, code="permission_denied")
    mode = body.execution_mode
    if mode not in ("local", REMOTE, HYBRID):
        raise ValidationFailed({"execution_mode": ["Use local, remote or hybrid."]})
    remote = get_remote_backends(request.registry).get(tool.tool_type) is not None
    if mode != "local" and not remote:
        mode = "local"
    execution = create_execution(
        request,
        pipeline,
        tool_id=tool.id,
        trigger_type="api",
        parameters=body.parameters,
        trigger_data={"execution_mode": mode},
        tool_field="tool_id",
    )
    return _created_execution(request, context, execution)


def pipeline_item(context: Any, pipeline: Pipeline) -> Any:
    """The pipeline's item (its ACL is its project's)."""
    return context.root["api"]["v1"]["pipelines"]["pipelines"][str(pipeline.id)]


# -- mappings ------------------------------------------------------------------------------
class MappingItem(ProjectScopedItem):
    obj: PipelineToolMapping

    def update(self, data: BaseModel, partial: bool) -> Any:
        for key, value in data.model_dump(exclude_unset=partial).items():
            setattr(self.obj, key, value)
        self.dbsession.flush()
        return self.obj


class MappingCollection(ProjectScopedCollection):
    """``/api/v1/pipelines/pipeline-mappings/``: pipelines mapped to remote jobs."""

    model = PipelineToolMapping
    item_class = MappingItem
    project_column = PipelineToolMapping.project_id
    read_schema = MappingOut
    create_schema = MappingCreate
    update_schema = MappingFields
    create_permission = "edit"
    filters = {
        "pipeline": Filter(PipelineToolMapping.pipeline_id, python_type=int),
        "pipeline_id": Filter(PipelineToolMapping.pipeline_id, python_type=int),
        "tool": Filter(PipelineToolMapping.tool_id, python_type=int),
        "tool_id": Filter(PipelineToolMapping.tool_id, python_type=int),
        "sync_status": Filter(PipelineToolMapping.sync_status, choices=SYNC_STATUSES),
    }
    ordering_fields = {"id": PipelineToolMapping.id, "job_name": PipelineToolMapping.job_name}
    default_ordering = ("id",)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, MappingCreate)
        pipeline = visible_pipeline(self.request, data.pipeline, "pipeline")
        self.require_project(pipeline.project_id, "pipeline")
        tool = visible_tool(self.request, data.tool, pipeline.project_id, "tool")
        if mapping_for(self.request, pipeline, tool) is not None:
            raise Conflict(
                "This pipeline is mapped to this tool already.",
                code="unique",
                errors={"tool": ["This pipeline is mapped to this tool already."]},
            )
        mapping = PipelineToolMapping(
            project_id=pipeline.project_id,
            pipeline_id=pipeline.id,
            tool_id=tool.id,
            job_name=data.job_name,
            job_config=data.job_config,
            auto_sync=data.auto_sync,
        )
        self.dbsession.add(mapping)
        self.dbsession.flush()
        return mapping


def includeme(config: Configurator) -> None:
    config.add_api_action(
        PipelineCollection, "sync_to_tool", sync_to_tool, permission="edit", response_schema=SyncOut
    )
    config.add_api_action(
        PipelineCollection,
        "trigger_external_build",
        trigger_external_build,
        permission="run",
        success_status=201,
    )
    config.add_api_endpoint(
        "remote.pipeline_preview",
        "/api/v1/cicd/pipelines/preview",
        preview,
        methods=("POST",),
        request_schema=PreviewRequest,
        response_schema=DefinitionOut,
        description="The remote definition a pipeline would produce on a tool.",
    )
    config.add_api_resource(
        "remote.pipeline_mappings",
        MappingCollection,
        path="/api/v1/pipelines/pipeline-mappings",
        description="Pipelines mapped to CI tools and the remote job they run as.",
    )
    config.add_api_action(
        ToolCollection,
        "capabilities",
        capabilities,
        methods=["GET"],
        response_schema=CapabilitiesOut,
    )
    config.add_api_action(
        ToolCollection,
        "execute_pipeline",
        execute_pipeline,
        permission="view",
        request_schema=ExecutePipelineRequest,
        success_status=201,
    )
