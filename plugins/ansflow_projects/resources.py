"""The collections of the projects plugin and the base classes other plugins reuse.

Shows: ``ModelCollection`` subclasses with filters, ordering and search; visibility in
``base_query``; ACLs on items computed from data; validation of foreign keys and
uniqueness before writing (so bad input is a 400 naming the field, never a database
error); and :class:`ProjectScopedCollection` / :class:`ProjectScopedItem`, which any
plugin whose resources belong to a project can subclass.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute

from ansflow_projects.acl import (
    COLLECTION_ACL,
    AuthenticatedLookup,
    ProjectScopedACL,
    actor_of,
    current_user_id,
    forget_project_acl,
    project_acl,
    require_permission,
    require_project,
    restrict_to_visible,
)
from ansflow_projects.models import ENV_TYPES, ROLES, VISIBILITIES, Environment, Project
from ansflow_projects.models import ProjectMembership as Membership
from ansflow_projects.schemas import (
    EnvironmentCreate,
    EnvironmentFields,
    EnvironmentOut,
    MembershipOut,
    MembershipUpdate,
    ProjectCreate,
    ProjectOut,
)
from ansflow_projects.summaries import attach_project_summaries, project_counters
from ansflow_pyramid.api import Filter, ModelCollection, ModelItem, ValidationFailed

#: Permissions of the default views of project resources.  Writes to project children
#: need "edit"/"delete" on the project; creating needs "add" (checked in ``create``).
PROJECT_RESOURCE_PERMISSIONS = {
    "GET": "view",
    "POST": "add",
    "PUT": "edit",
    "PATCH": "edit",
    "DELETE": "delete",
}


class ProjectScopedItem(ProjectScopedACL, ModelItem):
    """An item whose ACL is the ACL of the project it belongs to."""


class ProjectScopedCollection(AuthenticatedLookup, ModelCollection):
    """A collection of rows that belong to a project (a ``project_id`` column).

    Lists and item lookups only see rows of projects the caller may view; creating
    checks ``create_permission`` on the target project.
    """

    item_class: ClassVar[type[ModelItem]] = ProjectScopedItem
    __acl__: ClassVar[list[Any]] = COLLECTION_ACL
    method_permissions = PROJECT_RESOURCE_PERMISSIONS
    #: The column naming the project of a row.
    project_column: ClassVar[InstrumentedAttribute[Any]]
    #: The permission on the project that creating a row needs.
    create_permission: ClassVar[str] = "add"

    def base_query(self) -> Select[Any]:
        return restrict_to_visible(self.request, select(self.model), type(self).project_column)

    def require_project(self, project_id: int, field: str = "project") -> Project:
        """The target project of a write, checked for ``create_permission``."""
        return require_project(self.request, project_id, self.create_permission, field)


def unique_violation(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: [message]})


# -- projects ---------------------------------------------------------------------
class ProjectItem(ModelItem):
    """A project: its ACL is built from its memberships."""

    @property
    def __acl__(self) -> list[Any]:
        return project_acl(self.request, self.obj.id)

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        name = values.get("name")
        if name is not None and name != self.obj.name:
            _check_project_name(self, name)
        for key, value in values.items():
            setattr(self.obj, key, value)
        self.dbsession.flush()
        forget_project_acl(self.request, self.obj.id)
        return self.obj


def _check_project_name(resource: Any, name: str) -> None:
    if resource.dbsession.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise unique_violation("name", "A project with this name already exists.")


class ProjectCollection(AuthenticatedLookup, ModelCollection):
    """``/api/v1/projects/projects/``: every project the caller may see."""

    model = Project
    item_class = ProjectItem
    __acl__ = COLLECTION_ACL
    read_schema = ProjectOut
    create_schema = ProjectCreate
    filters = {
        "visibility": Filter(Project.visibility, choices=VISIBILITIES),
        "is_active": Filter(Project.is_active),
        "owner": Filter(Project.owner_id, python_type=int),
    }
    ordering_fields = {
        "id": Project.id,
        "name": Project.name,
        "created_at": Project.created_at,
        "updated_at": Project.updated_at,
    }
    default_ordering = ("name",)
    search_fields = (Project.name, Project.description)
    # Changing a project's own settings is for maintainers; deleting it for owners.
    method_permissions = {
        "GET": "view",
        "POST": "add",
        "PUT": "manage",
        "PATCH": "manage",
        "DELETE": "own",
    }

    def base_query(self) -> Select[Any]:
        return restrict_to_visible(self.request, select(Project), Project.id)

    def serialize(self, obj: Any) -> dict[str, Any]:
        return self.serialize_many([obj])[0]

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        # Members and counts for the whole page at once: a constant number of queries.
        attach_project_summaries(
            self.dbsession,
            rows,
            actor_of(self.request),
            project_counters(self.request.registry),
        )
        return [ProjectOut.model_validate(row).model_dump(mode="json") for row in rows]

    def create(self, data: BaseModel) -> Any:
        """Create the project; the creator becomes its owner (and an owner member)."""
        values = data.model_dump()
        _check_project_name(self, values["name"])
        user_id = current_user_id(self.request)
        project = Project(**values, owner_id=user_id)
        self.dbsession.add(project)
        self.dbsession.flush()
        if user_id is not None:
            self.dbsession.add(Membership(project_id=project.id, user_id=user_id, role="owner"))
            self.dbsession.flush()
        return project


# -- memberships ------------------------------------------------------------------
class MembershipItem(ProjectScopedItem):
    def update(self, data: BaseModel, partial: bool) -> Any:
        role = data.model_dump(exclude_unset=partial).get("role")
        if role is not None:
            change_role(self.request, self.obj, role)
        return self.obj

    def delete(self) -> None:
        remove_membership(self.request, self.obj)


class MembershipCollection(ProjectScopedCollection):
    """``/api/v1/projects/memberships/?project=``: who has which role where.

    Members are added through ``projects/{id}/add_member/``; a membership's role can be
    changed (PATCH) and the membership removed (DELETE) here by maintainers.
    """

    model = Membership
    item_class = MembershipItem
    project_column = Membership.project_id
    read_schema = MembershipOut
    update_schema = MembershipUpdate
    collection_methods = ("GET",)
    item_methods = ("GET", "PATCH", "DELETE")
    method_permissions = {"GET": "view", "PATCH": "manage", "DELETE": "manage"}
    filters = {
        "project": Filter(Membership.project_id, python_type=int),
        "user": Filter(Membership.user_id, python_type=int),
        "role": Filter(Membership.role, choices=ROLES),
    }
    ordering_fields = {
        "id": Membership.id,
        "role": Membership.role,
        "created_at": Membership.created_at,
    }
    default_ordering = ("id",)


def change_role(request: Any, membership: Membership, role: str) -> Membership:
    """Give ``membership`` a new role; touching the owner role takes an owner."""
    if role == membership.role:
        return membership
    if "owner" in (role, membership.role):
        require_permission(request, "own", membership.project_id)
    project = request.dbsession.get(Project, membership.project_id)
    if project.owner_id == membership.user_id and role != "owner":
        raise ValidationFailed({"role": ["The project's owner keeps the owner role."]})
    membership.role = role
    request.dbsession.flush()
    forget_project_acl(request, membership.project_id)
    return membership


def remove_membership(request: Any, membership: Membership) -> None:
    """Remove a member; the project's owner cannot be removed."""
    if membership.role == "owner":
        require_permission(request, "own", membership.project_id)
    project = request.dbsession.get(Project, membership.project_id)
    if project.owner_id == membership.user_id:
        raise ValidationFailed({"user_id": ["The project's owner cannot be removed."]})
    request.dbsession.delete(membership)
    request.dbsession.flush()
    forget_project_acl(request, membership.project_id)


