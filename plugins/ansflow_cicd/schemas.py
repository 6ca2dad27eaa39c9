"""Request and response schemas of the cicd plugin.

Shows: write-only secrets (``token``, ``password``, ``ssh_private_key`` exist only in
write schemas; read schemas say ``has_token``...), display fields computed at read time
(``status_display``, ``duration``; the ``*_name`` values are looked up by the
resources when they serialise), and aliases for body fields AnsFlow clients spell in
two ways (``project``/``project_id``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ansflow_projects.fields import Bool, BoundedInt, HttpURL, Id, JSONObject, Name, Text
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

STATUS_LABELS = {
    "pending": "Pending",
    "running": "Running",
    "success": "Success",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "timeout": "Timeout",
    "skipped": "Skipped",
    "authenticated": "Authenticated",
    "needs_auth": "Needs authentication",
    "offline": "Offline",
    "unknown": "Unknown",
    "error": "Error",
}
#: Tool statuses in which a tool counts as active (connected).
ACTIVE_TOOL_STATUSES = ("authenticated", "needs_auth")
TRIGGER_LABELS = {"manual": "Manual", "webhook": "Webhook", "schedule": "Schedule", "api": "API"}

TriggerType = Literal["manual", "webhook", "schedule", "api"]
Platform = Literal["github", "gitlab", "gitee", "bitbucket", "other"]
CredentialType = Literal["username_password", "access_token", "ssh_key"]


def label(value: str, labels: dict[str, str] = STATUS_LABELS) -> str:
    return labels.get(value, value.replace("_", " ").capitalize())


def seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- tools ------------------------------------------------------------------------
class ToolOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    name: str
    tool_type: str
    base_url: str
    username: str
    has_token: bool
    config: dict[str, Any]
    metadata: dict[str, Any] = Field(validation_alias="meta")
    status: str
    last_health_check: dt.datetime | None
    created_by: int | None = Field(validation_alias="created_by_id")
    project_obj: Any = Field(default=None, validation_alias="project", exclude=True)
    creator: Any = Field(default=None, validation_alias="created_by", exclude=True)
    #: The tool type's label from the tool type registry (set by the collection).
    tool_type_display: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_display(self) -> str:
        return label(self.status)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_active(self) -> bool:
        """Whether the tool answers: AnsFlow counts a tool that refuses the credentials
        as connected too (it is there; it needs a token)."""
        return self.status in ACTIVE_TOOL_STATUSES

    @computed_field  # type: ignore[prop-decorator]
    @property
    def detailed_status(self) -> str:
        return self.status

    @computed_field  # type: ignore[prop-decorator]
    @property
    def project_name(self) -> str | None:
        return self.project_obj.name if self.project_obj is not None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created_by_username(self) -> str | None:
        return self.creator.username if self.creator is not None else None


class ToolFields(BaseModel):
    """Writable tool fields.  ``token`` is write-only: omitted or null keeps the stored
    one, ``""`` removes it."""

    name: Name
    tool_type: Text(32, min_length=1)
    base_url: HttpURL = ""
    username: Text(200) = ""
    token: Text(4096) | None = None
    config: JSONObject = Field(default_factory=dict)
    metadata: JSONObject = Field(default_factory=dict)


class ToolCreate(ToolFields):
    project: Id = Field(validation_alias=AliasChoices("project", "project_id"))


class LocalExecutorRequest(BaseModel):
    project: Id = Field(validation_alias=AliasChoices("project", "project_id"))
    name: Name = "Local executor"


class CheckOut(BaseModel):
    """The outcome of ``health_check/`` and ``test_connection/``; ``is_healthy`` and
    ``detailed_status`` are the names AnsFlow's client reads."""

    tool_id: int
    status: str
    status_display: str
    healthy: bool
    is_healthy: bool
    success: bool
    detailed_status: str
    message: str
    last_health_check: dt.datetime | None


# -- executions -------------------------------------------------------------------
class TimedRun(ReadSchema):
    """What executions and their steps share: a status and a start and end time,
    from which the display label and the duration are computed (never stored)."""

    status: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_display(self) -> str:
        return label(self.status)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration(self) -> float | None:
        return seconds_between(self.started_at, self.completed_at)


