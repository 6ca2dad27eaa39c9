"""A status delivery finishes the remote execution it concerns at once, not at the
observer's next poll: a pipeline on (a fake) Jenkins, observed every 60 s, ends within
seconds of the build notifications."""

from __future__ import annotations

import time

import pytest
import requests

from ansflow_pyramid.testing import empty_all_tables
from tests.engine.live import Api, serve, step
from tests.integrations.conftest import FAST_REMOTE, remote_pipeline
from tests.integrations.fake_jenkins import FakeJenkins
from tests.triggers.conftest import SECRET, delivery, observed, wait_until

#: The observer polls a running run once a minute: only a nudge can end it sooner.
SLOW_POLLS = {**FAST_REMOTE, "ansflow__remote_poll_interval": "60"}


@pytest.fixture
def remote_app(make_app, tmp_path):
    app = make_app(ansflow__workspace_root=str(tmp_path / "ws"), **SLOW_POLLS)
    yield app
    app.registry["ansflow.execution"].close()
    empty_all_tables(app)


@pytest.fixture
def server(remote_app):
    with serve(remote_app) as base:
        yield base


@pytest.fixture
def alice(server, remote_app):
    return Api(server, remote_app, "alice")


@pytest.fixture
def jenkins():
    fake = FakeJenkins(queue_delay=0.05).start()
    yield fake
    fake.close()


def notify(server: str, job: str, number: int, phase: str, status: str = "") -> dict:
    payload = {
        "name": job,
        "build": {"number": number, "phase": phase, "status": status, "full_url": ""},
    }
    sent = delivery("jenkins", payload)
    response = requests.post(
        f"{server}/api/v1/webhooks/jenkins/", data=sent.body, headers=sent.headers, timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_build_notifications_finish_the_execution_without_waiting_for_a_poll(
    alice, server, jenkins, remote_app
):
    pipeline, tool = remote_pipeline(
        alice,
        "jenkins",
        jenkins.url,
        [step("build", "echo building; sleep 2; echo built")],
        username="admin",
        token="api-token",
    )
    job = f"ansflow-pipeline-{pipeline['id']}"
    alice.post(
        "/api/v1/triggers/webhooks/",
        {"source": "jenkins", "tool": tool["id"], "repository": job, "secret": SECRET},
    )
    created = alice.run(pipeline["id"])
    # The observer has triggered the build and will look at it again in a minute ...
    wait_until(
        lambda: (observed(remote_app, created["id"]) or ("",))[0] == "observe",
        20,
        "the observer to see the build",
    )

    def build_over() -> bool:
        jenkins.tick()  # a real Jenkins starts queued builds on its own
        job_builds = jenkins.jobs[job].builds if job in jenkins.jobs else {}
        return bool(job_builds) and not job_builds[1].building

    wait_until(build_over, 20, "the fake Jenkins to finish the build")
    # ... and the build is over, but the observer would only look again in a minute.
    time.sleep(0.1)
    # (An early poll may have seen it running, never finished.)
    assert observed(remote_app, created["id"]) in [
        ("observe", state) for state in ("", "queued", "building")
    ]
    assert alice.get(f"/api/v1/cicd/executions/{created['id']}/")["status"] == "running"

    started = time.monotonic()
    nudged = []
    for phase, status in (("STARTED", ""), ("COMPLETED", "SUCCESS"), ("FINALIZED", "SUCCESS")):
        nudged += notify(server, job, 1, phase, status)["nudged"]
        time.sleep(0.1)
    assert nudged and set(nudged) == {created["id"]}
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "success", execution
    assert time.monotonic() - started < 15
    texts = [
        line["text"]
        for line in alice.get(f"/api/v1/cicd/executions/{created['id']}/logs/", limit=5000)["lines"]
    ]
    assert "built" in texts
