"""A test plugin exercising the traverser: canonical paths, aliases, sub-collections,
nested filter aliases and custom actions.  Its tables live in their own metadata so
the application's migrations know nothing of them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pyramid.authorization import ALL_PERMISSIONS, Allow, Everyone
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ansflow_pyramid.api import Conflict, Filter, ModelCollection, ModelItem
from ansflow_pyramid.api.types import NonNegativeInt
from ansflow_pyramid.traversal import Alias


class WidgetBase(DeclarativeBase):
    pass


class Widget(WidgetBase):
    __tablename__ = "test_widgets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    maker_id: Mapped[int] = mapped_column(default=0)
    color: Mapped[str] = mapped_column(String(20), default="red")
    size: Mapped[int] = mapped_column(default=1)
    polished: Mapped[bool] = mapped_column(default=False)


class Part(WidgetBase):
    __tablename__ = "test_parts"
    id: Mapped[int] = mapped_column(primary_key=True)
    widget_id: Mapped[int] = mapped_column(ForeignKey("test_widgets.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(50))


class WidgetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    maker_id: int
    color: str
    size: int
    polished: bool


class WidgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    maker_id: NonNegativeInt = 0
    color: str = Field("red", max_length=20)
    size: int = Field(1, ge=1, le=1000)


class PartOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    widget_id: int
    label: str


class PartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=50)


OPEN_ACL = [(Allow, Everyone, ALL_PERMISSIONS)]


class WidgetItem(ModelItem):
    __acl__ = OPEN_ACL


class WidgetCollection(ModelCollection):
    __acl__ = OPEN_ACL
    model = Widget
    item_class = WidgetItem
    read_schema = WidgetOut
    create_schema = WidgetIn
    filters = {
        "color": Filter(Widget.color),
        "maker_id": Filter(Widget.maker_id),
        "polished": Filter(Widget.polished),
        "size": Filter(Widget.size),
    }
    ordering_fields = {"name": Widget.name, "size": Widget.size, "id": Widget.id}
    search_fields = (Widget.name,)
    page_size = 5

    def create(self, data: BaseModel) -> Any:
        if self.dbsession.query(Widget).filter_by(name=data.name).first() is not None:
            raise Conflict("Widget exists.", code="unique", errors={"name": ["Already taken."]})
        return super().create(data)


class PartItem(ModelItem):
    __acl__ = OPEN_ACL


class PartCollection(ModelCollection):
    __acl__ = OPEN_ACL
    model = Part
    item_class = PartItem
    read_schema = PartOut
    create_schema = PartIn
    collection_methods = ("GET", "POST")
    item_methods = ("GET", "DELETE")


def polish(context: WidgetItem, request: Any) -> dict[str, Any]:
    """Polish a widget."""
    context.obj.polished = True
    context.dbsession.flush()
    return context.serialize()


def stats(context: WidgetCollection, request: Any) -> dict[str, Any]:
    """Count widgets."""
    return {"count": context.dbsession.query(Widget).count()}


def includeme(config: Any) -> None:
    config.add_api_resource(
        "test.widgets",
        WidgetCollection,
        path="/api/v1/shop/widgets",
        aliases=[
            "/api/v1/widgets",
            Alias("/api/v1/old-widgets", deprecated=True),
            "/api/v1/makers/{maker_id}/widgets",
        ],
        description="Widgets for the traverser tests.",
    )
    config.add_api_resource(
        "test.parts",
        PartCollection,
        path="/api/v1/shop/widgets/{widget_id}/parts",
        aliases=["/api/v1/parts-of/{widget_id}"],
    )
    config.add_api_action(WidgetCollection, "polish", polish, methods=["POST"])
    config.add_api_action(WidgetCollection, "stats", stats, methods=["GET"], on="collection")
    includeme_commit_errors(config)


def add_twin_without_flush(context: WidgetItem, request: Any) -> dict[str, Any]:
    """Add a widget with a taken name and let the commit find out (no flush here)."""
    context.dbsession.add(Widget(name=context.obj.name))
    return {"queued": True}


def includeme_commit_errors(config: Any) -> None:
    config.add_api_action(WidgetCollection, "twin", add_twin_without_flush, methods=["POST"])
