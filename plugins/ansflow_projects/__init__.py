"""The projects plugin: projects, memberships with roles, environments.

Shows: a complete plugin.  ``includeme`` registers the plugin's migrations, its
collections at their canonical paths and its custom actions; everything else (the
generic list/create/retrieve/update/delete views, pagination, filters, JSON errors,
OpenAPI) comes from the core.

Other plugins whose resources belong to a project build on the public modules:
:mod:`ansflow_projects.acl` (roles, ACLs, visibility), :mod:`ansflow_projects.resources`
(``ProjectScopedCollection``/``ProjectScopedItem``) and :mod:`ansflow_projects.fields`
(safe pydantic field types).
"""

from __future__ import annotations

from pyramid.config import Configurator

from ansflow_projects.resources import (
    EnvironmentCollection,
    MembershipCollection,
    ProjectCollection,
)
from ansflow_projects.schemas import (
    AddMember,
    EnvironmentFields,
    EnvironmentList,
    EnvironmentOut,
    MembershipOut,
    RemoveMember,
)
from ansflow_projects.summaries import add_project_count
from ansflow_projects.views import add_environment, add_member, list_environments, remove_member


def includeme(config: Configurator) -> None:
    config.add_directive("add_project_count", add_project_count)
    config.add_migrations("ansflow_projects:migrations")
    config.add_api_resource(
        "projects.projects",
        ProjectCollection,
        path="/api/v1/projects/projects",
        description="Projects: the unit of ownership of pipelines, tools and executions.",
    )
    config.add_api_resource(
        "projects.memberships",
        MembershipCollection,
        path="/api/v1/projects/memberships",
        description="Project members and their roles.",
    )
    config.add_api_resource(
        "projects.environments",
        EnvironmentCollection,
        path="/api/v1/projects/environments",
        description="Deployment environments of projects.",
    )
    config.add_api_action(
        ProjectCollection,
        "add_member",
        add_member,
        methods=["POST"],
        permission="manage",
        request_schema=AddMember,
        response_schema=MembershipOut,
        success_status=(201, 200),
    )
    config.add_api_action(
        ProjectCollection,
        "remove_member",
        remove_member,
        methods=["DELETE", "POST"],
        permission="manage",
        request_schema=RemoveMember,
        success_status=204,
    )
    config.add_api_action(
        ProjectCollection,
        "environments",
        list_environments,
        methods=["GET"],
        permission="view",
        response_schema=EnvironmentList,
    )
    config.add_api_action(
        ProjectCollection,
        "create_environment",
        add_environment,
        methods=["POST"],
        permission="manage",
        request_schema=EnvironmentFields,
        response_schema=EnvironmentOut,
        success_status=201,
    )
