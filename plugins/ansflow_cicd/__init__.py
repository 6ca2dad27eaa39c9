"""The cicd plugin: CI/CD tools, executions, atomic steps and git credentials.

Shows: a plugin building on two others (``ansflow_pipelines`` and, through it,
``ansflow_projects``); alias paths declared by the plugin that owns the resource
(``/api/v1/executions/`` and a pipeline's executions are the executions collection;
an execution's steps are also reachable under ``/api/v1/pipelines/executions/``);
an action added to another plugin's resource (``pipelines/{id}/run/``); a directive
of its own (``config.add_tool_type``); and a secret key required at startup.
"""

from __future__ import annotations

from ansflow_pipelines.resources import PipelineCollection
from pyramid.config import Configurator

from ansflow_cicd.resources import (
    AtomicStepCollection,
    ExecutionCollection,
    GitCredentialCollection,
    StepExecutionCollection,
    ToolCollection,
    lookup_tool,
    lookup_tools,
)
from ansflow_cicd.schemas import (
    CheckOut,
    ExecutionDetail,
    LocalExecutorRequest,
    RunRequest,
    StatisticsOut,
    ToolOut,
)
from ansflow_cicd.secrets import REGISTRY_KEY as SECRET_BOX_KEY
from ansflow_cicd.secrets import secret_box_from_settings
from ansflow_cicd.tooltypes import BUILTIN_TOOL_TYPES, add_tool_type
from ansflow_cicd.views import (
    cancel,
    create_local_executor,
    execution_statistics,
    health_check,
    logs,
    retry,
    run_pipeline,
    test_connection,
    test_git_credential,
    timeline,
)


def includeme(config: Configurator) -> None:
    config.include("ansflow_pipelines")
    config.registry[SECRET_BOX_KEY] = secret_box_from_settings(config.get_settings())
    config.add_directive("add_tool_type", add_tool_type)
    for tool_type in BUILTIN_TOOL_TYPES:
        config.add_tool_type(
            tool_type.name,
            label=tool_type.label,
            check=tool_type.check,
            requires_base_url=tool_type.requires_base_url,
            default_base_url=tool_type.default_base_url,
            validate=tool_type.validate,
        )
    config.set_pipeline_tool_lookup(lookup_tool, lookup_tools)
    config.add_migrations("ansflow_cicd:migrations")

    # -- tools
    config.add_api_resource(
        "cicd.tools",
        ToolCollection,
        path="/api/v1/cicd/tools",
        description="CI/CD tools (Jenkins, GitLab CI, GitHub Actions, local) of projects.",
    )
    config.add_api_action(ToolCollection, "health_check", health_check, response_schema=CheckOut)
    config.add_api_action(
        ToolCollection, "test_connection", test_connection, response_schema=CheckOut
    )
    config.add_api_action(
        ToolCollection,
        "create_local_executor",
        create_local_executor,
        on="collection",
        permission="add",
        request_schema=LocalExecutorRequest,
        response_schema=ToolOut,
        success_status=(201, 200),
    )

    # -- executions
    config.add_api_resource(
        "cicd.executions",
        ExecutionCollection,
        path="/api/v1/cicd/executions",
        aliases=["/api/v1/executions", "/api/v1/pipelines/{pipeline_id}/executions"],
        description="Executions: runs of pipelines, with their steps and logs.",
    )
    config.add_api_resource(
        "cicd.step_executions",
        StepExecutionCollection,
        path="/api/v1/cicd/executions/{execution_id}/steps",
        aliases=["/api/v1/pipelines/executions/{execution_id}/steps"],
        description="The steps of one execution.",
    )
    config.add_api_action(
        ExecutionCollection, "cancel", cancel, permission="run", response_schema=ExecutionDetail
    )
    config.add_api_action(
        ExecutionCollection,
        "retry",
        retry,
        permission="run",
        response_schema=ExecutionDetail,
        success_status=201,
    )
    config.add_api_action(ExecutionCollection, "logs", logs, methods=["GET"])
    config.add_api_action(ExecutionCollection, "timeline", timeline, methods=["GET"])
    config.add_api_action(
        ExecutionCollection,
        "statistics",
        execution_statistics,
        methods=["GET"],
        on="collection",
        response_schema=StatisticsOut,
    )
    config.add_api_action(
        PipelineCollection,
        "run",
        run_pipeline,
        permission="run",
        request_schema=RunRequest,
        response_schema=ExecutionDetail,
        success_status=201,
    )

    # -- reusable steps and credentials
    config.add_api_resource(
        "cicd.atomic_steps",
        AtomicStepCollection,
        path="/api/v1/cicd/atomic-steps",
        description="Reusable step templates.",
    )
    config.add_api_resource(
        "cicd.git_credentials",
        GitCredentialCollection,
        path="/api/v1/cicd/git-credentials",
        description="Git server credentials of the current user (secrets write-only).",
    )
    config.add_api_action(GitCredentialCollection, "test_connection", test_git_credential)
    config.include("ansflow_cicd.atomic_steps")

    # -- running executions: the engine's store, live streams (see engine_store, streams)
    config.include("ansflow_cicd.engine_store")
    config.include("ansflow_cicd.streams")
    config.include("ansflow_cicd.sockets")
