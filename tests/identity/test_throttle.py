"""Failed logins are throttled per username and per address, in Redis or the database."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from webtest import TestApp

from ansflow_pyramid.identity.models import LoginFailure
from tests.identity.conftest import CSRF_FIELD, PASSWORD

TOKEN = "/api/v1/auth/token/"


@pytest.fixture(params=["database", "redis"])
def throttled_app(request, make_app, testapp):
    """An app with small limits, its failures counted in the database or in Redis."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    app = make_app(
        redis__url=redis_url,
        ansflow__login_failure_limit=3,
        ansflow__login_failure_address_limit=5,
        ansflow__login_failure_window=60,
    )
    app.backend = request.param
    yield app
    redis = app.registry["ansflow.redis"]
    if redis is not None:
        prefix = app.registry.settings["ansflow.redis_prefix"]
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)


def client(app, address="10.0.0.1"):
    return TestApp(app, extra_environ={"HTTP_HOST": "localhost", "REMOTE_ADDR": address})


def attempt(app, username, password, status):
    return app.post_json(TOKEN, {"username": username, "password": password}, status=status)


def test_repeated_failures_for_a_username_are_throttled(throttled_app, make_user, dbsession):
    make_user("alice")
    make_user("bob")
    first = client(throttled_app, "10.0.0.1")
    for _ in range(3):
        attempt(first, "alice", "wrong", 401)
    # Even the right password waits now, and from another address too.
    blocked = attempt(client(throttled_app, "10.0.0.2"), "alice", PASSWORD, 429)
    assert blocked.json["code"] == "throttled"
    retry_after = int(blocked.headers["Retry-After"])
    assert 0 < retry_after <= 60
    # Bob is not affected.
    attempt(first, "bob", PASSWORD, 200)
    if throttled_app.backend == "database":
        # Recorded although every failing request's own transaction was aborted.
        with dbsession() as session:
            count = session.scalar(select(func.count()).select_from(LoginFailure))
        assert count == 6  # three failures, each counted per username and per address
    else:
        client_ = throttled_app.registry["ansflow.redis"]
        prefix = throttled_app.registry.settings["ansflow.redis_prefix"]
        assert list(client_.scan_iter(match=f"{prefix}login-failures:*"))
        # Nothing outside the prefix (other runs may share this Redis, with theirs).
        assert not list(client_.scan_iter(match="login-failures*"))


def test_repeated_failures_from_one_address_are_throttled(throttled_app, make_user):
    make_user("carol")
    same = client(throttled_app, "10.0.0.9")
    for name in ("u1", "u2", "u3", "u4", "u5"):
        attempt(same, name, "wrong", 401)
    blocked = attempt(same, "carol", PASSWORD, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    attempt(client(throttled_app, "10.0.0.10"), "carol", PASSWORD, 200)


def test_success_resets_the_username_counter(throttled_app, make_user):
    make_user("alice")
    app = client(throttled_app)
    attempt(app, "alice", "wrong", 401)
    attempt(app, "alice", "wrong", 401)
    attempt(app, "alice", PASSWORD, 200)
    attempt(app, "alice", "wrong", 401)
    attempt(app, "alice", "wrong", 401)
    attempt(app, "alice", PASSWORD, 200)


def test_forwarded_for_header_does_not_dodge_the_address_limit(throttled_app):
    app = client(throttled_app, "10.0.0.7")
    for index in range(5):
        app.post_json(
            TOKEN,
            {"username": f"x{index}", "password": "wrong"},
            headers={"X-Forwarded-For": f"192.0.2.{index}"},
            status=401,
        )
    attempt(app, "someone", "wrong", 429)


def test_the_window_moves_on(make_app, make_user, testapp):
    make_user("alice")
    app = client(
        make_app(redis__url="", ansflow__login_failure_limit=2, ansflow__login_failure_window=1)
    )
    attempt(app, "alice", "wrong", 401)
    attempt(app, "alice", "wrong", 401)
    attempt(app, "alice", PASSWORD, 429)
    time.sleep(1.2)
    attempt(app, "alice", PASSWORD, 200)


def test_form_login_is_throttled_too(throttled_app, make_user):
    make_user("alice")
    browser = client(throttled_app)
    page = browser.get("/admin/login/")
    token = CSRF_FIELD.search(page.text).group(1)
    for _ in range(3):
        browser.post(
            "/admin/login/",
            {"username": "alice", "password": "wrong", "csrfmiddlewaretoken": token},
            status=200,
        )
    response = browser.post(
        "/admin/login/",
        {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token},
        status=429,
    )
    assert int(response.headers["Retry-After"]) > 0
    assert "sessionid" not in browser.cookies
