"""Loading an application's registry from an ini file, for commands and workers."""

from __future__ import annotations

from typing import Any

from pyramid.paster import get_appsettings, setup_logging
from pyramid.registry import Registry

from ansflow_pyramid import make_configurator


def load_registry(config_uri: str, log: bool = True) -> Registry:
    """The fully configured registry of the application described by ``config_uri``."""
    if log:
        setup_logging(config_uri)
    settings: dict[str, Any] = dict(get_appsettings(config_uri))
    config = make_configurator(settings)
    return config.registry
