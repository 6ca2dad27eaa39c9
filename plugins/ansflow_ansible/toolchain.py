"""Running Ansible's own programs: files for a run, its environment, its results.

Everything that touches ``ansible-*`` executables is here, so the rest of the plugin
deals in plain data.  Ansible is always run as a separate process (its Python API is
not a stable interface), in a new session so that a timeout or a cancel can stop the
whole process group, with a private directory (mode 0700) holding the inventory, the
playbook and every secret (mode 0600 files), removed when the work is done.

Results are not scraped from the text output: the ``ansflow_events`` callback in
``callback_plugins/`` writes them as JSON lines, read back by :func:`read_report`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CALLBACK_DIR = Path(__file__).parent / "callback_plugins"
EVENTS_FILE = "events.jsonl"
#: Variables a step (or a check) passes to Ansible from the serving process.
PASSTHROUGH = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
#: Interpreter for hosts reached with ``connection: local``: the controller's own
#: Python, which has every module dependency Ansible needs.  Other hosts keep Ansible's
#: discovery.  It is a variable of the ``all`` group in an extra inventory source, the
#: lowest precedence there is, so a host's own ``ansible_python_interpreter`` wins.
CONTROLLER_VARS = (
    "all:\n"
    "  vars:\n"
    "    ansible_python_interpreter: >-\n"
    "      {{ ansible_playbook_python if (ansible_connection | default('ssh')) == 'local'\n"
    "      else 'auto_silent' }}\n"
)
MAX_MESSAGE = 4000
MAX_TASK_RESULTS = 500


class AnsibleUnavailable(RuntimeError):
    """An Ansible executable cannot be found."""


def ansible_executable(name: str) -> str:
    """The path of ``ansible-playbook`` (or another Ansible program).

    The one installed next to this Python comes first (the package installs
    ansible-core), then ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise AnsibleUnavailable(f"{name} is not installed")
    return found


@dataclass(frozen=True)
class CredentialSecrets:
    """A credential's decrypted values, held only while a run or check prepares."""

    username: str = ""
    password: str = ""
    ssh_private_key: str = ""
    vault_password: str = ""
    sudo_password: str = ""

    def values(self) -> list[str]:
        """Every non-empty secret, for checks that they leak nowhere."""
        return [
            v
            for v in (self.password, self.ssh_private_key, self.vault_password, self.sudo_password)
            if v
        ]


class PrivateDirectory:
    """A 0700 directory for one run or check; secrets go in 0600 files."""

    def __init__(self, base: str | None = None, prefix: str = "ansflow-ansible-") -> None:
        if base:
            Path(base).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=base or None))
        os.chmod(self.path, 0o700)
        (self.path / "tmp").mkdir(mode=0o700)
        (self.path / "ansible.cfg").write_text("")

    def write(self, name: str, text: str, mode: int = 0o600) -> Path:
        """Create ``name`` with ``text``, with ``mode`` from the first byte written."""
        target = self.path / name
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return target

    def hide(self, text: str) -> str:
        """``text`` without this directory's path (messages name files by their name)."""
        return text.replace(f"{self.path}/", "").replace(str(self.path), ".")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @property
    def events_path(self) -> Path:
        return self.path / EVENTS_FILE


def ansible_environment(
    private: PrivateDirectory,
    base: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    facts: bool = False,
) -> dict[str, str]:
    """The environment of an Ansible process: ``base`` plus Ansible's settings.

    The configuration file is an empty one of the run's own, so neither
    ``/etc/ansible/ansible.cfg`` nor an ``ansible.cfg`` in a checked-out workspace
    changes how the platform runs Ansible.  SSH connection sharing is off: a
    ``ControlPersist`` master would outlive the run, outside its process group;
    pipelining (on unless ``ansflow.ansible.pipelining = false``) makes up for it.
    """
    settings = settings or {}
    if base is None:
        base = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    env = dict(base)
    host_key_checking = str(settings.get("ansflow.ansible.host_key_checking", "false")).lower()
    env.update(
        {
            "ANSIBLE_CONFIG": str(private.path / "ansible.cfg"),
            "ANSIBLE_HOME": str(private.path / "home"),
            "ANSIBLE_LOCAL_TEMP": str(private.path / "tmp"),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_CALLBACKS_ENABLED": "ansflow_events",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "True"
            if host_key_checking in ("1", "true", "yes")
            else "False",
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o ControlPersist=no",
            # One SSH connection per task instead of four (copy, chmod, run, remove).
            "ANSIBLE_PIPELINING": str(settings.get("ansflow.ansible.pipelining", "True")),
            "ANSIBLE_TIMEOUT": str(settings.get("ansflow.ansible.connect_timeout", "10")),
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "PYTHONUNBUFFERED": "1",
            "ANSFLOW_ANSIBLE_EVENTS": str(private.events_path),
        }
    )
    if facts:
        env["ANSFLOW_ANSIBLE_FACTS"] = "1"
    return env


