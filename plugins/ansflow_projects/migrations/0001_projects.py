"""projects: projects, memberships, environments

Revision ID: 0001_projects
Revises:
Create Date: 2026-11-24 11:40:22.374605
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ansflow_pyramid.db.base
from ansflow_pyramid.db.base import JSONDocument

revision = "0001_projects"
down_revision = None
branch_labels = ("ansflow_projects",)
depends_on = "0001_core_users"


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("repository_url", sa.String(length=500), nullable=False),
        sa.Column("default_branch", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("settings", JSONDocument, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_projects_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "project_environments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("env_type", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("auto_deploy", sa.Boolean(), nullable=False),
        sa.Column("deploy_branch", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_environments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_environments")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_project_environments_project_id")),
    )
    with op.batch_alter_table("project_environments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_environments_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "project_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ansflow_pyramid.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_memberships_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_project_memberships_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_memberships")),
        sa.UniqueConstraint(
            "project_id", "user_id", name=op.f("uq_project_memberships_project_id")
        ),
    )
    with op.batch_alter_table("project_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_memberships_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_project_memberships_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("project_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_project_memberships_project_id"))

    op.drop_table("project_memberships")
    with op.batch_alter_table("project_environments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_environments_project_id"))

    op.drop_table("project_environments")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_owner_id"))

    op.drop_table("projects")
