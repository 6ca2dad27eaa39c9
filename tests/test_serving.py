"""The README's serve command, for real: migrate, then pserve development.ini."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_development_ini_migrates_and_serves(tmp_path):
    port = free_port()
    ini = tmp_path / "development.ini"
    text = (ROOT / "development.ini").read_text()
    ini.write_text(text.replace("listen = localhost:6543", f"listen = 127.0.0.1:{port}"))
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
    migrate = subprocess.run(
        [str(BIN / "ansflow"), "migrate", str(ini)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert (tmp_path / "ansflow.sqlite").exists()
    server = subprocess.Popen(
        [str(BIN / "pserve"), str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/health/", timeout=2
                ) as response:
                    body = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None, "pserve did not answer within 30 s"
        assert body["status"] == "ok"
        assert body["checks"]["database"]["backend"] == "sqlite"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    shutil.rmtree(tmp_path, ignore_errors=True)
