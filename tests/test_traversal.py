"""The central traverser end to end, through a test plugin (tests/plugins/widgets.py)."""

from __future__ import annotations

import pytest
from webtest import TestApp

from ansflow_pyramid.testing import empty_all_tables
from tests.plugins.widgets import WidgetBase


@pytest.fixture(scope="module")
def widgets_app(ansflow_app, ansflow_settings):
    from ansflow_pyramid import make_configurator

    settings = dict(ansflow_settings)
    settings["ansflow.plugins"] = "tests.plugins.widgets"
    settings["ansflow.discover_plugins"] = "false"
    app = make_configurator(settings, environ={}).make_wsgi_app()
    engine = app.registry["db_engine"]
    WidgetBase.metadata.create_all(engine)
    yield app
    # Requests to this app (the fuzz run's failed logins among them) leave rows in the
    # core's tables too; later tests must not inherit them.
    empty_all_tables(app)
    WidgetBase.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def api(widgets_app):
    yield TestApp(widgets_app, extra_environ={"HTTP_HOST": "localhost"})
    with widgets_app.registry["db_engine"].begin() as connection:
        for table in reversed(WidgetBase.metadata.sorted_tables):
            connection.execute(table.delete())


def make_widget(api, **fields):
    body = {"name": "w", **fields}
    return api.post_json("/api/v1/shop/widgets/", body, status=201).json


CANONICAL = '<http://localhost/api/v1/shop/widgets/{}>; rel="canonical"'


def test_canonical_and_alias_serve_the_same_item(api):
    widget = make_widget(api, name="gear")
    canonical = api.get(f"/api/v1/shop/widgets/{widget['id']}/")
    alias = api.get(f"/api/v1/widgets/{widget['id']}/")
    assert canonical.json == alias.json == widget
    assert "Link" not in canonical.headers
    assert alias.headers["Link"] == CANONICAL.format(f"{widget['id']}/")
    assert "Deprecation" not in alias.headers


def test_create_answers_with_canonical_location_even_through_an_alias(api):
    response = api.post_json("/api/v1/widgets/", {"name": "cog"}, status=201)
    assert (
        response.headers["Location"]
        == f"http://localhost/api/v1/shop/widgets/{response.json['id']}/"
    )


def test_deprecated_alias_carries_deprecation(api):
    response = api.get("/api/v1/old-widgets/")
    assert response.headers["Deprecation"] == "true"
    assert response.headers["Link"] == CANONICAL.format("")


def test_slashless_paths_are_served(api):
    widget = make_widget(api)
    assert api.get(f"/api/v1/shop/widgets/{widget['id']}").json == widget
    assert api.get("/api/v1/widgets").json["count"] == 1


def test_nested_alias_filters_the_collection(api):
    make_widget(api, name="a", maker_id=7)
    make_widget(api, name="b", maker_id=7)
    make_widget(api, name="c", maker_id=8)
    response = api.get("/api/v1/makers/7/widgets/")
    assert sorted(w["name"] for w in response.json["results"]) == ["a", "b"]
    assert response.headers["Link"] == CANONICAL.format("?maker_id=7")
    # An item of another maker is not reachable through that maker's path.
    other = api.get("/api/v1/widgets/?maker_id=8").json["results"][0]
    api.get(f"/api/v1/makers/7/widgets/{other['id']}/", status=404)
    # Creating through the nested alias fixes the filter value.
    created = api.post_json("/api/v1/makers/9/widgets/", {"name": "d"}, status=201).json
    assert created["maker_id"] == 9


def test_sub_collection_under_an_item_and_its_alias(api):
    widget = make_widget(api, name="axle")
    other = make_widget(api, name="wheel")
    part = api.post_json(
        f"/api/v1/shop/widgets/{widget['id']}/parts/", {"label": "bolt"}, status=201
    )
    assert part.json["widget_id"] == widget["id"]
    expected = f"http://localhost/api/v1/shop/widgets/{widget['id']}/parts/{part.json['id']}/"
    assert part.headers["Location"] == expected
    api.post_json(f"/api/v1/shop/widgets/{other['id']}/parts/", {"label": "nut"}, status=201)
    listed = api.get(f"/api/v1/parts-of/{widget['id']}/")
    assert [p["label"] for p in listed.json["results"]] == ["bolt"]
    assert (
        listed.headers["Link"]
        == f'<http://localhost/api/v1/shop/widgets/{widget["id"]}/parts/>; rel="canonical"'
    )
    # Parts of a missing widget: the widget lookup fails first.
    api.get("/api/v1/shop/widgets/999/parts/", status=404)
    api.get("/api/v1/parts-of/999/", status=404)
    # A part is only reachable under its own widget.
    api.get(f"/api/v1/shop/widgets/{other['id']}/parts/{part.json['id']}/", status=404)


