"""Login throttling while the configured Redis is down: the database counters take
over, so logins neither fail nor go unthrottled."""

from __future__ import annotations

import socket

from webtest import TestApp

from ansflow_pyramid.identity.throttle import RedisWithDatabaseFallback, get_throttle
from tests.identity.conftest import PASSWORD

TOKEN = "/api/v1/auth/token/"


def dead_redis_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def test_logins_work_and_stay_throttled_while_redis_is_down(make_app, make_user, testapp):
    make_user("alice")
    app = make_app(
        redis__url=dead_redis_url(),
        ansflow__login_failure_limit=3,
        ansflow__login_failure_window=60,
    )
    assert isinstance(get_throttle(app.registry), RedisWithDatabaseFallback)
    client = TestApp(app, extra_environ={"HTTP_HOST": "localhost", "REMOTE_ADDR": "10.9.9.9"})
    assert client.post_json(TOKEN, {"username": "alice", "password": PASSWORD}).status_int == 200
    for _ in range(3):
        client.post_json(TOKEN, {"username": "alice", "password": "wrong"}, status=401)
    refused = client.post_json(TOKEN, {"username": "alice", "password": PASSWORD}, status=429)
    assert int(refused.headers["Retry-After"]) > 0
    health = client.get("/api/v1/health/").json
    assert health["status"] == "degraded" and health["checks"]["redis"]["status"] == "error"


def test_failures_counted_during_an_outage_still_count_when_redis_returns(
    make_app, make_user, testapp, redis_url
):
    """The database counters are consulted even when Redis answers again."""
    make_user("carol")
    settings = {"ansflow__login_failure_limit": 3, "ansflow__login_failure_window": 60}
    down = TestApp(
        make_app(redis__url=dead_redis_url(), **settings),
        extra_environ={"HTTP_HOST": "localhost", "REMOTE_ADDR": "10.9.9.8"},
    )
    for _ in range(3):
        down.post_json(TOKEN, {"username": "carol", "password": "wrong"}, status=401)
    back_app = make_app(redis__url=redis_url, **settings)
    back = TestApp(back_app, extra_environ={"HTTP_HOST": "localhost", "REMOTE_ADDR": "10.9.9.8"})
    try:
        back.post_json(TOKEN, {"username": "carol", "password": "wrong"}, status=429)
    finally:
        redis = back_app.registry["ansflow.redis"]
        prefix = back_app.registry.settings["ansflow.redis_prefix"]
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
