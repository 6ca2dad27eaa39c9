"""Asking Ansible itself: is this inventory or playbook valid, is this host reachable,
what are its facts?

Each check runs an Ansible program in a private directory with a time limit and
answers plain data; services decide what to store and what to raise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ansflow_ansible.interfaces import AnsibleNotInstalled, InvalidAnsibleContent
from ansflow_ansible.toolchain import (
    CONTROLLER_VARS,
    AnsibleUnavailable,
    CredentialSecrets,
    PrivateDirectory,
    RunReport,
    ansible_environment,
    ansible_executable,
    ansible_message,
    credential_arguments,
    read_report,
    run_command,
)

INVENTORY_FILE_NAMES = {"ini": "inventory.ini", "yaml": "inventory.yml"}


def _executable(name: str) -> str:
    try:
        return ansible_executable(name)
    except AnsibleUnavailable as error:
        raise AnsibleNotInstalled(str(error)) from error


def _timeout(settings: Mapping[str, Any], name: str, default: float) -> float:
    try:
        return float(settings.get(name, default))
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class InventorySummary:
    hosts: list[str]
    groups: list[str]


def parse_inventory(
    content: str, format_type: str, settings: Mapping[str, Any]
) -> InventorySummary:
    """Parse ``content`` with ``ansible-inventory``; :class:`InvalidAnsibleContent`
    with Ansible's message when it cannot."""
    private = PrivateDirectory(settings.get("ansflow.ansible.private_root"))
    try:
        source = private.write(INVENTORY_FILE_NAMES.get(format_type, "inventory.ini"), content)
        output = private.path / "inventory.json"
        env = ansible_environment(private, settings=settings)
        # Only the declared format's parser, and a parse failure is an error (Ansible
        # would otherwise warn and carry on with an empty inventory).
        env["ANSIBLE_INVENTORY_ENABLED"] = "yaml" if format_type == "yaml" else "ini"
        env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "True"
        env["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "True"
        result = run_command(
            [
                _executable("ansible-inventory"),
                "-i",
                str(source),
                "--list",
                "--output",
                str(output),
            ],
            env,
            private.path,
            _timeout(settings, "ansflow.ansible.check_timeout", 60),
        )
        if result.timed_out:
            raise InvalidAnsibleContent("content", "ansible-inventory did not finish in time")
        if result.returncode != 0 or not output.exists():
            raise InvalidAnsibleContent("content", private.hide(ansible_message(result.output)))
        document = json.loads(output.read_text(encoding="utf-8"))
    finally:
        private.remove()
    hosts = sorted((document.get("_meta") or {}).get("hostvars", {}))
    for group in document.values():
        if isinstance(group, dict):
            hosts.extend(h for h in group.get("hosts", []) if h not in hosts)
    groups = sorted(name for name in document if name not in ("_meta", "all"))
    return InventorySummary(sorted(set(hosts)), groups)


def syntax_check(content: str, settings: Mapping[str, Any]) -> str:
    """``ansible-playbook --syntax-check`` on ``content`` in a scratch directory;
    Ansible's output on success, :class:`InvalidAnsibleContent` otherwise."""
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError:
        document = None  # Ansible's own message is the one to show; let it parse.
    if document is not None and not isinstance(document, list):
        raise InvalidAnsibleContent("content", "A playbook must be a YAML list of plays.")
    private = PrivateDirectory(settings.get("ansflow.ansible.private_root"))
    try:
        playbook = private.write("playbook.yml", content)
        result = run_command(
            [_executable("ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
            ansible_environment(private, settings=settings),
            private.path,
            _timeout(settings, "ansflow.ansible.check_timeout", 60),
        )
    finally:
        private.remove()
    if result.timed_out:
        raise InvalidAnsibleContent(
            "content", "ansible-playbook --syntax-check did not finish in time"
        )
    if result.returncode != 0:
        raise InvalidAnsibleContent("content", private.hide(ansible_message(result.output)))
    return private.hide(ansible_message(result.output))


def host_inventory(name: str, variables: Mapping[str, Any]) -> str:
    """A YAML inventory with one host."""
    return yaml.safe_dump({"all": {"hosts": {name: dict(variables)}}}, sort_keys=True)


@dataclass
class AdHocResult:
    report: RunReport
    returncode: int | None
    output: str
    timed_out: bool


def run_module(
    host: str,
    variables: Mapping[str, Any],
    module: str,
    secrets: CredentialSecrets,
    settings: Mapping[str, Any],
    gather_facts: bool = False,
) -> AdHocResult:
    """Run one module (``ping``, ``setup``) on one host with ``ansible``."""
    private = PrivateDirectory(settings.get("ansflow.ansible.private_root"))
    try:
        inventory = private.write("inventory.yml", host_inventory(host, variables))
        controller = private.write("controller.yml", CONTROLLER_VARS)
        argv = [
            _executable("ansible"),
            # The inventory holds this one host; its name never reaches the command line.
            "all",
            "-i",
            str(inventory),
            "-i",
            str(controller),
            "-m",
            module,
            *credential_arguments(private, secrets),
        ]
        result = run_command(
            argv,
            ansible_environment(private, settings=settings, facts=gather_facts),
            private.path,
            _timeout(settings, "ansflow.ansible.check_timeout", 60),
        )
        report = read_report(private.events_path)
    finally:
        private.remove()

    def mask(text: str) -> str:
        text = private.hide(text)
        for secret in secrets.values():
            text = text.replace(secret, "********")
        return text

    report.failure = mask(report.failure)
    report.unreachable = {host: mask(message) for host, message in report.unreachable.items()}
    for event in report.task_results:
        event["message"] = mask(str(event.get("message") or ""))
    return AdHocResult(
        report, result.returncode, mask(ansible_message(result.output)), result.timed_out
    )
