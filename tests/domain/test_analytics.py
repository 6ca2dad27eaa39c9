"""The analytics endpoints against a hand-computed fixture of executions across days
and projects, and what an outsider sees (nothing of other projects)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ansflow_analytics.services import AnalyticsService
from ansflow_cicd.models import Execution
from ansflow_pipelines.models import Pipeline
from ansflow_projects.interfaces import Actor
from ansflow_projects.models import Project, ProjectMembership

from tests.domain.conftest import API

# (pipeline, created before "now", status, seconds it ran or None)
# Pipelines a1, a2 belong to alice's project, b1 to bob's; both projects are private.
FIXTURE = [
    ("a1", dt.timedelta(minutes=1), "success", 10),
    ("a1", dt.timedelta(days=1, hours=1), "failed", 20),
    ("a1", dt.timedelta(days=1, hours=2), "success", 30),
    ("a1", dt.timedelta(days=3), "running", None),
    ("a1", dt.timedelta(days=10), "success", 100),
    ("a2", dt.timedelta(days=2), "timeout", 60),
    ("a2", dt.timedelta(days=2, hours=1), "cancelled", 5),
    ("a2", dt.timedelta(days=40), "failed", 50),
    ("b1", dt.timedelta(minutes=2), "success", 1000),
    ("b1", dt.timedelta(days=5), "failed", 2000),
]


def seed(api: API, now: dt.datetime) -> dict[str, Any]:
    ids: dict[str, Any] = {
        "alice": api.user("alice"),
        "bob": api.user("bob"),
        "carol": api.user("carol"),
        "root": api.user("root", superuser=True),
    }
    with api.dbsession() as session:
        projects = {}
        for owner in ("alice", "bob"):
            project = Project(name=f"{owner}'s", owner_id=ids[owner], visibility="private")
            session.add(project)
            session.flush()
            session.add(ProjectMembership(project_id=project.id, user_id=ids[owner], role="owner"))
            projects[owner] = project
        pipelines = {}
        for name, owner in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
            pipeline = Pipeline(project_id=projects[owner].id, name=name)
            session.add(pipeline)
            session.flush()
            pipelines[name] = pipeline
        for name, age, status, seconds in FIXTURE:
            created = now - age
            pipeline = pipelines[name]
            session.add(
                Execution(
                    project_id=pipeline.project_id,
                    pipeline_id=pipeline.id,
                    status=status,
                    triggered_by_id=ids["alice" if name != "b1" else "bob"],
                    created_at=created,
                    updated_at=created,
                    started_at=created,
                    completed_at=created + dt.timedelta(seconds=seconds) if seconds else None,
                )
            )
        ids["pipelines"] = {name: p.id for name, p in pipelines.items()}
    return ids


def test_execution_stats_per_time_range_and_viewer(api):
    ids = seed(api, dt.datetime.now(dt.UTC))
    alice, bob = api.as_user("alice"), api.as_user("bob")
    url = "/api/v1/analytics/execution-stats/"
    week = alice.get(url).json  # 7d is the default
    assert {k: week[k] for k in week if k not in ("since", "time_range")} == {
        "total_executions": 6,
        "successful_executions": 2,
        "failed_executions": 1,
        "running_executions": 1,
        "pending_executions": 0,
        "cancelled_executions": 1,
        "timeout_executions": 1,
        "success_rate": 33.3,
        "avg_duration": 30,  # (10 + 20 + 30 + 60) / 4: cancelled and running runs excluded
        "total_duration": 120,
    }
    day = alice.get(url, {"time_range": "1d"}).json
    assert (day["total_executions"], day["success_rate"], day["avg_duration"]) == (1, 100.0, 10)
    month = alice.get(url, {"time_range": "30d"}).json
    assert (month["total_executions"], month["successful_executions"]) == (7, 3)
    assert (month["success_rate"], month["avg_duration"], month["total_duration"]) == (
        42.9,
        44,
        220,
    )
    quarter = alice.get(url, {"time_range": "90d"}).json
    assert (quarter["total_executions"], quarter["failed_executions"]) == (8, 2)
    assert (quarter["success_rate"], quarter["avg_duration"]) == (37.5, 45)
    bobs = bob.get(url).json
    assert (bobs["total_executions"], bobs["success_rate"], bobs["avg_duration"]) == (2, 50.0, 1500)
    everything = api.as_user("root", superuser=True).get(url, {"time_range": "90d"}).json
    assert everything["total_executions"] == 10
    assert ids["carol"]


def test_an_outsider_sees_nothing_of_other_projects(api):
    seed(api, dt.datetime.now(dt.UTC))
    carol = api.as_user("carol")
    for time_range in ("1d", "7d", "30d", "90d"):
        params = {"time_range": time_range}
        stats = carol.get("/api/v1/analytics/execution-stats/", params).json
        assert stats["total_executions"] == 0 and stats["success_rate"] == 0.0
        assert stats["avg_duration"] == 0 and stats["total_duration"] == 0
        trends = carol.get("/api/v1/analytics/execution-trends/", params).json
        assert all(day["total"] == 0 for day in trends)
        assert carol.get("/api/v1/analytics/pipeline-stats/", params).json == []
        assert carol.get("/api/v1/analytics/recent-executions/", params).json == []
    bob = api.as_user("bob")
    assert {
        p["pipeline_name"]
        for p in bob.get("/api/v1/analytics/pipeline-stats/", {"time_range": "90d"}).json
    } == {"b1"}
    assert {e["pipeline_name"] for e in bob.get("/api/v1/analytics/recent-executions/").json} == {
        "b1"
    }


def test_pipeline_stats_and_recent_executions(api):
    ids = seed(api, dt.datetime.now(dt.UTC))
    alice = api.as_user("alice")
    stats = alice.get("/api/v1/analytics/pipeline-stats/", {"time_range": "30d"}).json
    assert stats[0]["pipeline_id"] == ids["pipelines"]["a1"]
    assert {k: stats[0][k] for k in stats[0] if k != "last_execution"} == {
        "pipeline_id": ids["pipelines"]["a1"],
        "pipeline_name": "a1",
        "total_executions": 5,
        "successful_executions": 3,
        "success_rate": 60.0,
        "avg_duration": 40,  # (10 + 20 + 30 + 100) / 4
        "status": "success",  # the newest one's
    }
    assert stats[1]["pipeline_name"] == "a2"
    assert (stats[1]["total_executions"], stats[1]["success_rate"]) == (2, 0.0)
    assert (stats[1]["avg_duration"], stats[1]["status"]) == (60, "timeout")
    assert stats[0]["last_execution"] > stats[1]["last_execution"]

    recent = alice.get("/api/v1/analytics/recent-executions/", {"limit": 3}).json
    assert [(e["pipeline_name"], e["status"]) for e in recent] == [
        ("a1", "success"),
        ("a1", "failed"),
        ("a1", "success"),
    ]
    assert recent[0]["duration"] == 10 and recent[0]["triggered_by"] == "alice"
    assert len(alice.get("/api/v1/analytics/recent-executions/").json) == 8
    assert len(alice.get("/api/v1/analytics/recent-executions/", {"time_range": "7d"}).json) == 6


def test_trends_by_utc_day_computed_by_the_database(api):
    """A fixed "now" (18:00 UTC) makes every day boundary known: hand-computed days."""
    now = dt.datetime(2026, 3, 10, 18, 0, tzinfo=dt.UTC)
    ids = seed(api, now)
    with api.dbsession() as session:
        service = AnalyticsService(session, Actor(ids["alice"], "alice"))
        week = service.execution_trends("7d", now=now)
        assert [day["date"] for day in week] == [f"2026-03-{d:02}" for d in range(4, 11)]
        by_date = {day["date"]: day for day in week}
        assert by_date["2026-03-10"] == {
            "date": "2026-03-10", "total": 1, "successful": 1, "failed": 0,
            "success_rate": 100.0, "avg_duration": 10,
        }  # fmt: skip
        assert by_date["2026-03-09"] == {
            "date": "2026-03-09", "total": 2, "successful": 1, "failed": 1,
            "success_rate": 50.0, "avg_duration": 25,
        }  # fmt: skip
        assert by_date["2026-03-08"] == {
            "date": "2026-03-08", "total": 2, "successful": 0, "failed": 0,
            "success_rate": 0.0, "avg_duration": 60,
        }  # fmt: skip
        assert by_date["2026-03-07"]["total"] == 1  # the running one
        assert sum(day["total"] for day in week) == 6
        assert len(service.execution_trends("1d", now=now)) == 1
        month = service.execution_trends("30d", now=now)
        assert len(month) == 30 and month[0]["date"] == "2026-02-09"
        assert {d["date"]: d["total"] for d in month}["2026-02-28"] == 1
        assert sum(day["total"] for day in service.execution_trends("90d", now=now)) == 8
        bobs = AnalyticsService(session, Actor(ids["bob"], "bob")).execution_trends("7d", now=now)
        assert {d["date"]: d["total"] for d in bobs if d["total"]} == {
            "2026-03-10": 1,
            "2026-03-05": 1,
        }


@pytest.mark.parametrize(
    "path",
    ["execution-stats", "execution-trends", "pipeline-stats", "recent-executions"],
)
def test_bad_time_range_and_anonymous_callers(api, path):
    alice = api.as_user("alice")
    url = f"/api/v1/analytics/{path}/"
    for bad in ("2d", "7", "7D", "x" * 500, "-1d"):
        response = alice.get(url, {"time_range": bad}, status=400)
        assert response.content_type == "application/json"
        assert "time_range" in response.json["errors"]
    api.anonymous.get(url, status=401)
    alice.post(url, {}, status=405)


def test_bad_limit_on_recent_executions(api):
    alice = api.as_user("alice")
    for bad in ("0", "101", "x", "-1", "1.5", "99999999999"):
        response = alice.get("/api/v1/analytics/recent-executions/", {"limit": bad}, status=400)
        assert "limit" in response.json["errors"]
