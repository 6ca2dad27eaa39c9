"""The seed's scenario with a socket, and every other way credentials end: a socket
never outlives its session or token, and never keeps a deleted session alive."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select, update
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.sessions.models import SessionRecord
from tests.sockets.conftest import PASSWORD, Client, LiveASGI

LOGGED_OUT = 4401


def browser_login(live: LiveASGI, username: str) -> dict[str, str]:
    browser = requests.Session()
    response = browser.post(
        f"{live.base}/api/v1/auth/session/",
        json={"username": username, "password": PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return dict(browser.cookies)


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def wait_closed(ws, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed:
        return ws.close_code
    except TimeoutError:
        return None
    return None


def sessions_of(live: LiveASGI, user_id: int) -> int:
    with session_scope(live.app.registry["dbsession_factory"]) as dbsession:
        return dbsession.scalar(
            select(func.count()).select_from(SessionRecord).where(SessionRecord.user_id == user_id)
        )


@pytest.fixture
def running(live_server):
    live = live_server()
    alice = Client(live, "alice")
    pipeline = alice.pipeline(["echo started; sleep 30"])
    execution = alice.run(pipeline["id"])
    yield live, alice, execution
    alice.call("POST", f"/api/v1/cicd/executions/{execution['id']}/cancel/")


def test_logout_among_50_concurrent_requests_closes_the_socket(running):
    live, alice, execution = running
    cookies = browser_login(live, "alice")
    header = cookie_header(cookies)
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    with connect(url, additional_headers={"Cookie": header}, origin=live.origin) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        results = fire_50_requests_with_a_logout(live, execution, cookies)
        assert wait_closed(ws, timeout=5) == LOGGED_OUT
    assert ("logout", 200) in results
    statuses = [status for _, status in results]
    assert not [r for r in results if r[1] >= 500], results
    assert 400 not in statuses, results
    assert set(statuses) <= {200, 401}, results
    # The old cookie authenticates nothing, over HTTP or a new socket ...
    me = requests.get(f"{live.base}/api/v1/auth/users/me/", headers={"Cookie": header}, timeout=10)
    assert me.status_code == 401
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(url, additional_headers={"Cookie": header}, origin=live.origin),
    ):
        pass
    assert refused.value.response.status_code == 401
    # ... and nothing brought the session back.
    assert sessions_of(live, alice.user_id) == 0


def fire_50_requests_with_a_logout(
    live: LiveASGI, execution: dict, cookies: dict[str, str]
) -> list[tuple[str, int]]:
    """50 requests with the browser's cookie at once; the 26th logs out."""
    header = cookie_header(cookies)
    paths = [
        f"/api/v1/cicd/executions/{execution['id']}/",
        f"/api/v1/executions/{execution['id']}/",
        f"/api/v1/cicd/executions/{execution['id']}/logs/",
        "/api/v1/auth/users/me/",
        "/api/v1/auth/session/",
        "/api/v1/projects/projects/",
    ]
    barrier = threading.Barrier(50)

    def fire(index: int) -> tuple[str, int]:
        barrier.wait()
        if index == 25:
            response = requests.post(
                f"{live.base}/api/v1/auth/logout/",
                json={},
                headers={"Cookie": header, "X-CSRFToken": cookies["csrftoken"]},
                timeout=30,
            )
            return "logout", response.status_code
        path = paths[index % len(paths)]
        response = requests.get(live.base + path, headers={"Cookie": header}, timeout=30)
        return path, response.status_code

    with ThreadPoolExecutor(50) as pool:
        return list(pool.map(fire, range(50)))


def test_a_token_logout_closes_its_sockets_and_no_others(running):
    live, alice, execution = running
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    other = Client(live, "alice2", superuser=True)
    with (
        connect(url, additional_headers=alice.bearer()) as mine,
        connect(url, additional_headers=other.bearer()) as theirs,
    ):
        for ws in (mine, theirs):
            assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        alice.call("POST", "/api/v1/auth/logout/", 200, json={"refresh": alice.refresh})
        assert wait_closed(mine, timeout=5) == LOGGED_OUT
        assert wait_closed(theirs, timeout=0.5) is None  # still open


def test_an_ended_session_closes_its_socket_within_the_recheck_interval(live_server):
    """Expiry, or a deletion whose notice was lost: the periodic re-check catches it."""
    live = live_server(ansflow__socket_recheck_interval=0.5)
    alice = Client(live, "alice")
    execution = alice.run(alice.pipeline(["sleep 30"])["id"])
    header = cookie_header(browser_login(live, "alice"))
    with connect(
        f"{live.ws_base}/ws/executions/{execution['id']}/",
        additional_headers={"Cookie": header},
        origin=live.origin,
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        with session_scope(live.app.registry["dbsession_factory"]) as dbsession:
            dbsession.execute(
                update(SessionRecord)
                .where(SessionRecord.user_id == alice.user_id)
                .values(expires_at=SessionRecord.created_at)
            )
        assert wait_closed(ws, timeout=5) == LOGGED_OUT
    alice.call("POST", f"/api/v1/cicd/executions/{execution['id']}/cancel/")


def test_a_logout_in_another_process_closes_the_socket(live_server, redis_url):
    """Two processes' worth of application on one Redis: the logout is served by one,
    the socket by the other."""
    socket_side = live_server(redis__url=redis_url, ansflow__socket_recheck_interval=60)
    http_side = live_server(redis__url=redis_url)
    alice = Client(socket_side, "alice")
    execution = alice.run(alice.pipeline(["sleep 30"], name="p")["id"])
    cookies = browser_login(http_side, "alice")
    header = cookie_header(cookies)
    with connect(
        f"{socket_side.ws_base}/ws/execution/{execution['id']}",
        additional_headers={"Cookie": header},
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        response = requests.delete(
            f"{http_side.base}/api/v1/auth/session/",
            headers={"Cookie": header, "X-CSRFToken": cookies["csrftoken"]},
            timeout=10,
        )
        assert response.status_code == 200
        # Closed by the notice through Redis, long before the 60 s re-check.
        assert wait_closed(ws, timeout=5) == LOGGED_OUT
    alice.call("POST", f"/api/v1/cicd/executions/{execution['id']}/cancel/")


def test_a_socket_never_writes_the_session(live_server):
    """Even with every request due to touch "last seen", the socket's checks read only."""
    live = live_server(session__touch_interval=0, ansflow__socket_recheck_interval=0.2)
    alice = Client(live, "alice")
    execution = alice.run(alice.pipeline(["sleep 30"])["id"])
    header = cookie_header(browser_login(live, "alice"))

    def row() -> tuple:
        with session_scope(live.app.registry["dbsession_factory"]) as dbsession:
            return dbsession.execute(
                select(
                    SessionRecord.version, SessionRecord.last_seen, SessionRecord.expires_at
                ).where(SessionRecord.user_id == alice.user_id)
            ).one()

    before = row()
    with connect(
        f"{live.ws_base}/ws/execution/{execution['id']}",
        additional_headers={"Cookie": header},
        origin=live.origin,
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        ws.send(json.dumps({"type": "get_status"}))
        time.sleep(1.0)  # about five re-checks
        assert wait_closed(ws, timeout=0.2) is None
    assert row() == before
    alice.call("POST", f"/api/v1/cicd/executions/{execution['id']}/cancel/")
