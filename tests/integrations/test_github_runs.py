"""Pipelines run on (a fake) GitHub Actions end to end through the API."""

from __future__ import annotations

import httpx

from tests.engine.live import step
from tests.integrations.conftest import remote_pipeline

CONFIG = {"repository": "octo/app", "ref": "main"}


def github_pipeline(api, github, steps, token="ghp-token"):
    return remote_pipeline(api, "github_actions", github.url, steps, token=token, config=CONFIG)


def log_texts(api, execution_id):
    page = api.get(f"/api/v1/cicd/executions/{execution_id}/logs/", offset=0, limit=5000)
    return page["lines"]


def dispatch_decoy(github, workflow):
    """Someone else dispatches the same workflow at the same moment."""
    response = httpx.post(
        f"{github.url}/repos/octo/app/actions/workflows/{workflow}/dispatches",
        headers={"Authorization": "Bearer ghp-token"},
        json={"ref": "main", "inputs": {"ansflow_run_token": "someone-else"}},
    )
    assert response.status_code == 204


def test_a_pipeline_runs_on_github_actions_and_finds_its_own_run(alice, github):
    steps = [step("build", "echo building; sleep 0.2; echo built"), step("test", "echo tested")]
    pipeline, _tool = github_pipeline(alice, github, steps)
    # The workflow exists once synced; a decoy run is dispatched right after ours.
    synced = alice.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/sync_to_tool/", {}, status=200
    )
    workflow = synced["name"].rsplit("/", 1)[-1]
    created = alice.run(pipeline["id"], {"env": "prod"})
    dispatch_decoy(github, workflow)
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "success", execution["error_message"]
    ours = [
        r
        for r in github.runs.values()
        if r.inputs.get("ansflow_run_token", "").startswith("ansflow-")
    ]
    assert len(ours) == 1 and '"env": "prod"' in ours[0].inputs["ansflow_parameters"]
    by_name = {s["step_name"]: s for s in execution["step_executions"]}
    assert by_name["build"]["status"] == "success" and by_name["test"]["status"] == "success"
    lines = [(line["step_id"], line["text"]) for line in log_texts(alice, created["id"])]
    texts = [t for _, t in lines]
    assert [t for t in texts if t in ("building", "built", "tested")] == [
        "building",
        "built",
        "tested",
    ]
    assert dict((t, s) for s, t in lines)["built"] == by_name["build"]["id"]
    # Logs came through the redirect; the token never reached the download host.
    assert github.blob.refused_with_token == 0
    assert len(github.blob.requests) >= 2
    assert not any(r.header("Authorization") for r in github.blob.requests)
    assert github.files[("main", synced["name"])].startswith("# Managed by AnsFlow")


def test_a_failing_job_and_the_run_details_answer(alice, github):
    github.return_run_details = True
    steps = [step("build", "echo ok"), step("test", "echo boom; exit 4"), step("deploy", "echo no")]
    pipeline, _tool = github_pipeline(alice, github, steps)
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "failed"
    assert "GitHub run failure" in execution["error_message"]
    by_name = {s["step_name"]: s["status"] for s in execution["step_executions"]}
    assert by_name == {"build": "success", "test": "failed", "deploy": "skipped"}
    texts = [line["text"] for line in log_texts(alice, execution["id"])]
    assert "##[error]Process completed with exit code 4." in texts


def test_cancel_mid_run_cancels_the_workflow_run(alice, github):
    steps = [step("first", "echo quick"), step("slow", "sleep 20"), step("after", "echo no")]
    pipeline, _tool = github_pipeline(alice, github, steps)
    created = alice.run(pipeline["id"])
    assert alice.wait_for_line(created["id"], "quick")
    alice.post(f"/api/v1/cicd/executions/{created['id']}/cancel/", status=200)
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "cancelled"
    (run,) = github.runs.values()
    assert github.cancels == [run.id] and run.conclusion == "cancelled"
    by_name = {s["step_name"]: s["status"] for s in execution["step_executions"]}
    assert by_name["first"] == "success" and by_name["slow"] == "cancelled"


def test_rate_limits_are_honoured_and_bad_tokens_reported(alice, github):
    steps = [step("build", "echo a; sleep 0.5; echo b")]
    pipeline, _tool = github_pipeline(alice, github, steps)
    created = alice.run(pipeline["id"])
    github.rate_limit_next(1, "403")
    github.rate_limit_next(1, "429")
    execution = alice.wait_final(created["id"], timeout=20)
    assert execution["status"] == "success", execution["error_message"]
    texts = [line["text"] for line in log_texts(alice, created["id"])]
    assert any("rate limit" in t for t in texts)
    bad, _tool = remote_pipeline(
        alice, "github_actions", github.url, steps, name="bad", token="nope", config=CONFIG
    )
    failed = alice.wait_final(alice.run(bad["id"])["id"])
    assert failed["status"] == "failed" and "refused the credentials" in failed["error_message"]


def test_github_tool_config_and_health_check(alice, github):
    project = alice.post("/api/v1/projects/projects/", {"name": "gh"})
    body = {"name": "gh", "project": project["id"], "tool_type": "github_actions"}
    errors = alice.post(
        "/api/v1/cicd/tools/", {**body, "config": {"repository": "no-slash"}}, status=400
    )["errors"]
    assert "config" in errors
    default = alice.post("/api/v1/cicd/tools/", {**body, "name": "d", "config": CONFIG})
    assert default["base_url"] == "https://api.github.com"
    tool = alice.post(
        "/api/v1/cicd/tools/",
        {**body, "base_url": github.url, "token": "ghp-token", "config": CONFIG},
    )
    check = alice.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", status=200)
    assert check["status"] == "authenticated" and "octo/app" in check["message"]
