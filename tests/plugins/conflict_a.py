"""Claims /api/v1/shop/widgets/ canonically, like the widgets plugin does."""

from tests.plugins.widgets import WidgetCollection


class OtherWidgets(WidgetCollection):
    pass


def includeme(config):
    config.add_api_resource("conflict.a", OtherWidgets, path="/api/v1/shop/widgets/")
