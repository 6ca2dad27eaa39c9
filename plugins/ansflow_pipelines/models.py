"""Tables of the pipelines plugin: pipelines and their ordered steps.

Shows: a parent with an ordered child collection (``relationship(order_by=...)``,
``delete-orphan`` so replacing the list deletes the old rows), a uniqueness rule per
parent (one step per ``order`` in a pipeline) and JSON list columns.

``execution_tool_id`` names a CI/CD tool of the cicd plugin.  It is a plain column,
not a foreign key: pipelines do not depend on the cicd plugin (the dependency runs the
other way), so the cicd plugin validates tool ids through the lookup it registers
(``config.set_pipeline_tool_lookup``) and clears them when a tool is deleted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansflow_projects.models import Project
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ansflow_pyramid.db import Base, JSONDocument, TimestampMixin, utcnow
from ansflow_pyramid.identity import User

PIPELINE_STATUSES = ("pending", "running", "success", "failed", "cancelled")
EXECUTION_MODES = ("local", "remote", "hybrid")


class Pipeline(TimestampMixin, Base):
    """A pipeline: an ordered list of steps that runs as executions."""

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    is_active: Mapped[bool] = mapped_column(default=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    execution_tool_id: Mapped[int | None] = mapped_column(default=None, index=True)
    tool_job_name: Mapped[str] = mapped_column(String(255), default="")
    tool_job_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    execution_mode: Mapped[str] = mapped_column(String(16), default="local")

    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)
    created_by: Mapped[User | None] = relationship(lazy="joined")
    steps: Mapped[list[PipelineStep]] = relationship(
        back_populates="pipeline",
        order_by="PipelineStep.order",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )

    def __repr__(self) -> str:
        return f"<Pipeline {self.id} {self.name!r}>"


class PipelineStep(Base):
    """One step of a pipeline; ``order`` is unique within the pipeline."""

    __tablename__ = "pipeline_steps"
    __table_args__ = (UniqueConstraint("pipeline_id", "order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    step_type: Mapped[str] = mapped_column(String(32), default="custom")
    command: Mapped[str] = mapped_column(Text, default="")
    environment_vars: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timeout_seconds: Mapped[int] = mapped_column(default=300)
    order: Mapped[int] = mapped_column()
    parallel_group: Mapped[str] = mapped_column(String(100), default="")
    dependencies: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retry_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ansible_parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pipeline: Mapped[Pipeline] = relationship(back_populates="steps")


SYNC_POLICIES = ("wait_all", "wait_any", "fail_fast")


class ParallelGroup(TimestampMixin, Base):
    """Steps that run together, and how their stage ends.

    A step belongs to the group whose ``id`` its ``parallel_group`` names (AnsFlow's
    editor makes the id, e.g. ``parallel_group_1700000000000``, so it is a string).
    ``sync_policy``: ``wait_all`` waits for every step; ``wait_any`` continues when
    the first step succeeds (the others are cancelled); ``fail_fast`` cancels the
    others at the first failure.  ``timeout_seconds`` ends the whole group as
    ``timeout`` (null: no limit but the steps' own).
    """

    __tablename__ = "pipeline_parallel_groups"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    sync_policy: Mapped[str] = mapped_column(String(16), default="wait_all")
    timeout_seconds: Mapped[int | None] = mapped_column(default=None)

    def __repr__(self) -> str:
        return f"<ParallelGroup {self.id!r} of pipeline {self.pipeline_id}>"