class StepExecutionOut(TimedRun):
    id: int
    execution: int = Field(validation_alias="execution_id")
    pipeline_step: int | None = Field(validation_alias="pipeline_step_id")
    #: Name and type of the step as it was when the execution was triggered.
    step_name: str
    step_type: str
    external_id: str
    status: str
    order: int
    logs: str
    output: str
    error_message: str
    exit_code: int | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ExecutionSummary(TimedRun):
    """An execution in lists (no definition, logs or steps: see the detail)."""

    id: int
    pipeline: int = Field(validation_alias="pipeline_id")
    pipeline_name: str | None
    project: int = Field(validation_alias="project_id")
    cicd_tool: int | None = Field(validation_alias="cicd_tool_id")
    cicd_tool_name: str | None
    cicd_tool_type: str | None
    external_id: str
    external_url: str
    status: str
    trigger_type: str
    triggered_by: int | None = Field(validation_alias="triggered_by_id")
    triggered_by_username: str | None
    parameters: dict[str, Any]
    artifacts: list[Any]
    test_results: dict[str, Any]
    trigger_data: dict[str, Any]
    error_message: str
    retry_of: int | None = Field(validation_alias="retry_of_id")
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def trigger_type_display(self) -> str:
        return label(self.trigger_type, TRIGGER_LABELS)


class ExecutionDetail(ExecutionSummary):
    """An execution with its definition snapshot, merged logs and step executions.

    ``logs`` holds at most the first 5000 lines (``logs_truncated`` says when more
    exist); ``logs/?offset=`` reads any part of the log.
    """

    definition: dict[str, Any]
    logs: str
    logs_truncated: bool
    step_executions: list[StepExecutionOut]


class ExecutionCreate(BaseModel):
    """``pipeline_id`` may be omitted on ``/pipelines/{id}/executions/``; an omitted
    ``cicd_tool_id`` means the pipeline's tool, null means the local executor."""

    pipeline_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("pipeline_id", "pipeline")
    )
    cicd_tool_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("cicd_tool_id", "cicd_tool")
    )
    trigger_type: TriggerType = "manual"
    parameters: JSONObject = Field(default_factory=dict)
    trigger_data: JSONObject = Field(default_factory=dict)


class RunRequest(BaseModel):
    """``pipelines/{id}/run/``: like creating an execution of that pipeline."""

    cicd_tool_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("cicd_tool_id", "cicd_tool")
    )
    trigger_type: TriggerType = "manual"
    parameters: JSONObject = Field(default_factory=dict)
    trigger_data: JSONObject = Field(default_factory=dict)


# -- atomic steps -----------------------------------------------------------------
class AtomicStepOut(ReadSchema):
    id: int
    name: str
    step_type: str
    description: str
    parameters: dict[str, Any]
    timeout_seconds: int
    retry_count: int
    is_public: bool
    created_by: int | None = Field(validation_alias="created_by_id")
    creator: Any = Field(default=None, validation_alias="created_by", exclude=True)
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created_by_username(self) -> str | None:
        return self.creator.username if self.creator is not None else None


class AtomicStepFields(BaseModel):
    name: Name
    step_type: Text(32, min_length=1) = "custom"
    description: Text(10_000) = ""
    parameters: JSONObject = Field(default_factory=dict)
    timeout_seconds: BoundedInt(1, 7 * 24 * 3600) = 300
    retry_count: BoundedInt(0, 100) = 0
    is_public: Bool = False


# -- git credentials --------------------------------------------------------------
class GitCredentialOut(ReadSchema):
    id: int
    user: int = Field(validation_alias="user_id")
    name: str
    platform: str
    server_url: str
    credential_type: str
    username: str
    has_password: bool
    has_ssh_key: bool
    description: str
    is_active: bool
    last_test_at: dt.datetime | None
    last_test_result: str
    created_at: dt.datetime
    updated_at: dt.datetime


class GitCredentialFields(BaseModel):
    """``password`` (or access token) and ``ssh_private_key`` are write-only: omitted
    or null keeps the stored value, ``""`` removes it."""

    name: Name
    platform: Platform = "other"
    server_url: HttpURL = ""
    credential_type: CredentialType = "username_password"
    username: Text(200) = ""
    password: Text(4096) | None = None
    ssh_private_key: Text(16_384) | None = None
    description: Text(10_000) = ""
    is_active: Bool = True


class GitCredentialCreate(GitCredentialFields):
    """A new credential needs the secret its type uses (checked by the collection)."""

    def missing_secret(self) -> dict[str, list[str]]:
        if self.credential_type == "ssh_key" and not self.ssh_private_key:
            return {"ssh_private_key": ["An ssh_key credential needs a private key."]}
        if self.credential_type != "ssh_key" and not self.password:
            return {"password": [f"A {self.credential_type} credential needs a password."]}
        return {}


# -- statistics -------------------------------------------------------------------
class StatisticsOut(BaseModel):
    days: int
    since: dt.datetime
    total: int
    by_status: dict[str, int]
    finished: int
    success_rate: float | None
    average_duration: float | None
    daily: list[dict[str, Any]]
