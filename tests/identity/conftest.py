"""Helpers for the identity tests: users, logins, and a real waitress server."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from webtest.http import StopableWSGIServer

from ansflow_pyramid.identity.services import create_user

PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def make_user(dbsession, testapp) -> Callable[..., int]:
    """``make_user("alice", superuser=True)`` -> the new user's id (password PASSWORD).

    Depends on ``testapp`` so that every table is emptied after the test.
    """

    def factory(username: str, superuser: bool = False, **fields: Any) -> int:
        with dbsession() as session:
            user = create_user(
                session,
                username,
                fields.pop("password", PASSWORD),
                is_superuser=superuser,
                **fields,
            )
            return user.id

    return factory


def obtain(testapp, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = testapp.post_json(
        "/api/v1/auth/token/", {"username": username, "password": password}
    )
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form_login(testapp, username: str, password: str = PASSWORD) -> Any:
    """The browser flow: GET the form, POST it with its csrfmiddlewaretoken."""
    page = testapp.get("/admin/login/")
    token = CSRF_FIELD.search(page.text).group(1)
    return testapp.post(
        "/admin/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        status=302,
    )


def csrf_header(testapp) -> dict[str, str]:
    return {"X-CSRFToken": testapp.cookies["csrftoken"]}


# -- a real server ------------------------------------------------------------------
@dataclass
class LiveServer:
    host: str
    port: int
    server: Any
    thread: threading.Thread

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


@dataclass
class Browser:
    """A tiny HTTP client with a cookie jar (name -> value), like curl -b/-c."""

    live: LiveServer
    cookies: dict[str, str] = field(default_factory=dict)

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        store_cookies: bool = True,
    ) -> tuple[int, dict[str, list[str]], bytes]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        data: bytes | None = None
        if form is not None:
            from urllib.parse import urlencode

            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = self.live.connection()
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            result_headers: dict[str, list[str]] = {}
            for name, value in response.getheaders():
                result_headers.setdefault(name.lower(), []).append(value)
        finally:
            connection.close()
        if store_cookies:
            self.store(result_headers.get("set-cookie", []))
        return response.status, result_headers, payload

    def store(self, set_cookies: list[str]) -> None:
        for line in set_cookies:
            pair = line.split(";", 1)[0]
            name, _, value = pair.partition("=")
            attributes = line.lower()
            if not value or "max-age=0" in attributes:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value.strip()


def serve(app: Any, threads: int = 8) -> Iterator[LiveServer]:
    """waitress on 127.0.0.1, an ephemeral port, ``threads`` worker threads."""
    server = StopableWSGIServer.create(app, host="127.0.0.1", port=0, threads=threads)
    try:
        yield LiveServer("127.0.0.1", int(server.effective_port), server, server.runner)
    finally:
        server.shutdown()
        server.runner.join(timeout=10)


@pytest.fixture
def session_app(make_app, ansflow_app):
    """The application with the test-only session views of ``session_plugin``."""
    from ansflow_pyramid.testing import empty_all_tables

    app = make_app(ansflow__plugins="tests.identity.session_plugin")
    yield app
    empty_all_tables(ansflow_app)


@pytest.fixture
def live_server(session_app) -> Iterator[LiveServer]:
    yield from serve(session_app, threads=8)
