"""The collections of the cicd plugin: tools, executions, step executions,
atomic steps and git credentials.

Shows: serialisation that loads exactly what it shows (display names in one batch
per list, an execution's steps and log lines in one query each) instead of lazy
loads per row; write-only secrets encrypted on the way in; ACLs for resources owned by
a user rather than a project (git credentials, atomic steps); and a sub-collection
under an item (``executions/{id}/steps/``) whose ACL is its parent execution's.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

from ansflow_pipelines.extensions import ToolRef, step_types
from ansflow_pipelines.models import Pipeline
from ansflow_projects.acl import (
    COLLECTION_ACL,
    SHARED_VISIBILITIES,
    AuthenticatedLookup,
    current_user_id,
    is_unrestricted,
    prime_project_acl,
    require_authenticated,
    restrict_to_visible,
)
from ansflow_projects.fields import does_not_exist
from ansflow_projects.models import Project, ProjectMembership
from ansflow_projects.resources import (
    PROJECT_RESOURCE_PERMISSIONS,
    ProjectScopedCollection,
    ProjectScopedItem,
)
from pydantic import BaseModel, TypeAdapter
from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow
from sqlalchemy import Select, and_, bindparam, or_, select, update

from ansflow_cicd.execution_updates import ExecutionUpdate, update_execution
from ansflow_cicd.executions import create_execution
from ansflow_cicd.logs import DETAIL_MAX_LINES, first_lines
from ansflow_cicd.models import (
    EXECUTION_STATUSES,
    GIT_CREDENTIAL_TYPES,
    GIT_PLATFORMS,
    STEP_STATUSES,
    TOOL_STATUSES,
    TRIGGER_TYPES,
    AtomicStep,
    Execution,
    ExecutionLogLine,
    GitCredential,
    StepExecution,
    Tool,
)
from ansflow_cicd.schemas import (
    AtomicStepFields,
    AtomicStepOut,
    ExecutionCreate,
    ExecutionDetail,
    ExecutionSummary,
    GitCredentialCreate,
    GitCredentialFields,
    GitCredentialOut,
    StepExecutionOut,
    ToolCreate,
    ToolFields,
    ToolOut,
    label,
)
from ansflow_cicd.secrets import get_secret_box
from ansflow_cicd.tooltypes import tool_types
from ansflow_pyramid.api import (
    APIError,
    Filter,
    ModelCollection,
    ModelItem,
    NotFound,
    ValidationFailed,
)
from ansflow_pyramid.db.driver_query import DriverQuery
from ansflow_pyramid.identity import AUTHENTICATED, SUPERUSERS, User, user_principal


def set_secret(request: Any, obj: Any, column: str, value: str | None) -> None:
    """Store a write-only secret: None keeps the stored value, "" removes it."""
    if value is None:
        return
    setattr(obj, column, get_secret_box(request.registry).encrypt(value) if value else None)


# -- tools ------------------------------------------------------------------------
def check_tool_fields(
    request: Any, values: dict[str, Any], has_token: bool = False, sets_token: bool = False
) -> None:
    errors: dict[str, list[str]] = {}
    known = tool_types(request.registry)
    tool_type = known.get(values.get("tool_type", ""))
    if "tool_type" in values and tool_type is None:
        errors["tool_type"] = [
            f"Unknown tool type {values['tool_type']!r}; use one of: {', '.join(sorted(known))}."
        ]
    if tool_type is not None and tool_type.requires_base_url and not values.get("base_url"):
        if tool_type.default_base_url:
            values["base_url"] = tool_type.default_base_url
        else:
            errors["base_url"] = [f"A {tool_type.label} tool needs a base_url."]
    if tool_type is not None and tool_type.validate is not None and not errors:
        errors.update(
            tool_type.validate({**values, "has_token": has_token, "sets_token": sets_token})
        )
    if errors:
        raise ValidationFailed(errors)


def check_tool_name(dbsession: Any, project_id: int, name: str) -> None:
    exists = dbsession.scalar(
        select(Tool.id).where(Tool.project_id == project_id, Tool.name == name)
    )
    if exists is not None:
        raise ValidationFailed({"name": ["This project has a tool with this name already."]})


class ToolItem(ProjectScopedItem):
    obj: Tool

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        token = values.pop("token", None)
        merged = {
            "tool_type": self.obj.tool_type,
            "base_url": self.obj.base_url,
            "username": self.obj.username,
            "config": self.obj.config,
            **values,
        }
        has_token = bool(token) if token is not None else self.obj.has_token
        check_tool_fields(self.request, merged, has_token, sets_token=bool(token))
        if "base_url" in values or merged["base_url"] != self.obj.base_url:
            values["base_url"] = merged["base_url"]
        if values.get("name") not in (None, self.obj.name):
            check_tool_name(self.dbsession, self.obj.project_id, values["name"])
        if "metadata" in values:
            values["meta"] = values.pop("metadata")
        for key, value in values.items():
            setattr(self.obj, key, value)
        set_secret(self.request, self.obj, "token_encrypted", token)
        self.dbsession.flush()
        return self.obj

    def delete(self) -> None:
        # Pipelines name their tool without a foreign key (see ansflow_pipelines.models).
        self.dbsession.execute(
            update(Pipeline)
            .where(Pipeline.execution_tool_id == self.obj.id)
            .values(execution_tool_id=None)
            .execution_options(synchronize_session=False)
        )
        super().delete()


class ToolCollection(ProjectScopedCollection):
    """``/api/v1/cicd/tools/``: CI/CD tools of the projects the caller sees."""

    model = Tool
    item_class = ToolItem
    project_column = Tool.project_id
    read_schema = ToolOut
    create_schema = ToolCreate
    update_schema = ToolFields
    filters = {
        "project": Filter(Tool.project_id, python_type=int),
        "project_id": Filter(Tool.project_id, python_type=int),
        "tool_type": Filter(Tool.tool_type),
        "status": Filter(Tool.status, choices=TOOL_STATUSES),
    }
    ordering_fields = {
        "id": Tool.id,
        "name": Tool.name,
        "tool_type": Tool.tool_type,
        "status": Tool.status,
        "created_at": Tool.created_at,
    }
    default_ordering = ("name",)
    search_fields = (Tool.name, Tool.base_url)

    def serialize(self, obj: Any) -> dict[str, Any]:
        return self.serialize_many([obj])[0]

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        known = tool_types(self.request.registry)
        for row in rows:
            tool_type = known.get(row.tool_type)
            row.tool_type_display = (
                tool_type.label if tool_type is not None else label(row.tool_type)
            )
        return [ToolOut.model_validate(row).model_dump(mode="json") for row in rows]

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, ToolCreate)
        self.require_project(data.project)
        values = data.model_dump(exclude={"project", "token"})
        check_tool_fields(self.request, values, bool(data.token), sets_token=bool(data.token))
        check_tool_name(self.dbsession, data.project, values["name"])
        values["meta"] = values.pop("metadata")
        tool = Tool(**values, project_id=data.project, created_by_id=current_user_id(self.request))
        set_secret(self.request, tool, "token_encrypted", data.token)
        self.dbsession.add(tool)
        self.dbsession.flush()
        return tool


def lookup_tool(request: Any, tool_id: int) -> ToolRef | None:
    """The pipelines plugin's view of a tool (see ``set_pipeline_tool_lookup``)."""
    query = select(Tool.id, Tool.name, Tool.tool_type, Tool.project_id).where(Tool.id == tool_id)
    row = request.dbsession.execute(restrict_to_visible(request, query, Tool.project_id)).first()
    return ToolRef(*row) if row is not None else None


