"""The collections of the triggers plugin: webhook triggers, their deliveries and
schedules, each also reachable under its pipeline.

Shows: project-scoped collections whose rows hang off another plugin's resource
(a pipeline) and are created through the parent's path (``pipelines/7/schedules/``
sets the pipeline), a read-only history collection, and write hooks that delegate
every rule to the services.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ansflow_cicd.models import Tool
from ansflow_cicd.secrets import get_secret_box
from ansflow_pipelines.models import Pipeline
from ansflow_projects.acl import current_user_id, restrict_to_visible
from ansflow_projects.fields import does_not_exist
from ansflow_projects.resources import ProjectScopedCollection, ProjectScopedItem
from pydantic import BaseModel
from sqlalchemy import select

from ansflow_pyramid.api import Filter, ValidationFailed
from ansflow_triggers.clock import get_clock
from ansflow_triggers.models import (
    MISSED_RUN_POLICIES,
    WEBHOOK_SOURCES,
    Schedule,
    WebhookDelivery,
    WebhookTrigger,
)
from ansflow_triggers.schemas import (
    ScheduleCreate,
    ScheduleFields,
    ScheduleOut,
    WebhookDeliveryOut,
    WebhookTriggerCreate,
    WebhookTriggerFields,
    WebhookTriggerOut,
)
from ansflow_triggers.services import check_schedule, check_webhook_trigger, plan_schedule

#: Triggers and schedules change how a pipeline runs: writing them needs "edit" on the
#: project (creating checks it on the target project: ``create_permission``).
TRIGGER_PERMISSIONS = {
    "GET": "view",
    "POST": "add",
    "PUT": "edit",
    "PATCH": "edit",
    "DELETE": "edit",
}


def visible_row(resource: Any, model: Any, row_id: int | None, field: str) -> Any:
    """Row ``row_id`` of ``model`` if the caller may see its project; 400 otherwise."""
    if row_id is None:
        return None
    query = restrict_to_visible(
        resource.request, select(model).where(model.id == row_id), model.project_id
    )
    row = resource.dbsession.scalars(query).first()
    if row is None:
        raise ValidationFailed({field: does_not_exist(row_id)})
    return row


# -- webhook triggers ---------------------------------------------------------------
class WebhookTriggerItem(ProjectScopedItem):
    obj: WebhookTrigger

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        secret = values.pop("secret", None)
        merged = {
            "events": self.obj.events,
            "branches": self.obj.branches,
            "tags": self.obj.tags,
            **values,
        }
        check_webhook_trigger(self.obj.source, merged["events"], merged["branches"], merged["tags"])
        for key, value in values.items():
            setattr(self.obj, key, value)
        if secret:
            self.obj.secret_encrypted = get_secret_box(self.request.registry).encrypt(secret)
        self.dbsession.flush()
        return self.obj


class WebhookTriggerCollection(ProjectScopedCollection):
    """``/api/v1/triggers/webhooks/``: which deliveries start which pipelines."""

    model = WebhookTrigger
    item_class = WebhookTriggerItem
    project_column = WebhookTrigger.project_id
    read_schema = WebhookTriggerOut
    create_schema = WebhookTriggerCreate
    update_schema = WebhookTriggerFields
    method_permissions = TRIGGER_PERMISSIONS
    create_permission: ClassVar[str] = "edit"
    filters = {
        "project": Filter(WebhookTrigger.project_id, python_type=int),
        "pipeline": Filter(WebhookTrigger.pipeline_id, python_type=int),
        "pipeline_id": Filter(WebhookTrigger.pipeline_id, python_type=int),
        "tool": Filter(WebhookTrigger.tool_id, python_type=int),
        "source": Filter(WebhookTrigger.source, choices=WEBHOOK_SOURCES),
        "is_active": Filter(WebhookTrigger.is_active),
    }
    ordering_fields = {"id": WebhookTrigger.id, "created_at": WebhookTrigger.created_at}
    default_ordering = ("id",)
    search_fields = (WebhookTrigger.repository,)

    def serialize(self, obj: Any) -> dict[str, Any]:
        document = super().serialize(obj)
        document["url"] = self.request.application_url + f"/api/v1/webhooks/{obj.source}/"
        return document

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, WebhookTriggerCreate)
        self.check_fixed_filters()
        pipeline_id = self.fixed_filters.get("pipeline_id", data.pipeline)
        pipeline = visible_row(self, Pipeline, pipeline_id, "pipeline")
        tool = visible_row(self, Tool, data.tool, "tool")
        if pipeline is None and tool is None:
            raise ValidationFailed({"pipeline": ["A trigger needs a pipeline or a tool."]})
        if pipeline is not None and tool is not None and tool.project_id != pipeline.project_id:
            raise ValidationFailed({"tool": ["The tool belongs to another project."]})
        project_id = (pipeline or tool).project_id
        self.require_project(project_id, "pipeline" if pipeline is not None else "tool")
        check_webhook_trigger(data.source, data.events, data.branches, data.tags)
        trigger = WebhookTrigger(
            project_id=project_id,
            pipeline_id=pipeline.id if pipeline is not None else None,
            tool_id=tool.id if tool is not None else None,
            source=data.source,
            repository=data.repository.strip(),
            events=data.events,
            branches=data.branches,
            tags=data.tags,
            secret_encrypted=get_secret_box(self.request.registry).encrypt(data.secret),
            is_active=data.is_active,
            created_by_id=current_user_id(self.request),
        )
        self.dbsession.add(trigger)
        self.dbsession.flush()
        return trigger


# -- deliveries -----------------------------------------------------------------------
class WebhookDeliveryCollection(ProjectScopedCollection):
    """``/api/v1/triggers/deliveries/``: recent deliveries and what they did."""

    model = WebhookDelivery
    project_column = WebhookDelivery.project_id
    read_schema = WebhookDeliveryOut
    collection_methods = ("GET",)
    item_methods = ("GET",)
    filters = {
        "project": Filter(WebhookDelivery.project_id, python_type=int),
        "pipeline": Filter(WebhookDelivery.pipeline_id, python_type=int),
        "pipeline_id": Filter(WebhookDelivery.pipeline_id, python_type=int),
        "trigger": Filter(WebhookDelivery.trigger_id, python_type=int),
        "source": Filter(WebhookDelivery.source, choices=WEBHOOK_SOURCES),
        "signature_valid": Filter(WebhookDelivery.signature_valid),
        "matched": Filter(WebhookDelivery.matched),
    }
    ordering_fields = {"id": WebhookDelivery.id, "received_at": WebhookDelivery.received_at}
    default_ordering = ("-received_at", "-id")

    def serialize(self, obj: Any) -> dict[str, Any]:
        document = super().serialize(obj)
        document["execution_created"] = obj.execution_id is not None
        return document


# -- schedules ---------------------------------------------------------------------------
class ScheduleItem(ProjectScopedItem):
    obj: Schedule

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        merged = {
            "cron": self.obj.cron,
            "timezone": self.obj.timezone,
            "missed_runs": self.obj.missed_runs,
            **values,
        }
        check_schedule(merged["cron"], merged["timezone"], merged["missed_runs"])
        replan = any(
            key in values and values[key] != getattr(self.obj, key)
            for key in ("cron", "timezone", "is_active")
        )
        for key, value in values.items():
            setattr(self.obj, key, value)
        if replan:
            plan_schedule(self.obj, get_clock(self.request.registry)())
        self.dbsession.flush()
        return self.obj


class ScheduleCollection(ProjectScopedCollection):
    """``/api/v1/triggers/schedules/``: cron schedules of pipelines."""

    model = Schedule
    item_class = ScheduleItem
    project_column = Schedule.project_id
    read_schema = ScheduleOut
    create_schema = ScheduleCreate
    update_schema = ScheduleFields
    method_permissions = TRIGGER_PERMISSIONS
    create_permission: ClassVar[str] = "edit"
    filters = {
        "project": Filter(Schedule.project_id, python_type=int),
        "pipeline": Filter(Schedule.pipeline_id, python_type=int),
        "pipeline_id": Filter(Schedule.pipeline_id, python_type=int),
        "is_active": Filter(Schedule.is_active),
        "missed_runs": Filter(Schedule.missed_runs, choices=MISSED_RUN_POLICIES),
    }
    ordering_fields = {
        "id": Schedule.id,
        "next_run_at": Schedule.next_run_at,
        "created_at": Schedule.created_at,
    }
    default_ordering = ("id",)
    search_fields = (Schedule.name, Schedule.cron)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, ScheduleCreate)
        self.check_fixed_filters()
        pipeline = visible_row(
            self, Pipeline, self.fixed_filters.get("pipeline_id", data.pipeline), "pipeline"
        )
        if pipeline is None:
            raise ValidationFailed({"pipeline": ["This field is required."]})
        self.require_project(pipeline.project_id, "pipeline")
        check_schedule(data.cron, data.timezone, data.missed_runs)
        schedule = Schedule(
            project_id=pipeline.project_id,
            pipeline_id=pipeline.id,
            **data.model_dump(exclude={"pipeline"}),
            created_by_id=current_user_id(self.request),
        )
        plan_schedule(schedule, get_clock(self.request.registry)())
        self.dbsession.add(schedule)
        self.dbsession.flush()
        return schedule
