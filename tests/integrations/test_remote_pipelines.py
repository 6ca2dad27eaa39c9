"""Pipelines on remote tools through the API: sync, preview, mappings, external builds,
tool capabilities and execute_pipeline (against the fake Jenkins)."""

from __future__ import annotations

from tests.engine.live import Api, step
from tests.integrations.conftest import make_tool, remote_pipeline

STEPS = [step("build", "echo build it"), step("ship", "echo ship it")]


def jenkins_setup(api, jenkins, **pipeline_fields):
    return remote_pipeline(api, "jenkins", jenkins.url, STEPS, username="admin", token="api-token")


def test_sync_to_tool_writes_the_job_and_preview_shows_it_without_writing(alice, jenkins):
    pipeline, tool = jenkins_setup(alice, jenkins)
    preview = alice.post(
        "/api/v1/cicd/pipelines/preview/",
        {"pipeline_id": pipeline["id"], "tool_id": tool["id"], "job_name": "shop"},
        status=200,
    )
    assert preview["kind"] == "jenkins_config_xml" and preview["name"] == "shop"
    assert (
        "stage(&#x27;build&#x27;)" in preview["content"] or "stage('build')" in preview["content"]
    )
    assert preview["steps"] == 2
    assert jenkins.jobs == {}  # nothing written
    synced = alice.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/sync_to_tool/",
        {"job_name": "shop"},
        status=200,
    )
    assert synced["sync_status"] == "success" and synced["name"] == "shop"
    assert jenkins.jobs["shop"].config_xml == preview["content"]
    mappings = alice.get("/api/v1/pipelines/pipeline-mappings/", pipeline=pipeline["id"])
    assert [(m["tool"], m["job_name"], m["sync_status"]) for m in mappings["results"]] == [
        (tool["id"], "shop", "success")
    ]
    # A second sync updates the same job (config.xml), never a second one.
    alice.post(f"/api/v1/pipelines/pipelines/{pipeline['id']}/sync_to_tool/", {}, status=200)
    assert list(jenkins.jobs) == ["shop"]
    assert jenkins.count("POST", "/job/shop/config.xml") == 1


def test_a_mapped_pipeline_runs_as_its_mapped_job(alice, jenkins):
    pipeline, tool = jenkins_setup(alice, jenkins)
    mapping = alice.post(
        "/api/v1/pipelines/pipeline-mappings/",
        {"pipeline": pipeline["id"], "tool": tool["id"], "job_name": "mapped-job"},
    )
    assert mapping["job_name"] == "mapped-job"
    duplicate = alice.post(
        "/api/v1/pipelines/pipeline-mappings/",
        {"pipeline": pipeline["id"], "tool": tool["id"]},
        status=409,
    )
    assert "tool" in duplicate["errors"]
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "success", execution["error_message"]
    assert "mapped-job" in jenkins.jobs
    response = alice.session.patch(
        alice.url(f"/api/v1/pipelines/pipeline-mappings/{mapping['id']}/"), json={"job_name": "x"}
    )
    assert response.status_code == 200 and response.json()["job_name"] == "x"
    response = alice.session.delete(
        alice.url(f"/api/v1/pipelines/pipeline-mappings/{mapping['id']}/")
    )
    assert response.status_code == 204


def test_trigger_external_build_runs_an_existing_job_as_it_is(alice, jenkins):
    pipeline, _tool = jenkins_setup(alice, jenkins)
    jenkins.add_job("legacy", [("compile", "echo legacy build $TARGET")])
    before = jenkins.jobs["legacy"].config_xml
    created = alice.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/trigger_external_build/",
        {"job_name": "legacy", "parameters": {"TARGET": "prod"}},
    )
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "success", execution["error_message"]
    assert jenkins.jobs["legacy"].config_xml == before  # not overwritten
    lines = alice.get(f"/api/v1/cicd/executions/{created['id']}/logs/", offset=0, limit=500)
    assert "legacy build prod" in [line["text"] for line in lines["lines"]]
    missing = alice.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/trigger_external_build/",
        {"job_name": "nope"},
    )
    failed = alice.wait_final(missing["id"])
    assert failed["status"] == "failed" and "'nope' does not exist" in failed["error_message"]


