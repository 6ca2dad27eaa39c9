"""Tables of the triggers plugin: webhook triggers, received deliveries, the replay
ledger, cron schedules and their claimed runs.

Shows: uniqueness used as the concurrency guard.  Two rules must hold however many
processes receive webhooks or run schedulers, and both are unique constraints rather
than locks held in application code:

* a delivery id is accepted once (``webhook_delivery_ids``: primary key
  ``(source, delivery_id)``), in the same transaction that creates its executions, so
  ten concurrent copies of one delivery create exactly one set of executions;
* a schedule runs once per due time (``schedule_runs``: unique
  ``(schedule_id, due_at)``), in the same transaction that creates the execution.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

# The foreign keys below name these plugins' tables: their models must be loaded.
import ansflow_cicd.models  # noqa: F401
import ansflow_pipelines.models  # noqa: F401
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ansflow_pyramid.db import Base, JSONDocument, TimestampMixin, utcnow

WEBHOOK_SOURCES = ("github", "gitlab", "jenkins", "generic")
MISSED_RUN_POLICIES = ("skip", "catch_up_once")


class WebhookTrigger(TimestampMixin, Base):
    """Which deliveries of one source start a pipeline (or authenticate a tool's
    status deliveries), and the secret that signs them."""

    __tablename__ = "trigger_webhooks"
    __table_args__ = (Index("ix_trigger_webhooks_source_repository", "source", "repository"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The project of the pipeline or tool, copied: visibility checks need no join.
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    #: The pipeline a matching delivery starts (None: a tool's status hook only).
    pipeline_id: Mapped[int | None] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), default=None, index=True
    )
    #: The tool whose status deliveries this secret authenticates (optional).
    tool_id: Mapped[int | None] = mapped_column(
        ForeignKey("cicd_tools.id", ondelete="CASCADE"), default=None, index=True
    )
    source: Mapped[str] = mapped_column(String(16))
    #: ``owner/name`` (GitHub), ``group/project`` (GitLab), the job name (Jenkins) or
    #: any name (generic), compared case-insensitively; empty matches every repository.
    repository: Mapped[str] = mapped_column(String(255), default="")
    events: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    branches: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    tags: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    #: The shared secret, encrypted (``SecretBox``); never returned (``has_secret``).
    secret_encrypted: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


class DeliveryId(Base):
    """A delivery id accepted recently: the replay ledger (pruned after the window)."""

    __tablename__ = "webhook_delivery_ids"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class WebhookDelivery(Base):
    """What one delivery did for one trigger it concerned (for debugging hooks)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pipeline_received", "pipeline_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("trigger_webhooks.id", ondelete="SET NULL"), default=None, index=True
    )
    pipeline_id: Mapped[int | None] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), default=None
    )
    source: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(100), default="")
    delivery_id: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    signature_valid: Mapped[bool] = mapped_column(default=False)
    matched: Mapped[bool] = mapped_column(default=False)
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="SET NULL"), default=None
    )
    #: What the delivery was about (ref, commit, sender...): never its secret or body.
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")


class Schedule(TimestampMixin, Base):
    """A cron expression that starts a pipeline, evaluated in a time zone."""

    __tablename__ = "trigger_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ``skip`` or ``catch_up_once`` (see the scheduler's documentation).
    missed_runs: Mapped[str] = mapped_column(String(16), default="skip")
    is_active: Mapped[bool] = mapped_column(default=True)
    #: The next due time (UTC); None while inactive.
    next_run_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class ScheduleRun(Base):
    """A due time of a schedule, claimed by one scheduler (unique per due time)."""

    __tablename__ = "trigger_schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("trigger_schedules.id", ondelete="CASCADE"))
    due_at: Mapped[dt.datetime] = mapped_column()
    claimed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    claimed_by: Mapped[str] = mapped_column(String(200), default="")
    #: ``started``, ``skipped`` (missed) or ``failed`` (see ``error``).
    outcome: Mapped[str] = mapped_column(String(16), default="started")
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="SET NULL"), default=None
    )
    error: Mapped[str] = mapped_column(Text, default="")
