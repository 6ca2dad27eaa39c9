"""Every document served for an execution conforms to the OpenAPI schema of its
operation (schemathesis' response checks), on the canonical path and both aliases."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from ansflow_cicd.engine_store import SqlExecutionStore
from schemathesis.core.failures import FailureGroup

from ansflow_pyramid.execution import LogLine
from tests.domain.conftest import make_pipeline, make_project

PREFIXES = (
    "/api/v1/cicd/executions",
    "/api/v1/executions",
    "/api/v1/pipelines/{pipeline_id}/executions",
)


def test_execution_documents_conform_to_their_operations(api, ansflow_app):
    alice = api.as_user("alice")
    project = make_project(alice, "Docs")
    pipeline = make_pipeline(alice, project["id"], steps=2)
    pid = pipeline["id"]
    execution = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pid}).json
    eid = execution["id"]
    steps = [step["id"] for step in execution["step_executions"]]
    store = SqlExecutionStore(ansflow_app.registry)
    now = dt.datetime.now(dt.UTC)
    assert store.mark_running(eid, "worker")
    store.step_started(eid, steps[0])
    store.append_log_lines(eid, [LogLine(1, steps[0], "hello", now), LogLine(2, None, "sys", now)])
    store.step_finished(eid, steps[0], "failed", 1, "exit 1")
    store.mark_finished(eid, "failed", "step failed")

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", ansflow_app)
    headers = alice.headers
    checked = []

    def check(path: str, method: str = "GET", query: dict | None = None, **params) -> None:
        operation = schema[path][method]
        case = operation.Case(
            path_parameters={k: v for k, v in params.items()}, query=query, headers=headers
        )
        response = case.call()
        assert response.status_code < 300, (path, response.status_code, response.text)
        case.validate_response(response)
        checked.append((method, path))

    for prefix in PREFIXES:
        ids = {"execution_id": eid}
        if "{pipeline_id}" in prefix:
            ids["pipeline_id"] = pid
        check(prefix + "/", **({"pipeline_id": pid} if "{pipeline_id}" in prefix else {}))
        check(prefix + "/{execution_id}/", **ids)
        check(prefix + "/{execution_id}/timeline/", **ids)
        check(prefix + "/{execution_id}/logs/", **ids)
        check(prefix + "/{execution_id}/logs/", query={"offset": 0, "limit": 1}, **ids)
        check(
            prefix + "/statistics/", **({"pipeline_id": pid} if "{pipeline_id}" in prefix else {})
        )
    check("/api/v1/cicd/executions/{execution_id}/steps/", execution_id=eid)
    check("/api/v1/cicd/executions/{execution_id}/retry/", "POST", execution_id=eid)
    pending = alice.post(f"/api/v1/pipelines/pipelines/{pid}/run/", {}).json
    check("/api/v1/cicd/executions/{execution_id}/cancel/", "POST", execution_id=pending["id"])
    assert len(checked) == 3 * 6 + 3
    # The check can fail: a timeline is not what the detail operation documents.
    timeline = schema["/api/v1/cicd/executions/{execution_id}/timeline/"]["GET"].Case(
        path_parameters={"execution_id": eid}, headers=headers
    )
    detail = schema["/api/v1/cicd/executions/{execution_id}/"]["GET"].Case(
        path_parameters={"execution_id": eid}, headers=headers
    )
    with pytest.raises(FailureGroup) as failed:
        detail.validate_response(timeline.call())
    failures = failed.value.exceptions
    assert any("violates schema" in str(failure) for failure in failures)