def test_capabilities_and_execute_pipeline_on_a_tool(alice, jenkins):
    pipeline, tool = jenkins_setup(alice, jenkins)
    caps = alice.get(f"/api/v1/cicd/tools/{tool['id']}/capabilities/")
    assert caps["remote_execution"] is True and "hybrid" in caps["execution_modes"]
    created = alice.post(
        f"/api/v1/cicd/tools/{tool['id']}/execute_pipeline/",
        {"pipeline_id": pipeline["id"], "parameters": {"a": "1"}},
    )
    assert created["cicd_tool"] == tool["id"]
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "success"
    project = alice.post("/api/v1/projects/projects/", {"name": "other"})
    local = make_tool(alice, project["id"], "local", "")
    caps = alice.get(f"/api/v1/cicd/tools/{local['id']}/capabilities/")
    assert caps["remote_execution"] is False and caps["execution_modes"] == ["local"]
    wrong = alice.post(
        f"/api/v1/cicd/tools/{local['id']}/execute_pipeline/",
        {"pipeline_id": pipeline["id"]},
        status=400,
    )
    assert "pipeline_id" in wrong["errors"]


def test_bad_input_on_remote_pipeline_actions(alice, jenkins, server, remote_app):
    pipeline, tool = jenkins_setup(alice, jenkins)
    local_pipeline = alice.post(
        "/api/v1/pipelines/pipelines/",
        {"name": "plain", "project": pipeline["project"], "steps": STEPS},
    )
    errors = alice.post(
        f"/api/v1/pipelines/pipelines/{local_pipeline['id']}/sync_to_tool/", {}, status=400
    )["errors"]
    assert "tool_id" in errors
    errors = alice.post("/api/v1/cicd/pipelines/preview/", {"pipeline_id": 999999}, status=400)[
        "errors"
    ]
    assert "pipeline_id" in errors
    jenkins.stop()
    down = alice.post(f"/api/v1/pipelines/pipelines/{pipeline['id']}/sync_to_tool/", {}, status=424)
    assert down["code"] == "tool_unavailable"
    assert alice.get("/api/v1/pipelines/pipeline-mappings/")["count"] == 0
    mallory = Api(server, remote_app, "mallory")
    response = mallory.session.post(
        mallory.url("/api/v1/cicd/pipelines/preview/"),
        json={"pipeline_id": pipeline["id"], "tool_id": tool["id"]},
    )
    assert response.status_code == 400 and "pipeline_id" in response.json()["errors"]
    response = mallory.session.post(
        mallory.url(f"/api/v1/pipelines/pipelines/{pipeline['id']}/sync_to_tool/"), json={}
    )
    assert response.status_code == 404


def test_hybrid_mode(alice, jenkins):
    project = alice.post("/api/v1/projects/projects/", {"name": "hybrid"})
    tool = make_tool(
        alice, project["id"], "jenkins", jenkins.url, username="admin", token="api-token"
    )

    def hybrid(steps, name):
        body = {
            "name": name,
            "project": project["id"],
            "steps": steps,
            "execution_mode": "hybrid",
            "execution_tool": tool["id"],
        }
        pipeline = alice.post("/api/v1/pipelines/pipelines/", body)
        return alice.wait_final(alice.run(pipeline["id"])["id"])

    marked = {"conditions": {"run_on": "remote"}}
    remote = hybrid([step("a", "echo on jenkins", **marked)], "all-remote")
    assert remote["status"] == "success"
    assert f"ansflow-pipeline-{remote['pipeline']}" in jenkins.jobs
    local = hybrid([step("a", "echo here")], "all-local")
    assert local["status"] == "success"
    assert f"ansflow-pipeline-{local['pipeline']}" not in jenkins.jobs
    mixed = hybrid([step("a", "echo here"), step("b", "echo there", **marked)], "mixed")
    assert mixed["status"] == "failed" and "not supported yet" in mixed["error_message"]
