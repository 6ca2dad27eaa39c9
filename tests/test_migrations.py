"""The migrations build exactly the schema the models describe (core and plugins)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ansflow_pyramid.db import Base


def test_migrated_schema_matches_every_model(ansflow_app):
    # ansflow_app imported the core and every discovered plugin (so all their models
    # are on Base.metadata) and ran every migration on a fresh database.
    engine = ansflow_app.registry["db_engine"]
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models and migrations disagree:\n" + "\n".join(
        repr(d) for d in differences
    )


def test_every_model_table_exists(ansflow_app):
    from sqlalchemy import inspect

    engine = ansflow_app.registry["db_engine"]
    existing = set(inspect(engine).get_table_names())
    assert {"users", "sessions", "refresh_tokens", "login_failures"} <= existing
    assert set(Base.metadata.tables) <= existing


def test_the_comparison_notices_a_missing_migration(ansflow_app):
    # The check above is only worth something if a model change without a migration
    # shows up: add a column to a copy of the metadata and compare again.
    from sqlalchemy import Column, MetaData, String

    copy = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(copy)
    copy.tables["users"].append_column(Column("nickname", String(20)))
    engine = ansflow_app.registry["db_engine"]
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, copy)
    assert [d[0] for d in differences] == ["add_column"]
