"""The OpenAPI 3.1 document, built from the resource registry and pydantic schemas.

Nothing here is written by hand per resource: every canonical path, alias, default view
and custom action registered through the traverser appears, with the schemas the views
validate against.  Alias operations are marked with ``x-ansflow-alias-of`` (and
``deprecated`` when the alias is).  Swagger UI is served from the assets packaged in
``swagger-ui-py`` (no CDN) at ``/api/v1/docs/``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from ansflow_pyramid.api.resources import ModelCollection, partial_schema
from ansflow_pyramid.api.views import allowed_methods
from ansflow_pyramid.traversal import get_resource_registry
from ansflow_pyramid.traversal.paths import PathTemplate, Segment
from ansflow_pyramid.traversal.registry import (
    ITEM_KEY,
    ActionDeclaration,
    AliasDeclaration,
    ResourceDeclaration,
)

REF = "#/components/schemas/{model}"
DOCUMENT_KEY = "ansflow.openapi-document"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

ERROR_RESPONSE = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}

SAFE = {"GET", "HEAD", "OPTIONS"}


class _SchemaCollector:
    """Collects pydantic models and turns them into shared component schemas."""

    def __init__(self) -> None:
        self.models: list[tuple[type[BaseModel], str]] = []

    def ref(self, model: type[BaseModel] | None, mode: str) -> dict[str, Any]:
        if model is None:
            return {"type": "object"}
        if (model, mode) not in self.models:
            self.models.append((model, mode))
        return {"$ref": f"__pending__{id(model)}:{mode}"}

    def resolve(self, document: dict[str, Any]) -> dict[str, Any]:
        if not self.models:
            return {}
        refs, top = models_json_schema(self.models, ref_template=REF)
        components = dict(top.get("$defs", {}))
        mapping = {
            f"__pending__{id(model)}:{mode}": ref["$ref"] for (model, mode), ref in refs.items()
        }

        def rewrite(node: Any) -> Any:
            if isinstance(node, dict):
                if "$ref" in node and node["$ref"] in mapping:
                    return {"$ref": mapping[node["$ref"]]}
                return {k: rewrite(v) for k, v in node.items()}
            if isinstance(node, list):
                return [rewrite(v) for v in node]
            return node

        document.update(rewrite(document))
        return components


NO_NUL = "^[^\\u0000]*$"


JSON_VALUE_REF = {"$ref": "#/components/schemas/JSONValue"}
JSON_VALUE = {
    "description": "Any JSON value whose strings and keys contain no NUL character.",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": JSON_VALUE_REF},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": JSON_VALUE_REF,
        },
    ],
}


def _forbid_nul(schema: Any) -> Any:
    """Say in the document what the API enforces: no string (or key) may contain NUL.

    Free-form parts (``dict[str, Any]`` fields, bodies without a schema) are described
    as :data:`JSON_VALUE`, which carries the same rule to every depth.
    """
    if isinstance(schema, list):
        return [_forbid_nul(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    for key in ("properties", "patternProperties", "$defs"):
        if isinstance(schema.get(key), dict):
            schema[key] = {
                name: JSON_VALUE_REF if sub == {} else _forbid_nul(sub)
                for name, sub in schema[key].items()
            }
    for key in ("items", "additionalProperties", "not", "if", "then", "else"):
        if isinstance(schema.get(key), dict):
            schema[key] = JSON_VALUE_REF if schema[key] == {} else _forbid_nul(schema[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(schema.get(key), list):
            schema[key] = [_forbid_nul(sub) for sub in schema[key]]
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    constrained = {"pattern", "format", "enum", "const"} & set(schema)
    if "string" in types and not constrained:
        schema["pattern"] = NO_NUL
    if "object" in types:
        schema.setdefault("propertyNames", {"pattern": NO_NUL})
        if schema.get("additionalProperties", True) is True:
            schema["additionalProperties"] = JSON_VALUE_REF
    if "array" in types and schema.get("items", True) in (True, {}):
        schema["items"] = JSON_VALUE_REF
    return schema


def _forbid_nul_in_operations(paths: dict[str, Any]) -> None:
    """Apply :func:`_forbid_nul` to every parameter and body schema of every operation."""
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _forbid_nul(parameter["schema"])
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                media["schema"] = _forbid_nul(media["schema"])


def _parameter(segment: Segment) -> dict[str, Any]:
    if segment.converter == "int":
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    elif segment.converter == "uuid":
        schema = {"type": "string", "format": "uuid"}
    else:
        schema = {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]+$"}
    return {"name": segment.capture, "in": "path", "required": True, "schema": schema}


def _path(template: PathTemplate, *extra: str) -> tuple[str, list[dict[str, Any]]]:
    parts = [str(s) if not s.is_capture else "{" + str(s.capture) + "}" for s in template.segments]
    parameters = [_parameter(s) for s in template.segments if s.is_capture]
    return "/" + "/".join([*parts, *extra]) + "/", parameters


def _item_segment(declaration: ResourceDeclaration) -> Segment:
    segment = declaration.node.wildcard_segment if declaration.node is not None else None
    if segment is None or segment.capture == ITEM_KEY:
        return Segment(capture="id", converter=declaration.factory.key_converter or "int")
    return segment


def _list_filters(factory: type[ModelCollection]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31},
        },
        {
            "name": "page_size",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": factory.max_page_size},
        },
    ]
    if factory.ordering_fields:
        names = "|".join(sorted(factory.ordering_fields))
        term = f"-?({names})"
        pattern = f"^{term}(,{term})*$"
        schema = {"type": "string", "pattern": pattern}
        parameters.append({"name": "ordering", "in": "query", "schema": schema})
    if factory.search_fields:
        parameters.append(
            {"name": "search", "in": "query", "schema": {"type": "string", "pattern": NO_NUL}}
        )
    for name, spec in factory.filters.items():
        value_type = spec.value_type()
        schema: dict[str, Any] = {"type": "string"}
        if value_type is int:
            low, high = spec.int_bounds()
            schema = {"type": "integer", "minimum": low, "maximum": high}
        elif value_type is bool:
            schema = {"type": "boolean"}
        if spec.choices:
            schema = {"type": "string", "enum": list(spec.choices)}
        parameters.append({"name": name, "in": "query", "schema": schema})
    return parameters


def _operation(
    summary: str,
    tag: str,
    method: str,
    permission: str | None,
    parameters: list[dict[str, Any]],
    request_schema: dict[str, Any] | None,
    response_schema: dict[str, Any] | None,
    success: str,
    media_type: str = "application/json",
    body_required: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if parameters:
        operation["parameters"] = parameters
    if request_schema is not None and method not in SAFE and method != "DELETE":
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": request_schema}},
        }
    responses: dict[str, Any] = {}
    if success == "204":
        responses["204"] = {"description": "Deleted"}
    else:
        content = {media_type: {"schema": response_schema or {}}}
        responses[success] = {"description": "Success", "content": content}
    responses["default"] = ERROR_RESPONSE
    operation["responses"] = responses
    if permission in (None, "__no_permission_required__"):
        operation["security"] = [{}, {"bearerAuth": []}, {"cookieAuth": []}]
    else:
        operation["x-ansflow-permission"] = permission
    return operation


def _requires_body(model: type[BaseModel] | None) -> bool:
    """A body is required when the schema has required fields (an empty body is ``{}``)."""
    return model is not None and any(f.is_required() for f in model.model_fields.values())


def _page_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["count", "next", "previous", "results"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]},
            "results": {"type": "array", "items": item},
        },
    }


def _resource_operations(
    registry: Any, declaration: ResourceDeclaration, schemas: _SchemaCollector
) -> list[tuple[str, str, dict[str, Any]]]:
    """(path suffix kind, method, operation) for one resource, before path templating."""
    factory = declaration.factory
    tag = declaration.name.split(".")[0]
    operations: list[tuple[str, str, dict[str, Any]]] = []
    if issubclass(factory, ModelCollection):
        read = schemas.ref(factory.read_schema, "serialization")
        permissions = factory.method_permissions
        for method in sorted(allowed_methods(registry, factory, "")):
            if method == "GET":
                op = _operation(
                    f"List {declaration.name}",
                    tag,
                    method,
                    permissions["GET"],
                    _list_filters(factory),
                    None,
                    _page_schema(
                        schemas.ref(factory.list_schema, "serialization")
                        if factory.list_schema is not None
                        else read
                    ),
                    "200",
                )
            else:
                op = _operation(
                    f"Create in {declaration.name}",
                    tag,
                    method,
                    permissions[method],
                    [],
                    schemas.ref(factory.create_schema, "validation"),
                    read,
                    "201",
                    body_required=_requires_body(factory.create_schema),
                )
            operations.append(("collection", method, op))
        update = factory.update_schema or factory.create_schema
        for method in sorted(allowed_methods(registry, factory.item_class, "")):
            body = None
            required = False
            if method == "PUT":
                body = schemas.ref(update, "validation")
                required = _requires_body(update)
            elif method == "PATCH" and update is not None:
                body = schemas.ref(partial_schema(update), "validation")
            success = "204" if method == "DELETE" else "200"
            verb = {"GET": "Retrieve", "PUT": "Replace", "PATCH": "Update", "DELETE": "Delete"}[
                method
            ]
            op = _operation(
                f"{verb} one of {declaration.name}",
                tag,
                method,
                permissions[method],
                [],
                body,
                read,
                success,
                body_required=required,
            )
            operations.append(("item", method, op))
    for (on, name), action in sorted(declaration.actions.items()):
        operations.extend(_action_operations(declaration, on, name, action, tag, schemas))
    return operations


def _action_operations(
    declaration: ResourceDeclaration,
    on: str,
    name: str,
    action: ActionDeclaration,
    tag: str,
    schemas: _SchemaCollector,
) -> list[tuple[str, str, dict[str, Any]]]:
    kind = {
        "endpoint": "collection",
        "collection": f"collection-action:{name}",
        "item": f"item-action:{name}",
    }[on]
    request = schemas.ref(action.request_schema, "validation") if action.request_schema else None
    response = (
        schemas.ref(action.response_schema, "serialization") if action.response_schema else None
    )
    summary = action.summary or f"{name or declaration.name}"
    operations = []
    for method in action.methods:
        if method == "HEAD":
            continue
        body = request or ({"type": "object"} if method not in SAFE else None)
        first, *others = action.success_statuses or (200,)
        headers = [
            {"name": header, "in": "header", "required": True, "schema": schema}
            for header, schema in action.request_headers
        ]
        operation = _operation(
            summary,
            tag,
            method,
            action.permission,
            headers,
            body,
            response,
            str(first),
            action.media_type,
            body_required=_requires_body(action.request_schema),
        )
        for status in others:
            operation["responses"][str(status)] = (
                {"description": "No content"}
                if status == 204
                else {
                    "description": "Success",
                    "content": {action.media_type: {"schema": response or {}}},
                }
            )
        operations.append((kind, method, operation))
    return operations


def _templated(
    declaration: ResourceDeclaration, template: PathTemplate, kind: str
) -> tuple[str, list[dict[str, Any]]]:
    if kind == "collection":
        return _path(template)
    item = _item_segment(declaration)
    item_part = "{" + str(item.capture) + "}"
    if kind == "item":
        path, parameters = _path(template, item_part)
        return path, [*parameters, _parameter(item)]
    action_on, _, name = kind.partition(":")
    if action_on == "collection-action":
        return _path(template, name)
    path, parameters = _path(template, item_part, name)
    return path, [*parameters, _parameter(item)]


def build_openapi(registry: Any, title: str = "AnsFlow API", version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of every resource registered in ``registry``."""
    resources = get_resource_registry(registry)
    schemas = _SchemaCollector()
    paths: dict[str, dict[str, Any]] = {}
    for declaration in resources:
        if not declaration.in_openapi:
            continue
        operations = _resource_operations(registry, declaration, schemas)
        targets: list[tuple[PathTemplate, AliasDeclaration | None]] = [(declaration.template, None)]
        targets += [(alias.template, alias) for alias in declaration.aliases]
        for template, alias in targets:
            for kind, method, operation in operations:
                path, parameters = _templated(declaration, template, kind)
                op = json.loads(json.dumps(operation))
                op["parameters"] = parameters + op.get("parameters", [])
                if not op["parameters"]:
                    del op["parameters"]
                slug = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
                op["operationId"] = f"{method.lower()}_{slug}"
                if alias is not None:
                    canonical, _ = _templated(declaration, declaration.template, kind)
                    op["x-ansflow-alias-of"] = canonical
                    if alias.deprecated:
                        op["deprecated"] = True
                paths.setdefault(path, {})[method.lower()] = op
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Generated from the central traverser's registry.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
    }
    components = schemas.resolve(document)
    document["components"]["schemas"] = {"Error": ERROR_SCHEMA, **components}
    # Requests are where the rule binds; responses never carry NUL either.
    _forbid_nul_in_operations(document["paths"])
    document["components"]["schemas"] = {
        name: _forbid_nul(schema) for name, schema in document["components"]["schemas"].items()
    }
    document["components"]["schemas"]["JSONValue"] = JSON_VALUE
    _fill_choices(document, registry)
    for schema in document["components"]["schemas"].values():
        _drop_impossible_null_defaults(schema)
    return document


