"""Over a real waitress server: the seed's logout race, concurrent writers, the curl plan.

The original AnsFlow (Django, cache-backed sessions) answered requests racing a logout
with "The request's session was deleted before the request completed" (400) and
silently lost concurrent session updates.  These tests fire real concurrent HTTP
requests at a waitress server (8 threads) and check both are gone.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from ansflow_pyramid.sessions import SessionRecord
from tests.identity.conftest import CSRF_FIELD, PASSWORD, Browser

pytestmark = pytest.mark.slow

DATA = "/api/v1/test-session/"
ME = "/api/v1/auth/users/me/"


def browser_login(live, username: str) -> Browser:
    browser = Browser(live)
    status, _, page = browser.request("GET", "/admin/login/")
    assert status == 200
    token = CSRF_FIELD.search(page.decode()).group(1)
    status, headers, _ = browser.request(
        "POST",
        "/admin/login/",
        form={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert status == 302, headers
    assert "sessionid" in browser.cookies
    return browser


def fire(calls, workers: int = 16):
    """Run ``calls`` (callables) on ``workers`` threads, released at once; their results."""
    go = threading.Event()

    def run(call):
        go.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, call) for call in calls]
        go.set()
        return [future.result(timeout=120) for future in futures]


def count_sessions(dbsession) -> int:
    with dbsession() as session:
        return session.scalar(select(func.count()).select_from(SessionRecord)) or 0


def race_calls(browser: Browser, logout_index: int, total: int = 50) -> list:
    """``total`` requests of one browser session - reads, session writes, an
    authenticated read - with the logout at ``logout_index``."""
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"]}

    def call(method, path, body=None, headers=None):
        return lambda: browser.request(
            method, path, body=body, headers=headers, store_cookies=False
        )

    calls = []
    for index in range(total):
        if index == logout_index:
            calls.append(call("POST", "/api/v1/auth/logout/", {}, csrf))
        elif index % 3 == 0:
            calls.append(call("POST", DATA, {"set": {f"k{index}": index}}, csrf))
        elif index % 3 == 1:
            calls.append(call("GET", ME))
        else:
            calls.append(call("GET", DATA))
    return calls


def test_logout_racing_fifty_requests(live_server, make_user, dbsession):
    make_user("alice")
    for _ in range(2):
        browser = browser_login(live_server, "alice")
        assert count_sessions(dbsession) == 1
        logout_index = 20
        calls = race_calls(browser, logout_index)
        results = fire(calls)
        statuses = [status for status, _, _ in results]
        assert results[logout_index][0] == 200, results[logout_index]
        assert not [s for s in statuses if s >= 500], statuses
        assert 400 not in statuses, statuses
        # Nothing but success, or "not authenticated" once the logout committed.
        assert set(statuses) <= {200, 401}, statuses
        for status, headers, body in results:
            cookies = " ".join(headers.get("set-cookie", []))
            # No response hands out a new session: nothing resurrected, nothing started.
            assert not re.search(r"sessionid=[^;]+\.", cookies), cookies
            if status == 401:
                assert json.loads(body)["code"] == "not_authenticated"

        # Afterwards the old cookie authenticates nothing and names no row.
        assert browser.request("GET", ME, store_cookies=False)[0] == 401
        status, _, body = browser.request("GET", DATA, store_cookies=False)
        assert json.loads(body) == {"data": {}, "user": None}
        assert count_sessions(dbsession) == 0


def test_sixteen_concurrent_writers_lose_nothing(live_server, dbsession):
    browser = Browser(live_server)
    browser.request("GET", "/api/v1/auth/session/")
    status, _, _ = browser.request(
        "POST",
        DATA,
        body={"set": {"start": True}},
        headers={"X-CSRFToken": browser.cookies["csrftoken"]},
    )
    assert status == 200
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"]}
    calls = [
        (
            lambda i=i: browser.request(
                "POST", DATA, body={"set": {f"key{i}": i}}, headers=csrf, store_cookies=False
            )
        )
        for i in range(16)
    ]
    results = fire(calls)
    assert [status for status, _, _ in results] == [200] * 16
    status, _, body = browser.request("GET", DATA)
    data = json.loads(body)["data"]
    assert data == {"start": True, **{f"key{i}": i for i in range(16)}}
    with dbsession() as session:
        [row] = session.scalars(select(SessionRecord))
    assert row.version == 17  # one version per write: none overwrote another


def test_concurrent_increments_are_never_lost_silently(live_server):
    browser = Browser(live_server)
    browser.request("GET", "/api/v1/auth/session/")
    browser.request(
        "POST", DATA, body={"set": {"n": 0}}, headers={"X-CSRFToken": browser.cookies["csrftoken"]}
    )
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"]}
    calls = [
        (
            lambda: browser.request(
                "POST", DATA, body={"incr": "n"}, headers=csrf, store_cookies=False
            )
        )
        for _ in range(8)
    ]
    statuses = [status for status, _, _ in fire(calls, workers=8)]
    # A read-modify-write that keeps conflicting past the retry budget is told so (409);
    # every request that succeeded counted.
    assert set(statuses) <= {200, 409}, statuses
    _, _, body = browser.request("GET", DATA)
    assert json.loads(body)["data"]["n"] == statuses.count(200)
    assert statuses.count(200) >= 1


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_curl_test_plan(live_server, make_user):
    """The seed's plan, with a real HTTP client and a cookie jar, exactly as written."""
    make_user("admin", superuser=True)
    base = f"http://{live_server.host}:{live_server.port}"

    # curl -X POST /api/v1/auth/token/ -d '{"username":..,"password":..}' -H 'Content-Type: application/json'
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token/",
        data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        tokens = json.loads(response.read())
    assert set(tokens) == {"access", "refresh"}

    # curl -H "Authorization: Bearer $ACCESS" /api/v1/auth/users/me/ (and a list endpoint)
    for path in ("/api/v1/auth/users/me/", "/api/v1/auth/users/"):
        request = urllib.request.Request(
            f"{base}{path}", headers={"Authorization": f"Bearer {tokens['access']}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            body = json.loads(response.read())
    assert body["results"][0]["username"] == "admin"

    # Browser: GET /admin/login/ (csrftoken cookie + hidden csrfmiddlewaretoken)...
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(f"{base}/admin/login/", timeout=30) as response:
        page = response.read().decode()
    assert "csrftoken" in {cookie.name for cookie in jar}
    token = CSRF_FIELD.search(page).group(1)

    # ...POST /admin/login/ form-encoded -> 302 with the session cookie...
    form = urllib.parse.urlencode(
        {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f"{base}/admin/login/", data=form, timeout=30)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"].endswith("/admin/")
    assert "sessionid" in {cookie.name for cookie in jar}

    # ...then GET the API with the cookie.
    with opener.open(f"{base}/api/v1/auth/users/me/", timeout=30) as response:
        assert json.loads(response.read())["username"] == "admin"
