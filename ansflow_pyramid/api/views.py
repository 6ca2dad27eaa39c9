"""The generic JSON views and the helpers that register them for each resource.

For every registered collection the API layer registers one Pyramid view per allowed
method (with that method's permission, so Pyramid's security policy checks the ACL),
plus a fallback view that answers 405 with an ``Allow`` header, or the allowed methods
for ``OPTIONS``.  Custom actions go through the same helper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import AliasChoices, BaseModel
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPNotFound
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from sqlalchemy import inspect as sa_inspect

from ansflow_pyramid.api.bodies import json_body, validate, validated_body
from ansflow_pyramid.api.conditional import not_modified, require_match
from ansflow_pyramid.api.errors import APIError, ValidationFailed, error_response
from ansflow_pyramid.api.listing import Page, check_list_parameters
from ansflow_pyramid.api.resources import ModelCollection, ModelItem, partial_schema
from ansflow_pyramid.traversal import Namespace
from ansflow_pyramid.traversal.introspection import ALLOWED_METHODS_KEY, allowed_methods

ALLOWED_KEY = ALLOWED_METHODS_KEY


def reject_subpath(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view decorator: ``.../cancel/extra/`` is not ``.../cancel/`` and is a 404."""

    def wrapper(context: Any, request: Request) -> Any:
        if request.subpath:
            raise HTTPNotFound()
        return view(context, request)

    return wrapper


# -- default views ------------------------------------------------------------------
def list_view(context: ModelCollection, request: Request) -> Any:
    check_list_parameters(request, context)
    count, rows, page, page_size = context.list_rows()
    unchanged = not_modified(request, context.list_etag(rows, count, page, page_size))
    if unchanged is not None:
        return unchanged
    return Page(count, context.serialize_many(rows), page, page_size).render(request)


def create_view(context: ModelCollection, request: Request) -> dict[str, Any]:
    if context.create_schema is None:
        raise APIError("This collection cannot be created through the API.", status=405)
    data = validated_body(request, context.create_schema)
    obj = context.create(data)
    item = context.item_for(obj)
    request.response.status = 201
    request.response.headers["Location"] = request.resource_url(item)
    return context.serialize(obj)


def retrieve_view(context: ModelItem, request: Request) -> Any:
    # Compared before serialising: a polling client's unchanged resource costs its load.
    unchanged = not_modified(request, context.etag())
    if unchanged is not None:
        return unchanged
    return context.serialize()


def update_view(context: ModelItem, request: Request) -> dict[str, Any]:
    schema = context.collection.update_schema or context.collection.create_schema
    if schema is None:
        raise APIError("This resource cannot be changed through the API.", status=405)
    require_match(request, context.etag())
    partial = request.method == "PATCH"
    body = json_body(request)
    refuse_read_only_changes(context, schema, body)
    data = validate(partial_schema(schema) if partial else schema, body)
    obj = context.update(data, partial=partial)
    return context.collection.serialize(obj)


READ_ONLY_MESSAGE = "This field is read-only; it cannot be changed."


def writable_names(schema: type[BaseModel]) -> set[str]:
    """The body keys ``schema`` reads: field names and their validation aliases."""
    names: set[str] = set()
    for name, info in schema.model_fields.items():
        names.add(name)
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
        elif isinstance(info.validation_alias, AliasChoices):
            names.update(c for c in info.validation_alias.choices if isinstance(c, str))
        if info.alias:
            names.add(info.alias)
    return names


def stored_field_names(collection: ModelCollection) -> set[str]:
    """The keys of the representation that are columns of the model (``project`` read
    from ``project_id``), as opposed to derived ones."""
    columns = set(sa_inspect(collection.model).columns.keys())
    names: set[str] = set()
    for name, info in collection.read_schema.model_fields.items():
        source = info.validation_alias if isinstance(info.validation_alias, str) else name
        if source in columns or name in columns:
            names.add(info.serialization_alias or name)
    return names


