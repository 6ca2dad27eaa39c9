"""Plugin discovery and loading.

A plugin is a Python package with an ``includeme(config)``.  Plugins are enabled by
the ``ansflow.plugins`` setting (dotted names, like ``pyramid.includes``) and, unless
``ansflow.discover_plugins`` is false, by the ``ansflow.plugins`` entry-point group of
installed distributions.  The built-in plugins are announced through that same group,
so they load exactly as a third-party plugin does.  ``ansflow.exclude_plugins`` names
plugins (entry-point names or dotted names) to leave out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

from pyramid.config import Configurator

from ansflow_pyramid.settings import as_bool, as_list
from ansflow_pyramid.traversal import PLUGIN_NAMES_KEY

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ansflow.plugins"


@dataclass(frozen=True)
class PluginSpec:
    """A plugin to load: its dotted name and where it was found."""

    dotted_name: str
    source: str  # "setting" or "entry point <name> of <distribution>"


def discover_plugins(settings: dict[str, object]) -> list[PluginSpec]:
    """The plugins to load, in a stable order: the setting first, then entry points."""
    excluded = set(as_list(settings.get("ansflow.exclude_plugins")))
    specs: list[PluginSpec] = []
    seen: set[str] = set()
    for dotted in as_list(settings.get("ansflow.plugins")):
        if dotted not in seen and dotted not in excluded:
            seen.add(dotted)
            specs.append(PluginSpec(dotted, "setting ansflow.plugins"))
    if as_bool(settings.get("ansflow.discover_plugins"), default=True):
        found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
        for ep in found:
            dotted = ep.value.split(":")[0]
            if ep.name in excluded or dotted in excluded or dotted in seen:
                continue
            seen.add(dotted)
            distribution = ep.dist.name if ep.dist is not None else "?"
            specs.append(PluginSpec(dotted, f"entry point {ep.name!r} of {distribution}"))
    return specs


def include_plugins(config: Configurator) -> list[PluginSpec]:
    """Include every enabled plugin into ``config`` and record them in the registry."""
    specs = discover_plugins(config.get_settings())
    # Longest names first, so a plugin nested in another's namespace is found first.
    names = sorted((spec.dotted_name for spec in specs), key=len, reverse=True)
    config.registry[PLUGIN_NAMES_KEY] = tuple(names)
    for spec in specs:
        log.debug("loading plugin %s (%s)", spec.dotted_name, spec.source)
        config.include(spec.dotted_name)
    config.registry["ansflow.loaded_plugins"] = specs
    return specs
