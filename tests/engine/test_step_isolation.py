"""Steps are isolated from the control plane: another OS user, a clean environment,
and no process left behind when their worker is killed."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansflow_pyramid.execution import StepSpec
from ansflow_pyramid.testing import in_ci
from tests.engine.conftest import processes_in_group, wait_for
from tests.reliability.services import STEP_USER
from tests.reliability.services import ensure_step_user as create_step_user


def ensure_step_user() -> pwd.struct_passwd:
    """The unprivileged step account (created when running as root, as CI does)."""
    account = create_step_user()
    if account is None:
        message = f"switching to {STEP_USER} needs root (and the user)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return account


def log_text(harness, execution_id):
    return "\n".join(line.text for line in harness.store.read_log_lines(execution_id, 0, 10000))


def test_production_refuses_steps_as_the_server_user(harness):
    harness.engine.app_settings = {"ansflow.environment": "production"}
    execution_id = harness.store.add([StepSpec(1, "build", command="echo ran")])
    assert harness.run(execution_id) == "failed"
    text = log_text(harness, execution_id)
    assert "refusing to run a local shell step as the server's own user" in text
    assert "ran" not in text.splitlines()
    # The documented setting says it is intended.
    harness.engine.app_settings = {
        "ansflow.environment": "production",
        "ansflow.allow_steps_as_server_user": "true",
    }
    execution_id = harness.store.add([StepSpec(1, "build", command="echo ran")])
    assert harness.run(execution_id) == "success"


def test_a_step_runs_as_the_step_user_and_sees_no_secret(harness, tmp_path, monkeypatch):
    account = ensure_step_user()
    secret = "s3cret-" + os.urandom(8).hex()
    # The server's environment and files hold secrets; the step must not reach them.
    monkeypatch.setenv("ANSFLOW_SECRET_KEY", secret)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://ansflow:{secret}@db/ansflow")
    ini = tmp_path / "server.ini"
    ini.write_text(f"[app:main]\nansflow.secret_key = {secret}\n")
    ini.chmod(0o600)
    harness.engine.app_settings = {
        "ansflow.environment": "production",
        "ansflow.step_user": STEP_USER,
    }
    # The workspace root must be reachable by the step user (like /tmp is).
    os.chmod(tmp_path, 0o755)
    attempts = " ; ".join(
        [
            "id -u",
            'echo "HOME=$HOME USER=$USER"',
            "env",
            "tr '\\0' '\\n' < /proc/$PPID/environ",
            f"tr '\\0' '\\n' < /proc/{os.getpid()}/environ",
            "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>/dev/null",
            f"cat {ini}",
            "touch owned-by-step && stat -c %U owned-by-step",
            "true",
        ]
    )
    execution_id = harness.store.add([StepSpec(1, "probe", command=attempts)])
    assert harness.run(execution_id) == "success"
    text = log_text(harness, execution_id)
    lines = text.splitlines()
    assert str(account.pw_uid) in lines
    assert f"HOME={account.pw_dir} USER={STEP_USER}" in lines
    assert STEP_USER in lines  # the workspace file belongs to the step user
    assert secret not in text, text
    assert "DATABASE_URL" not in text and "ANSFLOW_SECRET_KEY" not in text


GUARDED_WORKER = textwrap.dedent(
    """
    import sys, tempfile, time
    from pathlib import Path
    from ansflow_local_executor import LocalShellRunner
    from ansflow_pyramid.execution import StepContext, StepSpec

    runner = LocalShellRunner()
    runner.prepare(StepContext(1, StepSpec(1, "s", command="sleep 60 & sleep 60 & wait"),
                               Path(tempfile.mkdtemp()), {"PATH": "/usr/bin:/bin"}, {}))
    runner.start()
    print(runner.pgid, flush=True)
    time.sleep(60)
    """
)


def test_steps_die_with_a_killed_worker():
    worker = subprocess.Popen(
        [sys.executable, "-c", GUARDED_WORKER], stdout=subprocess.PIPE, text=True
    )
    try:
        pgid = int(worker.stdout.readline())
        assert wait_for(lambda: len(processes_in_group(pgid)) >= 3, 5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(5)
        started = time.monotonic()
        assert wait_for(lambda: processes_in_group(pgid) == [], 5), processes_in_group(pgid)
        assert time.monotonic() - started < 5
    finally:
        if worker.poll() is None:
            worker.kill()
