"""pipelines: pipelines and steps

Revision ID: 0001_pipelines
Revises:
Create Date: 2026-11-24 11:47:16.325624
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ansflow_pyramid.db.base
from ansflow_pyramid.db.base import JSONDocument

revision = "0001_pipelines"
down_revision = None
branch_labels = ("ansflow_pipelines",)
depends_on = ("0001_core_users", "0001_projects")


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("execution_tool_id", sa.Integer(), nullable=True),
        sa.Column("tool_job_name", sa.String(length=255), nullable=False),
        sa.Column("tool_job_config", JSONDocument, nullable=False),
        sa.Column("execution_mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_pipelines_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pipelines_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipelines_execution_tool_id"), ["execution_tool_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pipelines_project_id"), ["project_id"], unique=False)

    op.create_table(
        "pipeline_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("step_type", sa.String(length=32), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("environment_vars", JSONDocument, nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("parallel_group", sa.String(length=100), nullable=False),
        sa.Column("dependencies", JSONDocument, nullable=False),
        sa.Column("conditions", JSONDocument, nullable=False),
        sa.Column("retry_policy", JSONDocument, nullable=False),
        sa.Column("ansible_parameters", JSONDocument, nullable=False),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_steps_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_steps")),
        sa.UniqueConstraint("pipeline_id", "order", name=op.f("uq_pipeline_steps_pipeline_id")),
    )
    with op.batch_alter_table("pipeline_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_steps_pipeline_id"), ["pipeline_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_steps_pipeline_id"))

    op.drop_table("pipeline_steps")
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipelines_project_id"))
        batch_op.drop_index(batch_op.f("ix_pipelines_execution_tool_id"))

    op.drop_table("pipelines")