def lookup_tools(request: Any, tool_ids: list[int]) -> dict[int, ToolRef]:
    """Batch form of :func:`lookup_tool`: the visible tools among ``tool_ids``."""
    query = select(Tool.id, Tool.name, Tool.tool_type, Tool.project_id).where(Tool.id.in_(tool_ids))
    rows = request.dbsession.execute(restrict_to_visible(request, query, Tool.project_id))
    return {row.id: ToolRef(*row) for row in rows}


# -- executions -------------------------------------------------------------------
def attach_display(dbsession: Any, executions: list[Execution]) -> None:
    """Look up the names shown next to ids, one query per kind for the whole page."""
    pipeline_ids = {e.pipeline_id for e in executions}
    tool_ids = {e.cicd_tool_id for e in executions if e.cicd_tool_id is not None}
    user_ids = {e.triggered_by_id for e in executions if e.triggered_by_id is not None}
    pipelines = {
        row.id: row.name
        for row in dbsession.execute(
            select(Pipeline.id, Pipeline.name).where(Pipeline.id.in_(pipeline_ids))
        )
    }
    tools = (
        {
            row.id: row
            for row in dbsession.execute(
                select(Tool.id, Tool.name, Tool.tool_type).where(Tool.id.in_(tool_ids))
            )
        }
        if tool_ids
        else {}
    )
    users = (
        {
            row.id: row.username
            for row in dbsession.execute(
                select(User.id, User.username).where(User.id.in_(user_ids))
            )
        }
        if user_ids
        else {}
    )
    for execution in executions:
        tool = tools.get(execution.cicd_tool_id)
        execution.pipeline_name = pipelines.get(execution.pipeline_id)
        execution.cicd_tool_name = tool.name if tool is not None else None
        execution.cicd_tool_type = tool.tool_type if tool is not None else None
        execution.triggered_by_username = users.get(execution.triggered_by_id)


