"""Pipelines run on (a fake) Jenkins end to end through the API."""

from __future__ import annotations

import time

from tests.engine.live import step
from tests.integrations.conftest import remote_pipeline

STEPS = [
    step("build", "echo building; sleep 0.2; echo built $branch"),
    step("test", "echo testing; sleep 0.2; echo tested", environment_vars={"LEVEL": "full"}),
]


def jenkins_pipeline(api, jenkins, steps=STEPS, name="pipe"):
    return remote_pipeline(
        api, "jenkins", jenkins.url, steps, name=name, username="admin", token="api-token"
    )


def stdout(api, execution_id):
    page = api.get(f"/api/v1/cicd/executions/{execution_id}/logs/", offset=0, limit=5000)
    return page["lines"]


def test_a_pipeline_runs_on_jenkins_to_success(alice, jenkins):
    pipeline, _tool = jenkins_pipeline(alice, jenkins)
    created = alice.run(pipeline["id"], {"branch": "main"})
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "success", execution
    steps = {s["step_name"]: s for s in execution["step_executions"]}
    assert steps["build"]["status"] == "success"
    assert steps["test"]["status"] == "success"
    lines = stdout(alice, created["id"])
    texts = [line["text"] for line in lines]
    assert "built main" in texts
    assert [line["number"] for line in lines] == list(range(1, len(lines) + 1))
    by_step = {line["text"]: line["step_id"] for line in lines}
    assert by_step["built main"] == steps["build"]["id"]
    assert by_step["tested"] == steps["test"]["id"]
    # The job was created from the steps, with the token and parameters.
    job = jenkins.jobs[f"ansflow-pipeline-{pipeline['id']}"]
    assert "stage(&#x27;build&#x27;)" in job.config_xml or "stage('build')" in job.config_xml
    assert jenkins.build(job.name, 1).params["branch"] == "main"


def test_a_failing_stage_fails_its_step_and_skips_the_rest(alice, jenkins):
    steps = [step("build", "echo ok"), step("test", "echo bad; exit 2"), step("deploy", "echo no")]
    pipeline, _tool = jenkins_pipeline(alice, jenkins, steps)
    created = alice.run(pipeline["id"])
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "failed"
    assert "FAILURE" in execution["error_message"]
    steps = {s["step_name"]: s for s in execution["step_executions"]}
    assert [steps[n]["status"] for n in ("build", "test", "deploy")] == [
        "success",
        "failed",
        "skipped",
    ]
    assert "exit code 2" in steps["test"]["error_message"]


def test_cancel_mid_run_stops_the_jenkins_build(alice, jenkins):
    steps = [step("slow", "echo started; sleep 20; echo never"), step("after", "echo no")]
    pipeline, _tool = jenkins_pipeline(alice, jenkins, steps)
    created = alice.run(pipeline["id"])
    assert alice.wait_for_line(created["id"], "started")
    alice.post(f"/api/v1/cicd/executions/{created['id']}/cancel/", status=200)
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "cancelled"
    job = f"ansflow-pipeline-{pipeline['id']}"
    assert jenkins.stops == [(job, 1)]
    assert jenkins.build(job, 1).result == "ABORTED"
    steps = {s["step_name"]: s for s in execution["step_executions"]}
    assert steps["slow"]["status"] == "cancelled"
    assert steps["after"]["status"] == "skipped"
    texts = [line["text"] for line in stdout(alice, created["id"])]
    assert "never" not in texts


def test_a_cancelled_queue_item_cancels_the_execution(alice, jenkins):
    jenkins.queue_delay = 30
    pipeline, _tool = jenkins_pipeline(alice, jenkins, [step("s", "echo hi")])
    created = alice.run(pipeline["id"])
    deadline = time.monotonic() + 10
    while not jenkins.queue and time.monotonic() < deadline:
        time.sleep(0.02)
    alice.post(f"/api/v1/cicd/executions/{created['id']}/cancel/", status=200)
    execution = alice.wait_final(created["id"], timeout=10)
    assert execution["status"] == "cancelled"
    assert all(item.cancelled for item in jenkins.queue.values())
    assert not jenkins.jobs[f"ansflow-pipeline-{pipeline['id']}"].builds


