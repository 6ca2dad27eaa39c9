"""Which browser origins may open sockets (``ansflow.allowed_hosts``)."""

from __future__ import annotations

import pytest

from ansflow_pyramid.sockets.settings import origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "expected"),
    [
        (None, "api.example", (), True),  # not a browser: credentials decide
        ("https://api.example", "api.example", (), True),
        ("https://api.example:443", "api.example", (), True),
        ("http://api.example:8001", "api.example:6543", (), False),
        ("https://evil.example", "api.example", (), False),
        ("null", "api.example", (), False),
        ("https://app.example", "api.example", ("app.example",), True),
        ("https://a.app.example", "api.example", (".app.example",), True),
        ("https://app.example", "api.example", (".app.example",), True),
        ("https://notapp.example", "api.example", (".app.example",), False),
        ("http://localhost:3000", "localhost:6543", ("localhost",), True),
        ("http://localhost:3000", "localhost:6543", ("localhost:8080",), False),
        ("http://[::1]:3000", "x", ("::1",), True),
        ("https://anything.example", "x", ("*",), True),
        ("javascript://app.example", "x", ("app.example",), False),
        ("https://app.example/path", "x", ("app.example",), False),
    ],
)
def test_origin_allowed(origin, host, allowed, expected):
    assert origin_allowed(origin, host, allowed) is expected
