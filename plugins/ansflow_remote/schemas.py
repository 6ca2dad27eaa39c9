"""Request and response documents of the remote plugin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansflow_projects.fields import Bool, Id, JSONObject, Text
from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class MappingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project: int = Field(validation_alias="project_id")
    pipeline: int = Field(validation_alias="pipeline_id")
    tool: int = Field(validation_alias="tool_id")
    job_name: str
    job_config: dict[str, Any]
    external_job_url: str
    auto_sync: bool
    sync_status: str
    sync_message: str
    last_synced_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class MappingFields(BaseModel):
    """Writable fields of a pipeline mapping."""

    job_name: Text(255) = ""
    job_config: JSONObject = Field(default_factory=dict)
    auto_sync: Bool = False


class MappingCreate(MappingFields):
    pipeline: Id = Field(validation_alias=AliasChoices("pipeline", "pipeline_id"))
    tool: Id = Field(validation_alias=AliasChoices("tool", "tool_id", "cicd_tool_id"))


class ToolChoice(BaseModel):
    """The tool an action uses (default: the pipeline's execution tool)."""

    tool_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("tool_id", "tool", "cicd_tool_id")
    )
    job_name: Text(255) = ""


class SyncRequest(ToolChoice):
    pass


class ExternalBuildRequest(ToolChoice):
    parameters: JSONObject = Field(default_factory=dict)


class PreviewRequest(BaseModel):
    """``cicd/pipelines/preview/``: a stored pipeline (``pipeline_id``) on a tool."""

    pipeline_id: Id = Field(validation_alias=AliasChoices("pipeline_id", "pipeline"))
    tool_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("tool_id", "tool", "cicd_tool_id")
    )
    job_name: Text(255) = ""
    parameters: JSONObject = Field(default_factory=dict)


class ExecutePipelineRequest(BaseModel):
    pipeline_id: Id = Field(validation_alias=AliasChoices("pipeline_id", "pipeline"))
    parameters: JSONObject = Field(default_factory=dict)
    execution_mode: Text(16) = "remote"


class DefinitionOut(BaseModel):
    tool_type: str
    kind: str
    name: str
    media_type: str
    content: str
    steps: int


class SyncOut(DefinitionOut):
    pipeline: int
    tool: int
    mapping: int
    sync_status: str
    synced_at: dt.datetime | None


class CapabilitiesOut(BaseModel):
    tool_id: int
    tool_type: str
    remote_execution: bool
    sync_definition: bool
    trigger: bool
    cancel: bool
    retry: bool
    live_logs: bool
    per_job_logs: bool
    parameters: bool
    execution_modes: list[str]
    extra: dict[str, Any]
