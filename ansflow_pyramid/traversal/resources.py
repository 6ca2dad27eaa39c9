"""Resources of the central traverser.

``Namespace`` nodes are plain path segments (``/api/``, ``/api/v1/cicd/``);
``Collection`` and ``Item`` are the generic bases plugins subclass for their data.
Every resource knows its tree node, its parent and the values captured on the way
(``{"pipeline_id": 7}``), which collections apply as fixed filters.

Pyramid's traverser calls ``__getitem__`` one segment at a time; a ``KeyError`` ends
traversal and turns the rest of the path into a view name, which is how custom actions
(``.../executions/7/cancel/``) and 404s for malformed or missing ids both fall out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pyramid.decorator import reify
from pyramid.request import Request

from ansflow_pyramid.traversal.registry import AliasDeclaration, PathNode, ResourceDeclaration

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ALIAS_ENVIRON_KEY = "ansflow.alias"


class Resource:
    """Common behaviour: lineage, request access and child lookup through the tree."""

    __name__: str
    __parent__: Resource | None

    def __init__(
        self,
        request: Request,
        node: PathNode,
        parent: Resource | None,
        name: str,
        captures: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.node = node
        self.__parent__ = parent
        self.__name__ = name
        self.captures: dict[str, Any] = dict(captures or {})

    @property
    def dbsession(self) -> Session:
        return self.request.dbsession

    @property
    def root(self) -> Resource:
        resource: Resource = self
        while resource.__parent__ is not None:
            resource = resource.__parent__
        return resource

    def child_from_tree(self, name: str) -> Resource:
        """Resolve ``name`` against this resource's tree node, or raise ``KeyError``."""
        node = self.node.children.get(name)
        if node is not None:
            return self._bind(name, node, self.captures)
        wildcard = self.node.wildcard
        if wildcard is None or wildcard.item_of is not None:
            raise KeyError(name)
        segment = self.node.wildcard_segment
        assert segment is not None and segment.capture is not None
        try:
            value = segment.convert(name)
        except (ValueError, TypeError):
            raise KeyError(name) from None
        return self._bind(name, wildcard, {**self.captures, segment.capture: value})

    def _bind(self, name: str, node: PathNode, captures: dict[str, Any]) -> Resource:
        if node.canonical is not None:
            return node.canonical.factory(
                self.request, node, self, name, captures, declaration=node.canonical
            )
        if node.alias is not None:
            return resolve_alias(self.request, self.root, node.alias, captures)
        return Namespace(self.request, node, self, name, captures)

    def __getitem__(self, name: str) -> Resource:
        return self.child_from_tree(name)


class DeclaredResource(Resource):
    """A resource a plugin declared (an endpoint or a collection): it keeps its
    declaration, whichever path (canonical or alias) reached it."""

    def __init__(
        self,
        request: Request,
        node: PathNode,
        parent: Resource | None,
        name: str,
        captures: dict[str, Any] | None = None,
        *,
        declaration: ResourceDeclaration,
    ) -> None:
        super().__init__(request, node, parent, name, captures)
        self.declaration = declaration


class Endpoint(DeclaredResource):
    """A single resource at a fixed path (``/api/v1/health/``, ``/api/v1/auth/token/``).

    ``add_api_endpoint`` makes a subclass per endpoint so each gets its own views.
    """

    key_converter: ClassVar[str | None] = None


class Namespace(Resource):
    """A path segment that groups resources (``/api/v1/cicd/``); it lists its children."""

    def child_names(self) -> list[str]:
        return sorted(self.node.children)


#: The registry key of the root's ACL (a list of ACEs).  Traversal grants nothing of
#: its own: the layer that knows the principals fills it (identity grants superusers
#: every permission, see :func:`grant_at_root`).
ROOT_ACL_KEY = "ansflow.root-acl"


def grant_at_root(registry: Any, *entries: Any) -> None:
    """Add ACEs to the root's ACL: they hold on every resource that does not deny them
    first (resources deny what they do not grant, so only broad grants belong here)."""
    registry.setdefault(ROOT_ACL_KEY, []).extend(entries)


class Root(Namespace):
    """The root of the resource tree, built afresh for every request."""

    @property
    def __acl__(self) -> list[Any]:
        return self.request.registry.get(ROOT_ACL_KEY, [])


def resolve_alias(
    request: Request, root: Resource, alias: AliasDeclaration, captures: dict[str, Any]
) -> Resource:
    """Walk the canonical path of ``alias``'s target and return the resource found there.

    The returned resource's lineage is the canonical one, so ``resource_url`` and the
    ACL are those of the canonical path.  Captures that only the alias has become fixed
    filters.  Missing intermediate resources (an unknown execution id) raise
    ``KeyError`` as any lookup does.
    """
    target: ResourceDeclaration = alias.target
    resource: Resource = root
    for segment in target.template.fill(captures):
        resource = resource[segment]
    extra = {name: captures[name] for name in alias.filter_captures}
    if extra and isinstance(resource, Collection):
        resource = resource.with_fixed_filters(extra)
    request.environ[ALIAS_ENVIRON_KEY] = alias
    return resource


class Collection(DeclaredResource):
    """A collection of items, registered with ``config.add_api_resource``.

    Subclasses (usually through :class:`ansflow_pyramid.api.ModelCollection`) say how
    to convert keys, load items and list them.  The traverser only needs
    :meth:`load_item`; everything else belongs to the API layer.
    """

    #: The converter that turns a URL segment into an item key ("int", "str", "uuid").
    key_converter: ClassVar[str] = "int"
    #: The class of this collection's items.
    item_class: ClassVar[type[Item]]

    @reify
    def fixed_filters(self) -> dict[str, Any]:
        """Column values every row must have: the path's captures (a nested alias such
        as ``/pipelines/{pipeline_id}/executions/`` narrows by its pipeline)."""
        return dict(self.captures)

    def with_fixed_filters(self, filters: dict[str, Any]) -> Collection:
        """This collection narrowed by more fixed filters (used by nested aliases)."""
        self.fixed_filters.update(filters)
        self.alias_filters = dict(filters)
        return self

    def load_item(self, key: Any) -> Item:
        """Return the item with ``key`` or raise ``KeyError`` when there is none."""
        raise NotImplementedError

    def __getitem__(self, name: str) -> Resource:
        # Sub-paths registered under the collection (a list-level namespace) win over
        # item keys; anything else must be a well-formed key of an existing item.
        if name in self.node.children:
            return self.child_from_tree(name)
        wildcard = self.node.wildcard
        assert wildcard is not None and self.node.wildcard_segment is not None
        try:
            key = self.node.wildcard_segment.convert(name)
        except (ValueError, TypeError):
            raise KeyError(name) from None
        item = self.load_item(key)
        item.node = wildcard
        return item


class Item(Resource):
    """One item of a collection; its children are the sub-resources declared under it."""

    def __init__(self, collection: Collection, key: Any, obj: Any) -> None:
        assert collection.node.wildcard is not None
        segment = collection.node.wildcard_segment
        assert segment is not None and segment.capture is not None
        captures = {**collection.captures, segment.capture: key}
        super().__init__(
            collection.request, collection.node.wildcard, collection, str(key), captures
        )
        self.collection = collection
        self.key = key
        self.obj = obj

    def __getitem__(self, name: str) -> Resource:
        return self.child_from_tree(name)
