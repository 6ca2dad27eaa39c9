"""``pserve`` with the uvicorn server runner, as an operator starts it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ansflow_pyramid.sockets.serve import uvicorn_config


def test_unknown_server_options_are_refused(ansflow_app):
    with pytest.raises(ValueError, match="wrokers"):
        uvicorn_config(ansflow_app, wrokers="4")


def test_pserve_runs_the_asgi_server_from_the_ini(ansflow_settings, ansflow_app, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {**ansflow_settings, "ansflow.dispatch": "none"}
    lines = ["[app:main]", "use = egg:ansflow-pyramid"]
    lines += [f"{k} = {str(v).replace('%', '%%')}" for k, v in sorted(settings.items())]
    lines += [
        "[server:main]",
        "use = egg:waitress#main",
        "[server:sockets]",
        "use = egg:ansflow-pyramid#uvicorn",
        f"listen = 127.0.0.1:{port}",
        "threads = 2",
        "ws_ping_interval = 5",
        "timeout_graceful_shutdown = 1",
    ]
    ini = tmp_path / "sockets.ini"
    ini.write_text("\n".join(lines) + "\n")
    pserve = Path(sys.executable).parent / "pserve"
    server = subprocess.Popen(
        [str(pserve), str(ini), "--server-name", "sockets"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"{base}/api/v1/health/", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "pserve did not start"
                time.sleep(0.1)
        assert health.status_code == 200
        with pytest.raises(InvalidStatus) as refused, connect(f"ws://127.0.0.1:{port}/ws/monitor/"):
            pass
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body)["code"] == "not_authenticated"
    finally:
        server.terminate()
        server.wait(timeout=20)