def step_snapshots(execution: Execution) -> dict[int, dict[str, Any]]:
    """The execution's snapshot of each step, by order."""
    return {step.get("order"): step for step in execution.definition.get("steps", [])}


def describe_steps(
    execution: Execution, steps: list[Any], logs: dict[int | None, list[str]]
) -> None:
    """Give step executions the name and type they had at trigger time, and their logs."""
    snapshots = step_snapshots(execution)
    for step in steps:
        snapshot = snapshots.get(step.order, {})
        step.step_name = snapshot.get("name", "")
        step.step_type = snapshot.get("step_type", "")
        step.logs = "\n".join(logs.get(step.id, ()))


# The detail is the most read document of the API (clients poll it): its statements are
# built once, since building a statement costs more than running it.
_STEPS_QUERY = DriverQuery(
    select(*StepExecution.__table__.c)
    .where(StepExecution.execution_id == bindparam("execution_id"))
    .order_by(StepExecution.order, StepExecution.id)
)


_STEP_LIST = TypeAdapter(list[StepExecutionOut])


def execution_detail(dbsession: Any, execution: Execution | SimpleNamespace) -> dict[str, Any]:
    """An execution with its definition, merged logs and step executions.

    Three small queries whatever the size of the execution: the display names (unless
    the loading query brought them), the step executions, and the first
    ``DETAIL_MAX_LINES`` log lines.
    """
    if not hasattr(execution, "pipeline_name"):
        attach_display(dbsession, [execution])
    params = {"execution_id": execution.id}
    shown, truncated = first_lines(dbsession, execution.id)
    by_step: dict[int | None, list[str]] = {}
    for step_id, text in shown:
        by_step.setdefault(step_id, []).append(text)
    snapshots = step_snapshots(execution)
    steps = _STEPS_QUERY.dicts(dbsession, params)
    for step in steps:
        snapshot = snapshots.get(step["order"], {})
        step["step_name"] = snapshot.get("name", "")
        step["step_type"] = snapshot.get("step_type", "")
        step["logs"] = "\n".join(by_step.get(step["id"], ()))
    document = ExecutionSummary.model_validate(execution).model_dump(mode="json")
    document["definition"] = execution.definition
    document["logs"] = "\n".join([text for _, text in shown])
    document["logs_truncated"] = truncated
    # One pydantic call for all the steps rather than two per step.
    document["step_executions"] = _STEP_LIST.dump_python(
        _STEP_LIST.validate_python(steps), mode="json"
    )
    return document


# The execution, the names shown next to its ids, and what its ACL needs (the
# project's visibility and owner, the caller's own role), as one row of columns: the
# detail is read as a plain record, and the ORM row is loaded only by the actions
# that change it (see ExecutionItem).
_EXECUTION_RECORD = (
    select(
        *Execution.__table__.c,
        Pipeline.name.label("pipeline_name"),
        Tool.name.label("cicd_tool_name"),
        Tool.tool_type.label("cicd_tool_type"),
        User.username.label("triggered_by_username"),
        Project.visibility.label("project_visibility"),
        Project.owner_id.label("project_owner_id"),
        ProjectMembership.role.label("caller_role"),
    )
    .join(Project, Project.id == Execution.project_id)
    .outerjoin(
        ProjectMembership,
        and_(
            ProjectMembership.project_id == Execution.project_id,
            ProjectMembership.user_id == bindparam("me"),
        ),
    )
    .outerjoin(Pipeline, Pipeline.id == Execution.pipeline_id)
    .outerjoin(Tool, Tool.id == Execution.cicd_tool_id)
    .outerjoin(User, User.id == Execution.triggered_by_id)
    .where(Execution.id == bindparam("key"))
)
_ANY_EXECUTION = DriverQuery(_EXECUTION_RECORD)
# The same visibility rule as ansflow_projects.acl.visible_project_ids, on the join.
_VISIBLE_EXECUTION = DriverQuery(
    _EXECUTION_RECORD.where(
        or_(
            Project.visibility.in_(SHARED_VISIBILITIES),
            Project.owner_id == bindparam("me"),
            ProjectMembership.id.is_not(None),
        )
    )
)
_DISPLAY_FIELDS = ("pipeline_name", "cicd_tool_name", "cicd_tool_type", "triggered_by_username")


