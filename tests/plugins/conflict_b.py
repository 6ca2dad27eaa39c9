"""Claims /api/v1/widgets (an alias of the widgets plugin) as its own alias."""

from tests.plugins.widgets import WidgetCollection


class MoreWidgets(WidgetCollection):
    pass


def includeme(config):
    config.add_api_resource(
        "conflict.b", MoreWidgets, path="/api/v1/more-widgets", aliases=["/api/v1//widgets"]
    )