# -- environments -----------------------------------------------------------------
class EnvironmentItem(ProjectScopedItem):
    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        name = values.get("name")
        if name is not None and name != self.obj.name:
            check_environment_name(self.dbsession, self.obj.project_id, name)
        for key, value in values.items():
            setattr(self.obj, key, value)
        self.dbsession.flush()
        return self.obj


def check_environment_name(dbsession: Any, project_id: int, name: str) -> None:
    exists = dbsession.scalar(
        select(Environment.id).where(Environment.project_id == project_id, Environment.name == name)
    )
    if exists is not None:
        raise unique_violation("name", "This project has an environment with this name already.")


def create_environment(dbsession: Any, project_id: int, data: EnvironmentFields) -> Environment:
    values = data.model_dump(exclude={"project"})
    check_environment_name(dbsession, project_id, values["name"])
    environment = Environment(**values, project_id=project_id)
    dbsession.add(environment)
    dbsession.flush()
    return environment


class EnvironmentCollection(ProjectScopedCollection):
    """``/api/v1/projects/environments/``: deployment targets; maintainers write."""

    model = Environment
    item_class = EnvironmentItem
    project_column = Environment.project_id
    read_schema = EnvironmentOut
    create_schema = EnvironmentCreate
    update_schema = EnvironmentFields
    create_permission = "manage"
    method_permissions = {
        "GET": "view",
        "POST": "add",
        "PUT": "manage",
        "PATCH": "manage",
        "DELETE": "manage",
    }
    filters = {
        "project": Filter(Environment.project_id, python_type=int),
        "env_type": Filter(Environment.env_type, choices=ENV_TYPES),
        "is_active": Filter(Environment.is_active),
    }
    ordering_fields = {
        "id": Environment.id,
        "name": Environment.name,
        "env_type": Environment.env_type,
        "created_at": Environment.created_at,
    }
    default_ordering = ("name",)
    search_fields = (Environment.name,)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, EnvironmentCreate)
        self.require_project(data.project)
        return create_environment(self.dbsession, data.project, data)