#: A schema extension naming a Pyramid introspection category whose entries are the
#: field's allowed values (step types are declared by plugins, after schemas exist).
CHOICES_KEY = "x-ansflow-choices"


def _fill_choices(node: Any, registry: Any) -> None:
    """Turn every ``x-ansflow-choices`` into the ``enum`` of what is registered now."""
    if isinstance(node, list):
        for item in node:
            _fill_choices(item, registry)
        return
    if not isinstance(node, dict):
        return
    category = node.get(CHOICES_KEY)
    if isinstance(category, str):
        names = sorted(
            str(item["introspectable"].discriminator)
            for item in registry.introspector.get_category(category, [])
        )
        if names:
            node["enum"] = names
            node.pop("pattern", None)
    for value in node.values():
        _fill_choices(value, registry)


def _allows_null(schema: dict[str, Any]) -> bool:
    types = schema.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    if None in schema.get("enum", ()) or ("const" in schema and schema["const"] is None):
        return True
    return any(
        isinstance(sub, dict) and _allows_null(sub)
        for key in ("anyOf", "oneOf")
        for sub in schema.get(key, ())
    )


def _drop_impossible_null_defaults(schema: Any) -> None:
    """Remove ``default: null`` where ``null`` is not a valid value.

    PATCH schemas (:func:`ansflow_pyramid.api.partial_schema`) give every field the
    default ``None`` so omitted fields can be told apart; a client never sends that
    default, and a document claiming a non-nullable field defaults to null is invalid.
    """
    if not isinstance(schema, dict):
        return
    for sub in schema.get("properties", {}).values():
        if isinstance(sub, dict):
            if "default" in sub and sub["default"] is None and not _allows_null(sub):
                del sub["default"]
            _drop_impossible_null_defaults(sub)


