"""The pieces around Ansible's processes, without starting Ansible."""

from __future__ import annotations

import json
import stat

from ansflow_ansible.runner import mask_list, playbook_arguments
from ansflow_ansible.schemas import AnsibleParameters
from ansflow_ansible.toolchain import (
    CredentialSecrets,
    PrivateDirectory,
    credential_arguments,
    read_report,
)


def test_secrets_go_to_0600_files_in_a_0700_directory_that_is_removed(tmp_path):
    private = PrivateDirectory(str(tmp_path))
    secrets = CredentialSecrets(
        username="deploy",
        ssh_private_key="KEY",
        password="pw",
        vault_password="vault",
        sudo_password="sudo",
    )
    argv = credential_arguments(private, secrets)
    assert stat.S_IMODE(private.path.stat().st_mode) == 0o700
    files = [p for p in private.path.iterdir() if p.is_file() and p.name != "ansible.cfg"]
    assert sorted(p.name for p in files) == ["secret_vars.json", "ssh_key", "vault_password"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Only file names reach the command line.
    assert not {"KEY", "pw", "vault", "sudo"} & set(" ".join(argv).split())
    assert json.loads((private.path / "secret_vars.json").read_text()) == {
        "ansible_password": "pw",
        "ansible_become_password": "sudo",
    }
    assert (private.path / "ssh_key").read_text() == "KEY\n"
    private.remove()
    assert not private.path.exists()


def test_results_are_read_from_the_callbacks_lines(tmp_path):
    events = tmp_path / "events.jsonl"
    lines = [
        {"event": "result", "status": "ok", "host": "a", "task": "t1", "changed": True},
        {"event": "result", "status": "failed", "host": "a", "task": "t2", "message": "boom"},
        {
            "event": "result",
            "status": "unreachable",
            "host": "b",
            "task": "t1",
            "message": "no route",
        },
        {
            "event": "stats",
            "hosts": {"a": {"ok": 1, "changed": 1, "failures": 1}, "b": {"unreachable": 1}},
        },
    ]
    events.write_text("\n".join(json.dumps(line) for line in lines) + '\n{"cut short')
    report = read_report(events)
    assert report.failed_task == "t2"
    assert report.failure == "task 't2' failed on a: boom"
    assert report.unreachable == {"b": "no route"}
    assert report.totals()["failures"] == 1 and report.totals()["unreachable"] == 1
    assert read_report(tmp_path / "missing").host_stats == {}


def test_run_options_and_masks():
    parameters = AnsibleParameters.model_validate(
        {
            "playbook": 1,
            "inventory": 2,
            "tags": ["a", "b"],
            "limit": "web",
            "check_mode": True,
            "become": True,
            "become_user": "root",
        }
    )
    assert playbook_arguments(parameters) == [
        "--tags",
        "a,b",
        "--limit",
        "web",
        "--check",
        "--become",
        "--become-user",
        "root",
    ]
    masks = mask_list(["abc", "secret", "-----BEGIN-----\nAAAAAAAAAAAAAAAAAAAAAAAA\n-----END-----"])
    assert "abc" not in masks and "secret" in masks
    assert "AAAAAAAAAAAAAAAAAAAAAAAA" in masks
