"""Fixtures for the Ansible plugin's tests: one served application per module (real
ansible runs through the engine's worker threads), three users (a project's owner, a
reporter of that project, an outsider with a project of their own), and a real sshd
on a free loopback port with a generated key.

Ansible's start-up costs about a second per program run, so fixtures are shared per
module and playbooks are tiny.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ansflow_pyramid.testing import empty_all_tables, in_ci
from tests.engine.live import Api, serve

SSHD = "/usr/sbin/sshd"
LOCAL_INVENTORY = "[local]\nlocalhost ansible_connection=local\n"


def require(condition: bool, message: str) -> None:
    """Skip without a tool; fail under CI, where every tool must be installed."""
    if condition:
        return
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class World:
    base: str
    app: Any
    owner: Api
    reporter: Api
    outsider: Api
    project: int
    other_project: int
    inventory: int
    private_root: Path

    def playbook(self, name: str, content: str, api: Api | None = None) -> dict[str, Any]:
        return (api or self.owner).post(
            "/api/v1/ansible/playbooks/",
            {"name": name, "project": self.project, "content": content},
        )

    def execute(self, playbook_id: int, **body: Any) -> dict[str, Any]:
        body.setdefault("inventory_id", self.inventory)
        return self.owner.post(f"/api/v1/ansible/playbooks/{playbook_id}/execute/", body)

    def wait_run(self, run_id: int, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.owner.get(f"/api/v1/ansible/executions/{run_id}/")
            if run["status"] in ("success", "failed", "cancelled", "timeout", "skipped"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['status']}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def world(ansflow_app, ansflow_settings, tmp_path_factory) -> Iterator[World]:
    from ansflow_pyramid import make_configurator

    require(
        shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is not None
        or shutil.which("ansible-playbook") is not None,
        "ansible-core is not installed",
    )
    tmp = tmp_path_factory.mktemp("ansible")
    settings = dict(ansflow_settings)
    settings.update(
        {
            "ansflow.dispatch": "threads",
            "ansflow.dispatch_threads": "4",
            "ansflow.sse_heartbeat": "0.5",
            "ansflow.workspace_root": str(tmp / "workspaces"),
            "ansflow.cancel_poll_interval": "0.5",
            "ansflow.cancel_grace": "2",
            "ansflow.ansible.private_root": str(tmp / "private"),
        }
    )
    app = make_configurator(settings, environ={}).make_wsgi_app()
    try:
        with serve(app) as base:
            owner = Api(base, app, "ansible-owner")
            reporter = Api(base, app, "ansible-reporter")
            outsider = Api(base, app, "ansible-outsider")
            project = owner.post("/api/v1/projects/projects/", {"name": "ops"})["id"]
            _add_member(owner, project, reporter.user_id, "reporter")
            other = outsider.post("/api/v1/projects/projects/", {"name": "elsewhere"})["id"]
            inventory = owner.post(
                "/api/v1/ansible/inventories/",
                {"name": "local", "project": project, "content": LOCAL_INVENTORY},
            )["id"]
            yield World(
                base, app, owner, reporter, outsider, project, other, inventory, tmp / "private"
            )
    finally:
        app.registry["ansflow.execution"].close()
        empty_all_tables(app)
        app.registry["db_engine"].dispose()


def _add_member(owner: Api, project: int, user_id: int, role: str) -> None:
    response = owner.session.post(
        owner.url(f"/api/v1/projects/projects/{project}/add_member/"),
        json={"user_id": user_id, "role": role},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


# -- a real sshd ---------------------------------------------------------------------
@dataclass
class SshServer:
    port: int
    user: str
    private_key: str
    wrong_key: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Iterator[SshServer]:
    """Debian's OpenSSH server on a free loopback port, accepting one generated key."""
    require(os.path.exists(SSHD), f"{SSHD} is missing (apt-get install openssh-server)")
    require(shutil.which("ssh") is not None, "the ssh client is missing")
    tmp = tmp_path_factory.mktemp("sshd")
    os.chmod(tmp, 0o700)
    _keygen(tmp / "host_key")
    client_key = _keygen(tmp / "client_key")
    wrong_key = _keygen(tmp / "wrong_key")
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    import getpass

    user = getpass.getuser()
    port = _free_port()
    config = tmp / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {tmp / 'host_key'}",
                f"PidFile {tmp / 'sshd.pid'}",
                f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user}",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = open(tmp / "sshd.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "sshd did not start: " + (tmp / "sshd.log").read_text(errors="replace")
                    ) from None
                time.sleep(0.05)
        yield SshServer(port, user, client_key, wrong_key)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
