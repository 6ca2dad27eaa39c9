"""Tables of the cicd plugin: tools, executions, step executions, log lines,
atomic steps and git credentials.

Shows: secrets stored only encrypted (``*_encrypted`` columns hold Fernet tokens, see
:mod:`ansflow_cicd.secrets`), an execution that keeps a snapshot of what it runs
(``definition``) so later edits of the pipeline do not change history, and log output
stored as numbered lines that clients read by offset (see :mod:`ansflow_cicd.logs`).

Display values (``status_display``, ``pipeline_name``, ``duration``...) are not
stored: the schemas compute them from these columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

# The foreign keys below name these plugins' tables: their models must be loaded.
import ansflow_pipelines.models  # noqa: F401
import ansflow_projects.models
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ansflow_pyramid.db import Base, JSONDocument, TimestampMixin, utcnow
from ansflow_pyramid.identity import User

TOOL_STATUSES = ("authenticated", "needs_auth", "offline", "unknown", "error")
EXECUTION_STATUSES = ("pending", "running", "success", "failed", "cancelled", "timeout")
FINAL_STATUSES = ("success", "failed", "cancelled", "timeout")
STEP_STATUSES = ("pending", "running", "success", "failed", "skipped", "cancelled", "timeout")
TRIGGER_TYPES = ("manual", "webhook", "schedule", "api")
GIT_PLATFORMS = ("github", "gitlab", "gitee", "bitbucket", "other")
GIT_CREDENTIAL_TYPES = ("username_password", "access_token", "ssh_key")


class Tool(TimestampMixin, Base):
    """A CI/CD tool a project runs pipelines on (Jenkins, GitLab CI, local...)."""

    __tablename__ = "cicd_tools"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    tool_type: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(500), default="")
    username: Mapped[str] = mapped_column(String(200), default="")
    #: The token, encrypted; never returned by the API (reads say ``has_token``).
    token_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "metadata" is reserved on declarative classes; the column keeps AnsFlow's name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_health_check: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    # Loaded with the tool (a join, not a query per row): documents show their names.
    project: Mapped[ansflow_projects.models.Project] = relationship(lazy="joined", innerjoin=True)
    created_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def has_token(self) -> bool:
        return bool(self.token_encrypted)


class Execution(TimestampMixin, Base):
    """One run of a pipeline, with the pipeline's definition as it was at trigger time."""

    __tablename__ = "cicd_executions"
    __table_args__ = (
        Index("ix_cicd_executions_project_created", "project_id", "created_at"),
        Index("ix_cicd_executions_pipeline_created", "pipeline_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The pipeline's project, copied at trigger time: visibility checks need no join.
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    cicd_tool_id: Mapped[int | None] = mapped_column(
        ForeignKey("cicd_tools.id", ondelete="SET NULL"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    trigger_type: Mapped[str] = mapped_column(String(16), default="manual")
    triggered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trigger_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    test_results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    external_id: Mapped[str] = mapped_column(String(255), default="")
    external_url: Mapped[str] = mapped_column(String(500), default="")
    #: A human reason for a failure or cancellation.
    error_message: Mapped[str] = mapped_column(Text, default="")
    retry_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="SET NULL"), default=None
    )
    # Engine bookkeeping (the execution engine fills these).
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker: Mapped[str] = mapped_column(String(200), default="")
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    # Related rows are loaded explicitly where needed (see resources.py): "raise"
    # makes an accidental lazy load (one query per row) an error instead of a slowdown.
    step_executions: Mapped[list[StepExecution]] = relationship(
        back_populates="execution",
        order_by="(StepExecution.order, StepExecution.id)",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class StepExecution(TimestampMixin, Base):
    """One step of an execution."""

    __tablename__ = "cicd_step_executions"

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[int] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="CASCADE"), index=True
    )
    pipeline_step_id: Mapped[int | None] = mapped_column(
        ForeignKey("pipeline_steps.id", ondelete="SET NULL"), default=None
    )
    order: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    external_id: Mapped[str] = mapped_column(String(255), default="")
    output: Mapped[str] = mapped_column(Text, default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    execution: Mapped[Execution] = relationship(back_populates="step_executions")


class ExecutionLogLine(Base):
    """One line of an execution's output, numbered from 1 across all its steps."""

    __tablename__ = "cicd_execution_log_lines"

    execution_id: Mapped[int] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    step_execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("cicd_step_executions.id", ondelete="CASCADE"), default=None, index=True
    )
    #: ``stdout`` for a step's output (stderr merged in), ``system`` for the engine's.
    stream: Mapped[str] = mapped_column(String(8), default="stdout")
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AtomicStep(TimestampMixin, Base):
    """A reusable step template; private to its creator unless ``is_public``."""

    __tablename__ = "cicd_atomic_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    step_type: Mapped[str] = mapped_column(String(32), default="custom")
    description: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timeout_seconds: Mapped[int] = mapped_column(default=300)
    retry_count: Mapped[int] = mapped_column(default=0)
    is_public: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )

    created_by: Mapped[User | None] = relationship(lazy="joined")


class GitCredential(TimestampMixin, Base):
    """A user's credential for a git server; password and key stored encrypted."""

    __tablename__ = "cicd_git_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(16), default="other")
    server_url: Mapped[str] = mapped_column(String(500), default="")
    credential_type: Mapped[str] = mapped_column(String(32), default="username_password")
    username: Mapped[str] = mapped_column(String(200), default="")
    password_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    ssh_private_key_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    last_test_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_test_result: Mapped[str] = mapped_column(String(16), default="")

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def has_ssh_key(self) -> bool:
        return bool(self.ssh_private_key_encrypted)
