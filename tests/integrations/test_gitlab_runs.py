"""Pipelines run on (a fake) GitLab CI end to end through the API."""

from __future__ import annotations

from tests.engine.live import step
from tests.integrations.conftest import remote_pipeline

CONFIG = {"project_id": "group/app", "ref": "main"}


def gitlab_pipeline(api, gitlab, steps, token="glpat-token"):
    return remote_pipeline(api, "gitlab_ci", gitlab.url, steps, token=token, config=CONFIG)


def texts(api, execution_id):
    page = api.get(f"/api/v1/cicd/executions/{execution_id}/logs/", offset=0, limit=5000)
    return page["lines"]


def test_a_pipeline_runs_on_gitlab_with_paginated_jobs_and_traces(alice, gitlab):
    gitlab.per_page_cap = 1  # every job on its own page: X-Next-Page is followed
    steps = [
        step("build", "echo building $branch; sleep 0.2; echo built"),
        step("test", "echo testing; sleep 0.2; echo tested"),
        step("deploy", "echo deployed"),
    ]
    pipeline, _tool = gitlab_pipeline(alice, gitlab, steps)
    created = alice.run(pipeline["id"], {"branch": "main"})
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "success", execution["error_message"]
    by_name = {s["step_name"]: s for s in execution["step_executions"]}
    assert {s["status"] for s in by_name.values()} == {"success"}
    lines = texts(alice, created["id"])
    stdout = [(line["step_id"], line["text"]) for line in lines if line["stream"] == "stdout"]
    expected = ["building main", "built", "testing", "tested", "deployed"]
    assert [t for _, t in stdout if t in expected] == expected
    assert dict((t, s) for s, t in stdout)["tested"] == by_name["test"]["id"]
    # The definition was committed and the pipeline carried the token and parameters.
    assert "stages:" in gitlab.files[("main", ".gitlab-ci.yml")]
    (remote,) = gitlab.pipelines.values()
    assert remote.variables["branch"] == "main" and remote.variables["ANSFLOW_RUN_TOKEN"]
    assert gitlab.count("GET", "/jobs") > 0
    assert any(r.header("Range") for r in gitlab.requests if r.path.endswith("/trace"))


def test_a_failing_job_fails_the_run_and_skips_the_rest(alice, gitlab):
    steps = [step("build", "echo ok"), step("test", "echo boom; exit 3"), step("deploy", "echo no")]
    pipeline, _tool = gitlab_pipeline(alice, gitlab, steps)
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "failed"
    assert "GitLab pipeline failed" in execution["error_message"]
    by_name = {s["step_name"]: s["status"] for s in execution["step_executions"]}
    assert by_name == {"build": "success", "test": "failed", "deploy": "skipped"}
    assert "ERROR: Job failed: exit code 3" in [
        line["text"] for line in texts(alice, execution["id"])
    ]


def test_cancel_mid_run_cancels_the_gitlab_pipeline(alice, gitlab):
    steps = [step("slow", "echo started; sleep 20"), step("after", "echo no")]
    pipeline, _tool = gitlab_pipeline(alice, gitlab, steps)
    created = alice.run(pipeline["id"])
    assert alice.wait_for_line(created["id"], "started")
    alice.post(f"/api/v1/cicd/executions/{created['id']}/cancel/", status=200)
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "cancelled"
    (remote,) = gitlab.pipelines.values()
    assert gitlab.cancels == [remote.id] and remote.status == "canceled"
    by_name = {s["step_name"]: s["status"] for s in execution["step_executions"]}
    assert by_name["slow"] == "cancelled" and by_name["after"] in ("cancelled", "skipped")


def test_gitlab_errors_are_clear(alice, gitlab):
    pipeline, _tool = gitlab_pipeline(alice, gitlab, [step("s", "echo hi")], token="wrong")
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "failed"
    assert "GitLab refused the credentials (HTTP 401)" in execution["error_message"]
    project = alice.post("/api/v1/projects/projects/", {"name": "bad"})
    errors = alice.post(
        "/api/v1/cicd/tools/",
        {
            "name": "g",
            "project": project["id"],
            "tool_type": "gitlab_ci",
            "base_url": gitlab.url,
            "config": {"project_id": "", "ref": ""},
        },
        status=400,
    )["errors"]
    assert "config" in errors


def test_gitlab_health_check_and_retry(alice, gitlab, remote_app):
    from ansflow_gitlab_ci.client import GitLabClient

    from ansflow_pyramid.execution.remote import RemoteTool

    pipeline, tool = gitlab_pipeline(alice, gitlab, [step("s", "echo hi; exit 1")])
    check = alice.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", status=200)
    assert check["status"] == "authenticated" and "group/app" in check["message"]
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "failed"
    (remote,) = gitlab.pipelines.values()
    client = GitLabClient(
        remote_app.registry,
        RemoteTool(tool["id"], "gitlab_ci", gitlab.url, token="glpat-token", config=CONFIG),
    )
    client.retry(remote.id)
    assert gitlab.retries == [remote.id]
