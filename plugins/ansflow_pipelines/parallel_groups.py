"""``/api/v1/pipelines/parallel-groups/``: the parallel groups of pipelines.

Shows: a collection with string keys (AnsFlow's editor names groups itself), whose
rows reach their project through a parent (a group's ACL is its pipeline's, the
pipeline's is its project's), and a membership kept on the other side: a step is in
the group its ``parallel_group`` names, so a pipeline written with ``steps`` and a
group written with ``steps`` describe the same thing.

How the engine honours a group's ``sync_policy`` and ``timeout_seconds`` is described
in :mod:`ansflow_pyramid.execution.engine`; executions take a snapshot of the groups
when they are triggered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from ansflow_projects.acl import restrict_to_visible
from ansflow_projects.fields import does_not_exist
from ansflow_projects.resources import ProjectScopedCollection, ProjectScopedItem
from pydantic import BaseModel
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from ansflow_pipelines.models import SYNC_POLICIES, ParallelGroup, Pipeline, PipelineStep
from ansflow_pipelines.schemas import ParallelGroupCreate, ParallelGroupFields, ParallelGroupOut
from ansflow_pyramid.api import Conflict, Filter, ValidationFailed

GROUP_PERMISSIONS = {
    "GET": "view",
    "POST": "add",
    # A group is part of its pipeline's definition: changing it is editing the pipeline.
    "PUT": "edit",
    "PATCH": "edit",
    "DELETE": "edit",
}


def attach_step_ids(dbsession: Session, groups: list[ParallelGroup]) -> None:
    """Set ``step_ids`` on ``groups``: one query for the whole page."""
    if not groups:
        return
    members: dict[tuple[int, str], list[int]] = {}
    rows = dbsession.execute(
        select(PipelineStep.pipeline_id, PipelineStep.parallel_group, PipelineStep.id)
        .where(
            PipelineStep.pipeline_id.in_({g.pipeline_id for g in groups}),
            PipelineStep.parallel_group.in_({g.id for g in groups}),
        )
        .order_by(PipelineStep.order, PipelineStep.id)
    )
    for pipeline_id, group_id, step_id in rows:
        members.setdefault((pipeline_id, group_id), []).append(step_id)
    for group in groups:
        group.step_ids = members.get((group.pipeline_id, group.id), [])


def set_group_steps(dbsession: Session, group: ParallelGroup, step_ids: Iterable[int]) -> None:
    """Make exactly ``step_ids`` (steps of the group's pipeline) the group's steps."""
    wanted = list(dict.fromkeys(step_ids))
    found = set(
        dbsession.scalars(
            select(PipelineStep.id).where(
                PipelineStep.pipeline_id == group.pipeline_id, PipelineStep.id.in_(wanted)
            )
        )
    )
    errors = {
        f"steps.{index}": [f"Step {step_id} is not a step of pipeline {group.pipeline_id}."]
        for index, step_id in enumerate(wanted)
        if step_id not in found
    }
    if errors:
        raise ValidationFailed(errors)
    dbsession.execute(
        update(PipelineStep)
        .where(
            PipelineStep.pipeline_id == group.pipeline_id,
            PipelineStep.parallel_group == group.id,
            PipelineStep.id.not_in(wanted),
        )
        .values(parallel_group="")
        .execution_options(synchronize_session=False)
    )
    if wanted:
        dbsession.execute(
            update(PipelineStep)
            .where(PipelineStep.id.in_(wanted))
            .values(parallel_group=group.id)
            .execution_options(synchronize_session=False)
        )
    # Pipelines loaded in this session must not keep the old memberships.
    dbsession.expire_all()


class ParallelGroupItem(ProjectScopedItem):
    obj: ParallelGroup

    def acl_project_id(self) -> int:
        project_id = getattr(self, "_project_id", None)
        if project_id is None:
            project_id = self.dbsession.scalar(
                select(Pipeline.project_id).where(Pipeline.id == self.obj.pipeline_id)
            )
            self._project_id = project_id
        return project_id

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        pipeline_id = values.pop("pipeline", None)
        if pipeline_id is not None and pipeline_id != self.obj.pipeline_id:
            raise ValidationFailed({"pipeline": ["A group stays in its pipeline."]})
        step_ids = values.pop("steps", None)
        for key, value in values.items():
            setattr(self.obj, key, value)
        self.dbsession.flush()
        if step_ids is not None:
            set_group_steps(self.dbsession, self.obj, step_ids)
        return self.obj

    def delete(self) -> None:
        # Its steps run one after another again rather than as an anonymous group.
        set_group_steps(self.dbsession, self.obj, [])
        super().delete()


class ParallelGroupCollection(ProjectScopedCollection):
    """``/api/v1/pipelines/parallel-groups/?pipeline=``: groups of visible pipelines."""

    model = ParallelGroup
    item_class = ParallelGroupItem
    key_converter = "str"
    project_column = Pipeline.project_id
    read_schema = ParallelGroupOut
    create_schema = ParallelGroupCreate
    update_schema = ParallelGroupFields
    create_permission = "edit"
    method_permissions = GROUP_PERMISSIONS
    filters = {
        "pipeline": Filter(ParallelGroup.pipeline_id, python_type=int),
        "pipeline_id": Filter(ParallelGroup.pipeline_id, python_type=int),
        "sync_policy": Filter(ParallelGroup.sync_policy, choices=SYNC_POLICIES),
    }
    ordering_fields = {
        "id": ParallelGroup.id,
        "name": ParallelGroup.name,
        "created_at": ParallelGroup.created_at,
    }
    default_ordering = ("created_at",)
    search_fields = (ParallelGroup.name,)

    def base_query(self) -> Select[Any]:
        query = select(ParallelGroup).join(Pipeline, Pipeline.id == ParallelGroup.pipeline_id)
        return restrict_to_visible(self.request, query, Pipeline.project_id)

    def serialize(self, obj: Any) -> dict[str, Any]:
        return self.serialize_many([obj])[0]

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        attach_step_ids(self.dbsession, rows)
        return [ParallelGroupOut.model_validate(row).model_dump(mode="json") for row in rows]

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, ParallelGroupCreate)
        pipeline = self.dbsession.scalars(
            restrict_to_visible(
                self.request,
                select(Pipeline).where(Pipeline.id == data.pipeline),
                Pipeline.project_id,
            )
        ).first()
        if pipeline is None:
            raise ValidationFailed({"pipeline": does_not_exist(data.pipeline)})
        self.require_project(pipeline.project_id, field="pipeline")
        group_id = data.id or f"parallel_group_{uuid.uuid4().hex[:16]}"
        if self.dbsession.get(ParallelGroup, group_id) is not None:
            raise Conflict(
                "A parallel group with this id exists already.",
                code="unique",
                errors={"id": ["A parallel group with this id exists already."]},
            )
        values = data.model_dump(exclude={"id", "pipeline", "steps"})
        group = ParallelGroup(id=group_id, pipeline_id=pipeline.id, **values)
        self.dbsession.add(group)
        self.dbsession.flush()
        if data.steps:
            set_group_steps(self.dbsession, group, data.steps)
        return group
