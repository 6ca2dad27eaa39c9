"""Every ``tools/{id}/jenkins/...`` call AnsFlow's client makes, answered from the
fake Jenkins, with the tool's project ACL."""

from __future__ import annotations

import time

import pytest

from tests.engine.live import Api
from tests.integrations.conftest import make_tool


@pytest.fixture
def tool(alice, jenkins):
    project = alice.post("/api/v1/projects/projects/", {"name": "jenkins-project"})
    jenkins.add_job("hello", [("greet", "echo hello $WHO; sleep 0.1; echo bye")])
    return make_tool(
        alice, project["id"], "jenkins", jenkins.url, username="admin", token="api-token"
    )


def test_every_jenkins_call_of_the_client(alice, jenkins, tool):
    base = f"/api/v1/cicd/tools/{tool['id']}/jenkins"
    assert tool["has_token"] is True and "token" not in tool
    jobs = alice.get(f"{base}/jobs/")
    assert [j["name"] for j in jobs["jobs"]] == ["hello"]
    assert alice.get(f"{base}/job-info/", job_name="hello")["name"] == "hello"
    queued = alice.post(f"{base}/build/", {"job_name": "hello", "parameters": {"WHO": "you"}})
    assert queued["queue_url"].startswith(jenkins.url + "/queue/item/")
    # Jenkins turns the queue item into build #1.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        jenkins.tick()
        if jenkins.jobs["hello"].builds:
            break
        time.sleep(0.02)
    while jenkins.build("hello", 1).building and time.monotonic() < deadline:
        time.sleep(0.02)
    builds = alice.get(f"{base}/builds/", job_name="hello")
    assert [b["number"] for b in builds["builds"]] == [1]
    info = alice.get(f"{base}/build-info/", job_name="hello", build_number=1)
    assert info["result"] == "SUCCESS" and info["building"] is False
    logs = alice.get(f"{base}/build-logs/", job_name="hello", build_number=1)
    assert "hello you" in logs["lines"] and logs["more"] is False
    tail = alice.get(
        f"{base}/build-logs/", job_name="hello", build_number=1, start=logs["next_start"]
    )
    assert tail["lines"] == []
    assert alice.get(f"{base}/queue/")["items"] == []
    assert alice.get(f"{base}/jobs/hello/")["name"] == "hello"
    alice.post(f"{base}/jobs/hello/disable/", status=200)
    assert jenkins.jobs["hello"].disabled
    alice.post(f"{base}/jobs/hello/enable/", status=200)
    assert not jenkins.jobs["hello"].disabled
    alice.post(f"{base}/jobs/hello/builds/1/stop/", status=200)
    assert jenkins.stops == [("hello", 1)]
    xml = "<flow-definition><definition><script>pipeline {}</script></definition></flow-definition>"
    response = alice.session.put(alice.url(f"{base}/jobs/new-job/"), json={"config_xml": xml})
    assert response.status_code == 200 and response.json()["result"] == "created"
    assert jenkins.jobs["new-job"].config_xml == xml
    assert alice.session.delete(alice.url(f"{base}/jobs/new-job/")).status_code == 200
    assert "new-job" not in jenkins.jobs
    response = alice.session.delete(alice.url(f"{base}/delete-job/"), params={"job_name": "hello"})
    assert response.status_code == 200
    assert jenkins.jobs == {}


def test_missing_jobs_builds_and_bad_input_are_clear_json_errors(alice, jenkins, tool):
    base = f"/api/v1/cicd/tools/{tool['id']}/jenkins"
    missing = alice.get(f"{base}/job-info/", status=404, job_name="nope")
    assert missing["code"] == "remote_not_found" and "'nope' does not exist" in missing["detail"]
    build = alice.get(f"{base}/build-info/", status=404, job_name="hello", build_number=9)
    assert "#9 does not exist" in build["detail"]
    bad = alice.get(f"{base}/build-info/", status=400, job_name="hello", build_number="x")
    assert "build_number" in bad["errors"]
    assert "job_name" in alice.get(f"{base}/builds/", status=400)["errors"]
    assert alice.post(f"{base}/build/", {"parameters": {}}, status=400)["errors"]
    alice.get(f"{base}/jobs/nope/", status=404)
    alice.post(f"{base}/jobs/nope/builds/3/stop/", status=404)


