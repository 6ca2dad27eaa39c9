"""One request class with every ``add_request_method`` property built in.

Pyramid applies request properties (``request.dbsession``, pyramid_tm's
``request.tm``, ...) by creating a new subclass of the request class for every
request, which costs a class creation and its weak references each time.  Once the
configuration is committed the set of properties is fixed, so :func:`bake_request_class`
builds that subclass once, makes it the request factory, and leaves Pyramid only the
plain methods to attach per request.  Properties registered later (none are, after
the commit) would still work through Pyramid's own mechanism.
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.request import Request


def bake_request_class(config: Configurator) -> None:
    """Move the committed request properties onto one request factory class."""
    registry = config.registry
    extensions = registry.queryUtility(IRequestExtensions)
    if extensions is None or not extensions.descriptors:
        return
    base = registry.queryUtility(IRequestFactory, default=Request)
    attributes = {**extensions.descriptors, "__module__": base.__module__}
    registry.registerUtility(type(base.__name__, (base,), attributes), IRequestFactory)
    extensions.descriptors = {}
