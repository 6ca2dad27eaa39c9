"""A plain-data description of the registry, for ``ansflow paths`` and OpenAPI."""

from __future__ import annotations

from typing import Any

from ansflow_pyramid.traversal.registry import ResourceDeclaration
from ansflow_pyramid.traversal.resources import Collection


def _views(registry: Any, declaration: ResourceDeclaration) -> list[dict[str, Any]]:
    from ansflow_pyramid.api.views import allowed_methods

    factory = declaration.factory
    base = declaration.path
    views: list[dict[str, Any]] = []
    permissions = getattr(factory, "method_permissions", {})
    collection_methods = sorted(allowed_methods(registry, factory, ""))
    if collection_methods:
        on = "endpoint" if not issubclass(factory, Collection) else "collection"
        views.append(
            {
                "path": base,
                "on": on,
                "name": "",
                "methods": collection_methods,
                "permission": _permission(declaration, on, "", collection_methods, permissions),
            }
        )
    if issubclass(factory, Collection):
        item_path = f"{base}{{id}}/"
        item_methods = sorted(allowed_methods(registry, factory.item_class, ""))
        if item_methods:
            views.append(
                {
                    "path": item_path,
                    "on": "item",
                    "name": "",
                    "methods": item_methods,
                    "permission": _permission(declaration, "item", "", item_methods, permissions),
                }
            )
    for (on, name), action in sorted(declaration.actions.items()):
        if on == "endpoint":
            continue
        path = f"{base}{{id}}/{name}/" if on == "item" else f"{base}{name}/"
        views.append(
            {
                "path": path,
                "on": on,
                "name": name,
                "methods": list(action.methods),
                "permission": action.permission or "public",
            }
        )
    return views


def _permission(
    declaration: ResourceDeclaration,
    on: str,
    name: str,
    methods: list[str],
    permissions: dict[str, str],
) -> str:
    action = declaration.actions.get((on, name))
    if action is not None:
        return action.permission or "public"
    return ", ".join(f"{m}:{permissions.get(m, '?')}" for m in methods)


def describe_resources(registry: Any) -> list[dict[str, Any]]:
    """Every registered resource with its aliases and views, sorted by path."""
    from ansflow_pyramid.traversal import get_resource_registry

    described = []
    for declaration in get_resource_registry(registry):
        described.append(
            {
                "name": declaration.name,
                "path": declaration.path,
                "plugin": declaration.plugin,
                "description": declaration.description,
                "aliases": [
                    {
                        "path": alias.path,
                        "deprecated": alias.deprecated,
                        "filters": list(alias.filter_captures),
                    }
                    for alias in declaration.aliases
                ],
                "protocol": declaration.protocol,
                "views": _views(registry, declaration),
            }
        )
    return described