@pytest.mark.parametrize("key", ["abc", "0", "-1", "007", "1.5", "99999999999999999999", "%20"])
def test_malformed_or_missing_ids_are_json_404(api, key):
    make_widget(api)
    response = api.get(f"/api/v1/shop/widgets/{key}/", status=404)
    assert response.content_type == "application/json"
    assert response.json["code"] == "not_found"


def test_custom_actions_on_items_and_collections(api):
    widget = make_widget(api)
    polished = api.post(f"/api/v1/widgets/{widget['id']}/polish/")
    assert polished.json["polished"] is True
    assert polished.headers["Link"] == CANONICAL.format(f"{widget['id']}/polish/")
    assert api.get("/api/v1/shop/widgets/stats/").json == {"count": 1}
    # The action only exists for the method it was declared with.
    response = api.get(f"/api/v1/shop/widgets/{widget['id']}/polish/", status=405)
    assert response.headers["Allow"] == "OPTIONS, POST"
    # Extra segments after an action are not that action.
    api.post(f"/api/v1/shop/widgets/{widget['id']}/polish/extra/", status=404)
    api.post(f"/api/v1/shop/widgets/{widget['id']}/unknown/", status=404)


def test_unknown_method_is_405_with_allow(api):
    response = api.request("/api/v1/shop/widgets/", method="DELETE", status=405)
    assert response.json["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    options = api.request("/api/v1/shop/widgets/", method="OPTIONS")
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    widget = make_widget(api)
    api.put_json(f"/api/v1/shop/widgets/{widget['id']}/parts/", {}, status=405)


def test_crud_roundtrip(api):
    widget = make_widget(api, name="x", size=3)
    url = f"/api/v1/shop/widgets/{widget['id']}/"
    updated = api.put_json(url, {"name": "y", "size": 4, "color": "blue"}).json
    assert (updated["name"], updated["size"], updated["color"]) == ("y", 4, "blue")
    patched = api.patch_json(url, {"size": 5}).json
    assert (patched["name"], patched["size"]) == ("y", 5)
    api.delete(url, status=204)
    api.get(url, status=404)


def test_pagination_filters_ordering_search(api):
    for index in range(12):
        make_widget(api, name=f"w{index:02d}", color="red" if index % 2 else "blue", size=index + 1)
    first = api.get("/api/v1/shop/widgets/").json
    assert first["count"] == 12 and len(first["results"]) == 5
    assert first["previous"] is None
    assert first["next"] == "http://localhost/api/v1/shop/widgets/?page=2"
    last = api.get("/api/v1/shop/widgets/?page=3").json
    assert len(last["results"]) == 2 and last["next"] is None
    assert last["previous"] == "http://localhost/api/v1/shop/widgets/?page=2"
    api.get("/api/v1/shop/widgets/?page=4", status=404)
    big = api.get("/api/v1/shop/widgets/?page_size=500").json
    assert len(big["results"]) == 12
    reds = api.get("/api/v1/shop/widgets/?color=red&page_size=100").json
    assert reds["count"] == 6 and {w["color"] for w in reds["results"]} == {"red"}
    by_size = api.get("/api/v1/shop/widgets/?ordering=-size&page_size=3").json["results"]
    assert [w["size"] for w in by_size] == [12, 11, 10]
    assert api.get("/api/v1/shop/widgets/?search=W1").json["count"] == 2
    either = api.get("/api/v1/shop/widgets/?size=1&size=2").json
    assert either["count"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=-3", "page_size"),
        ("ordering=password", "ordering"),
        ("size=big", "size"),
        ("polished=maybe", "polished"),
    ],
)
def test_bad_list_parameters_are_400(api, query, field):
    response = api.get(f"/api/v1/shop/widgets/?{query}", status=400)
    assert response.json["code"] == "invalid"
    assert field in response.json["errors"]


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"{not json", "application/json", "malformed_json"),
        (b"[1, 2]", "application/json", "malformed_json"),
        (b"\xff\xfe", "application/json", "malformed_json"),
        (b"name=x", "application/x-www-form-urlencoded", "unsupported_media_type"),
    ],
)
def test_malformed_bodies_are_4xx_json(api, body, content_type, code):
    response = api.post("/api/v1/shop/widgets/", body, content_type=content_type, status="4*")
    assert response.json["code"] == code
    assert api.get("/api/v1/shop/widgets/").json["count"] == 0


