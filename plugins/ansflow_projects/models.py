"""Tables of the projects plugin: projects, memberships with roles, environments.

Shows: models on the shared declarative ``Base`` (one metadata, one alembic
environment), foreign keys to the core's ``users`` table, per-project uniqueness, and
JSON columns (``dict[str, Any]`` maps to JSON, JSONB on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ansflow_pyramid.db import Base, TimestampMixin
from ansflow_pyramid.identity import User

__all__ = [
    "ENV_TYPES",
    "ROLES",
    "VISIBILITIES",
    "Environment",
    "Project",
    "ProjectMembership",
]

VISIBILITIES = ("private", "internal", "public")
ROLES = ("owner", "maintainer", "developer", "reporter", "guest")
ENV_TYPES = ("development", "testing", "staging", "production")


class Project(TimestampMixin, Base):
    """A project: the unit of ownership every pipeline, tool and execution belongs to."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    repository_url: Mapped[str] = mapped_column(String(500), default="")
    default_branch: Mapped[str] = mapped_column(String(200), default="main")
    is_active: Mapped[bool] = mapped_column(default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )

    owner: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Project {self.id} {self.name!r}>"


class ProjectMembership(TimestampMixin, Base):
    """A user's role in a project; the project's ACL is built from these rows."""

    __tablename__ = "project_memberships"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="developer")

    user: Mapped[User] = relationship(lazy="joined")


class Environment(TimestampMixin, Base):
    """A deployment target of a project (development, testing, staging, production)."""

    __tablename__ = "project_environments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    env_type: Mapped[str] = mapped_column(String(16), default="development")
    url: Mapped[str] = mapped_column(String(500), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auto_deploy: Mapped[bool] = mapped_column(default=False)
    deploy_branch: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