def test_jenkins_down_mid_run_fails_the_execution_with_the_reason(alice, jenkins):
    pipeline, _tool = jenkins_pipeline(alice, jenkins, [step("s", "echo up; sleep 30")])
    created = alice.run(pipeline["id"])
    assert alice.wait_for_line(created["id"], "up")
    jenkins.stop()
    started = time.monotonic()
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "failed"
    assert "unavailable for" in execution["error_message"]
    assert "cannot be reached" in execution["error_message"]
    # remote_failure_timeout is 2 s in these tests: bounded, not forever.
    assert time.monotonic() - started < 10
    assert execution["step_executions"][0]["status"] == "failed"


def test_transient_errors_and_dropped_connections_are_survived(alice, jenkins):
    pipeline, _tool = jenkins_pipeline(
        alice, jenkins, [step("s", "echo one; sleep 0.5; echo two; sleep 0.5; echo three")]
    )
    created = alice.run(pipeline["id"])
    assert alice.wait_for_line(created["id"], "one")
    jenkins.fail_next(3, 503)
    jenkins.drop_next(2)
    execution = alice.wait_final(created["id"], timeout=20)
    assert execution["status"] == "success", execution["error_message"]
    texts = [line["text"] for line in stdout(alice, created["id"])]
    assert [t for t in texts if t in ("one", "two", "three")] == ["one", "two", "three"]
    assert any("unavailable, retrying" in t for t in texts)


def test_bad_credentials_fail_the_execution_clearly(alice, jenkins):
    pipeline, _tool = remote_pipeline(
        alice, "jenkins", jenkins.url, [step("s", "echo hi")], username="admin", token="wrong"
    )
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "failed"
    assert "refused the credentials (HTTP 401)" in execution["error_message"]


def test_jenkins_answering_5xx_for_too_long_fails_the_execution(alice, jenkins):
    pipeline, _tool = jenkins_pipeline(alice, jenkins, [step("s", "echo up; sleep 30")])
    created = alice.run(pipeline["id"])
    assert alice.wait_for_line(created["id"], "up")
    jenkins.fail_next(10_000, 502)
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "failed"
    assert "unavailable for" in execution["error_message"]
    assert "HTTP 502" in execution["error_message"]


def test_a_repeated_trigger_finds_the_build_it_started(remote_app, jenkins):
    from ansflow_jenkins.backend import JenkinsBackend

    from ansflow_pyramid.execution.remote import RemoteRunContext, RemoteTarget, RemoteTool
    from ansflow_pyramid.execution.specs import RunSpec, StepSpec

    spec = RunSpec(7, (StepSpec(1, "s", command="echo hi; sleep 1"),), pipeline_name="p")
    context = RemoteRunContext(
        execution_id=7,
        tool=RemoteTool(1, "jenkins", jenkins.url, "admin", "api-token"),
        target=RemoteTarget(1, "jenkins", job_name="again"),
        spec=spec,
        steps=spec.steps,
        dispatch_token="ansflow-7-abc",
        registry=remote_app.registry,
    )
    backend = JenkinsBackend(remote_app.registry)
    backend.prepare(context)
    first = backend.trigger(context)
    # After a restart the same run is found, whether still queued or building.
    assert backend.trigger(context, attempt=2).external_id == first.external_id
    deadline = time.monotonic() + 5
    while not jenkins.jobs["again"].builds and time.monotonic() < deadline:
        backend.observe(context, first)  # the queue item becomes build #1
        time.sleep(0.02)
    again = backend.trigger(context, attempt=2)
    assert again.data["build"] == 1
    assert len(jenkins.queue) == 1 and list(jenkins.jobs["again"].builds) == [1]
