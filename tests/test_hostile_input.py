"""Hostile paths and bodies get JSON 4xx answers through a real WSGI server (waitress
refuses to send a header it cannot encode, which webtest would not notice)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from ansflow_pyramid.hostile_input import safe_header_value
from tests.engine.live import serve

HOSTILE_PATHS = [
    "/api/v1/executions/%F0%9F%98%80/",
    "/api/v1/pipelines/1/executions/%F0%9F%98%80/",
    "/api/v1/pipelines/pipelines/%F0%9F%98%80/",
    "/api/v1/executions/1%0D%0ASet-Cookie:%20stolen=1/",
    "/api/v1/executions/%0D%0A/",
    "/api/v1/pipelines/1/executions/%0D%0A/",
    "/api/v1/executions/%13/",
    "/api/v1/executions/%00/",
    "/api/v1/executions/%ff/",
    "/api/v1/executions/%C3%28/",
    "/health/%F0%9F%98%80",
    "/api/v1/executions/1/%F0%9F%98%80/",
    "/api/v1/%E2%80%AE/",
    "/api/v1/executions/?page=%ff",
    "/api/v1/executions/?search=%00",
]


@pytest.fixture(scope="module")
def served(ansflow_app) -> Iterator[int]:
    with serve(ansflow_app, threads=2) as base:
        yield int(base.rsplit(":", 1)[1])


def send(port: int, method: str, path: str, body: bytes = b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_get_json_4xx_with_safe_headers(served, path):
    response, data = send(served, "GET", path)
    assert 400 <= response.status < 500, (response.status, data)
    assert response.getheader("Content-Type") == "application/json"
    assert "detail" in json.loads(data)
    for name, value in response.getheaders():
        assert name.lower() != "set-cookie" or "stolen" not in value
        assert all(0x20 <= ord(ch) < 0x7F or ch == "\t" for ch in value), (name, value)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/auth/token/", "multipart/form-data"),
        ("/api/v1/auth/token/", "multipart/form-data; boundary="),
        ("/api/v1/auth/session/", "multipart/form-data"),
        ("/api/v1/auth/token/refresh/", "multipart/form-data"),
        ("/api/v1/projects/projects/", "multipart/form-data"),
        ("/admin/login/", "multipart/form-data"),
        ("/api/v1/auth/token/", "multipart/form-data; boundary=x"),
    ],
)
def test_broken_form_bodies_are_a_json_4xx(served, path, content_type):
    body = b'--x\r\nContent-Disposition: form-data; name="username"\r\n\r\na\r\n'
    response, data = send(served, "POST", path, body, {"Content-Type": content_type})
    assert 400 <= response.status < 500, (response.status, data)
    assert response.getheader("Content-Type") == "application/json"


def test_unsafe_header_characters_are_percent_encoded():
    assert safe_header_value("plain ascii; ok") == "plain ascii; ok"
    assert safe_header_value("<http://x/😀/>") == "<http://x/%F0%9F%98%80/>"
    assert safe_header_value("a\r\nSet-Cookie: x") == "a%0D%0ASet-Cookie: x"
    assert safe_header_value("\x13\x7f") == "%13%7F"
    assert safe_header_value("café") == "café"  # ISO-8859-1 is sendable as is
