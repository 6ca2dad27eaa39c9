"""Alembic environment: runs online against the engine the application configured.

When ``attributes["package"]`` is set (``ansflow revision``), autogenerate only looks
at tables whose models live in that package, so a plugin's branch only ever creates
the plugin's own tables.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from ansflow_pyramid.db import Base
from ansflow_pyramid.migrations import table_packages

config = context.config
engine = config.attributes["engine"]
package = config.attributes.get("package")


owners = table_packages()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if package is None:
        return True
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = getattr(table, "name", name)
    return owners.get(str(table_name)) == package


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    context.run_migrations()
