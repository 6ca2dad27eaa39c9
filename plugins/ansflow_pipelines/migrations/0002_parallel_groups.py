"""pipelines: parallel groups

Revision ID: 0002_parallel_groups
Revises: 0001_pipelines
Create Date: 2026-12-02 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ansflow_pyramid.db.base

revision = "0002_parallel_groups"
down_revision = "0001_pipelines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_parallel_groups",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sync_policy", sa.String(length=16), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_parallel_groups_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_parallel_groups")),
    )
    with op.batch_alter_table("pipeline_parallel_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_parallel_groups_pipeline_id"), ["pipeline_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_parallel_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_parallel_groups_pipeline_id"))
    op.drop_table("pipeline_parallel_groups")
