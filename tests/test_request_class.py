"""Request properties live on one request class built at start-up, not one per request."""

from __future__ import annotations

from pyramid.interfaces import IRequestExtensions, IRequestFactory


def test_request_properties_are_baked_into_the_request_factory(ansflow_app, testapp):
    registry = ansflow_app.registry
    factory = registry.queryUtility(IRequestFactory)
    # request.dbsession (ours) and request.tm (pyramid_tm's) are on the class itself...
    assert "dbsession" in vars(factory) and "tm" in vars(factory)
    # ...so Pyramid has no properties left to graft onto each request by subclassing.
    assert not registry.queryUtility(IRequestExtensions).descriptors
    # And they still work on a served request.
    assert testapp.get("/api/v1/health/").json["checks"]["database"]["status"] == "ok"
    request = factory.blank("/")
    request.registry = registry
    assert type(request) is factory