class ExecutionItem(ProjectScopedItem):
    """An execution.  Loaded by id it starts as a plain ``record`` (what the detail
    shows); ``obj``, the ORM row, is loaded from it on first use."""

    record: SimpleNamespace | None = None
    _obj: Execution | None = None

    @classmethod
    def from_record(cls, collection: Any, key: Any, record: SimpleNamespace) -> ExecutionItem:
        item = cls(collection, key, None)
        item.record = record
        return item

    @property  # type: ignore[override]
    def obj(self) -> Execution:
        if self._obj is None:
            execution = self.dbsession.get(Execution, self.key)
            if execution is None:
                raise NotFound()
            for name in _DISPLAY_FIELDS:
                setattr(execution, name, getattr(self.record, name, None))
            self._obj = execution
        return self._obj

    @obj.setter
    def obj(self, value: Execution | None) -> None:
        self._obj = value

    @property
    def loaded(self) -> Execution | SimpleNamespace:
        """What is at hand without a query: the ORM row once loaded, else the record."""
        return self._obj if self._obj is not None else self.record  # type: ignore[return-value]

    def acl_project_id(self) -> int:
        return self.loaded.project_id

    def serialize(self) -> dict[str, Any]:
        return execution_detail(self.dbsession, self.loaded)

    def update(self, data: BaseModel, partial: bool) -> Any:
        # What may change is decided in one place (see ansflow_cicd.execution_updates).
        body = data.model_dump(exclude_unset=True)
        return update_execution(self.dbsession, self.obj, body, self.serialize())


class ExecutionCollection(ProjectScopedCollection):
    """``/api/v1/cicd/executions/``: runs of pipelines; the list is newest first.

    Also reachable as ``/api/v1/executions/`` and, for one pipeline, as
    ``/api/v1/pipelines/{pipeline_id}/executions/``.
    """

    model = Execution
    item_class = ExecutionItem
    project_column = Execution.project_id
    read_schema = ExecutionDetail
    list_schema = ExecutionSummary
    create_schema = ExecutionCreate
    create_permission = "run"
    collection_methods = ("GET", "POST")
    item_methods = ("GET", "PUT", "PATCH")
    update_schema = ExecutionUpdate
    # Changing a pending run's parameters is part of running it.
    method_permissions = {**PROJECT_RESOURCE_PERMISSIONS, "PUT": "run", "PATCH": "run"}
    filters = {
        "project_id": Filter(Execution.project_id, python_type=int),
        "project": Filter(Execution.project_id, python_type=int),
        "pipeline_id": Filter(Execution.pipeline_id, python_type=int),
        "pipeline": Filter(Execution.pipeline_id, python_type=int),
        "tool_id": Filter(Execution.cicd_tool_id, python_type=int),
        "cicd_tool": Filter(Execution.cicd_tool_id, python_type=int),
        "status": Filter(Execution.status, choices=EXECUTION_STATUSES),
        "trigger_type": Filter(Execution.trigger_type, choices=TRIGGER_TYPES),
        "triggered_by": Filter(Execution.triggered_by_id, python_type=int),
    }
    ordering_fields = {
        "id": Execution.id,
        "created_at": Execution.created_at,
        "started_at": Execution.started_at,
        "completed_at": Execution.completed_at,
        "status": Execution.status,
    }
    default_ordering = ("-created_at",)

    def load_item(self, key: Any) -> ModelItem:
        require_authenticated(self.request)
        if self.fixed_filters:
            return super().load_item(key)
        restricted = not is_unrestricted(self.request)
        query = _VISIBLE_EXECUTION if restricted else _ANY_EXECUTION
        me = current_user_id(self.request)
        record = query.first(self.dbsession, {"key": key, "me": me})
        if record is None:
            raise KeyError(key)
        prime_project_acl(
            self.request,
            record["project_id"],
            record.pop("project_visibility"),
            record.pop("project_owner_id"),
            record.pop("caller_role"),
        )
        return ExecutionItem.from_record(self, key, SimpleNamespace(**record))

    def serialize(self, obj: Any) -> dict[str, Any]:
        return execution_detail(self.dbsession, obj)

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        if rows:
            attach_display(self.dbsession, rows)
        return super().serialize_many(rows)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, ExecutionCreate)
        pipeline_id = self.fixed_filters.get("pipeline_id") or data.pipeline_id
        if pipeline_id is None:
            raise ValidationFailed({"pipeline_id": ["This field is required."]})
        if data.pipeline_id is not None and data.pipeline_id != pipeline_id:
            raise ValidationFailed({"pipeline_id": ["Does not match the pipeline in the path."]})
        pipeline = find_pipeline(self.request, pipeline_id, "pipeline_id")
        self.require_project(pipeline.project_id, field="pipeline_id")
        tool_id = (
            data.cicd_tool_id
            if "cicd_tool_id" in data.model_fields_set
            else pipeline.execution_tool_id
        )
        return create_execution(
            self.request,
            pipeline,
            tool_id=tool_id,
            trigger_type=data.trigger_type,
            parameters=data.parameters,
            trigger_data=data.trigger_data,
        )


