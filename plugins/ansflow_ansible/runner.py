"""The ``ansible`` step runner: a playbook run as a step of an execution.

It is the local shell runner (process group, live lines, cancel with SIGTERM then
SIGKILL, no process left behind) running ``ansible-playbook`` instead of a script, so
an Ansible run gets exactly what every step gets from the engine: dispatch, the log
store, Server-Sent Events, cancel and timeouts.  What it adds:

* ``prepare`` loads the playbook, inventory and credential named by the step's
  ``ansible_parameters`` (checked against the execution's project), and writes them
  into a private 0700 directory outside the shared workspace; secrets go to 0600
  files there and reach Ansible only as file names on its command line;
* the ``ansflow_events`` callback records task and host results as JSON lines,
  which ``wait`` stores on the run record (per-host ok / changed / failed /
  unreachable counts, task results, the failed task's name);
* output lines pass through a filter that masks every secret of the credential,
  in case a playbook prints one;
* ``cleanup`` removes the private directory.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ansflow_cicd.secrets import get_secret_box
from ansflow_local_executor import LocalShellRunner
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ansflow_ansible import services
from ansflow_ansible.schemas import AnsibleParameters
from ansflow_ansible.toolchain import (
    CONTROLLER_VARS,
    PrivateDirectory,
    RunReport,
    ansible_environment,
    ansible_executable,
    credential_arguments,
    read_report,
)
from ansflow_pyramid.api import APIError
from ansflow_pyramid.execution import StepContext, StepOutcome

log = logging.getLogger(__name__)
MASK = "********"


def _as_list(value: list[str] | str) -> str:
    return ",".join(value) if isinstance(value, list) else value


def playbook_arguments(parameters: AnsibleParameters) -> list[str]:
    """``ansible-playbook`` options for the run's parameters (secrets excluded)."""
    argv: list[str] = []
    if parameters.tags:
        argv += ["--tags", _as_list(parameters.tags)]
    if parameters.skip_tags:
        argv += ["--skip-tags", _as_list(parameters.skip_tags)]
    if parameters.limit:
        argv += ["--limit", parameters.limit]
    if parameters.check_mode:
        argv.append("--check")
    if parameters.become:
        argv.append("--become")
    if parameters.become_user:
        argv += ["--become-user", parameters.become_user]
    if parameters.forks:
        argv += ["--forks", str(parameters.forks)]
    return argv


def mask_list(secrets: list[str]) -> list[str]:
    """What output must never show: each secret, and each line of a multi-line one
    (a key printed by a task arrives line by line), longest first."""
    found = {secret for secret in secrets if len(secret) >= 4}
    for secret in secrets:
        if "\n" in secret:
            found.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 16)
    return sorted(found, key=len, reverse=True)


class AnsibleStepRunner(LocalShellRunner):
    """Runs one ``ansible`` step; see the module documentation."""

    def __init__(self, registry: Any) -> None:
        super().__init__()
        self.registry = registry
        self.private: PrivateDirectory | None = None
        self.secrets: list[str] = []
        self.report: RunReport | None = None

    def prepare(self, context: StepContext) -> None:
        super().prepare(context)
        try:
            parameters = AnsibleParameters.model_validate(
                context.step.config.get("ansible_parameters") or {}
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            raise RuntimeError(f"invalid ansible_parameters: {problems}") from None
        settings = context.settings
        with Session(self.registry["db_engine"], expire_on_commit=False) as dbsession:
            try:
                with dbsession.begin():
                    _, playbook, inventory, credential = services.record_step_run(
                        dbsession, context.step.step_id, parameters
                    )
                    secrets = services.credential_secrets(get_secret_box(self.registry), credential)
                    playbook_text, inventory_text = playbook.content, inventory.content
                    inventory_format = inventory.format_type
            except APIError as error:
                detail = "; ".join(
                    message for messages in (error.errors or {}).values() for message in messages
                )
                raise RuntimeError(detail or error.detail) from None
        self.secrets = mask_list(secrets.values())
        private = PrivateDirectory(settings.get("ansflow.ansible.private_root"))
        self.private = private
        inventory_file = private.write(
            "inventory.yml" if inventory_format == "yaml" else "inventory.ini", inventory_text
        )
        controller = private.write("controller.yml", CONTROLLER_VARS)
        playbook_file = private.write("playbook.yml", playbook_text)
        argv = [
            ansible_executable("ansible-playbook"),
            "-i",
            str(inventory_file),
            "-i",
            str(controller),
            str(playbook_file),
            *playbook_arguments(parameters),
        ]
        if parameters.extra_vars:
            extra = private.write("extra_vars.json", json.dumps(parameters.extra_vars))
            argv += ["--extra-vars", f"@{extra}"]
        argv += credential_arguments(private, secrets)
        environment = ansible_environment(private, base=context.environment, settings=settings)
        environment["ANSIBLE_ROLES_PATH"] = str(context.workspace / "roles")
        self.context = replace(
            context,
            step=replace(context.step, command="exec " + shlex.join(argv)),
            environment=environment,
        )

    def mask(self, value: Any) -> Any:
        """``value`` (text, or a JSON document) with every secret replaced by a mask."""
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {key: self.mask(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask(item) for item in value]
        return value

    def stream_output(self) -> Iterator[str]:
        for line in super().stream_output():
            yield self.mask(line)

    def wait(self, timeout: float | None = None) -> StepOutcome:
        outcome = super().wait(timeout)
        if self.private is None or self.context is None:
            return outcome
        report = read_report(self.private.events_path)
        report.task_results = [self.mask(result) for result in report.task_results]
        report.failure = self.mask(report.failure)
        self.report = report
        succeeded = outcome.exit_code == 0 and not outcome.error
        try:
            with Session(self.registry["db_engine"]) as dbsession, dbsession.begin():
                services.record_results(
                    dbsession,
                    self.context.step.step_id,
                    report.host_stats,
                    report.task_results,
                    report.failed_task,
                    outcome.exit_code,
                    succeeded,
                )
        except Exception:
            log.exception(
                "could not store the results of ansible step %s", self.context.step.step_id
            )
        if succeeded:
            return StepOutcome(exit_code=0, output={"host_stats": report.host_stats})
        if report.failure:
            error = report.failure
        elif report.unreachable:
            host, message = next(iter(report.unreachable.items()))
            error = f"host {host} unreachable: {message}"
        else:
            error = outcome.error or f"ansible-playbook exited with code {outcome.exit_code}"
        error = self.mask(error)
        return StepOutcome(
            exit_code=outcome.exit_code,
            error=error[:2000],
            output={"host_stats": report.host_stats},
        )

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            if self.private is not None:
                self.private.remove()
