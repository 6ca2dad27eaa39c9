"""Alembic migrations: the core's scripts, plus those plugins register.

Each package keeps its scripts in its own folder as its own alembic branch (labelled
with the package name), so a plugin's tables migrate with the plugin.  A plugin
announces its folder with ``config.add_migrations("ansflow_projects:migrations")``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from pyramid.config import Configurator
from sqlalchemy import Engine

__all__ = [
    "add_migrations",
    "alembic_config",
    "make_revision",
    "referenced_packages",
    "table_packages",
    "upgrade",
]


LOCATIONS_KEY = "ansflow.migration_locations"


def _resolve(spec: str) -> str:
    package, _, folder = spec.partition(":")
    return str(Path(str(files(package))) / folder)


def add_migrations(config: Configurator, spec: str) -> None:
    """Register a folder of alembic version scripts: ``"package:folder"``.

    The scripts form a branch labelled with the package's name; ``ansflow migrate``
    upgrades every branch to its head.
    """
    config.registry.setdefault(LOCATIONS_KEY, []).append(_resolve(spec))


def alembic_config(registry: Any, engine: Engine) -> AlembicConfig:
    """An alembic configuration covering the core's and every plugin's scripts."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    locations = [str(Path(__file__).parent / "versions"), *registry.get(LOCATIONS_KEY, [])]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(registry: Any, revision: str = "heads") -> list[str]:
    """Upgrade the database of ``registry`` to ``revision`` (every branch's head).

    Returns what was applied, one line per migration in the order it ran:
    ``"0001_projects (ansflow_projects): projects, memberships, environments"``.
    """
    engine = registry["db_engine"]
    cfg = alembic_config(registry, engine)
    applied: list[str] = []

    def record(*, step: Any, **_: Any) -> None:
        script = step.up_revision if step.is_upgrade else None
        labels = ", ".join(sorted(script.branch_labels)) if script is not None else ""
        message = (script.doc or "").strip().splitlines()[0] if script is not None else ""
        applied.append(f"{step.up_revision_id} ({labels}): {message}".replace(" ()", ""))

    cfg.attributes["on_version_apply"] = record
    command.upgrade(cfg, revision)
    return applied


def includeme(config: Configurator) -> None:
    config.add_directive("add_migrations", add_migrations)


def table_packages() -> dict[str, str]:
    """The top-level package of the model of every mapped table (``{table: package}``)."""
    from ansflow_pyramid.db import Base

    owners: dict[str, str] = {}
    for mapper in Base.registry.mappers:
        table = getattr(mapper, "local_table", None)
        if table is not None:
            owners[table.name] = mapper.class_.__module__.split(".")[0]
    return owners


def referenced_packages(package: str) -> list[str]:
    """The other packages whose tables ``package``'s tables point at with foreign keys."""
    from ansflow_pyramid.db import Base

    owners = table_packages()
    referenced: set[str] = set()
    for table in Base.metadata.sorted_tables:
        if owners.get(table.name) != package:
            continue
        for foreign_key in table.foreign_keys:
            owner = owners.get(foreign_key.column.table.name)
            if owner is not None and owner != package:
                referenced.add(owner)
    return sorted(referenced)


def _branches_reached(script: ScriptDirectory, start: str) -> set[str]:
    """The branch labels of every script ``start`` follows, through dependencies too."""
    labels: set[str] = set()
    pending = [script.get_revision(start)]
    seen: set[str] = set()
    while pending:
        revision = pending.pop()
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        labels.update(revision.branch_labels)
        for attribute in ("down_revision", "dependencies"):
            value = getattr(revision, attribute, None) or ()
            for parent in (value,) if isinstance(value, str) else value:
                pending.append(script.get_revision(parent))
    return labels


def make_revision(registry: Any, package: str, message: str, version_path: str) -> str:
    """Autogenerate a revision on ``package``'s branch with only that package's tables.

    The database must be at every head already; the new script lands in
    ``version_path`` (the package's migrations folder).  The script depends on the
    core's head and on the head of every other package whose tables the package's
    tables reference, so ``ansflow migrate --revision <package>@head`` creates those
    first.  Returns the path of the new script.
    """
    engine = registry["db_engine"]
    cfg = alembic_config(registry, engine)
    cfg.attributes["package"] = package
    script = ScriptDirectory.from_config(cfg)
    labels = {label for rev in script.walk_revisions() for label in rev.branch_labels}
    branch_exists = package in labels
    needed = [] if package == "ansflow_pyramid" else ["ansflow_pyramid"]
    needed += [name for name in referenced_packages(package) if name not in needed]
    missing = [name for name in needed if name not in labels]
    if missing:
        raise ValueError(
            f"{package}'s tables reference tables of {', '.join(missing)}, which "
            "has no migrations registered; load that plugin first"
        )
    reached = _branches_reached(script, f"{package}@head") if branch_exists else set()
    # A branch already depending on a package (its first script does) needs no second
    # dependency on it; alembic also mishandles several scripts depending on one head.
    needed = [name for name in needed if name not in reached]
    # Depend on the smallest set: a branch another needed branch depends on already is
    # left out (alembic's bookkeeping of heads fails on such redundant dependencies).
    through = {name: _branches_reached(script, f"{name}@head") - {name} for name in needed}
    depends_on = [
        f"{name}@head"
        for name in needed
        if not any(name in through[other] for other in needed if other != name)
    ]
    written = command.revision(
        cfg,
        message,
        autogenerate=True,
        head=f"{package}@head" if branch_exists else "base",
        branch_label=None if branch_exists else package,
        version_path=version_path,
        depends_on=depends_on or None,
    )
    scripts = written if isinstance(written, list) else [written]
    return str(scripts[0].path) if scripts and scripts[0] is not None else ""
