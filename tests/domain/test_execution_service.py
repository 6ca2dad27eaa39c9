"""The execution service on its own (a session and an actor, no request), and the one
load path every URL of an execution goes through."""

from __future__ import annotations

import datetime as dt

import pytest
from ansflow_cicd.engine_store import SqlExecutionStore
from ansflow_cicd.interfaces import (
    IExecutionService,
    InvalidReference,
    InvalidTransition,
    PipelineInactive,
)
from ansflow_cicd.models import Execution
from ansflow_cicd.resources import ExecutionCollection, ExecutionItem
from ansflow_cicd.services import ExecutionService
from ansflow_pipelines.models import Pipeline
from ansflow_projects.interfaces import Actor

from ansflow_pyramid.execution import LogLine
from tests.domain.conftest import make_pipeline, make_project, make_tool


class RecordingEffects:
    def __init__(self) -> None:
        self.submitted: list[int] = []
        self.cancelled: list[tuple[int, str]] = []
        self.published: list[object] = []

    def submit(self, execution_id: int) -> None:
        self.submitted.append(execution_id)

    def cancel(self, execution_id: int, by: str) -> None:
        self.cancelled.append((execution_id, by))

    def publish(self, event: object) -> None:
        self.published.append(event)


@pytest.fixture
def seeded(api):
    alice = api.as_user("alice")
    project = make_project(alice, "Demo", visibility="private")
    pipeline = make_pipeline(alice, project["id"], steps=2)
    return alice, project, pipeline


def test_service_runs_the_life_of_an_execution_without_a_request(seeded, dbsession, ansflow_app):
    alice, _project, pipeline = seeded
    actor = Actor(user_id=alice.user_id, username="alice")
    effects = RecordingEffects()
    with dbsession() as session:
        service = ExecutionService(session, actor, effects)
        assert IExecutionService.providedBy(service)
        execution = service.create(
            session.get(Pipeline, pipeline["id"]),
            tool_id=None,
            trigger_type="api",
            parameters={"x": 1},
        )
        first = execution.id
        assert execution.status == "pending"
        assert execution.triggered_by_id == alice.user_id
        assert effects.submitted == [first]
    with dbsession() as session:
        service = ExecutionService(session, actor, effects)
        cancelled = service.cancel(session.get(Execution, first))
        assert cancelled.status == "cancelled"
        assert effects.published and not effects.cancelled
        assert session.get(Pipeline, pipeline["id"]).status == "cancelled"
        with pytest.raises(InvalidTransition) as refused:
            service.cancel(session.get(Execution, first))
        assert refused.value.code == "invalid_state"
        retried = service.retry(session.get(Execution, first))
        assert retried.retry_of_id == first
        assert retried.trigger_data == {"retry_of": first}
        assert session.get(Pipeline, pipeline["id"]).status == "pending"
        with pytest.raises(InvalidTransition):
            service.retry(retried)
        second = retried.id
    # The engine's store runs the same transitions: it cannot start a cancelled run,
    # and a running run's cancel is left to the engine.
    store = SqlExecutionStore(ansflow_app.registry)
    assert not store.mark_running(first, "w")
    assert store.mark_running(second, "w")
    with dbsession() as session:
        service = ExecutionService(session, actor, effects)
        flagged = service.cancel(session.get(Execution, second))
        assert flagged.status == "running" and flagged.cancel_requested
        assert effects.cancelled == [(second, "alice")]
    store.mark_finished(second, "timeout", "too slow")
    with dbsession() as session:
        # Pipelines know no timeout.
        assert session.get(Pipeline, pipeline["id"]).status == "failed"
        stats = ExecutionService(session, actor).statistics(7)
        assert stats["total"] == 2
        assert stats["by_status"]["cancelled"] == 1
        assert stats["by_status"]["timeout"] == 1
        # Another user sees nothing of a private project.
        stranger = Actor(user_id=alice.user_id + 1000, username="mallory")
        assert ExecutionService(session, stranger).statistics(7)["total"] == 0


def test_service_refusals_are_domain_errors_rendered_as_json(seeded, api, dbsession):
    alice, _project, pipeline = seeded
    actor = Actor(user_id=alice.user_id, username="alice")
    other = make_project(alice, "Other")
    tool = make_tool(alice, other["id"])
    with dbsession() as session:
        service = ExecutionService(session, actor)
        row = session.get(Pipeline, pipeline["id"])
        with pytest.raises(InvalidReference) as wrong_tool:
            service.create(row, tool_id=tool["id"], trigger_type="manual", parameters={})
        assert list(wrong_tool.value.errors) == ["cicd_tool_id"]
        row.is_active = False
        session.flush()
        with pytest.raises(PipelineInactive):
            service.create(row, tool_id=None, trigger_type="manual", parameters={})
    body = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}, status=409).json
    assert body == {
        "detail": "The pipeline is inactive and cannot run.",
        "code": "pipeline_inactive",
    }
    body = alice.post("/api/v1/cicd/executions/", {"pipeline_id": 99999}, status=400).json
    assert body["code"] == "invalid" and list(body["errors"]) == ["pipeline_id"]


