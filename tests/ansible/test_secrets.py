"""Credentials' secrets: encrypted at rest, write-only, and absent from every response,
log line and event, even when a playbook tries to print them."""

from __future__ import annotations

import json
import threading
import uuid

from sqlalchemy import text

from ansflow_pyramid.execution.sseclient import SSEClient

PRINTS_SECRETS = """\
- hosts: local
  gather_facts: false
  tasks:
    - name: print the become password
      debug:
        msg: "the password is {{ ansible_become_password }}"
    - name: fail with it
      fail:
        msg: "still {{ ansible_become_password }}"
"""


def test_secrets_never_leave_the_server(world):
    marker = uuid.uuid4().hex
    secrets = {
        "password": f"pw-{marker}",
        "sudo_password": f"sudo-{marker}",
        "vault_password": f"vault-{marker}",
        "ssh_private_key": f"-----BEGIN KEY-----\nkeyline-{marker}-abcdef\n-----END KEY-----\n",
    }
    api = world.owner
    seen: list[str] = []

    def record(response):
        seen.append(response.text)
        return response

    api.session.hooks["response"].append(lambda response, *a, **k: record(response))
    try:
        created = api.post(
            "/api/v1/ansible/credentials/",
            {"name": "secretive", "project": world.project, "username": "me", **secrets},
        )
        assert all(created[f"has_{name}"] for name in secrets)
        api.get("/api/v1/ansible/credentials/")
        api.get(f"/api/v1/ansible/credentials/{created['id']}/")
        # Absent (null) keeps a secret, "" removes it.
        updated = api.session.patch(
            api.url(f"/api/v1/ansible/credentials/{created['id']}/"), json={"vault_password": ""}
        ).json()
        assert updated["has_vault_password"] is False and updated["has_password"] is True

        playbook = world.playbook("leaky", PRINTS_SECRETS)
        run = world.execute(playbook["id"], credential_id=created["id"])
        events: list = []
        client = SSEClient(
            f"{world.base}/api/v1/cicd/executions/{run['execution']}/events/",
            headers={"Authorization": f"Bearer {world.owner.token}"},
            timeout=60,
        )
        reader = threading.Thread(target=_read, args=(client, events), daemon=True)
        reader.start()
        finished = world.wait_run(run["id"])
        reader.join(30)
        assert finished["status"] == "failed"
        logs = api.get(f"/api/v1/ansible/executions/{run['id']}/logs/")
        assert "the password is ********" in logs["stdout"]
        assert "fail with it" in finished["error_message"]
        api.get(f"/api/v1/cicd/executions/{run['execution']}/")
        api.get(f"/api/v1/cicd/executions/{run['execution']}/logs/")
    finally:
        api.session.hooks["response"].clear()
    everything = "\n".join(seen) + "\n".join(e.data for e in events)
    assert events, "no events were received"
    for value in secrets.values():
        for part in value.splitlines():
            if len(part) >= 16 and "-----" not in part:
                assert part not in everything, part
    # Stored encrypted.
    engine = world.app.registry["db_engine"]
    with engine.connect() as connection:
        row = (
            connection.execute(
                text("SELECT * FROM ansible_credentials WHERE id = :id"), {"id": created["id"]}
            )
            .mappings()
            .one()
        )
        stored_lines = (
            connection.execute(
                text("SELECT text FROM cicd_execution_log_lines WHERE execution_id = :id"),
                {"id": run["execution"]},
            )
            .scalars()
            .all()
        )
        stored_run = connection.execute(
            text("SELECT task_results FROM ansible_executions WHERE id = :id"), {"id": run["id"]}
        ).scalar_one()
    assert marker not in json.dumps(dict(row), default=str)
    assert not any(marker in line for line in stored_lines)
    assert marker not in json.dumps(stored_run, default=str)
    assert list(world.private_root.iterdir()) == []


def _read(client, events):
    for event in client:
        events.append(event)
        if event.event == "end":
            break
