"""Generic database-backed collections and items that plugins subclass.

A plugin usually needs only class attributes::

    class ToolCollection(ModelCollection):
        model = Tool
        read_schema = ToolOut          # pydantic, from_attributes=True
        create_schema = ToolCreate
        update_schema = ToolUpdate
        filters = {"project": Filter(Tool.project_id)}
        ordering_fields = {"name": Tool.name, "created_at": Tool.created_at}

and overrides the hooks (``base_query`` for visibility, ``create``, ``update``) where
its data needs more than copying validated fields onto a row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, create_model
from pydantic.fields import FieldInfo
from sqlalchemy import Select, false, inspect, select
from sqlalchemy.orm import InstrumentedAttribute

from ansflow_pyramid.api.conditional import etag_of
from ansflow_pyramid.api.errors import NotFound
from ansflow_pyramid.api.listing import (
    Filter,
    Page,
    apply_filters,
    apply_ordering,
    apply_search,
    paginate,
)
from ansflow_pyramid.db import Base
from ansflow_pyramid.traversal import Collection, Item


@functools.cache
def partial_schema(schema: type[BaseModel]) -> type[BaseModel]:
    """``schema`` with every field optional, for PATCH.

    Omitted fields default to ``None`` without validation and are dropped through
    ``model_fields_set``; a field sent explicitly is still validated against its type,
    so ``{"name": null}`` is rejected where ``name`` is not nullable.
    """
    fields: dict[str, Any] = {}
    for name, info in schema.model_fields.items():
        # A field with a default_factory must lose it too: pydantic refuses both.
        copy = FieldInfo.merge_field_infos(info, default=None, default_factory=None)
        fields[name] = (info.annotation, copy)
    return create_model(f"Partial{schema.__name__}", __base__=schema, **fields)


class ModelItem(Item):
    """An item backed by one ORM row (``self.obj``)."""

    collection: ModelCollection

    def serialize(self) -> dict[str, Any]:
        return self.collection.serialize(self.obj)

    def version(self) -> tuple[Any, ...] | None:
        """What changes whenever this item's document would, as read with it (an
        ``updated_at``, a counter...); None: the item serves no ``ETag``.

        Return values already loaded: the version is compared with ``If-None-Match``
        before the document is rendered, so a 304 costs only the item's load.
        """
        return None

    def etag(self) -> str | None:
        """The item's strong ``ETag`` (without quotes), from :meth:`version`."""
        version = self.version()
        return etag_of(version) if version is not None else None

    def update(self, data: BaseModel, partial: bool) -> Any:
        """Apply validated ``data`` to the row; PATCH passes only the fields sent."""
        values = data.model_dump(exclude_unset=partial)
        for name, value in values.items():
            setattr(self.obj, name, value)
        self.dbsession.flush()
        return self.obj

    def delete(self) -> None:
        self.dbsession.delete(self.obj)
        self.dbsession.flush()


