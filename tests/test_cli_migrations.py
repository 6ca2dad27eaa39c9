"""``ansflow revision`` depends on the branches a plugin's tables reference, and
``ansflow migrate`` says what it applied.

The plugin is written to a temporary folder and the commands run in a child process:
its model must not join this process's metadata (the schema comparison of
``test_migrations`` covers exactly the installed models).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from ansflow_pyramid.db.scratch import create_scratch_database, drop_database

PLUGIN = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ansflow_pyramid.db import Base


class Badge(Base):
    __tablename__ = "ansflow_badges_{suffix}"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))


def includeme(config):
    config.include("ansflow_pipelines")
    config.add_migrations("{package}:migrations")
"""

SCRIPT = """
import sys
from ansflow_pyramid.cli import main

ini, fresh_ini, package = sys.argv[1:4]
assert main(["migrate", ini]) == 0
assert main(["revision", ini, package, "-m", "badges"]) == 0
print("== fresh database, only the plugin's branch")
assert main(["migrate", fresh_ini, "--revision", package + "@head"]) == 0
"""


@pytest.fixture
def databases(tmp_path, ansflow_settings):
    """Two empty databases on the backend under test."""
    base = ansflow_settings["sqlalchemy.url"]
    if base.startswith("postgresql"):
        urls = [create_scratch_database(base) for _ in range(2)]
        yield urls
        for url in urls:
            drop_database(url)
        return
    yield [f"sqlite:///{tmp_path}/first.sqlite", f"sqlite:///{tmp_path}/fresh.sqlite"]


def test_revision_depends_on_referenced_branches_and_migrate_reports(tmp_path, databases):
    package = f"ansflow_badges_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / package
    (folder / "migrations").mkdir(parents=True)
    (folder / "__init__.py").write_text(
        textwrap.dedent(PLUGIN).format(package=package, suffix=package[-8:])
    )
    inis = []
    for name, url in zip(("first", "fresh"), databases, strict=True):
        ini = tmp_path / f"{name}.ini"
        ini.write_text(
            "[app:main]\nuse = egg:ansflow-pyramid\n"
            f"sqlalchemy.url = {url}\nredis.url =\nansflow.dispatch = none\n"
            f"ansflow.plugins = {package}\nansflow.secret_key = {'k' * 40}\n"
            f"jwt.secret = {'j' * 40}\nsession.secret = {'s' * 40}\n"
        )
        inis.append(str(ini))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *inis, package],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first, _, fresh = done.stdout.partition("== fresh database")
    assert "applied 0001_projects (ansflow_projects)" in first
    assert "migrations applied)" in first or "migration applied)" in first
    (script,) = (folder / "migrations").glob("*.py")
    source = script.read_text()
    assert "ansflow_badges" in source and "depends_on" in source
    # The migration names the heads of every branch its table points into.
    # (the pipelines branch depends on projects and the core in turn).
    dependencies = source.split("depends_on")[1].split("\n")[0]
    assert "_pipeline" in dependencies
    # Upgrading only the plugin's branch on an empty database creates what it needs first.
    assert "applied 0001_pipelines (ansflow_pipelines)" in fresh
    assert fresh.index("0001_pipelines") < fresh.index(package)


def test_paths_lists_step_types_with_runners_and_plugins(tmp_path, capsys, monkeypatch):
    from ansflow_pyramid.cli import main

    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    ini = tmp_path / "paths.ini"
    ini.write_text(
        "[app:main]\nuse = egg:ansflow-pyramid\n"
        f"sqlalchemy.url = sqlite:///{tmp_path}/paths.sqlite\nredis.url =\n"
        "ansflow.dispatch = none\nansflow.plugins = tests.domain.step_plugins.exotic\n"
        f"ansflow.secret_key = {'k' * 40}\njwt.secret = {'j' * 40}\n"
        f"session.secret = {'s' * 40}\n"
    )
    assert main(["paths", str(ini)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.split("step types")[1].splitlines()[1:]}
    assert "[plugin ansflow_pipelines]" in lines["shell_script"]
    assert "LocalShellRunner (the '*' runner)" in lines["shell_script"]
    assert "[plugin ansflow_local_executor]" in lines["shell_script"]
    assert "ExoticRunner" in lines["exotic"]
    assert "[plugin tests.domain.step_plugins.exotic]" in lines["exotic"]
    assert main(["paths", str(ini), "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    exotic = next(s for s in described["step_types"] if s["name"] == "exotic")
    assert exotic["plugin"] == exotic["runner_plugin"] == "tests.domain.step_plugins.exotic"
