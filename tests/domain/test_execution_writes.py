"""``PUT``/``PATCH`` on an execution: parameters while pending, nothing else; state
changes only through ``cancel/`` and ``retry/``."""

from __future__ import annotations

from ansflow_cicd.models import Execution
from sqlalchemy import select

from tests.domain.conftest import add_member, make_execution, make_pipeline, make_project


def setup_execution(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"])
    execution = make_execution(alice, pipeline["id"], parameters={"BRANCH": "main"})
    return alice, project, execution, f"/api/v1/cicd/executions/{execution['id']}/"


def stored_parameters(api, execution_id):
    with api.dbsession() as session:
        return session.scalar(select(Execution.parameters).where(Execution.id == execution_id))


def test_parameters_of_a_pending_execution_change_with_put_and_patch(api):
    alice, _, execution, url = setup_execution(api)
    patched = alice.patch(url, {"parameters": {"BRANCH": "dev"}}).json
    assert patched["parameters"] == {"BRANCH": "dev"}
    # PUT with the whole document read back, parameters changed: accepted.
    document = alice.get(url).json
    put = alice.put(url, {**document, "parameters": {"BRANCH": "release"}}).json
    assert put["parameters"] == {"BRANCH": "release"}
    assert put["status"] == "pending"
    assert stored_parameters(api, execution["id"]) == {"BRANCH": "release"}
    # Writing back the document unchanged is a no-op, not an error.
    assert alice.put(url, alice.get(url).json).json["parameters"] == {"BRANCH": "release"}


def test_status_and_read_only_fields_are_refused_with_field_errors(api):
    alice, _, execution, url = setup_execution(api)
    response = alice.patch(url, {"status": "success"}, status=400)
    assert response.content_type == "application/json"
    assert "cancel/" in response.json["errors"]["status"][0]
    response = alice.put(
        url,
        {"pipeline": 999, "external_url": "http://x/", "nonsense": 1, "parameters": {"A": "1"}},
        status=400,
    )
    assert set(response.json["errors"]) == {"pipeline", "external_url", "nonsense"}
    # Nothing was stored, not even the valid part of the refused body.
    assert stored_parameters(api, execution["id"]) == {"BRANCH": "main"}
    assert alice.get(url).json["status"] == "pending"


def test_bad_bodies_are_json_400s(api):
    alice, _, _, url = setup_execution(api)
    assert "parameters" in alice.patch(url, {"parameters": "x"}, status=400).json["errors"]
    assert "parameters" in alice.patch(url, {"parameters": None}, status=400).json["errors"]
    response = alice.patch(
        url, None, status=400, params=b"{not json", content_type="application/json"
    )
    assert response.json["code"] == "malformed_json"
    assert alice._call("put", url, [1, 2], 400).json["code"] == "malformed_json"


def test_parameters_of_a_started_execution_are_refused(api):
    alice, _, execution, url = setup_execution(api)
    for status in ("running", "success", "cancelled"):
        with api.dbsession() as session:
            session.get(Execution, execution["id"]).status = status
        response = alice.patch(url, {"parameters": {"BRANCH": "x"}}, status=400)
        assert status in response.json["errors"]["parameters"][0]
    assert stored_parameters(api, execution["id"]) == {"BRANCH": "main"}


def test_cancel_is_the_way_to_change_the_state(api):
    alice, _, _, url = setup_execution(api)
    alice.patch(url, {"status": "cancelled"}, status=400)
    assert alice.post(f"{url}cancel/", status=200).json["status"] == "cancelled"
    # The document read after the cancel can be written back as it is.
    alice.put(url, alice.get(url).json)


def test_writing_needs_the_run_permission(api):
    alice, project, _, url = setup_execution(api)
    reporter = api.as_user("rita")
    add_member(alice, project["id"], reporter.user_id, "reporter")
    reporter.patch(url, {"parameters": {"A": "1"}}, status=403)
    stranger = api.as_user("sam")
    stranger.patch(url, {"parameters": {"A": "1"}}, status=404)
    api.anonymous.patch(url, {"parameters": {"A": "1"}}, status=401)
    assert "A" not in stored_parameters(api, int(url.rstrip("/").rsplit("/", 1)[1]))