def test_validation_errors_name_the_fields_and_store_nothing(api):
    response = api.post_json("/api/v1/shop/widgets/", {"size": "huge", "extra": 1}, status=400)
    errors = response.json["errors"]
    assert set(errors) == {"name", "size", "extra"}
    assert all(isinstance(messages, list) and messages for messages in errors.values())
    widget = make_widget(api, name="keep", size=2)
    api.patch_json(f"/api/v1/shop/widgets/{widget['id']}/", {"size": None}, status=400)
    api.patch_json(f"/api/v1/shop/widgets/{widget['id']}/", {"name": ""}, status=400)
    assert api.get(f"/api/v1/shop/widgets/{widget['id']}/").json == widget


def test_duplicate_is_409_with_field_errors_and_keeps_the_original(api):
    widget = make_widget(api, name="only")
    response = api.post_json("/api/v1/shop/widgets/", {"name": "only", "size": 9}, status=409)
    assert response.json["code"] == "unique"
    assert response.json["errors"] == {"name": ["Already taken."]}
    assert api.get("/api/v1/shop/widgets/").json["results"] == [widget]


def test_huge_body_is_413_json(api):
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = api.post("/api/v1/shop/widgets/", body, content_type="application/json", status=413)
    assert response.json["code"] == "payload_too_large"


def test_unknown_paths_are_json_404(api):
    for path in ["/nothing/", "/api/v9/", "/api/v1/shop/gadgets/", "/api/v1/widgets/1/2/3/"]:
        response = api.get(path, status=404)
        assert response.content_type == "application/json"
        assert response.json == {"detail": "Not found.", "code": "not_found"}


def test_namespaces_list_their_children(api):
    response = api.get("/api/v1/shop/")
    assert response.json == {"widgets": "http://localhost/api/v1/shop/widgets/"}


def test_path_ids_beyond_the_column_range_name_nothing(api):
    # maker_id comes from the path (any 64-bit id) but the column is 32-bit: such a
    # maker cannot exist, on any backend, so listing is empty and creating is a 404.
    huge = 2**63 - 1
    assert api.get(f"/api/v1/makers/{huge}/widgets/").json["count"] == 0
    response = api.post_json(f"/api/v1/makers/{huge}/widgets/", {"name": "big"}, status=404)
    assert response.json["code"] == "not_found"
    assert api.get("/api/v1/shop/widgets/").json["count"] == 0
    api.get(f"/api/v1/shop/widgets/?maker_id={huge}", status=400)


def test_nul_characters_are_rejected_on_every_backend(api):
    response = api.post_json("/api/v1/shop/widgets/", {"name": "a\x00b"}, status=400)
    assert response.json["errors"] == {"name": ["NUL characters are not allowed."]}
    response = api.get("/api/v1/shop/widgets/?color=re%00d", status=400)
    assert "color" in response.json["errors"]
    api.get("/api/v1/shop/widgets/?search=%ff", status=400)
    assert api.get("/api/v1/shop/widgets/").json["count"] == 0


def test_errors_raised_while_committing_are_rendered_as_json(api):
    widget = make_widget(api, name="solo")
    response = api.post(f"/api/v1/shop/widgets/{widget['id']}/twin/", status=409)
    assert response.content_type == "application/json"
    assert response.json["code"] == "conflict"
    assert api.get("/api/v1/shop/widgets/").json["count"] == 1


def test_a_404_on_a_filtered_alias_carries_no_canonical_link(api):
    other = make_widget(api, name="of maker 8", maker_id=8)
    missing = api.get(f"/api/v1/makers/7/widgets/{other['id']}/", status=404)
    assert "Link" not in missing.headers
    assert "Link" not in api.get("/api/v1/widgets/999/", status=404).headers


def test_an_alias_capture_without_a_declared_filter_stops_startup(ansflow_settings):
    from pyramid.exceptions import ConfigurationError

    from ansflow_pyramid import make_configurator

    settings = dict(ansflow_settings)
    settings["ansflow.plugins"] = "tests.plugins.unfiltered_alias"
    settings["ansflow.discover_plugins"] = "false"
    with pytest.raises(ConfigurationError) as raised:
        make_configurator(settings, environ={}).make_wsgi_app()
    message = str(raised.value)
    assert "tests.plugins.unfiltered_alias" in message
    assert "'colour'" in message and "/api/v1/painted/{colour}/widgets/" in message