def find_pipeline(request: Any, pipeline_id: int, field: str) -> Pipeline:
    query = restrict_to_visible(
        request, select(Pipeline).where(Pipeline.id == pipeline_id), Pipeline.project_id
    )
    pipeline = request.dbsession.scalars(query).first()
    if pipeline is None:
        raise ValidationFailed({field: does_not_exist(pipeline_id)})
    return pipeline


class StepExecutionCollection(ModelCollection):
    """``/api/v1/cicd/executions/{execution_id}/steps/``: one execution's steps.

    It lives under an execution item, so its ACL is the execution's (its project's),
    and the execution's visibility was checked when the path was traversed.  Also
    reachable as ``/api/v1/pipelines/executions/{execution_id}/steps/``.
    """

    model = StepExecution
    read_schema = StepExecutionOut
    collection_methods = ("GET",)
    item_methods = ("GET",)
    filters = {
        "execution_id": Filter(StepExecution.execution_id, python_type=int),
        "status": Filter(StepExecution.status, choices=STEP_STATUSES),
    }
    ordering_fields = {
        "id": StepExecution.id,
        "order": StepExecution.order,
        "started_at": StepExecution.started_at,
    }
    default_ordering = ("order",)

    @property
    def execution(self) -> Execution:
        parent = self.__parent__
        assert isinstance(parent, ExecutionItem)
        return parent.obj

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        ids = [row.id for row in rows]
        logs: dict[int | None, list[str]] = {}
        if ids:
            for step_id, text in self.dbsession.execute(
                select(ExecutionLogLine.step_execution_id, ExecutionLogLine.text)
                .where(
                    ExecutionLogLine.execution_id == self.execution.id,
                    ExecutionLogLine.step_execution_id.in_(ids),
                )
                .order_by(ExecutionLogLine.number)
                .limit(DETAIL_MAX_LINES)
            ):
                logs.setdefault(step_id, []).append(text)
        describe_steps(self.execution, rows, logs)
        return [StepExecutionOut.model_validate(row).model_dump(mode="json") for row in rows]

    def serialize(self, obj: Any) -> dict[str, Any]:
        return self.serialize_many([obj])[0]


# -- atomic steps -----------------------------------------------------------------
def owner_acl(owner_id: int | None, *, public: bool = False) -> list[Any]:
    """An ACL for a resource owned by one user (and readable by all when public)."""
    acl: list[Any] = [(Allow, SUPERUSERS, ALL_PERMISSIONS)]
    if owner_id is not None:
        acl.append((Allow, user_principal(owner_id), ("view", "edit", "delete")))
    if public:
        acl.append((Allow, AUTHENTICATED, ("view",)))
    acl.append(DENY_ALL)
    return acl


def check_step_type(request: Any, step_type: str | None) -> None:
    known = step_types(request.registry)
    if step_type is not None and step_type not in known:
        raise ValidationFailed(
            {
                "step_type": [
                    f"Unknown step type {step_type!r}; use one of: {', '.join(sorted(known))}."
                ]
            }
        )


class AtomicStepItem(ModelItem):
    obj: AtomicStep

    @property
    def __acl__(self) -> list[Any]:
        return owner_acl(self.obj.created_by_id, public=self.obj.is_public)

    def update(self, data: BaseModel, partial: bool) -> Any:
        check_step_type(self.request, getattr(data, "step_type", None))
        return super().update(data, partial)


