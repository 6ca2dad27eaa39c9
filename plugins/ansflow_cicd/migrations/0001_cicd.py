"""cicd: tools, executions, logs, atomic steps, git credentials

Revision ID: 0001_cicd
Revises:
Create Date: 2026-11-24 11:47:19.308456
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ansflow_pyramid.db.base
from ansflow_pyramid.db.base import JSONDocument

revision = "0001_cicd"
down_revision = None
branch_labels = ("ansflow_cicd",)
depends_on = ("0001_core_users", "0001_projects", "0001_pipelines")


def upgrade() -> None:
    op.create_table(
        "cicd_atomic_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("step_type", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parameters", JSONDocument, nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_cicd_atomic_steps_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cicd_atomic_steps")),
    )
    with op.batch_alter_table("cicd_atomic_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cicd_atomic_steps_created_by_id"), ["created_by_id"], unique=False
        )

    op.create_table(
        "cicd_git_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("server_url", sa.String(length=500), nullable=False),
        sa.Column("credential_type", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("ssh_private_key_encrypted", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "last_test_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_test_result", sa.String(length=16), nullable=False),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cicd_git_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cicd_git_credentials")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_cicd_git_credentials_user_id")),
    )
    with op.batch_alter_table("cicd_git_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cicd_git_credentials_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "cicd_tools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tool_type", sa.String(length=32), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=True),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "last_health_check", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_cicd_tools_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_cicd_tools_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cicd_tools")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_cicd_tools_project_id")),
    )
    with op.batch_alter_table("cicd_tools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cicd_tools_project_id"), ["project_id"], unique=False)

    op.create_table(
        "cicd_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("cicd_tool_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=16), nullable=False),
        sa.Column("triggered_by_id", sa.Integer(), nullable=True),
        sa.Column("definition", JSONDocument, nullable=False),
        sa.Column("parameters", JSONDocument, nullable=False),
        sa.Column("trigger_data", JSONDocument, nullable=False),
        sa.Column("artifacts", JSONDocument, nullable=False),
        sa.Column("test_results", JSONDocument, nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("external_url", sa.String(length=500), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("retry_of_id", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column(
            "heartbeat_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("started_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "completed_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cicd_tool_id"],
            ["cicd_tools.id"],
            name=op.f("fk_cicd_executions_cicd_tool_id_cicd_tools"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_cicd_executions_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_cicd_executions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["retry_of_id"],
            ["cicd_executions.id"],
            name=op.f("fk_cicd_executions_retry_of_id_cicd_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["triggered_by_id"],
            ["users.id"],
            name=op.f("fk_cicd_executions_triggered_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cicd_executions")),
    )
    with op.batch_alter_table("cicd_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cicd_executions_cicd_tool_id"), ["cicd_tool_id"], unique=False
        )
        batch_op.create_index(
            "ix_cicd_executions_pipeline_created", ["pipeline_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_cicd_executions_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cicd_executions_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cicd_executions_triggered_by_id"), ["triggered_by_id"], unique=False
        )

    op.create_table(
        "cicd_step_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_step_id", sa.Integer(), nullable=True),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("started_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "completed_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["cicd_executions.id"],
            name=op.f("fk_cicd_step_executions_execution_id_cicd_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_step_id"],
            ["pipeline_steps.id"],
            name=op.f("fk_cicd_step_executions_pipeline_step_id_pipeline_steps"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cicd_step_executions")),
    )
    with op.batch_alter_table("cicd_step_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cicd_step_executions_execution_id"), ["execution_id"], unique=False
        )

    op.create_table(
        "cicd_execution_log_lines",
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("step_execution_id", sa.Integer(), nullable=True),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["cicd_executions.id"],
            name=op.f("fk_cicd_execution_log_lines_execution_id_cicd_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_execution_id"],
            ["cicd_step_executions.id"],
            name=op.f("fk_cicd_execution_log_lines_step_execution_id_cicd_step_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", "number", name=op.f("pk_cicd_execution_log_lines")),
    )
    with op.batch_alter_table("cicd_execution_log_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cicd_execution_log_lines_step_execution_id"),
            ["step_execution_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("cicd_execution_log_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cicd_execution_log_lines_step_execution_id"))

    op.drop_table("cicd_execution_log_lines")
    with op.batch_alter_table("cicd_step_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cicd_step_executions_execution_id"))

    op.drop_table("cicd_step_executions")
    with op.batch_alter_table("cicd_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cicd_executions_triggered_by_id"))
        batch_op.drop_index(batch_op.f("ix_cicd_executions_status"))
        batch_op.drop_index("ix_cicd_executions_project_created")
        batch_op.drop_index("ix_cicd_executions_pipeline_created")
        batch_op.drop_index(batch_op.f("ix_cicd_executions_cicd_tool_id"))

    op.drop_table("cicd_executions")
    with op.batch_alter_table("cicd_tools", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cicd_tools_project_id"))

    op.drop_table("cicd_tools")
    with op.batch_alter_table("cicd_git_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cicd_git_credentials_user_id"))

    op.drop_table("cicd_git_credentials")
    with op.batch_alter_table("cicd_atomic_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cicd_atomic_steps_created_by_id"))

    op.drop_table("cicd_atomic_steps")
