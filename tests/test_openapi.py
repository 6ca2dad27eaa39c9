"""The OpenAPI document is generated from the registry and served with Swagger UI."""

from __future__ import annotations

import json
import re

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.test_traversal import api, widgets_app  # noqa: F401 (fixtures)


def test_document_lists_canonical_paths_aliases_and_actions(api):  # noqa: F811
    document = api.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths["/api/v1/shop/widgets/"]) == {"get", "post"}
    assert set(paths["/api/v1/shop/widgets/{widget_id}/"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/shop/widgets/{widget_id}/polish/"]) == {"post"}
    assert set(paths["/api/v1/shop/widgets/stats/"]) == {"get"}
    alias = paths["/api/v1/widgets/{widget_id}/"]["get"]
    assert alias["x-ansflow-alias-of"] == "/api/v1/shop/widgets/{widget_id}/"
    assert paths["/api/v1/old-widgets/"]["get"]["deprecated"] is True
    assert "deprecated" not in paths["/api/v1/widgets/"]["get"]
    nested = paths["/api/v1/makers/{maker_id}/widgets/"]["get"]
    assert {"name": "maker_id", "in": "path"}.items() <= nested["parameters"][0].items()
    create = paths["/api/v1/shop/widgets/"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["name"]
    assert schema["properties"]["size"]["maximum"] == 1000
    patch_ref = paths["/api/v1/shop/widgets/{widget_id}/"]["patch"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    assert "required" not in document["components"]["schemas"][patch_ref.rsplit("/", 1)[1]]
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_swagger_ui_is_served_from_packaged_assets(api):  # noqa: F811
    page = api.get("/api/v1/docs/")
    assert page.content_type == "text/html"
    assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
    assert assets and all(
        asset.startswith("http://localhost/api/v1/docs/static/") for asset in assets
    )
    for asset in assets:
        assert len(api.get(asset).body) > 1000
    assert "http://localhost/api/v1/openapi.json" in page.text


#: Cases per alias operation (canonical operations get what the caller asks for).
ALIAS_EXAMPLES = 2


def fuzz_operations(
    app,
    examples_per_operation: int,
    headers: dict[str, str] | None = None,
    excluded=(),
    skip=lambda path: False,
) -> list[str]:
    """Fuzz every operation of ``app``'s own document; return the failures found.

    Drives schemathesis without its pytest integration (which lags behind pytest 9):
    hypothesis generates cases per operation, each is called through WSGI and checked
    for server errors, undocumented status codes and responses violating the schema.
    """
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if skip(operation.path):
            continue
        # An alias runs the canonical operation's view: a few cases check that its
        # traversal (filters from the path, 404s) holds; the rest would repeat them.
        is_alias = "x-ansflow-alias-of" in operation.definition.raw
        examples = (
            min(ALIAS_EXAMPLES, examples_per_operation) if is_alias else examples_per_operation
        )

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def call(case):
            case.call_and_validate(headers=headers, excluded_checks=list(excluded))

        try:
            call()
        except Exception as error:  # collect every operation's failure, then report
            failures.append(f"{operation.label}: {str(error)[:600]}")
    return failures


def test_fuzzing_the_document_finds_no_server_error_or_contract_violation(widgets_app):  # noqa: F811
    from schemathesis.checks import ignored_auth

    # The test plugin grants everything to Everyone, which the document cannot know.
    failures = fuzz_operations(widgets_app, examples_per_operation=10, excluded=[ignored_auth])
    assert not failures, "\n\n".join(failures)


def test_every_string_input_is_documented_without_nul(api):  # noqa: F811
    """The API rejects NUL in every string it reads; the document must say so."""
    document = api.get("/api/v1/openapi.json").json
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if schema.get("type") == "string":
                    assert {"pattern", "enum", "format"} & set(schema), (path, method, parameter)


def test_the_api_document_is_valid_openapi_and_enumerates_step_types(testapp):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    document = testapp.get("/api/v1/openapi.json").json
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in OpenAPIV31SpecValidator(document).iter_errors()
    ]
    assert errors == []
    # Limits are standard keywords tools understand, never pydantic's names.
    text = json.dumps(document)
    assert '"ge":' not in text and '"le":' not in text
    step_in = document["components"]["schemas"]["StepIn"]["properties"]["step_type"]
    assert {"shell_script", "build", "custom"} <= set(step_in["enum"])