class AtomicStepCollection(AuthenticatedLookup, ModelCollection):
    """``/api/v1/cicd/atomic-steps/``: reusable step templates.

    A template belongs to its creator; public ones can be read by every user.
    """

    model = AtomicStep
    item_class = AtomicStepItem
    __acl__: ClassVar[list[Any]] = COLLECTION_ACL
    read_schema = AtomicStepOut
    create_schema = AtomicStepFields
    filters = {
        "step_type": Filter(AtomicStep.step_type),
        "is_public": Filter(AtomicStep.is_public),
        "created_by": Filter(AtomicStep.created_by_id, python_type=int),
    }
    ordering_fields = {
        "id": AtomicStep.id,
        "name": AtomicStep.name,
        "step_type": AtomicStep.step_type,
        "created_at": AtomicStep.created_at,
    }
    default_ordering = ("name",)
    search_fields = (AtomicStep.name, AtomicStep.description)

    def base_query(self) -> Select[Any]:
        query = select(AtomicStep)
        if is_unrestricted(self.request):
            return query
        user_id = current_user_id(self.request)
        return query.where(or_(AtomicStep.is_public.is_(True), AtomicStep.created_by_id == user_id))

    def create(self, data: BaseModel) -> Any:
        check_step_type(self.request, getattr(data, "step_type", None))
        step = AtomicStep(**data.model_dump(), created_by_id=current_user_id(self.request))
        self.dbsession.add(step)
        self.dbsession.flush()
        return step


# -- git credentials --------------------------------------------------------------
class GitCredentialItem(ModelItem):
    obj: GitCredential

    @property
    def __acl__(self) -> list[Any]:
        return owner_acl(self.obj.user_id)

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        password = values.pop("password", None)
        key = values.pop("ssh_private_key", None)
        if values.get("name") not in (None, self.obj.name):
            check_credential_name(self.dbsession, self.obj.user_id, values["name"])
        for name, value in values.items():
            setattr(self.obj, name, value)
        set_secret(self.request, self.obj, "password_encrypted", password)
        set_secret(self.request, self.obj, "ssh_private_key_encrypted", key)
        self.dbsession.flush()
        return self.obj


def check_credential_name(dbsession: Any, user_id: int, name: str) -> None:
    exists = dbsession.scalar(
        select(GitCredential.id).where(GitCredential.user_id == user_id, GitCredential.name == name)
    )
    if exists is not None:
        raise ValidationFailed({"name": ["You have a credential with this name already."]})


class GitCredentialCollection(AuthenticatedLookup, ModelCollection):
    """``/api/v1/cicd/git-credentials/``: the caller's own git credentials."""

    model = GitCredential
    item_class = GitCredentialItem
    __acl__: ClassVar[list[Any]] = COLLECTION_ACL
    read_schema = GitCredentialOut
    create_schema = GitCredentialCreate
    update_schema = GitCredentialFields
    filters = {
        "platform": Filter(GitCredential.platform, choices=GIT_PLATFORMS),
        "credential_type": Filter(GitCredential.credential_type, choices=GIT_CREDENTIAL_TYPES),
        "is_active": Filter(GitCredential.is_active),
    }
    ordering_fields = {
        "id": GitCredential.id,
        "name": GitCredential.name,
        "created_at": GitCredential.created_at,
    }
    default_ordering = ("name",)
    search_fields = (GitCredential.name, GitCredential.server_url)

    def base_query(self) -> Select[Any]:
        query = select(GitCredential)
        if is_unrestricted(self.request):
            return query
        return query.where(GitCredential.user_id == current_user_id(self.request))

    def create(self, data: BaseModel) -> Any:
        user_id = current_user_id(self.request)
        if user_id is None:
            raise APIError("Git credentials belong to a user: authenticate first.", status=403)
        assert isinstance(data, GitCredentialCreate)
        missing = data.missing_secret()
        if missing:
            raise ValidationFailed(missing)
        values = data.model_dump(exclude={"password", "ssh_private_key"})
        check_credential_name(self.dbsession, user_id, values["name"])
        credential = GitCredential(**values, user_id=user_id)
        set_secret(self.request, credential, "password_encrypted", getattr(data, "password", None))
        set_secret(
            self.request,
            credential,
            "ssh_private_key_encrypted",
            getattr(data, "ssh_private_key", None),
        )
        self.dbsession.add(credential)
        self.dbsession.flush()
        return credential