def openapi_view(context: Any, request: Request) -> Response:
    """The OpenAPI 3.1 document of this API."""
    # The registry cannot change after startup, so the document is built once; two
    # threads racing on the first request merely build it twice.
    body = request.registry.get(DOCUMENT_KEY)
    if body is None:
        body = json.dumps(build_openapi(request.registry)).encode()
        request.registry[DOCUMENT_KEY] = body
    return Response(body=body, content_type="application/json", charset="utf-8")


SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>AnsFlow API</title>
<link rel="stylesheet" href="{static}swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{static}swagger-ui-bundle.js"></script>
<script src="{static}swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "{spec}", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"}});
</script></body></html>
"""


def docs_view(context: Any, request: Request) -> Response:
    """Swagger UI for the OpenAPI document."""
    page = SWAGGER_PAGE.format(
        static=request.static_url("swagger_ui:static/"),
        spec=request.resource_url(request.root) + "api/v1/openapi.json",
    )
    return Response(page, content_type="text/html", charset="utf-8")


def includeme(config: Configurator) -> None:
    config.add_static_view("api/v1/docs/static", "swagger_ui:static", cache_max_age=3600)
    config.add_api_endpoint(
        "core.openapi",
        "/api/v1/openapi.json",
        openapi_view,
        renderer=None,
        description="The OpenAPI 3.1 document.",
    )
    config.add_api_endpoint(
        "core.docs",
        "/api/v1/docs",
        docs_view,
        renderer=None,
        description="Swagger UI.",
        media_type="text/html",
    )
