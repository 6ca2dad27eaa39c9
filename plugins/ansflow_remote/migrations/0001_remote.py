"""remote: remote runs' observation state, pipeline <-> tool mappings

Revision ID: 0001_remote
Revises:
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ansflow_pyramid.db.base
from ansflow_pyramid.db.base import JSONDocument

revision = "0001_remote"
down_revision = None
branch_labels = ("ansflow_remote",)
depends_on = ("0001_cicd",)

UTC = ansflow_pyramid.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "remote_runs",
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("tool_id", sa.Integer(), nullable=False),
        sa.Column("tool_type", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("job_config", JSONDocument, nullable=False),
        sa.Column("dispatch_token", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("external_url", sa.String(length=500), nullable=False),
        sa.Column("remote_status", sa.String(length=32), nullable=False),
        sa.Column("state", JSONDocument, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("cancel_sent_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("next_poll_at", UTC, nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["cicd_executions.id"],
            name=op.f("fk_remote_runs_execution_id_cicd_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_remote_runs")),
    )
    op.create_index(
        "ix_remote_runs_phase_next_poll", "remote_runs", ["phase", "next_poll_at"], unique=False
    )
    op.create_table(
        "pipeline_tool_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("tool_id", sa.Integer(), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("job_config", JSONDocument, nullable=False),
        sa.Column("external_job_url", sa.String(length=500), nullable=False),
        sa.Column("auto_sync", sa.Boolean(), nullable=False),
        sa.Column("sync_status", sa.String(length=16), nullable=False),
        sa.Column("sync_message", sa.Text(), nullable=False),
        sa.Column("last_synced_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_tool_mappings_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pipeline_tool_mappings_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["cicd_tools.id"],
            name=op.f("fk_pipeline_tool_mappings_tool_id_cicd_tools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_tool_mappings")),
        sa.UniqueConstraint(
            "pipeline_id", "tool_id", name=op.f("uq_pipeline_tool_mappings_pipeline_id")
        ),
    )
    op.create_index(
        op.f("ix_pipeline_tool_mappings_pipeline_id"),
        "pipeline_tool_mappings",
        ["pipeline_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_pipeline_tool_mappings_project_id"),
        "pipeline_tool_mappings",
        ["project_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_pipeline_tool_mappings_tool_id"),
        "pipeline_tool_mappings",
        ["tool_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("pipeline_tool_mappings")
    op.drop_index("ix_remote_runs_phase_next_poll", table_name="remote_runs")
    op.drop_table("remote_runs")
