"""Cron schedules, driven by a controllable clock: due runs start once, however many
schedulers tick at once; missed runs follow the schedule's policy."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from ansflow_cicd.models import Execution
from ansflow_triggers import build_scheduler
from ansflow_triggers.clock import set_clock
from ansflow_triggers.models import ScheduleRun
from sqlalchemy import func, select
from webtest import TestApp

from ansflow_pyramid.db import session_scope

START = dt.datetime(2026, 3, 28, 23, 58, 30, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def clocked_app(make_app, clock):
    app = make_app()
    set_clock(app.registry, clock)
    return app


@pytest.fixture
def api(clocked_app, alice):
    """Alice's calls on the application whose clock the test drives."""
    alice.testapp = TestApp(clocked_app)
    return alice


def executions(app: Any) -> list[Execution]:
    with session_scope(app.registry["dbsession_factory"]) as session:
        return list(session.scalars(select(Execution).order_by(Execution.id)))


def schedule(api, pipeline_id: int, cron: str = "*/5 * * * *", **fields: Any) -> dict:
    return api.post(f"/api/v1/pipelines/{pipeline_id}/schedules/", {"cron": cron, **fields})


def test_a_due_run_starts_once_with_schedule_trigger_data(api, clocked_app, clock):
    pipeline = api.pipeline()
    created = schedule(api, pipeline["id"], parameters={"target": "nightly"})
    assert created["next_run_at"] == "2026-03-29T00:00:00Z"
    scheduler = build_scheduler(clocked_app.registry)
    assert scheduler.tick() == []
    clock.advance(seconds=91)  # 00:00:01
    (outcome,) = scheduler.tick()
    assert outcome.outcome == "started"
    assert scheduler.tick() == [] and scheduler.tick(clock.advance(seconds=30)) == []
    (run,) = executions(clocked_app)
    assert run.trigger_type == "schedule"
    assert run.trigger_data["schedule_id"] == created["id"]
    assert run.trigger_data["scheduled_for"] == "2026-03-29T00:00:00+00:00"
    assert run.parameters == {"target": "nightly"}
    after = api.get(f"/api/v1/triggers/schedules/{created['id']}/")
    assert after["next_run_at"] == "2026-03-29T00:05:00Z"
    assert after["last_run_at"] == "2026-03-29T00:00:00Z"
    clock.advance(minutes=5)
    assert [o.outcome for o in scheduler.tick()] == ["started"]
    assert len(executions(clocked_app)) == 2


def test_two_schedulers_ticking_together_start_each_due_run_once(api, make_app, clocked_app, clock):
    pipeline = api.pipeline()
    for _ in range(3):
        schedule(api, pipeline["id"], cron="* * * * *")
    # Two applications: separate connection pools, as two processes would have.
    other = make_app()
    schedulers = [build_scheduler(clocked_app.registry), build_scheduler(other.registry)]
    for minute in range(4):
        now = clock.advance(minutes=1) if minute else clock.advance(seconds=45)
        barrier = threading.Barrier(len(schedulers) * 2)
        results: list[Any] = []

        def tick(scheduler, now=now, barrier=barrier, results=results) -> None:
            barrier.wait(timeout=10)
            results.extend(scheduler.tick(now))

        threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(o.outcome for o in results) == ["started"] * 3
    runs = executions(clocked_app)
    assert len(runs) == 12
    scheduled = {(r.trigger_data["schedule_id"], r.trigger_data["scheduled_for"]) for r in runs}
    assert len(scheduled) == 12
    with session_scope(clocked_app.registry["dbsession_factory"]) as session:
        assert session.scalar(select(func.count()).select_from(ScheduleRun)) == 12