def credential_arguments(private: PrivateDirectory, secrets: CredentialSecrets) -> list[str]:
    """Command-line options for a credential; its secrets go to 0600 files only."""
    argv: list[str] = []
    if secrets.username:
        argv += ["--user", secrets.username]
    if secrets.ssh_private_key:
        key = secrets.ssh_private_key
        key_file = private.write("ssh_key", key if key.endswith("\n") else key + "\n")
        argv += ["--private-key", str(key_file)]
    if secrets.vault_password:
        vault_file = private.write("vault_password", secrets.vault_password)
        argv += ["--vault-password-file", str(vault_file)]
    secret_vars: dict[str, str] = {}
    if secrets.password:
        secret_vars["ansible_password"] = secrets.password
    if secrets.sudo_password:
        secret_vars["ansible_become_password"] = secrets.sudo_password
    if secret_vars:
        vars_file = private.write("secret_vars.json", json.dumps(secret_vars))
        argv += ["--extra-vars", f"@{vars_file}"]
    return argv


@dataclass
class CommandResult:
    returncode: int | None
    output: str
    timed_out: bool = False


def run_command(
    argv: list[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> CommandResult:
    """Run ``argv`` to its end (or ``timeout``), in a session of its own; stdout and
    stderr merged.  A timeout kills the whole process group."""
    process = subprocess.Popen(
        argv,
        cwd=str(cwd),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        return CommandResult(process.returncode, output.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return CommandResult(None, output.decode("utf-8", "replace"), timed_out=True)


def ansible_message(output: str) -> str:
    """Ansible's error text without blank lines and its noise about the config file."""
    lines = [line.rstrip() for line in output.splitlines()]
    kept = [line for line in lines if line.strip() and not line.startswith("[DEPRECATION")]
    return "\n".join(kept)[-MAX_MESSAGE:]


# -- results -----------------------------------------------------------------------
@dataclass
class RunReport:
    """What the ``ansflow_events`` callback recorded about one run."""

    host_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    task_results: list[dict[str, Any]] = field(default_factory=list)
    failed_task: str = ""
    failure: str = ""
    unreachable: dict[str, str] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        keys = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
        return {key: sum(stats.get(key, 0) for stats in self.host_stats.values()) for key in keys}


def read_report(path: Path) -> RunReport:
    """Parse the callback's JSON lines (a missing file is an empty report)."""
    report = RunReport()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return report
    for raw in text.splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue  # a line cut short by a kill
        kind = event.get("event")
        if kind == "stats":
            report.host_stats = event.get("hosts") or {}
        elif kind == "result":
            facts = event.pop("facts", None)
            if isinstance(facts, dict):
                report.facts[event["host"]] = facts
            if len(report.task_results) < MAX_TASK_RESULTS:
                report.task_results.append(event)
            status = event.get("status")
            if status == "failed" and not report.failed_task:
                report.failed_task = str(event.get("task") or "")
                report.failure = f"task {report.failed_task!r} failed on {event.get('host')}: {event.get('message') or ''}".strip()
            elif status == "unreachable":
                report.unreachable[str(event.get("host"))] = str(event.get("message") or "")
    if not report.host_stats:
        report.host_stats = _stats_from_results(report.task_results)
    return report


def _stats_from_results(results: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per-host counts from results, for ad hoc commands (they report no stats)."""
    stats: dict[str, dict[str, int]] = {}
    names = {
        "ok": "ok",
        "failed": "failures",
        "unreachable": "unreachable",
        "skipped": "skipped",
        "ignored": "ignored",
    }
    for result in results:
        host = stats.setdefault(
            str(result.get("host")),
            {
                "ok": 0,
                "changed": 0,
                "failures": 0,
                "unreachable": 0,
                "skipped": 0,
                "rescued": 0,
                "ignored": 0,
            },
        )
        key = names.get(str(result.get("status")))
        if key:
            host[key] += 1
        if result.get("changed"):
            host["changed"] += 1
    return stats
