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


def upgrade(registry: Any, revision: str = "heads") -> None:
    """Upgrade the database of ``registry`` to ``revision`` (every branch's head)."""
    engine = registry["db_engine"]
    command.upgrade(alembic_config(registry, engine), revision)


def includeme(config: Configurator) -> None:
    config.add_directive("add_migrations", add_migrations)


def make_revision(registry: Any, package: str, message: str, version_path: str) -> None:
    """Autogenerate a revision on ``package``'s branch with only that package's tables.

    The database must be at every head already; the new script lands in
    ``version_path`` (the package's migrations folder).
    """
    engine = registry["db_engine"]
    cfg = alembic_config(registry, engine)
    cfg.attributes["package"] = package
    script = ScriptDirectory.from_config(cfg)
    branch_exists = package in {
        label for rev in script.walk_revisions() for label in rev.branch_labels
    }
    command.revision(
        cfg,
        message,
        autogenerate=True,
        head=f"{package}@head" if branch_exists else "base",
        branch_label=None if branch_exists else package,
        version_path=version_path,
        depends_on=None
        if branch_exists or package == "ansflow_pyramid"
        else "ansflow_pyramid@head",
    )
