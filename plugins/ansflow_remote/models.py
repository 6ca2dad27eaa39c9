"""Tables of the remote plugin: remote runs' observation state, pipeline mappings.

``remote_runs`` holds one row per execution that runs on a CI tool: what the
observation scheduler needs to resume after a restart (the run's id on the tool, the
log offset of each remote job, the last status, the failure count) and the lease
that gives the run one observer at a time.

``pipeline_tool_mappings`` links a pipeline to a tool and the remote job it runs as
(AnsFlow's ``pipeline-mappings``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

# The foreign keys below name these plugins' tables: their models must be loaded.
import ansflow_cicd.models  # noqa: F401
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ansflow_pyramid.db import Base, TimestampMixin

SYNC_STATUSES = ("never", "success", "failed")


class RemoteRunRecord(TimestampMixin, Base):
    """The observation state of one execution running on a CI tool."""

    __tablename__ = "remote_runs"
    __table_args__ = (Index("ix_remote_runs_phase_next_poll", "phase", "next_poll_at"),)

    execution_id: Mapped[int] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="CASCADE"), primary_key=True
    )
    tool_id: Mapped[int] = mapped_column()
    tool_type: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16), default="remote")
    job_name: Mapped[str] = mapped_column(String(255), default="")
    job_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dispatch_token: Mapped[str] = mapped_column(String(64))
    #: trigger -> observe -> finished
    phase: Mapped[str] = mapped_column(String(16), default="trigger")
    external_id: Mapped[str] = mapped_column(String(255), default="")
    external_url: Mapped[str] = mapped_column(String(500), default="")
    remote_status: Mapped[str] = mapped_column(String(32), default="")
    #: The handle's data and each remote job's log offset, cursor and status.
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    cancel_sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    next_poll_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: Incremented by every save: a save of a stale copy of the state is refused.
    version: Mapped[int] = mapped_column(default=0)


class PipelineToolMapping(TimestampMixin, Base):
    """A pipeline run on a tool as a named remote job."""

    __tablename__ = "pipeline_tool_mappings"
    __table_args__ = (UniqueConstraint("pipeline_id", "tool_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The pipeline's project, copied: visibility checks need no join.
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    tool_id: Mapped[int] = mapped_column(
        ForeignKey("cicd_tools.id", ondelete="CASCADE"), index=True
    )
    job_name: Mapped[str] = mapped_column(String(255), default="")
    job_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    external_job_url: Mapped[str] = mapped_column(String(500), default="")
    auto_sync: Mapped[bool] = mapped_column(default=False)
    sync_status: Mapped[str] = mapped_column(String(16), default="never")
    sync_message: Mapped[str] = mapped_column(Text, default="")
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)
