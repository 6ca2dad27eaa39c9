"""Against a real sshd on a loopback port, with a generated key stored as a credential.

The hosts here are on 127.0.0.1: connections to user-supplied addresses from the
platform itself are Ansible's (through ssh), not the HTTP client's.
"""

from __future__ import annotations

import sys

import pytest

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: who am i
      command: id -un
"""


@pytest.fixture(scope="module")
def ssh_setup(world, sshd):
    api = world.owner
    credential = api.post(
        "/api/v1/ansible/credentials/",
        {
            "name": "deploy key",
            "project": world.project,
            "credential_type": "ssh_key",
            "username": sshd.user,
            "ssh_private_key": sshd.private_key,
        },
    )
    wrong = api.post(
        "/api/v1/ansible/credentials/",
        {
            "name": "wrong key",
            "project": world.project,
            "credential_type": "ssh_key",
            "username": sshd.user,
            "ssh_private_key": sshd.wrong_key,
        },
    )
    host = api.post(
        "/api/v1/ansible/hosts/",
        {
            "hostname": "box",
            "ip_address": "127.0.0.1",
            "port": sshd.port,
            "project": world.project,
            "credential": credential["id"],
            # The "remote" machine is this one: its Python has what modules need.
            "variables": {"ansible_python_interpreter": sys.executable},
        },
    )
    return {"credential": credential, "wrong": wrong, "host": host}


def test_a_stored_key_reaches_the_host_and_facts_are_stored(world, ssh_setup):
    api = world.owner
    host = ssh_setup["host"]
    assert ssh_setup["credential"]["has_ssh_private_key"] is True
    assert "ssh_private_key" not in ssh_setup["credential"]
    ping = api.post(f"/api/v1/ansible/hosts/{host['id']}/check_connectivity/", status=200)
    assert ping["success"] is True and ping["status"] == "success", ping
    facts = api.post(f"/api/v1/ansible/hosts/{host['id']}/gather_facts/", status=200)
    assert facts["success"] is True and facts["facts_count"] > 10
    stored = api.get(f"/api/v1/ansible/hosts/{host['id']}/")
    assert stored["status"] == "active" and stored["last_check"]
    assert stored["os_family"] and stored["ansible_facts"]["ansible_hostname"]


def test_a_playbook_runs_over_ssh(world, ssh_setup, sshd):
    api = world.owner
    inventory = api.post(
        "/api/v1/ansible/inventories/",
        {
            "name": "ssh",
            "project": world.project,
            "format_type": "yaml",
            "content": (
                "all:\n  hosts:\n    box:\n      ansible_host: 127.0.0.1\n"
                f"      ansible_port: {sshd.port}\n"
                f"      ansible_python_interpreter: {sys.executable}\n"
            ),
        },
    )
    playbook = world.playbook("over ssh", PLAYBOOK)
    run = world.execute(
        playbook["id"], inventory_id=inventory["id"], credential_id=ssh_setup["credential"]["id"]
    )
    finished = world.wait_run(run["id"])
    assert finished["status"] == "success", finished
    assert finished["host_stats"]["box"]["ok"] == 1
    assert finished["credential"] == ssh_setup["credential"]["id"]


def test_a_wrong_key_is_a_clear_unreachable_result(world, ssh_setup):
    api = world.owner
    host = ssh_setup["host"]
    # A host described in the body, checked with a credential's test_connection/.
    result = api.post(
        f"/api/v1/ansible/credentials/{ssh_setup['wrong']['id']}/test_connection/",
        {
            "hostname": "box",
            "ip_address": "127.0.0.1",
            "port": ssh_setup["host"]["port"],
            "variables": {"ansible_python_interpreter": sys.executable},
        },
        status=200,
    )
    assert result["success"] is False
    assert result["status"] == "unreachable"
    assert "Permission denied" in result["message"]
    # The stored host is unchanged by a check of a host described in the body.
    assert api.get(f"/api/v1/ansible/hosts/{host['id']}/")["status"] == "active"