def test_wrong_credentials_and_an_unreachable_jenkins(alice, jenkins, tool):
    base = f"/api/v1/cicd/tools/{tool['id']}/jenkins"
    alice.session.patch(alice.url(f"/api/v1/cicd/tools/{tool['id']}/"), json={"token": "bad"})
    refused = alice.get(f"{base}/jobs/", status=400)
    assert refused["code"] == "tool_credentials_refused"
    check = alice.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", status=200)
    assert check["status"] == "needs_auth"
    jenkins.stop()
    down = alice.get(f"{base}/jobs/", status=424)
    assert down["code"] == "tool_unavailable" and "cannot be reached" in down["detail"]
    check = alice.post(f"/api/v1/cicd/tools/{tool['id']}/test_connection/", status=200)
    assert check["status"] == "offline"


def test_health_check_passes_with_good_credentials(alice, tool):
    check = alice.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", status=200)
    assert check["status"] == "authenticated", check
    assert "Jenkins 2.440.1" in check["message"]


def test_non_members_get_404_on_another_projects_jenkins_resources(alice, tool, server, remote_app):
    mallory = Api(server, remote_app, "mallory")
    base = f"/api/v1/cicd/tools/{tool['id']}/jenkins"
    for path in ("jobs/", "job-info/?job_name=hello", "queue/", "jobs/hello/"):
        response = mallory.session.get(mallory.url(f"{base}/{path}"))
        assert response.status_code == 404, (path, response.text)
    response = mallory.session.post(mallory.url(f"{base}/build/"), json={"job_name": "hello"})
    assert response.status_code == 404


def test_jenkins_resources_need_a_jenkins_tool(alice, jenkins):
    project = alice.post("/api/v1/projects/projects/", {"name": "p"})
    local = alice.post(
        "/api/v1/cicd/tools/", {"name": "l", "project": project["id"], "tool_type": "local"}
    )
    response = alice.get(f"/api/v1/cicd/tools/{local['id']}/jenkins/jobs/", status=404)
    assert "not a Jenkins tool" in response["detail"]


def test_jenkins_tool_config_is_validated_and_tokens_never_echoed(alice, jenkins):
    project = alice.post("/api/v1/projects/projects/", {"name": "p"})
    body = {"name": "j", "project": project["id"], "tool_type": "jenkins"}
    errors = alice.post(
        "/api/v1/cicd/tools/", {**body, "base_url": "ftp://x", "token": "t"}, status=400
    )["errors"]
    assert "base_url" in errors
    errors = alice.post(
        "/api/v1/cicd/tools/", {**body, "base_url": jenkins.url, "token": "t"}, status=400
    )["errors"]
    assert "username" in errors
    created = alice.post(
        "/api/v1/cicd/tools/", {**body, "base_url": jenkins.url, "username": "u", "token": "t"}
    )
    assert created["has_token"] is True
    assert "t" not in [created.get("token"), created.get("password")]
    assert "token" not in alice.get(f"/api/v1/cicd/tools/{created['id']}/")


def test_urls_the_tool_hands_out_stay_on_the_tools_origin(remote_app):
    from ansflow_remote.http import ToolHTTP

    http = ToolHTTP(remote_app.registry, "http://127.0.0.1:8080/jenkins", "Jenkins")
    assert http.url("http://evil.example:9/jenkins/queue/item/5/") == (
        "http://127.0.0.1:8080/jenkins/queue/item/5/"
    )
    assert http.url("/api/json") == "http://127.0.0.1:8080/jenkins/api/json"
