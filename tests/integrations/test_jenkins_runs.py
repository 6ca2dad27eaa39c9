"""Pipelines run on (a fake) Jenkins end to end through the API."""

from __future__ import annotations

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