def test_canonical_and_alias_reads_share_one_load_path(seeded, monkeypatch):
    alice, _project, pipeline = seeded
    execution = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    calls: list[dict] = []
    original = ExecutionCollection.load_record

    def spy(self, key):
        calls.append(dict(self.fixed_filters))
        return original(self, key)

    monkeypatch.setattr(ExecutionCollection, "load_record", spy)
    eid, pid = execution["id"], pipeline["id"]
    canonical = alice.get(f"/api/v1/cicd/executions/{eid}/")
    short = alice.get(f"/api/v1/executions/{eid}/")
    nested = alice.get(f"/api/v1/pipelines/{pid}/executions/{eid}/")
    assert canonical.body == short.body == nested.body
    assert calls == [{}, {}, {"pipeline_id": pid}]
    canonical_url = f'<http://localhost/api/v1/cicd/executions/{eid}/>; rel="canonical"'
    assert nested.headers["Link"] == canonical_url
    # The alias's filter is a WHERE clause of the same statement: another pipeline's
    # path does not reach the execution.
    alice.get(f"/api/v1/pipelines/{pid + 1}/executions/{eid}/", status=404)
    assert calls[-1] == {"pipeline_id": pid + 1}
    alice.get(f"/api/v1/pipelines/{2**40}/executions/{eid}/", status=404)
    # Actions load the item the same way.
    alice.get(f"/api/v1/pipelines/{pid}/executions/{eid}/timeline/")
    assert calls[-1] == {"pipeline_id": pid}


def test_conditional_gets_and_writes(seeded, ansflow_app):
    alice, _project, pipeline = seeded
    execution = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    eid, pid = execution["id"], pipeline["id"]
    url = f"/api/v1/cicd/executions/{eid}/"
    first = alice.get(url)
    tag = first.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    # Every path of the execution has the same version.
    assert alice.get(f"/api/v1/pipelines/{pid}/executions/{eid}/").headers["ETag"] == tag
    unchanged = alice.get(url, headers={"If-None-Match": tag}, status=304)
    assert unchanged.body == b"" and unchanged.headers["ETag"] == tag
    # Whatever the document shows changes the tag: the run's state, a step, a log line.
    store = SqlExecutionStore(ansflow_app.registry)
    tags = {tag}
    steps = [step["id"] for step in execution["step_executions"]]
    changes = [
        lambda: store.mark_running(eid, "w"),
        lambda: store.step_started(eid, steps[0]),
        lambda: store.append_log_lines(eid, [LogLine(1, steps[0], "out", dt.datetime.now(dt.UTC))]),
        lambda: store.step_finished(eid, steps[0], "success", 0),
    ]
    for change in changes:
        change()
        response = alice.get(url, headers={"If-None-Match": tag}, status=200)
        tag = response.headers["ETag"]
        assert tag not in tags
        tags.add(tag)
    alice.patch(f"/api/v1/pipelines/pipelines/{pid}/", {"name": "renamed"})
    renamed = alice.get(url, headers={"If-None-Match": tag}, status=200)
    assert renamed.json["pipeline_name"] == "renamed"
    tag = renamed.headers["ETag"]

    # Lists: a page's tag changes with its rows.
    page = alice.get("/api/v1/cicd/executions/")
    list_tag = page.headers["ETag"]
    alice.get("/api/v1/cicd/executions/", headers={"If-None-Match": list_tag}, status=304)
    assert alice.get("/api/v1/cicd/executions/?status=running").headers["ETag"] != list_tag
    store.mark_finished(eid, "success")
    alice.get("/api/v1/cicd/executions/", headers={"If-None-Match": list_tag}, status=200)

    # Writes with a stale If-Match are refused and change nothing.
    stale = alice.post(f"{url}retry/", headers={"If-Match": tag}, status=412).json
    assert stale["code"] == "precondition_failed"
    current = alice.get(url).headers["ETag"]
    alice.post(f"{url}retry/", headers={"If-Match": current}, status=201)


def test_cancelling_a_running_execution_through_the_api_is_stored(seeded, ansflow_app):
    alice, _project, pipeline = seeded
    execution = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    store = SqlExecutionStore(ansflow_app.registry)
    assert store.mark_running(execution["id"], "w")
    body = alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200).json
    assert body["status"] == "running"
    # Committed, not only seen inside the request: the engine reads it from the table.
    assert store.is_cancel_requested(execution["id"])


def test_a_304_is_answered_without_rendering_the_document(seeded, monkeypatch):
    alice, _project, pipeline = seeded
    execution = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    url = f"/api/v1/cicd/executions/{execution['id']}/"
    tag = alice.get(url).headers["ETag"]

    def must_not_render(self):
        raise AssertionError("rendered for a 304")

    monkeypatch.setattr(ExecutionItem, "serialize", must_not_render)
    alice.get(url, headers={"If-None-Match": tag}, status=304)
    alice.get(url, headers={"If-None-Match": f'{tag}, "other"'}, status=304)
