"""A test plugin declaring an alias whose capture names no filter of the collection."""

from __future__ import annotations

from typing import Any

from tests.plugins.widgets import WidgetCollection


class ColourlessWidgets(WidgetCollection):
    pass


def includeme(config: Any) -> None:
    config.add_api_resource(
        "test.colourless",
        ColourlessWidgets,
        path="/api/v1/colourless/widgets",
        aliases=["/api/v1/painted/{colour}/widgets"],
    )
