"""Custom actions on projects: members and environments.

Shows: actions registered with ``config.add_api_action`` (a view name on an item),
each with the permission it needs, validating its body with a schema, and answering
with the same serialisation the collections use.
"""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ansflow_projects.acl import forget_project_acl, require_permission
from ansflow_projects.fields import does_not_exist
from ansflow_projects.models import Environment, ProjectMembership
from ansflow_projects.resources import (
    ProjectItem,
    change_role,
    create_environment,
    remove_membership,
)
from ansflow_projects.schemas import (
    AddMember,
    EnvironmentFields,
    EnvironmentOut,
    MembershipOut,
    RemoveMember,
)
from ansflow_pyramid.api import APIError, ValidationFailed, validate, validated_body
from ansflow_pyramid.api.bodies import json_body
from ansflow_pyramid.identity import User


def add_member(context: ProjectItem, request: Request) -> dict[str, Any]:
    """Add a user to the project with a role (or change the role of a member)."""
    data = validated_body(request, AddMember)
    project = context.obj
    user = request.dbsession.get(User, data.user_id)
    if user is None:
        raise ValidationFailed({"user_id": does_not_exist(data.user_id)})
    membership = request.dbsession.scalars(
        select(ProjectMembership).where(
            ProjectMembership.project_id == project.id, ProjectMembership.user_id == user.id
        )
    ).first()
    if membership is not None:
        change_role(request, membership, data.role)
        return MembershipOut.model_validate(membership).model_dump(mode="json")
    if data.role == "owner":
        require_permission(request, "own", project.id)
    membership = ProjectMembership(project_id=project.id, user_id=user.id, role=data.role)
    request.dbsession.add(membership)
    request.dbsession.flush()
    forget_project_acl(request, project.id)
    request.response.status = 201
    return MembershipOut.model_validate(membership).model_dump(mode="json")


def remove_member(context: ProjectItem, request: Request) -> Response:
    """Remove a user from the project: ``{"user_id": 3}`` in the body or the query."""
    body = json_body(request)
    if "user_id" not in body and "user_id" in request.GET:
        raw = request.GET["user_id"]
        body = {"user_id": int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else raw}
    data = validate(RemoveMember, body)
    membership = request.dbsession.scalars(
        select(ProjectMembership).where(
            ProjectMembership.project_id == context.obj.id,
            ProjectMembership.user_id == data.user_id,
        )
    ).first()
    if membership is None:
        raise APIError("This user is not a member of the project.", code="not_a_member", status=404)
    remove_membership(request, membership)
    return Response(status=204)


def list_environments(context: ProjectItem, request: Request) -> list[dict[str, Any]]:
    """The project's environments (a plain list, as AnsFlow clients expect)."""
    rows = request.dbsession.scalars(
        select(Environment)
        .where(Environment.project_id == context.obj.id)
        .order_by(Environment.name)
    )
    return [EnvironmentOut.model_validate(row).model_dump(mode="json") for row in rows]


def add_environment(context: ProjectItem, request: Request) -> dict[str, Any]:
    """Create an environment in this project."""
    data = validated_body(request, EnvironmentFields)
    environment = create_environment(request.dbsession, context.obj.id, data)
    request.response.status = 201
    return EnvironmentOut.model_validate(environment).model_dump(mode="json")
