"""Request and response schemas of the triggers plugin.

Shows: a write-only secret (``secret`` exists only in write schemas; reads say
``has_secret``), and syntax validated where it is cheap (lengths, types) while the
rules that need the source's vocabulary or a cron parser live in the services.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ansflow_projects.fields import Bool, Id, JSONObject, Text
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

Source = Literal["github", "gitlab", "jenkins", "generic"]
MissedRuns = Literal["skip", "catch_up_once"]
Glob = Text(200, min_length=1)
Secret = Text(512, min_length=16)


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- webhook triggers ----------------------------------------------------------------
class WebhookTriggerOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    pipeline: int | None = Field(validation_alias="pipeline_id")
    tool: int | None = Field(validation_alias="tool_id")
    source: str
    repository: str
    events: list[str]
    branches: list[str]
    tags: list[str]
    has_secret: bool
    is_active: bool
    #: The path to configure on the sending side.
    url: str = ""
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookTriggerFields(BaseModel):
    """Writable fields.  ``secret`` is write-only: omitted or null keeps the stored one.

    Empty ``events`` means the source's defaults (``push``); empty ``branches`` means
    every branch; tags start nothing unless ``tags`` lists a matching glob.
    """

    repository: Text(255) = ""
    events: list[Text(100, min_length=1)] = Field(default_factory=list, max_length=20)
    branches: list[Glob] = Field(default_factory=list, max_length=50)
    tags: list[Glob] = Field(default_factory=list, max_length=50)
    secret: Secret | None = None
    is_active: Bool = True


class WebhookTriggerCreate(WebhookTriggerFields):
    source: Source
    pipeline: Id | None = Field(
        default=None, validation_alias=AliasChoices("pipeline", "pipeline_id")
    )
    tool: Id | None = Field(default=None, validation_alias=AliasChoices("tool", "tool_id"))
    secret: Secret


# -- deliveries ------------------------------------------------------------------------
class WebhookDeliveryOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    trigger: int | None = Field(validation_alias="trigger_id")
    pipeline: int | None = Field(validation_alias="pipeline_id")
    source: str
    event: str
    delivery_id: str
    received_at: dt.datetime
    signature_valid: bool
    matched: bool
    execution: int | None = Field(validation_alias="execution_id")
    execution_created: bool = False
    summary: dict[str, Any]
    error: str


# -- schedules ---------------------------------------------------------------------------
class ScheduleOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    pipeline: int = Field(validation_alias="pipeline_id")
    name: str
    cron: str
    timezone: str
    parameters: dict[str, Any]
    missed_runs: str
    is_active: bool
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class ScheduleFields(BaseModel):
    """``cron``: five fields (minute hour day-of-month month day-of-week) or
    ``@hourly``/``@daily``/``@weekly``/``@monthly``/``@yearly``; ``timezone``: an IANA
    name; ``missed_runs``: ``skip`` or ``catch_up_once``."""

    name: Text(200) = ""
    cron: Text(200, min_length=1)
    timezone: Text(64, min_length=1) = "UTC"
    parameters: JSONObject = Field(default_factory=dict)
    missed_runs: MissedRuns = "skip"
    is_active: Bool = True


class ScheduleCreate(ScheduleFields):
    #: Required, unless the path names the pipeline (``pipelines/7/schedules/``).
    pipeline: Id | None = Field(
        default=None, validation_alias=AliasChoices("pipeline", "pipeline_id")
    )


class DeliveryAccepted(BaseModel):
    """The 202 answer to a delivery."""

    status: Literal["accepted"]
    source: str
    event: str
    delivery_id: str
    effect: Literal["started", "nudged", "ignored"]
    executions: list[int]
    nudged: list[int]
    reason: str


class GenericDelivery(BaseModel):
    """What a generic delivery carries (``event`` may come from ``X-AnsFlow-Event``)."""

    event: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]+$")]
    repository: str = ""
    ref: str = ""
    commit: str = ""
    sender: str = ""


# -- what each source sends (documentation: deliveries are verified on their raw bytes,
# and only the fields below are read; everything else is allowed and ignored) --------
class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class GitHubRepository(Payload):
    full_name: str


class GitHubDelivery(Payload):
    """A GitHub delivery: ``push``, ``pull_request``, ``workflow_run``, ``workflow_job``..."""

    repository: GitHubRepository


class GitLabProject(Payload):
    path_with_namespace: str


class GitLabDelivery(Payload):
    """A GitLab delivery: ``Push Hook``, ``Merge Request Hook``, ``Pipeline Hook``..."""

    project: GitLabProject


class JenkinsBuild(Payload):
    number: int
    phase: str = ""
    status: str = ""
    full_url: str = ""


class JenkinsNotification(Payload):
    """A Jenkins Notification plugin message about a build of job ``name``."""

    name: str
    build: JenkinsBuild


DELIVERY_SCHEMAS: dict[str, type[BaseModel]] = {
    "github": GitHubDelivery,
    "gitlab": GitLabDelivery,
    "jenkins": JenkinsNotification,
    "generic": GenericDelivery,
}
