"""triggers: webhook triggers, deliveries, schedules

Revision ID: 0001_triggers
Revises:
Create Date: 2026-12-02 00:31:47.973184
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ansflow_pyramid.db.base
from ansflow_pyramid.db.base import JSONDocument

revision = "0001_triggers"
down_revision = None
branch_labels = ("ansflow_triggers",)
depends_on = ("0001_cicd",)


def upgrade() -> None:
    op.create_table(
        "webhook_delivery_ids",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column(
            "received_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("source", "delivery_id", name=op.f("pk_webhook_delivery_ids")),
    )
    with op.batch_alter_table("webhook_delivery_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_ids_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "trigger_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("parameters", JSONDocument, nullable=False),
        sa.Column("missed_runs", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_trigger_schedules_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_trigger_schedules_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_trigger_schedules_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_schedules")),
    )
    with op.batch_alter_table("trigger_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trigger_schedules_next_run_at"), ["next_run_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trigger_schedules_pipeline_id"), ["pipeline_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trigger_schedules_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "trigger_webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=True),
        sa.Column("tool_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("events", JSONDocument, nullable=False),
        sa.Column("branches", JSONDocument, nullable=False),
        sa.Column("tags", JSONDocument, nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_trigger_webhooks_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_trigger_webhooks_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_trigger_webhooks_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["cicd_tools.id"],
            name=op.f("fk_trigger_webhooks_tool_id_cicd_tools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_webhooks")),
    )
    with op.batch_alter_table("trigger_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trigger_webhooks_pipeline_id"), ["pipeline_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trigger_webhooks_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            "ix_trigger_webhooks_source_repository", ["source", "repository"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trigger_webhooks_tool_id"), ["tool_id"], unique=False)

    op.create_table(
        "trigger_schedule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("due_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["cicd_executions.id"],
            name=op.f("fk_trigger_schedule_runs_execution_id_cicd_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["trigger_schedules.id"],
            name=op.f("fk_trigger_schedule_runs_schedule_id_trigger_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_schedule_runs")),
        sa.UniqueConstraint(
            "schedule_id", "due_at", name=op.f("uq_trigger_schedule_runs_schedule_id")
        ),
    )
    with op.batch_alter_table("trigger_schedule_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trigger_schedule_runs_claimed_at"), ["claimed_at"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=True),
        sa.Column("pipeline_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column(
            "received_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("summary", JSONDocument, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["cicd_executions.id"],
            name=op.f("fk_webhook_deliveries_execution_id_cicd_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_webhook_deliveries_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_webhook_deliveries_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["trigger_webhooks.id"],
            name=op.f("fk_webhook_deliveries_trigger_id_trigger_webhooks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_pipeline_received", ["pipeline_id", "received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_trigger_id"), ["trigger_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_trigger_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_received_at"))
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_project_id"))
        batch_op.drop_index("ix_webhook_deliveries_pipeline_received")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("trigger_schedule_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_schedule_runs_claimed_at"))

    op.drop_table("trigger_schedule_runs")
    with op.batch_alter_table("trigger_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_webhooks_tool_id"))
        batch_op.drop_index("ix_trigger_webhooks_source_repository")
        batch_op.drop_index(batch_op.f("ix_trigger_webhooks_project_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_webhooks_pipeline_id"))

    op.drop_table("trigger_webhooks")
    with op.batch_alter_table("trigger_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_schedules_project_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_schedules_pipeline_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_schedules_next_run_at"))

    op.drop_table("trigger_schedules")
    with op.batch_alter_table("webhook_delivery_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_ids_received_at"))

    op.drop_table("webhook_delivery_ids")
