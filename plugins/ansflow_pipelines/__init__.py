"""The pipelines plugin: pipelines with ordered steps, clone/export/import.

Shows: a plugin that depends on another (``ansflow_projects``) and says so by
including it, and that offers directives of its own (``add_step_type``,
``set_pipeline_tool_lookup``) for plugins building on it.  The ``run/`` action and a
pipeline's executions are declared by the cicd plugin, which owns executions.
"""

from __future__ import annotations

from pyramid.config import Configurator

from ansflow_pipelines.extensions import (
    BUILTIN_STEP_TYPES,
    add_step_type,
    set_pipeline_tool_lookup,
)
from ansflow_pipelines.parallel_groups import ParallelGroupCollection
from ansflow_pipelines.resources import PipelineCollection, count_pipelines
from ansflow_pipelines.schemas import CloneRequest, ExportDocument, ImportRequest, PipelineOut
from ansflow_pipelines.step_rules import BUILTIN_CHECKS
from ansflow_pipelines.views import (
    clone_pipeline,
    export_pipeline,
    import_pipeline,
    tool_mappings,
)


def includeme(config: Configurator) -> None:
    config.include("ansflow_projects")
    config.add_directive("add_step_type", add_step_type)
    config.add_directive("set_pipeline_tool_lookup", set_pipeline_tool_lookup)
    for name in BUILTIN_STEP_TYPES:
        config.add_step_type(name, check=BUILTIN_CHECKS.get(name))
    config.add_project_count("pipeline_count", count_pipelines)
    config.add_migrations("ansflow_pipelines:migrations")
    config.add_api_resource(
        "pipelines.pipelines",
        PipelineCollection,
        path="/api/v1/pipelines/pipelines",
        description="Pipelines and their ordered steps.",
    )
    config.add_api_resource(
        "pipelines.parallel_groups",
        ParallelGroupCollection,
        path="/api/v1/pipelines/parallel-groups",
        description="Parallel groups of pipeline steps and how their stage ends.",
    )
    config.add_api_action(
        PipelineCollection,
        "clone",
        clone_pipeline,
        methods=["POST"],
        permission="add",
        request_schema=CloneRequest,
        response_schema=PipelineOut,
        success_status=201,
    )
    config.add_api_action(
        PipelineCollection,
        "export",
        export_pipeline,
        methods=["GET"],
        response_schema=ExportDocument,
    )
    config.add_api_action(
        PipelineCollection,
        "import",
        import_pipeline,
        methods=["POST"],
        on="collection",
        permission="add",
        request_schema=ImportRequest,
        response_schema=PipelineOut,
        success_status=201,
    )
    config.add_api_action(PipelineCollection, "tool_mappings", tool_mappings, methods=["GET"])
