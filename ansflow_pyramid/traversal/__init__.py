"""The central traverser: one resource tree that every plugin registers into.

Plugins call :meth:`add_api_resource` to declare a collection at its canonical path,
with any alias paths, and :meth:`add_api_action` for custom actions.  Both register
Pyramid config actions with a discriminator per path shape, so two plugins claiming
the same path fail at startup with a ``ConfigurationConflictError`` naming both,
instead of one silently overriding the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
from pyramid.interfaces import PHASE1_CONFIG
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from ansflow_pyramid.traversal.paths import PathTemplate
from ansflow_pyramid.traversal.registry import (
    ActionDeclaration,
    AliasDeclaration,
    ResourceDeclaration,
    ResourceRegistry,
)
from ansflow_pyramid.traversal.resources import (
    ALIAS_ENVIRON_KEY,
    Collection,
    Endpoint,
    Item,
    Namespace,
    Resource,
    Root,
)

__all__ = [
    "Alias",
    "Collection",
    "Endpoint",
    "Item",
    "Namespace",
    "Resource",
    "ResourceRegistry",
    "Root",
    "add_api_action",
    "add_api_endpoint",
    "add_api_resource",
    "canonical_url",
    "get_resource_registry",
    "plugin_name",
]

REGISTRY_KEY = "ansflow.resources"
PATH_DISCRIMINATOR = "ansflow.api-path"
#: The dotted names of the plugins being loaded, set by the plugin loader.
PLUGIN_NAMES_KEY = "ansflow.plugin-names"


@dataclass(frozen=True)
class Alias:
    """An alias path given to ``add_api_resource``; ``deprecated`` adds a Deprecation header."""

    path: str
    deprecated: bool = False


def get_resource_registry(registry: Any) -> ResourceRegistry:
    """The :class:`ResourceRegistry` of a Pyramid registry."""
    return registry[REGISTRY_KEY]


def plugin_name(config: Configurator) -> str:
    """The plugin doing the configuring.

    The innermost entry of the include path that is a loaded plugin (or a module of
    one) wins, so a plugin that includes another plugin it depends on does not get
    credit for that plugin's paths.
    """
    plugins = config.registry.get(PLUGIN_NAMES_KEY, ())
    for entry in reversed(config.includepath):
        module = entry.split(":")[0]
        for name in plugins:
            if module == name or module.startswith(name + "."):
                return name
    if config.includepath:
        first = config.includepath[0].split(":")[0]
        return "ansflow_pyramid" if first.startswith("ansflow_pyramid.") else first
    return config.package_name or "<unknown>"


def add_api_resource(
    config: Configurator,
    name: str,
    factory: type[Resource],
    path: str,
    aliases: Iterable[str | Alias] = (),
    description: str = "",
) -> None:
    """Register a resource collection at its canonical ``path`` and its ``aliases``.

    :param name: a unique dotted name, e.g. ``"cicd.executions"``.
    :param factory: a :class:`Collection` subclass; its ``item_class`` serves items.
    :param path: the canonical path, e.g. ``"/api/v1/cicd/executions"``.  A trailing
        slash is added; ``{capture}`` segments name values taken from the path, which
        the collection applies as fixed filters.
    :param aliases: more paths reaching the same resource.  A plain string is an
        alias; :class:`Alias` marks one deprecated.  Captures the canonical path does
        not have become filters (``"/api/v1/pipelines/{pipeline_id}/executions"``).
    :param description: a sentence for the OpenAPI document and ``ansflow paths``.

    Every path (canonical or alias) is a claim: a second claim on the same path, from
    any plugin, is a configuration conflict reported at startup.  The default views
    (list/create on the collection, retrieve/update/partial update/delete on items)
    are registered for the methods the factory allows.
    """
    template = PathTemplate.parse(path)
    plugin = plugin_name(config)
    if issubclass(factory, Collection):
        _give_own_item_class(config, factory)
    declaration = ResourceDeclaration(
        name=name, factory=factory, template=template, plugin=plugin, description=description
    )
    alias_declarations = []
    for alias in aliases:
        spec = alias if isinstance(alias, Alias) else Alias(str(alias))
        alias_declarations.append(
            AliasDeclaration(
                template=PathTemplate.parse(spec.path),
                target=declaration,
                deprecated=spec.deprecated,
                plugin=plugin,
            )
        )
    resources = get_resource_registry(config.registry)
    resources.claim(template.shape, plugin, f"canonical path of {name}")
    for alias in alias_declarations:
        resources.claim(alias.template.shape, plugin, f"alias of {name}")

    def register_resource() -> None:
        resources.add_resource(declaration)

    config.action(
        (PATH_DISCRIMINATOR, template.shape),
        register_resource,
        order=PHASE1_CONFIG,
        introspectables=(_introspectable(config, declaration.path, "canonical", declaration),),
    )
    config.action(("ansflow.api-resource-name", name), None)
    for alias in alias_declarations:
        config.action(
            (PATH_DISCRIMINATOR, alias.template.shape),
            resources.add_alias,
            args=(alias,),
            # Aliases attach after every canonical resource exists.
            order=PHASE1_CONFIG + 1,
            introspectables=(_introspectable(config, alias.path, "alias", declaration),),
        )
    # The generic views come from the API layer, which registers this hook.
    register_default_views = config.registry.get("ansflow.register_default_views")
    if register_default_views is not None:
        register_default_views(config, factory)


def _give_own_item_class(config: Configurator, factory: type[Collection]) -> None:
    """Make sure no two collections share an item class.

    Views and actions are registered per context class; two collections sharing one
    item class (the default ``ModelItem``, or a subclassed collection inheriting its
    parent's) would collide.  A collection whose item class belongs to another one
    gets a subclass of it of its own.  Register a resource before its actions.
    """
    owners: dict[type, type] = config.registry.setdefault("ansflow.item-class-owners", {})
    item_class = factory.item_class
    if owners.get(item_class, factory) is not factory or "item_class" not in factory.__dict__:
        item_class = type(
            f"{factory.__name__}Item", (item_class,), {"__module__": factory.__module__}
        )
        factory.item_class = item_class
    owners[item_class] = factory


def _introspectable(
    config: Configurator, path: str, kind: str, declaration: ResourceDeclaration
) -> Any:
    intr = config.introspectable("ansflow api paths", path, f"{kind} {path}", "ansflow api path")
    intr["kind"] = kind
    intr["resource"] = declaration.name
    intr["plugin"] = declaration.plugin
    return intr


def add_api_endpoint(
    config: Configurator,
    name: str,
    path: str,
    view: Callable[..., Any],
    *,
    methods: Sequence[str] = ("GET",),
    permission: str | None = None,
    aliases: Iterable[str | Alias] = (),
    description: str = "",
    renderer: str | None = "json",
    request_schema: Any = None,
    response_schema: Any = None,
    media_type: str = "application/json",
    openapi: bool = True,
    success_status: int | Sequence[int] = 200,
    request_headers: Mapping[str, Mapping[str, Any]] | None = None,
) -> type[Endpoint]:
    """Register a single resource at ``path`` served by ``view`` (no collection, no items).

    Returns the :class:`Endpoint` subclass created for it, so more views or actions
    can be attached with ``config.add_view(context=...)``.  ``permission=None`` means
    the view is public; pass a permission name to check the ACL.  ``media_type`` is
    what successful responses carry, for the OpenAPI document; ``openapi=False``
    leaves a page that is not part of the API (an HTML form) out of the document;
    ``success_status`` is the status of a successful call (``202`` for an endpoint
    that accepts work), and ``request_headers`` the headers every call must carry
    (name -> JSON schema: a webhook's signature), for the document too.
    """
    factory = type(f"Endpoint[{name}]", (Endpoint,), {"__doc__": description or view.__doc__})
    add_api_resource(config, name, factory, path, aliases=aliases, description=description)
    methods = tuple(m.upper() for m in methods)
    resources = get_resource_registry(config.registry)
    action = ActionDeclaration(
        name="",
        methods=methods,
        on="endpoint",
        permission=permission,
        summary=description or (view.__doc__ or "").strip().split("\n")[0],
        request_schema=request_schema,
        response_schema=response_schema,
        media_type=media_type,
        success_statuses=(
            (success_status,) if isinstance(success_status, int) else tuple(success_status)
        ),
        request_headers=tuple(
            (header, dict(schema)) for header, schema in (request_headers or {}).items()
        ),
    )

    def record() -> None:
        declaration = resources.resources[name]
        declaration.actions[("endpoint", "")] = action
        declaration.in_openapi = openapi

    config.action(("ansflow.api-endpoint", name), record, order=PHASE1_CONFIG + 2)
    add_api_view = config.registry["ansflow.add_api_view"]
    add_api_view(config, factory, "", view, methods, permission or NO_PERMISSION_REQUIRED, renderer)
    return factory


def add_api_action(
    config: Configurator,
    factory: type[Collection],
    name: str,
    view: Callable[..., Any],
    *,
    methods: Sequence[str] = ("POST",),
    on: str = "item",
    permission: str | None = None,
    summary: str = "",
    request_schema: Any = None,
    response_schema: Any = None,
    renderer: str | None = "json",
    success_status: int | Sequence[int] = 200,
) -> None:
    """Register a custom action: a view name on a collection or on its items.

    ``config.add_api_action(ExecutionCollection, "cancel", cancel, methods=["POST"])``
    serves ``POST /api/v1/cicd/executions/{id}/cancel/`` on every path of the resource,
    aliases included.  ``view(context, request)`` returns a JSON-able value (or a
    Response).  ``on="collection"`` attaches it to the list instead
    (``.../executions/statistics/``).  ``permission`` defaults to ``view`` for safe
    methods and ``edit`` otherwise.  Schemas and ``success_status`` (the status of a
    successful call, or several: ``(201, 200)`` for "created, or found as it was") only
    feed the OpenAPI document.
    """
    if on not in ("item", "collection"):
        raise ConfigurationError(f"on must be 'item' or 'collection', not {on!r}")
    methods = tuple(m.upper() for m in methods)
    context = factory.item_class if on == "item" else factory
    if permission is None:
        permission = "view" if set(methods) <= {"GET", "HEAD"} else "edit"
    declaration_action = ActionDeclaration(
        name=name,
        methods=methods,
        on=on,
        permission=permission,
        summary=summary or (view.__doc__ or "").strip().split("\n")[0],
        request_schema=request_schema,
        response_schema=response_schema,
        success_statuses=(
            (success_status,) if isinstance(success_status, int) else tuple(success_status)
        ),
    )
    resources = get_resource_registry(config.registry)

    def record() -> None:
        declaration = resources.declaration_for(factory)
        if declaration is None:
            raise ConfigurationError(f"{factory.__name__} is not a registered api resource")
        declaration.actions[(on, name)] = declaration_action

    config.action(("ansflow.api-action", factory, on, name), record, order=PHASE1_CONFIG + 2)
    add_api_view = config.registry["ansflow.add_api_view"]
    add_api_view(config, context, name, view, methods, permission, renderer)


class PathConflictError(ConfigurationConflictError):
    """Two plugins claimed the same API path; the message names both."""

    def __init__(self, original: ConfigurationConflictError, resources: ResourceRegistry) -> None:
        super().__init__(original._conflicts)
        self.lines: list[str] = []
        for discriminator in original._conflicts:
            if not (isinstance(discriminator, tuple) and discriminator[0] == PATH_DISCRIMINATOR):
                continue
            shape = discriminator[1]
            claims = resources.claims.get(shape, [])
            who = " and ".join(f"plugin {plugin!r} ({what})" for plugin, what in claims)
            path = "/" + "/".join(shape) + "/"
            self.lines.append(f"API path {path} is claimed by {who}")

    def __str__(self) -> str:
        return "\n".join([*self.lines, super().__str__()])


def commit_or_explain(config: Configurator) -> None:
    """Commit ``config``; a path conflict is re-raised naming the plugins involved."""
    try:
        config.commit()
    except ConfigurationConflictError as error:
        raise PathConflictError(error, get_resource_registry(config.registry)) from None


def canonical_url(request: Request, context: Resource | None = None) -> str:
    """The canonical URL of ``context`` (the request's by default), with its view name.

    Filters an alias added (``/pipelines/7/executions/``) are kept as query parameters
    (``/cicd/executions/?pipeline_id=7``) so the canonical URL names the same data.
    """
    context = request.context if context is None else context
    url = request.resource_url(context)
    if context is request.context and request.view_name:
        url += request.view_name + "/"
    alias_filters = getattr(context, "alias_filters", None)
    if alias_filters:
        from urllib.parse import urlencode

        url += "?" + urlencode(alias_filters)
    return url


def _add_alias_headers(request: Request, response: Response) -> None:
    alias: AliasDeclaration | None = request.environ.get(ALIAS_ENVIRON_KEY)
    if alias is None or getattr(request, "context", None) is None:
        return
    if response.status_code == 404:
        # Nothing was found at this path; the "canonical" URL built from where
        # traversal stopped may well serve something (an execution of another
        # pipeline than the alias names), so no 404 points anywhere.
        return
    response.headers.add("Link", f'<{canonical_url(request)}>; rel="canonical"')
    if alias.deprecated:
        response.headers["Deprecation"] = "true"


def root_factory(request: Request) -> Root:
    """The per-request root of the resource tree."""
    tree = request.registry[REGISTRY_KEY].root
    # A response callback rather than a tween: only requests that traverse an alias
    # pay for it, and it sees the final context and view name.
    request.add_response_callback(_add_alias_headers)
    return Root(request, tree, None, "")


def includeme(config: Configurator) -> None:
    """Install the resource registry, its directives and the root factory."""
    config.registry[REGISTRY_KEY] = ResourceRegistry()
    config.add_directive("add_api_resource", add_api_resource)
    config.add_directive("add_api_action", add_api_action)
    config.add_directive("add_api_endpoint", add_api_endpoint)
    config.set_root_factory(root_factory)
