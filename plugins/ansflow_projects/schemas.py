"""Request and response schemas of the projects plugin (pydantic v2).

Shows: read schemas built from ORM rows (``from_attributes``) with computed display
fields, write schemas made of the safe field types in :mod:`ansflow_projects.fields`,
and which fields are read-only (they are simply absent from the write schemas).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, RootModel, computed_field

from ansflow_projects.fields import Bool, Id, JSONObject, Name, Text

Visibility = Literal["private", "internal", "public"]
Role = Literal["owner", "maintainer", "developer", "reporter", "guest"]
EnvType = Literal["development", "testing", "staging", "production"]


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- projects ---------------------------------------------------------------------
class UserBrief(ReadSchema):
    """A user as nested in other documents (AnsFlow's ``UserSerializer``)."""

    id: int
    username: str
    email: str
    first_name: str
    last_name: str


class ProjectMember(ReadSchema):
    """A membership as nested in a project (``members``)."""

    id: int
    user: UserBrief
    role: str
    created_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def role_display(self) -> str:
        return self.role.capitalize()


class ProjectOut(ReadSchema):
    """A project.  ``owner`` is the owner as a user object; ``members`` lists the
    memberships to the project's own members only (empty for other readers);
    ``member_count`` and ``pipeline_count`` are counted when read, never stored."""

    id: int
    name: str
    description: str
    visibility: str
    repository_url: str
    default_branch: str
    is_active: bool
    settings: dict[str, Any]
    #: The owner; its ``email`` is empty for readers who are not members.
    owner: UserBrief | None = Field(validation_alias=AliasChoices("owner_shown", "owner"))
    members: list[ProjectMember] = Field(default_factory=list)
    member_count: int = 0
    pipeline_count: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def owner_id(self) -> int | None:
        return self.owner.id if self.owner is not None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def owner_username(self) -> str | None:
        return self.owner.username if self.owner is not None else None


class ProjectCreate(BaseModel):
    name: Name
    description: Text(10_000) = ""
    visibility: Visibility = "private"
    repository_url: Text(500) = ""
    default_branch: Text(200, min_length=1) = "main"
    is_active: Bool = True
    settings: JSONObject = Field(default_factory=dict)


# -- memberships ------------------------------------------------------------------
class MembershipOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    user: int = Field(validation_alias="user_id")
    member: Any = Field(validation_alias="user", exclude=True)
    role: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def username(self) -> str:
        return self.member.username

    @computed_field  # type: ignore[prop-decorator]
    @property
    def email(self) -> str:
        return self.member.email

    @computed_field  # type: ignore[prop-decorator]
    @property
    def role_display(self) -> str:
        return self.role.capitalize()


class MembershipUpdate(BaseModel):
    role: Role


class AddMember(BaseModel):
    user_id: Id
    role: Role = "developer"


class RemoveMember(BaseModel):
    user_id: Id


# -- environments -----------------------------------------------------------------
class EnvironmentOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    name: str
    env_type: str
    url: str
    config: dict[str, Any]
    auto_deploy: bool
    deploy_branch: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def env_type_display(self) -> str:
        return self.env_type.capitalize()


class EnvironmentList(RootModel[list[EnvironmentOut]]):
    """A project's environments, as a plain list (``projects/{id}/environments/``)."""


class EnvironmentFields(BaseModel):
    """The writable fields of an environment (the project is fixed once created)."""

    name: Name
    env_type: EnvType = "development"
    url: Text(500) = ""
    config: JSONObject = Field(default_factory=dict)
    auto_deploy: Bool = False
    deploy_branch: Text(200) = ""
    is_active: Bool = True


class EnvironmentCreate(EnvironmentFields):
    project: Id
