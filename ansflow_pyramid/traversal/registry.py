"""The resource registry: one tree of path nodes shared by every plugin.

Each node is a path segment.  A node may be *bound* to a resource declaration, either
canonically (this is where the resource lives) or as an alias (an extra edge leading to
the resource's canonical node).  Lookups walk the tree one segment at a time through
dictionaries, so resolving a path costs the same whether ten or ten thousand resources
are registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyramid.exceptions import ConfigurationError

from ansflow_pyramid.traversal.paths import PathTemplate, Segment

if TYPE_CHECKING:
    from ansflow_pyramid.traversal.resources import Resource


#: The capture name of a collection's item position until a sub-path names it.
ITEM_KEY = "key"


@dataclass
class ActionDeclaration:
    """A custom action (a view name) on a collection or on its items."""

    name: str
    methods: tuple[str, ...]
    on: str  # "collection" or "item"
    permission: str | None
    summary: str = ""
    request_schema: Any = None
    response_schema: Any = None
    #: The media type of successful responses (for the OpenAPI document).
    media_type: str = "application/json"
    #: The statuses a successful call answers with (for the OpenAPI document).
    success_statuses: tuple[int, ...] = (200,)
    #: Headers every call must carry, ``(name, JSON schema)`` (for the OpenAPI document).
    request_headers: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass
class AliasDeclaration:
    """An alias path for a resource.

    Captures the canonical path also has are substituted into it; the others become
    fixed filters on the collection (``/pipelines/{pipeline_id}/executions/`` is the
    executions collection filtered by ``pipeline_id``).
    """

    template: PathTemplate
    target: ResourceDeclaration
    deprecated: bool = False
    plugin: str = ""

    @property
    def path(self) -> str:
        return str(self.template)

    @property
    def filter_captures(self) -> tuple[str, ...]:
        canonical = set(self.target.template.captures)
        return tuple(c for c in self.template.captures if c not in canonical)


@dataclass
class ResourceDeclaration:
    """A resource collection registered by a plugin."""

    name: str
    factory: type[Resource]
    template: PathTemplate
    plugin: str
    aliases: list[AliasDeclaration] = field(default_factory=list)
    actions: dict[tuple[str, str], ActionDeclaration] = field(default_factory=dict)
    description: str = ""
    #: The tree node of the canonical path, set when the declaration is registered.
    node: PathNode | None = None
    #: False for pages that are not part of the API (HTML forms): left out of OpenAPI.
    in_openapi: bool = True
    #: "http", or "websocket" for socket paths (served by the ASGI entry point).
    protocol: str = "http"

    @property
    def path(self) -> str:
        return str(self.template)


@dataclass
class PathNode:
    """One segment of the resource tree."""

    segment: str = ""
    children: dict[str, PathNode] = field(default_factory=dict)
    wildcard: PathNode | None = None
    wildcard_segment: Segment | None = None
    canonical: ResourceDeclaration | None = None
    alias: AliasDeclaration | None = None
    # Set on the wildcard child of a collection's node: the collection whose items
    # live at this position, so sub-resources know their parent collection.
    item_of: ResourceDeclaration | None = None

    @property
    def is_bound(self) -> bool:
        return self.canonical is not None or self.alias is not None


class ResourceRegistry:
    """Every declared resource, alias and action, plus the tree that resolves them."""

    def __init__(self) -> None:
        self.root = PathNode()
        self.resources: dict[str, ResourceDeclaration] = {}
        self.by_factory: dict[type, ResourceDeclaration] = {}
        # Every claim on a path shape, recorded when the directive is called (before
        # conflicts are detected) so a conflict can be reported by plugin name.
        self.claims: dict[tuple[str, ...], list[tuple[str, str]]] = {}

    def claim(self, shape: tuple[str, ...], plugin: str, what: str) -> None:
        self.claims.setdefault(shape, []).append((plugin, what))

    # -- building -------------------------------------------------------------------
    def _node_for(self, template: PathTemplate) -> PathNode:
        node = self.root
        for segment in template.segments:
            if segment.is_capture:
                if node.wildcard is None:
                    node.wildcard = PathNode(segment="{}")
                    node.wildcard_segment = segment
                else:
                    existing = node.wildcard_segment
                    assert existing is not None
                    if existing.converter != segment.converter:
                        raise ConfigurationError(
                            f"{template}: capture {segment.capture!r} uses converter "
                            f"{segment.converter!r} where another path uses "
                            f"{existing.converter!r}"
                        )
                    if existing.capture == ITEM_KEY:
                        # A collection's anonymous item position gets the name the
                        # first sub-path gives it, so sub-collections can filter by it.
                        node.wildcard_segment = segment
                    elif existing.capture != segment.capture:
                        raise ConfigurationError(
                            f"{template}: capture {segment.capture!r} sits where another "
                            f"path captures {existing.capture!r}; use one name"
                        )
                node = node.wildcard
            else:
                node = node.children.setdefault(
                    str(segment.literal), PathNode(segment=str(segment.literal))
                )
        return node

    def add_resource(self, declaration: ResourceDeclaration) -> None:
        if declaration.name in self.resources:
            other = self.resources[declaration.name]
            raise ConfigurationError(
                f"resource name {declaration.name!r} is declared by plugin "
                f"{other.plugin!r} and by plugin {declaration.plugin!r}"
            )
        node = self._node_for(declaration.template)
        node.canonical = declaration
        declaration.node = node
        self.resources[declaration.name] = declaration
        self.by_factory[declaration.factory] = declaration
        if getattr(declaration.factory, "key_converter", None) is None:
            return  # an endpoint: a single resource without items
        # Items of this collection live at the node's wildcard child.
        if node.item_of is not None:
            raise ConfigurationError(
                f"{declaration.path} would hide the items of {node.item_of.path}"
            )
        item_segment = Segment(capture=ITEM_KEY, converter=declaration.factory.key_converter)
        if node.wildcard is None:
            node.wildcard = PathNode(segment="{}")
            node.wildcard_segment = item_segment
        elif node.wildcard_segment and node.wildcard_segment.converter != item_segment.converter:
            raise ConfigurationError(
                f"{declaration.path}: sub-paths capture the item key with converter "
                f"{node.wildcard_segment.converter!r}, the collection uses "
                f"{item_segment.converter!r}"
            )
        node.wildcard.item_of = declaration

    def add_alias(self, alias: AliasDeclaration) -> None:
        missing = [c for c in alias.target.template.captures if c not in alias.template.captures]
        if missing:
            raise ConfigurationError(
                f"alias {alias.path} of {alias.target.path} does not capture {missing}"
            )
        declared = getattr(alias.target.factory, "filters", None) or {}
        unknown = [c for c in alias.filter_captures if c not in declared]
        if unknown:
            # The capture is applied as that filter, and the canonical URL of the alias
            # carries it as a query parameter: without a filter of that name the
            # "canonical" URL would silently list everything.
            names = ", ".join(repr(c) for c in unknown)
            raise ConfigurationError(
                f"plugin {alias.plugin!r}: alias {alias.path} of {alias.target.path} "
                f"captures {names}, which {alias.target.factory.__name__}.filters does "
                f"not declare; add a Filter of that name or rename the capture"
            )
        node = self._node_for(alias.template)
        node.alias = alias
        alias.target.aliases.append(alias)

    # -- reading --------------------------------------------------------------------
    def declaration_for(self, factory: type) -> ResourceDeclaration | None:
        """The declaration of a collection class (or of the class it derives from)."""
        for klass in factory.__mro__:
            if klass in self.by_factory:
                return self.by_factory[klass]
        return None

    def match(
        self, path: str
    ) -> tuple[ResourceDeclaration, dict[str, Any], AliasDeclaration | None] | None:
        """The declaration bound exactly at ``path`` (canonical or alias), the values
        captured on the way, and the alias used (None: canonical); None when no
        declared resource sits there.  Used by servers that route outside Pyramid's
        traversal (WebSockets); items of collections are not matched."""
        node = self.root
        captures: dict[str, Any] = {}
        for raw in path.split("/"):
            if raw == "":
                continue
            child = node.children.get(raw)
            if child is None:
                segment = node.wildcard_segment
                if node.wildcard is None or segment is None or node.wildcard.item_of is not None:
                    return None
                try:
                    captures[str(segment.capture)] = segment.convert(raw)
                except (ValueError, TypeError):
                    return None
                child = node.wildcard
            node = child
        if node.canonical is not None:
            return node.canonical, captures, None
        if node.alias is not None:
            return node.alias.target, captures, node.alias
        return None

    def __iter__(self) -> Iterator[ResourceDeclaration]:
        return iter(sorted(self.resources.values(), key=lambda d: d.path))