@pytest.mark.parametrize(("policy", "started"), [("skip", 0), ("catch_up_once", 1)])
def test_missed_runs_follow_the_policy(api, clocked_app, clock, policy, started):
    pipeline = api.pipeline()
    created = schedule(api, pipeline["id"], cron="0 * * * *", missed_runs=policy)
    scheduler = build_scheduler(clocked_app.registry)
    # Nothing ran for five hours: five due times were missed.
    clock.advance(hours=5, minutes=20)  # 05:18:30
    outcomes = scheduler.tick()
    assert [o.outcome for o in outcomes] == ["started" if started else "skipped"]
    assert scheduler.tick() == []
    runs = executions(clocked_app)
    assert len(runs) == started
    if started:
        assert runs[0].trigger_data["caught_up"] is True
        assert runs[0].trigger_data["scheduled_for"] == "2026-03-29T05:00:00+00:00"
    after = api.get(f"/api/v1/triggers/schedules/{created['id']}/")
    assert after["next_run_at"] == "2026-03-29T06:00:00Z"
    clock.advance(minutes=42)  # 06:00:30, on time again
    assert [o.outcome for o in scheduler.tick()] == ["started"]


def test_cron_is_evaluated_in_the_schedule_time_zone(api, clocked_app, clock):
    pipeline = api.pipeline()
    # 02:30 in Paris does not exist on 2026-03-29 (clocks jump from 02:00 to 03:00).
    created = schedule(api, pipeline["id"], cron="30 2 * * *", timezone="Europe/Paris")
    assert created["next_run_at"] == "2026-03-29T01:00:00Z"
    clock.now = dt.datetime(2026, 3, 29, 1, 0, 5, tzinfo=dt.UTC)
    assert [o.outcome for o in build_scheduler(clocked_app.registry).tick()] == ["started"]
    after = api.get(f"/api/v1/triggers/schedules/{created['id']}/")
    assert after["next_run_at"] == "2026-03-30T00:30:00Z"  # 02:30 CEST


def test_editing_a_schedule_replans_it_and_inactive_ones_never_run(api, clocked_app, clock):
    pipeline = api.pipeline()
    created = schedule(api, pipeline["id"])
    item = f"/api/v1/triggers/schedules/{created['id']}/"
    assert api.patch(item, {"cron": "0 6 * * 1"})["next_run_at"] == "2026-03-30T06:00:00Z"
    assert api.patch(item, {"is_active": False})["next_run_at"] is None
    clock.advance(days=3)
    assert build_scheduler(clocked_app.registry).tick() == []
    assert executions(clocked_app) == []


def test_an_inactive_pipeline_is_recorded_as_failed(api, clocked_app, clock):
    pipeline = api.pipeline()
    schedule(api, pipeline["id"])
    api.patch(f"/api/v1/pipelines/pipelines/{pipeline['id']}/", {"is_active": False})
    clock.advance(minutes=2)
    (outcome,) = build_scheduler(clocked_app.registry).tick()
    assert outcome.outcome == "failed" and "inactive" in outcome.error
    assert executions(clocked_app) == []


def test_schedules_are_validated(api):
    pipeline = api.pipeline()
    url = f"/api/v1/pipelines/{pipeline['id']}/schedules/"
    for body, field in [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * *"}, "cron"),
        ({"cron": "* * * * * *"}, "cron"),
        ({"cron": "not cron at all"}, "cron"),
        ({"cron": "@daily", "timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "@daily", "missed_runs": "always"}, "missed_runs"),
        ({"cron": "@daily", "parameters": []}, "parameters"),
    ]:
        assert field in api.post(url, body, status=400)["errors"], body
    bad = api.post("/api/v1/triggers/schedules/", {"cron": "@daily", "pipeline": 999999}, 400)
    assert "pipeline" in bad["errors"]
    created = api.post(url, {"cron": "@daily", "timezone": "America/New_York"})
    assert created["next_run_at"] == "2026-03-29T04:00:00Z"
    bad = api.patch(f"/api/v1/triggers/schedules/{created['id']}/", {"cron": "* *"}, 400)
    assert "cron" in bad["errors"]