def refuse_read_only_changes(context: ModelItem, schema: type[BaseModel], body: dict) -> None:
    """A 400 naming every field of the representation the body tries to change but
    the update schema does not accept (``project`` of a pipeline, ``id``...).

    Sending a read-only field back with its current value is fine: clients PUT what
    they read.  Keys the representation does not have, derived fields (not columns of
    the model) and the collection's ``ignored_read_only_fields`` are ignored.  An update schema with
    ``extra="allow"`` leaves every other key to the item's ``update``.
    """
    if schema.model_config.get("extra") == "allow":
        return  # the item takes every other key itself (executions check each field)
    writable = writable_names(schema)
    stored = stored_field_names(context.collection)
    # Derived fields (names shown next to ids, counts) are ignored: clients write back
    # what they read.  Ignored too: what the collection declares so.
    ignored = set(getattr(context.collection, "ignored_read_only_fields", ()))
    candidates = [
        key for key in body if key not in writable and key in stored and key not in ignored
    ]
    if not candidates:
        return
    current = context.serialize()
    errors = {
        key: [READ_ONLY_MESSAGE]
        for key in candidates
        if key in current and body[key] != current[key]
    }
    if errors:
        raise ValidationFailed(errors)


def delete_view(context: ModelItem, request: Request) -> Response:
    require_match(request, context.etag())
    context.delete()
    return Response(status=204)


def namespace_view(context: Namespace, request: Request) -> dict[str, str]:
    """A namespace lists the URLs below it, like DRF's API root."""
    base = request.resource_url(context)
    return {name: f"{base}{name}/" for name in context.child_names()}


COLLECTION_VIEWS = {"GET": list_view, "POST": create_view}
ITEM_VIEWS = {"GET": retrieve_view, "PUT": update_view, "PATCH": update_view, "DELETE": delete_view}


# -- registration -------------------------------------------------------------------
def _allowed_methods(config: Configurator) -> dict[tuple[type, str], set[str]]:
    return config.registry.setdefault(ALLOWED_KEY, {})


def add_api_view(
    config: Configurator,
    context: type,
    name: str,
    view: Callable[..., Any],
    methods: Sequence[str],
    permission: str | None,
    renderer: str | None = "json",
) -> None:
    """Register ``view`` for ``methods`` on ``context`` + a 405/OPTIONS fallback."""
    allowed = _allowed_methods(config)
    key = (context, name)
    first = key not in allowed
    allowed.setdefault(key, set()).update(m.upper() for m in methods)
    config.add_view(
        view,
        context=context,
        name=name,
        request_method=tuple(m.upper() for m in methods),
        permission=permission,
        renderer=renderer,
        decorator=reject_subpath,
    )
    if first:
        config.add_view(
            _method_fallback(allowed[key]),
            context=context,
            name=name,
            decorator=reject_subpath,
            permission=NO_PERMISSION_REQUIRED,
        )


def _method_fallback(allowed: set[str]) -> Callable[[Any, Request], Response]:
    def method_not_allowed(context: Any, request: Request) -> Response:
        methods = set(allowed)
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        allow = ", ".join(sorted(methods))
        if request.method == "OPTIONS":
            response = Response(status=200, json_body={"methods": sorted(methods)})
            response.headers["Allow"] = allow
            return response
        return error_response(
            405, f"Method {request.method!r} not allowed.", headers={"Allow": allow}
        )

    return method_not_allowed


def register_default_views(config: Configurator, factory: type[ModelCollection]) -> None:
    """Register list/create and retrieve/update/delete for a collection class."""
    if not issubclass(factory, ModelCollection):
        return
    permissions = factory.method_permissions
    for method in factory.collection_methods:
        add_api_view(config, factory, "", COLLECTION_VIEWS[method], [method], permissions[method])
    for method in factory.item_methods:
        add_api_view(
            config, factory.item_class, "", ITEM_VIEWS[method], [method], permissions[method]
        )


__all__ = ["ALLOWED_KEY", "add_api_view", "allowed_methods", "register_default_views"]


def includeme(config: Configurator) -> None:
    config.registry["ansflow.register_default_views"] = register_default_views
    config.registry["ansflow.add_api_view"] = add_api_view
    add_api_view(config, Namespace, "", namespace_view, ["GET"], None)
