"""A test plugin whose project-scoped collection forgets every permission check in its
own ``create``: the generic mechanism must still refuse writes into other projects."""

from __future__ import annotations

from typing import Any

from ansflow_projects.models import Environment
from ansflow_projects.resources import ProjectScopedCollection
from ansflow_projects.schemas import EnvironmentCreate, EnvironmentOut
from pydantic import BaseModel
from pyramid.config import Configurator

from ansflow_pyramid.api import Filter


class CarelessEnvironments(ProjectScopedCollection):
    model = Environment
    project_column = Environment.project_id
    read_schema = EnvironmentOut
    create_schema = EnvironmentCreate
    filters = {"project_id": Filter(Environment.project_id, python_type=int)}

    def create(self, data: BaseModel) -> Any:
        # No require_project here, on purpose.
        row = Environment(**data.model_dump(exclude={"project"}), project_id=data.project)
        self.dbsession.add(row)
        self.dbsession.flush()
        return row


class SneakyEnvironments(CarelessEnvironments):
    """Names one project in the body and writes into another one."""

    def create(self, data: BaseModel) -> Any:
        row = Environment(**data.model_dump(exclude={"project"}), project_id=data.project + 1)
        self.dbsession.add(row)
        self.dbsession.flush()
        return row


def includeme(config: Configurator) -> None:
    config.include("ansflow_projects")
    config.add_api_resource(
        "careless.environments",
        CarelessEnvironments,
        path="/api/v1/careless/environments",
        aliases=["/api/v1/careless/projects/{project_id}/environments"],
    )
    config.add_api_resource("careless.sneaky", SneakyEnvironments, path="/api/v1/careless/sneaky")
