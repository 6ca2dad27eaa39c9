"""Plugin loading: the setting, entry points of installed distributions, conflicts."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyramid.exceptions import ConfigurationConflictError

from ansflow_pyramid import make_configurator
from ansflow_pyramid.plugins import discover_plugins
from ansflow_pyramid.traversal import PathConflictError, get_resource_registry


def settings_with(ansflow_settings, **extra):
    settings = dict(ansflow_settings)
    settings["ansflow.discover_plugins"] = "false"
    settings.update({k.replace("__", "."): v for k, v in extra.items()})
    return settings


def test_two_plugins_claiming_one_path_fail_at_startup_naming_both(ansflow_settings):
    settings = settings_with(
        ansflow_settings, ansflow__plugins="tests.plugins.widgets tests.plugins.conflict_a"
    )
    with pytest.raises(ConfigurationConflictError) as caught:
        make_configurator(settings, environ={})
    assert isinstance(caught.value, PathConflictError)
    message = str(caught.value)
    assert "API path /api/v1/shop/widgets/ is claimed by" in message
    assert "plugin 'tests.plugins.widgets' (canonical path of test.widgets)" in message
    assert "plugin 'tests.plugins.conflict_a' (canonical path of conflict.a)" in message
    assert "conflict_a.py" in message and "widgets.py" in message


def test_an_alias_clashing_with_another_plugins_alias_fails(ansflow_settings):
    settings = settings_with(
        ansflow_settings, ansflow__plugins="tests.plugins.widgets tests.plugins.conflict_b"
    )
    with pytest.raises(PathConflictError) as caught:
        make_configurator(settings, environ={})
    message = str(caught.value)
    assert "API path /api/v1/widgets/ is claimed by" in message
    assert "alias of test.widgets" in message and "alias of conflict.b" in message


@pytest.fixture
def installed_distribution(tmp_path, monkeypatch):
    """A real installed distribution announcing an ansflow plugin by entry point."""
    package = tmp_path / "ansflow_ep_demo"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pyramid.authorization import ALL_PERMISSIONS, Allow, Everyone


            def hello(context, request):
                return {"hello": "from an entry point"}


            def includeme(config):
                config.add_api_endpoint("demo.hello", "/api/v1/demo/hello", hello)
            """
        )
    )
    dist_info = tmp_path / "ansflow_ep_demo-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ansflow-ep-demo\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[ansflow.plugins]\ndemo = ansflow_ep_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def test_entry_point_plugin_of_an_installed_distribution_is_loaded(
    installed_distribution, ansflow_settings
):
    from webtest import TestApp

    specs = discover_plugins({"ansflow.discover_plugins": "true"})
    demo = [spec for spec in specs if spec.dotted_name == "ansflow_ep_demo"]
    assert demo and "ansflow-ep-demo" in demo[0].source
    settings = dict(ansflow_settings)
    settings["ansflow.discover_plugins"] = "true"
    config = make_configurator(settings, environ={})
    assert "demo.hello" in get_resource_registry(config.registry).resources
    app = TestApp(config.make_wsgi_app())
    assert app.get("/api/v1/demo/hello/").json == {"hello": "from an entry point"}


def test_excluded_plugins_are_not_loaded(installed_distribution):
    specs = discover_plugins(
        {"ansflow.discover_plugins": "true", "ansflow.exclude_plugins": "demo"}
    )
    assert "ansflow_ep_demo" not in {spec.dotted_name for spec in specs}


def test_builtin_plugins_are_announced_by_entry_points():
    specs = discover_plugins({"ansflow.discover_plugins": "true"})
    builtin = {
        p.name
        for p in (Path(__file__).parent.parent / "plugins").iterdir()
        if (p / "__init__.py").exists()
    }
    found = {spec.dotted_name for spec in specs if spec.source.startswith("entry point")}
    assert builtin <= found


def test_paths_command_lists_canonical_paths_aliases_and_views(tmp_path, ansflow_database_url):
    ini = tmp_path / "paths.ini"
    ini.write_text(
        textwrap.dedent(
            f"""
            [app:main]
            use = egg:ansflow-pyramid
            sqlalchemy.url = {ansflow_database_url}
            ansflow.plugins = tests.plugins.widgets
            ansflow.discover_plugins = false
            jwt.secret = {"s" * 48}
            session.secret = {"t" * 48}
            ansflow.secret_key = {"u" * 48}
            """
        )
    )
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "ansflow_pyramid.cli", "paths", str(ini)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "/api/v1/shop/widgets/  [test.widgets, plugin tests.plugins.widgets]" in out
    assert "alias /api/v1/widgets/" in out
    assert "alias /api/v1/old-widgets/ (deprecated)" in out
    assert "alias /api/v1/makers/{maker_id}/widgets/ filters maker_id" in out
    assert "/api/v1/shop/widgets/{id}/polish/" in out
    assert "/api/v1/shop/widgets/{widget_id}/parts/" in out
    assert "/api/v1/health/" in out


def test_every_built_in_plugin_is_under_the_layer_contracts():
    """A plugin missing from .importlinter would escape the layer rules CI checks."""
    from configparser import ConfigParser
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    plugins = {p.name for p in (root / "plugins").iterdir() if (p / "__init__.py").is_file()}
    contracts = ConfigParser()
    contracts.read(root / ".importlinter")
    listed = set(contracts["importlinter"]["root_packages"].split())
    forbidden = set(
        contracts["importlinter:contract:core-never-imports-plugins"]["forbidden_modules"].split()
    )
    assert plugins <= listed, f"add to root_packages: {sorted(plugins - listed)}"
    assert plugins <= forbidden, f"add to the forbidden list: {sorted(plugins - forbidden)}"