class ModelCollection(Collection):
    """A collection of ORM rows with list/create and item retrieve/update/delete."""

    model: ClassVar[type[Base]]
    item_class: ClassVar[type[Item]] = ModelItem
    read_schema: ClassVar[type[BaseModel]]
    #: The schema of list items when lists show less than an item does (None: as items).
    list_schema: ClassVar[type[BaseModel] | None] = None
    create_schema: ClassVar[type[BaseModel] | None] = None
    update_schema: ClassVar[type[BaseModel] | None] = None
    filters: ClassVar[Mapping[str, Filter]] = {}
    ordering_fields: ClassVar[Mapping[str, InstrumentedAttribute[Any]]] = {}
    default_ordering: ClassVar[tuple[str, ...]] = ()
    search_fields: ClassVar[tuple[InstrumentedAttribute[Any], ...]] = ()
    page_size: ClassVar[int] = 20
    max_page_size: ClassVar[int] = 100
    #: Methods served on the collection and on its items.
    collection_methods: ClassVar[tuple[str, ...]] = ("GET", "POST")
    item_methods: ClassVar[tuple[str, ...]] = ("GET", "PUT", "PATCH", "DELETE")
    #: The permission each method needs, checked against the resource's ACL.
    method_permissions: ClassVar[Mapping[str, str]] = {
        "GET": "view",
        "POST": "add",
        "PUT": "edit",
        "PATCH": "edit",
        "DELETE": "delete",
    }

    # -- queries ---------------------------------------------------------------------
    @classmethod
    def primary_key(cls) -> InstrumentedAttribute[Any]:
        return getattr(cls.model, inspect(cls.model).primary_key[0].key)

    def base_query(self) -> Select[Any]:
        """All rows this request may see; override to restrict visibility."""
        return select(self.model)

    def fixed_filter_clauses(self) -> list[Any]:
        clauses = []
        for name, value in self.fixed_filters.items():
            spec = self._fixed_filter_spec(name)
            if not spec.holds(value):
                # An id from the path that the column cannot even hold matches
                # nothing; comparing would make PostgreSQL raise instead.
                clauses.append(false())
                continue
            clauses.append(spec.column == value)
        return clauses

    def _fixed_filter_spec(self, name: str) -> Filter:
        spec = self.filters.get(name)
        if spec is None or spec.column is None:
            spec = Filter(getattr(self.model, name))
        return spec

    def check_fixed_filters(self) -> None:
        """A path naming a value its column cannot hold names nothing: 404."""
        for name, value in self.fixed_filters.items():
            if not self._fixed_filter_spec(name).holds(value):
                raise NotFound()

    def query(self) -> Select[Any]:
        """``base_query`` narrowed by the filters fixed by the path."""
        return self.base_query().where(*self.fixed_filter_clauses())

    def load_record(self, key: Any) -> Any | None:
        """The record of item ``key`` as this request may see it, or None.

        Every path to an item loads it here, canonical and alias alike: a filtered
        alias (``/pipelines/{pipeline_id}/executions/{id}/``) only adds its fixed
        filters as WHERE clauses (:meth:`fixed_filter_clauses`).  The default loads the
        ORM row through :meth:`query`; a collection whose items are read far more often
        than written may return a lighter record (a dataclass, with what its item's ACL
        needs) and load the ORM row only when a write needs it.
        """
        return self.dbsession.scalars(self.query().where(self.primary_key() == key)).first()

    def load_item(self, key: Any) -> Item:
        if not Filter(self.primary_key()).holds(key):
            raise KeyError(key)
        record = self.load_record(key)
        if record is None:
            raise KeyError(key)
        return self.item_class(self, key, record)

    def item_for(self, obj: Any) -> Item:
        """The item resource of a row of this collection (after a create)."""
        key = getattr(obj, self.primary_key().key)
        item = self.item_class(self, key, obj)
        return item

    # -- list and create -------------------------------------------------------------
    def list_query(self) -> Select[Any]:
        query = apply_filters(self.request, self.query(), self.filters)
        query = apply_search(self.request, query, self.search_fields)
        return apply_ordering(
            self.request, query, self.ordering_fields, self.default_ordering, self.primary_key()
        )

    def list_rows(self) -> tuple[int, list[Any], int, int]:
        """The page the request asks for: ``(count, rows, page, page_size)``."""
        return paginate(
            self.request, self.dbsession, self.list_query(), self.page_size, self.max_page_size
        )

    def list_page(self) -> Page:
        count, rows, page, page_size = self.list_rows()
        return Page(count, self.serialize_many(rows), page, page_size)

    def list_version(self, rows: list[Any]) -> tuple[Any, ...] | None:
        """What changes whenever a page of these rows would render differently (their
        ids and ``updated_at``...); None: lists serve no ``ETag``.  See
        :meth:`ModelItem.version`."""
        return None

    def list_etag(self, rows: list[Any], count: int, page: int, page_size: int) -> str | None:
        """The strong ``ETag`` of a list page: its rows' version, the count and the
        query string (filters, ordering and paging shape the page too)."""
        version = self.list_version(rows)
        if version is None:
            return None
        narrowed = sorted(self.fixed_filters.items())
        query = self.request.query_string
        return etag_of((narrowed, query, count, page, page_size, version))

    def serialize(self, obj: Any) -> dict[str, Any]:
        """One row as JSON-able data (the read schema, by default)."""
        return self.read_schema.model_validate(obj, from_attributes=True).model_dump(mode="json")

    def serialize_many(self, rows: list[Any]) -> list[dict[str, Any]]:
        if self.list_schema is None:
            return [self.serialize(row) for row in rows]
        schema = self.list_schema
        return [
            schema.model_validate(row, from_attributes=True).model_dump(mode="json") for row in rows
        ]

    def create(self, data: BaseModel) -> Any:
        """Insert a row from validated ``data``; override to set owners or relations."""
        self.check_fixed_filters()
        values = {**data.model_dump(), **self.fixed_filters}
        obj = self.model(**values)
        self.dbsession.add(obj)
        self.dbsession.flush()
        return obj
