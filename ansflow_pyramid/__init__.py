"""ansflow-pyramid: the AnsFlow CI/CD platform's API on Pyramid.

``main`` is the paste-deploy app factory.  The include chain below is the shape of
the application: each core feature package has one ``includeme``; plugins come last
and build on the directives the core installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from ansflow_pyramid.fastpath import bake_request_class
from ansflow_pyramid.plugins import include_plugins
from ansflow_pyramid.settings import overlay_environment
from ansflow_pyramid.traversal import commit_or_explain

#: The core's include chain, in order.  Plugins are included after it.
CORE_INCLUDES = (
    "ansflow_pyramid.db",
    "ansflow_pyramid.migrations",
    "ansflow_pyramid.execution_policy",
    "ansflow_pyramid.hostile_input",
    "ansflow_pyramid.redis_client",
    "ansflow_pyramid.traversal",
    "ansflow_pyramid.api",
    "ansflow_pyramid.health",
    "ansflow_pyramid.sessions",
    "ansflow_pyramid.security",
    "ansflow_pyramid.identity",
    "ansflow_pyramid.execution",
    "ansflow_pyramid.pruning",
    "ansflow_pyramid.sockets",
)


def make_configurator(
    settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Configurator:
    """A configurator with the core and every enabled plugin included and committed.

    ``environ`` overrides settings (``os.environ`` by default; pass ``{}`` to use the
    settings exactly as given).
    """
    settings = dict(overlay_environment(dict(settings), environ))
    config = Configurator(settings=settings)
    for name in CORE_INCLUDES:
        config.include(name)
    include_plugins(config)
    # One commit for the core and every plugin: a path claimed twice, by anyone, is a
    # conflict (a later commit would silently override an earlier one instead).
    commit_or_explain(config)
    bake_request_class(config)
    return config


def main(global_config: dict[str, Any] | None, **settings: Any) -> Router:
    """The paste-deploy entry point: build the WSGI application."""
    config = make_configurator(settings)
    return config.make_wsgi_app()
