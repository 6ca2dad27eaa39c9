"""Request and response schemas of the pipelines plugin.

Shows: nested read schemas (a pipeline with its ordered steps), nested write schemas
(``steps`` written as one array), computed display fields (``project_name``,
``steps_count``), and the export document that ``import/`` accepts back.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ansflow_projects.fields import (
    Bool,
    BoundedInt,
    Id,
    JSONArray,
    JSONObject,
    Name,
    Text,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

ExecutionMode = Literal["local", "remote", "hybrid"]
#: At most this many steps in one pipeline.
MAX_STEPS = 200
EXPORT_FORMAT = "ansflow-pipeline"
EXPORT_VERSION = 1


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StepOut(ReadSchema):
    id: int
    name: str
    description: str
    step_type: str
    command: str
    environment_vars: dict[str, Any]
    timeout_seconds: int
    order: int
    parallel_group: str
    dependencies: list[Any]
    conditions: dict[str, Any]
    retry_policy: dict[str, Any]
    ansible_parameters: dict[str, Any]


class PipelineOut(ReadSchema):
    id: int
    name: str
    description: str
    status: str
    is_active: bool
    config: dict[str, Any]
    project: int = Field(validation_alias="project_id")
    project_obj: Any = Field(validation_alias="project", exclude=True)
    created_by: int | None = Field(validation_alias="created_by_id")
    created_by_user: Any = Field(default=None, validation_alias="created_by", exclude=True)
    execution_tool: int | None = Field(validation_alias="execution_tool_id")
    #: The tool's name and type, looked up when read (null without a tool).
    execution_tool_name: str | None = None
    execution_tool_type: str | None = None
    tool_job_name: str
    tool_job_config: dict[str, Any]
    execution_mode: str
    steps: list[StepOut]
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def project_name(self) -> str:
        return self.project_obj.name

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created_by_username(self) -> str | None:
        return self.created_by_user.username if self.created_by_user is not None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def steps_count(self) -> int:
        return len(self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_display(self) -> str:
        return self.status.capitalize()


class StepIn(BaseModel):
    """A step as written inside a pipeline's ``steps`` array (ids are ignored)."""

    name: Name
    description: Text(10_000) = ""
    step_type: Text(32, min_length=1) = "custom"
    command: Text(100_000) = ""
    environment_vars: JSONObject = Field(default_factory=dict)
    timeout_seconds: BoundedInt(1, 7 * 24 * 3600) = 300
    order: BoundedInt(0, 1_000_000) | None = None
    parallel_group: Text(100) = ""
    dependencies: JSONArray = Field(default_factory=list)
    conditions: JSONObject = Field(default_factory=dict)
    retry_policy: JSONObject = Field(default_factory=dict)
    ansible_parameters: JSONObject = Field(default_factory=dict)


class PipelineFields(BaseModel):
    """The writable fields of a pipeline (its project is fixed once created).

    ``steps``, when given, replaces every step of the pipeline; omitted (or null) it
    leaves them as they are.
    """

    name: Name
    description: Text(10_000) = ""
    is_active: Bool = True
    config: JSONObject = Field(default_factory=dict)
    execution_tool: Id | None = None
    tool_job_name: Text(255) = ""
    tool_job_config: JSONObject = Field(default_factory=dict)
    execution_mode: ExecutionMode = "local"
    steps: list[StepIn] | None = Field(default=None, max_length=MAX_STEPS)


class PipelineCreate(PipelineFields):
    project: Id


class CloneRequest(BaseModel):
    """``clone/``: the copy's name (default "<name> (copy)") and project (default the same)."""

    name: Name | None = None
    project: Id | None = None


class PipelineDocument(BaseModel):
    """The pipeline part of an export document."""

    name: Name
    description: Text(10_000) = ""
    is_active: Bool = True
    config: JSONObject = Field(default_factory=dict)
    tool_job_name: Text(255) = ""
    tool_job_config: JSONObject = Field(default_factory=dict)
    execution_mode: ExecutionMode = "local"


class ExportDocument(BaseModel):
    """What ``export/`` produces: a pipeline without ids, portable between instances."""

    format: Literal["ansflow-pipeline"] = EXPORT_FORMAT
    version: Literal[1] = EXPORT_VERSION
    pipeline: PipelineDocument
    steps: list[StepIn] = Field(default_factory=list, max_length=MAX_STEPS)


class ImportRequest(ExportDocument):
    """``import/``: an export document plus the target project and an optional new name."""

    project: Id
    name: Name | None = None


# -- parallel groups ----------------------------------------------------------------
SyncPolicy = Literal["wait_all", "wait_any", "fail_fast"]
#: Group ids appear in URLs: letters, digits and ``_.-`` only.
GroupId = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
]


class ParallelGroupOut(ReadSchema):
    """A parallel group; ``steps`` are the ids of the pipeline's steps in it."""

    id: str
    name: str
    description: str
    pipeline: int = Field(validation_alias="pipeline_id")
    sync_policy: str
    timeout_seconds: int | None
    steps: list[int] = Field(default_factory=list, validation_alias="step_ids")
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sync_policy_display(self) -> str:
        return self.sync_policy.replace("_", " ").title()


class ParallelGroupFields(BaseModel):
    """The writable fields of a parallel group.  ``steps``, when given, is the whole
    list of the pipeline's steps (by id) in the group: listed steps join it, the
    group's other steps leave it.  ``pipeline`` may be sent back but not changed."""

    name: Name
    description: Text(10_000) = ""
    sync_policy: SyncPolicy = "wait_all"
    timeout_seconds: BoundedInt(1, 7 * 24 * 3600) | None = None
    steps: list[Id] | None = Field(default=None, max_length=MAX_STEPS)
    pipeline: Id | None = None


class ParallelGroupCreate(ParallelGroupFields):
    """A new group of ``pipeline``; ``id`` is made up when not given."""

    id: GroupId | None = None
    pipeline: Id  # type: ignore[assignment]
