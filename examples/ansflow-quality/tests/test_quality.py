"""ansflow-quality's tests, on the fixtures ansflow-pyramid's pytest plugin provides
(``ansflow``: users by role, logged-in clients, factories, synchronous runs).

The plugin is installed, so the test application loads it through its entry point
and migrates its table like any other plugin's."""

from __future__ import annotations

REPORTS = "/api/v1/quality/reports/"


def report(project_id: int, coverage: int, **fields):
    return {"project": project_id, "coverage_basis_points": coverage, **fields}


def test_project_roles_decide_who_adds_reports(ansflow):
    owner = ansflow.client("olivia")
    project = ansflow.project(owner, "shop", visibility="private")
    developer = ansflow.member(owner, project["id"], "dave", "developer")
    reporter = ansflow.member(owner, project["id"], "rita", "reporter")
    stranger = ansflow.client("sam")

    created = developer.post(REPORTS, report(project["id"], 8500))
    assert created.json["passed"] is True
    assert created.headers["Location"].endswith(f"{REPORTS}{created.json['id']}/")
    reporter.post(REPORTS, report(project["id"], 8500), status=403)
    # A project the caller cannot see is reported like a missing one.
    stranger.post(REPORTS, report(project["id"], 8500), status=400)
    # So is a pipeline of another project, or none at all.
    elsewhere = ansflow.pipeline(stranger, ansflow.project(stranger, "theirs")["id"])
    for pipeline_id in (elsewhere["id"], 424242):
        refused = developer.post(
            REPORTS, report(project["id"], 1, pipeline_id=pipeline_id), status=400
        ).json
        assert list(refused["errors"]) == ["pipeline_id"]
    assert reporter.get(REPORTS).json["count"] == 1
    assert stranger.get(REPORTS).json["count"] == 0


def test_the_pipeline_alias_filters_and_fixes_the_pipeline(ansflow):
    owner = ansflow.client("olivia")
    project = ansflow.project(owner)
    build = ansflow.pipeline(owner, project["id"], "build")
    deploy = ansflow.pipeline(owner, project["id"], "deploy")
    alias = f"/api/v1/pipelines/{build['id']}/quality-reports/"
    made = owner.post(alias, report(project["id"], 7000)).json
    assert made["pipeline_id"] == build["id"] and made["passed"] is False
    owner.post(REPORTS, report(project["id"], 9000, pipeline_id=deploy["id"]))

    listed = owner.get(alias)
    assert [r["id"] for r in listed.json["results"]] == [made["id"]]
    canonical = f"http://localhost{REPORTS}?pipeline_id={build['id']}"
    assert listed.headers["Link"] == f'<{canonical}>; rel="canonical"'
    assert owner.get(canonical).json["count"] == 1
    # An item of another pipeline is a 404 there, pointing nowhere.
    other = owner.get(REPORTS, {"pipeline_id": deploy["id"]}).json["results"][0]
    missing = owner.get(f"{alias}{other['id']}/", status=404)
    assert "Link" not in missing.headers


def test_recheck_creates_a_report_against_another_threshold(ansflow):
    owner = ansflow.client("olivia")
    project = ansflow.project(owner)
    guest = ansflow.member(owner, project["id"], "gus", "guest")
    first = owner.post(REPORTS, report(project["id"], 8500)).json
    url = f"{REPORTS}{first['id']}/recheck/"
    again = owner.post(url, {"threshold_basis_points": 9000})
    assert again.json["passed"] is False and again.json["id"] != first["id"]
    assert again.headers["Location"].endswith(f"{REPORTS}{again.json['id']}/")
    guest.post(url, {"threshold_basis_points": 1}, status=403)
    owner.post(url, {"threshold_basis_points": 10_001}, status=400)


def test_the_quality_gate_step_passes_and_fails_a_run(ansflow):
    owner = ansflow.client("olivia")
    project = ansflow.project(owner)
    steps = [
        ("measure", "echo 91.5 > coverage.txt"),
        {"name": "gate", "step_type": "quality_gate", "command": "coverage.txt"},
    ]
    passing = ansflow.pipeline(owner, project["id"], "ok", steps=steps)
    strict = ansflow.pipeline(
        owner,
        project["id"],
        "strict",
        steps=[steps[0], {**steps[1], "environment_vars": {"MIN_COVERAGE": "95"}}],
    )
    ok = ansflow.run(ansflow.execution(owner, passing["id"])["id"], as_client=owner)
    assert ok["status"] == "success"
    failed = ansflow.run(ansflow.execution(owner, strict["id"])["id"], as_client=owner)
    assert failed["status"] == "failed"
    logs = owner.get(f"/api/v1/cicd/executions/{failed['id']}/logs/").json["logs"]
    assert "coverage 91.50% (minimum 95.00%): failed" in logs


def test_the_step_type_is_documented(testapp):
    document = testapp.get("/api/v1/openapi.json").json
    step = document["components"]["schemas"]["StepIn"]["properties"]["step_type"]
    assert "quality_gate" in step["enum"]
    assert "/api/v1/quality/reports/{id}/recheck/" in document["paths"]
