"""Redis killed and PostgreSQL restarted under mixed load (the production path: RQ
dispatch, Redis events, a separate ``ansflow worker``, waitress on loopback)."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import requests
from sqlalchemy import create_engine, text

from tests.reliability.conftest import PASSWORD, Client
from tests.reliability.load import Load, describe, server_errors
from tests.reliability.services import wait_until
from tests.sse_client import SSEClient

FINAL = ("success", "failed", "cancelled", "timeout")


def mixed_load(stack, token: str, pipeline_id: int, created: list[int], threads: int = 4):
    """Logins (good and bad), reads, health, execution creation: what clients do."""
    auth = {"Authorization": f"Bearer {token}"}
    counter = itertools.count()

    def login(session):
        return session.post(
            stack.url("/api/v1/auth/token/"),
            json={"username": "admin", "password": PASSWORD},
            timeout=15,
        )

    def bad_login(session):
        return session.post(
            stack.url("/api/v1/auth/token/"),
            json={"username": f"nobody{next(counter) % 7}", "password": "wrong"},
            timeout=15,
        )

    def read(session):
        return session.get(stack.url("/api/v1/cicd/executions/"), headers=auth, timeout=15)

    def health(session):
        return session.get(stack.url("/api/v1/health/"), timeout=15)

    def create(session):
        response = session.post(
            stack.url("/api/v1/cicd/executions/"),
            json={"pipeline_id": pipeline_id},
            headers=auth,
            timeout=15,
        )
        if response.status_code == 201:
            created.append(response.json()["id"])
        return response

    return Load(
        {"login": login, "bad_login": bad_login, "read": read, "health": health, "create": create},
        threads=threads,
        pause=0.05,
    )


def unfinished(client: Client, ids: list[int]) -> list[dict]:
    left = []
    for execution_id in ids:
        execution = client.execution(execution_id)
        if execution["status"] not in FINAL:
            left.append(execution)
    return left


def test_redis_killed_under_load(stack, worker):
    admin = Client(stack, "admin")
    pipeline = admin.pipeline("echo hello", name="redis-outage")
    session_client = requests.Session()
    assert (
        session_client.post(
            stack.url("/api/v1/auth/session/"),
            json={"username": "admin", "password": PASSWORD},
            timeout=10,
        ).status_code
        == 200
    )
    token = stack.token("admin")
    created: list[int] = []
    load = mixed_load(stack, token, pipeline["id"], created).start()
    time.sleep(1.0)
    stack.redis.kill()
    killed_at = time.monotonic()
    time.sleep(6.0)
    stack.redis.start()
    back_at = time.monotonic()
    back_wall = dt.datetime.now(dt.UTC)
    print(f"\nfigure: Redis down for {back_at - killed_at:.1f} s under load")
    # Normal service within 5 s of Redis returning: health is "ok" again and a new
    # execution runs to success.
    assert wait_until(
        lambda: requests.get(stack.url("/api/v1/health/"), timeout=5).json()["status"] == "ok",
        5,
    )
    healthy = time.monotonic() - back_at
    # Executions run again: the worker dequeues within 5 s of Redis returning (a
    # backlog of executions queued by the dispatch retries may still be waiting).
    probe = admin.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json()
    assert wait_until(lambda: admin.execution(probe["id"])["status"] == "success", 30)
    started = [
        dt.datetime.fromisoformat(execution["started_at"])
        for execution in (admin.execution(i) for i in [*created, probe["id"]])
        if execution["started_at"]
    ]
    first_run = min(t for t in started if t >= back_wall)
    resumed = (first_run - back_wall).total_seconds()
    print(
        f"figure: health ok {healthy:.2f} s and the first execution started {resumed:.2f} s "
        "after Redis returned"
    )
    assert resumed <= 5.0
    # Live events flow again: a stream opened now follows a run to its end.
    follow = admin.pipeline("sleep 1; echo after-the-outage", name="redis-outage-stream")
    streamed = admin.post("/api/v1/cicd/executions/", {"pipeline_id": follow["id"]}).json()
    events = []
    with SSEClient(
        stack.url(f"/api/v1/cicd/executions/{streamed['id']}/events/"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    ) as stream:
        for event in stream:
            events.append(event)
            if event.event == "end":
                break
    assert events[-1].event == "end"
    assert any(e.event == "log" and "after-the-outage" in e.data for e in events)
    time.sleep(1.0)
    answers = load.stop()

    during = [a for a in answers if killed_at <= a.at <= back_at]
    assert during, "no request was made during the outage"
    errors = server_errors(answers)
    print(f"figure: {len(answers)} requests, {len(during)} during the outage, {len(errors)} 5xx")
    assert not errors, describe(errors)
    # Logins kept working during the outage (throttle on the database counters).
    assert any(a.name == "login" and a.status == 200 for a in during)
    assert any(a.name == "health" and b'"degraded"' in a.body for a in during)
    # Every execution ends in a final state, failures with a reason.
    assert wait_until(lambda: not unfinished(admin, created), 20), unfinished(admin, created)
    reasons = {}
    for execution_id in created:
        execution = admin.execution(execution_id)
        if execution["status"] != "success":
            assert execution["status"] == "failed" and execution["error_message"], execution
            reasons[execution["error_message"].split(":")[0]] = True
    print(f"figure: {len(created)} executions, non-success reasons {sorted(reasons)}")
    # Tokens and sessions issued before the outage are still valid.
    assert admin.get("/api/v1/auth/users/me/").status_code == 200
    me = session_client.get(stack.url("/api/v1/auth/users/me/"), timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "admin"


def test_postgres_restarted_under_load(stack, worker):
    admin = Client(stack, "admin")
    pipeline = admin.pipeline("echo hello", name="pg-restart")
    token = stack.token("admin")
    created: list[int] = []
    load = mixed_load(stack, token, pipeline["id"], created).start()
    time.sleep(1.0)
    started = time.monotonic()
    stack.postgres.restart_fast()
    restarted = time.monotonic()
    print(f"\nfigure: pg_ctl restart -m fast took {restarted - started:.2f} s")

    def served_again() -> bool:
        return admin.get("/api/v1/cicd/executions/").status_code == 200

    assert wait_until(served_again, 5)
    print(f"figure: reads served again {time.monotonic() - restarted:.2f} s after the restart")
    time.sleep(2.0)
    answers = load.stop()
    errors = server_errors(answers, allow_json_503=True)
    json_503 = [a for a in answers if a.status == 503]
    print(f"figure: {len(answers)} requests, {len(json_503)} JSON 503, {len(errors)} other 5xx")
    assert not errors, describe(errors)
    # No committed write lost: every execution answered 201 exists.
    engine = create_engine(stack.postgres.url().replace("postgresql:", "postgresql+psycopg:"))
    try:
        with engine.connect() as connection:
            stored = set(
                connection.scalars(
                    text("SELECT id FROM cicd_executions WHERE id = ANY(:ids)"), {"ids": created}
                )
            )
    finally:
        engine.dispose()
    assert stored == set(created)
    # No stuck execution.
    assert wait_until(lambda: not unfinished(admin, created), 20), unfinished(admin, created)
    statuses = {admin.execution(i)["status"] for i in created}
    print(f"figure: {len(created)} executions created under the restart, statuses {statuses}")
    assert statuses <= {"success", "failed"}
