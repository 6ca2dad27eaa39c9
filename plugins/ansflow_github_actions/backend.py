"""Pipelines on GitHub Actions: the remote backend of ``github_actions`` tools.

The pipeline's steps become a workflow file (``.github/workflows/<name>.yml``), one job
per step chained with ``needs``, dispatched by file name (``workflow_dispatch``) with
AnsFlow's dispatch token as an input.  The workflow's ``run-name`` carries the token,
so the run is found by it (``display_title``) rather than by guessing "the latest run"
- or taken from the dispatch's answer when GitHub returns the run's details.  Job logs
exist once a job has finished; they are read through GitHub's redirect to a
short-lived download URL, which the outbound client follows without the token.

==================================================  ==========================
GitHub (run / job ``status`` + ``conclusion``)      AnsFlow
==================================================  ==========================
queued, waiting, requested, pending                 running / pending
in_progress                                         running
completed + success, neutral                        success
completed + failure, action_required, stale         failed
completed + cancelled                               cancelled
completed + skipped                                 cancelled / skipped
completed + timed_out                               timeout
==================================================  ==========================
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import yaml
from ansflow_remote.http import split_complete_lines

from ansflow_github_actions.client import GitHubClient
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.remote import (
    BackendCapabilities,
    LogChunk,
    RemoteBackend,
    RemoteDefinition,
    RemoteError,
    RemoteJob,
    RemoteObservation,
    RemoteRunContext,
    RemoteRunHandle,
    match_step,
)
from ansflow_pyramid.execution.specs import ExecutionStatus, StepStatus

TOKEN_INPUT = "ansflow_run_token"
PARAMETERS_INPUT = "ansflow_parameters"
#: A dispatched run that does not show up in this time is reported as lost.
DISPATCH_GRACE = dt.timedelta(seconds=120)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")
CONCLUSIONS = {
    "success": ExecutionStatus.SUCCESS,
    "neutral": ExecutionStatus.SUCCESS,
    "failure": ExecutionStatus.FAILED,
    "action_required": ExecutionStatus.FAILED,
    "stale": ExecutionStatus.FAILED,
    "startup_failure": ExecutionStatus.FAILED,
    "cancelled": ExecutionStatus.CANCELLED,
    "skipped": ExecutionStatus.CANCELLED,
    "timed_out": ExecutionStatus.TIMEOUT,
}
JOB_CONCLUSIONS = {
    "success": StepStatus.SUCCESS,
    "neutral": StepStatus.SUCCESS,
    "failure": StepStatus.FAILED,
    "cancelled": StepStatus.CANCELLED,
    "skipped": StepStatus.SKIPPED,
    "timed_out": StepStatus.TIMEOUT,
}


def job_id_for(index: int) -> str:
    return f"step_{index + 1}"


def workflow_yaml(context: RemoteRunContext) -> str:
    jobs: dict[str, Any] = {}
    previous = None
    for index, step in enumerate(context.steps):
        job: dict[str, Any] = {"name": step.name, "runs-on": "ubuntu-latest"}
        if previous:
            job["needs"] = previous
        if step.timeout_seconds:
            job["timeout-minutes"] = max(1, int(step.timeout_seconds // 60) or 1)
        if step.environment_vars:
            job["env"] = {str(k): str(v) for k, v in step.environment_vars.items()}
        job["steps"] = [{"name": step.name, "run": step.command or "true"}]
        previous = job_id_for(index)
        jobs[previous] = job
    document = {
        "name": context.spec.pipeline_name or context.job_name,
        # The token in the run's title is how AnsFlow finds the run it dispatched.
        "run-name": "AnsFlow ${{ inputs.%s }}" % TOKEN_INPUT,  # noqa: UP031 - GitHub's syntax
        "on": {
            "workflow_dispatch": {
                "inputs": {
                    TOKEN_INPUT: {
                        "description": "AnsFlow run token",
                        "required": False,
                        "type": "string",
                    },
                    PARAMETERS_INPUT: {
                        "description": "AnsFlow parameters (JSON)",
                        "required": False,
                        "type": "string",
                    },
                }
            }
        },
        "jobs": jobs,
    }
    header = "# Managed by AnsFlow; edits are overwritten on sync.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


class GitHubActionsBackend(RemoteBackend):
    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            retry=False,
            extra={"definition": "workflow file", "logs": "per job, once each job has finished"},
        )

    def _client(self, context: RemoteRunContext) -> GitHubClient:
        repository = context.target.job_config.get("repository")
        return GitHubClient(self.registry, context.tool, str(repository) if repository else None)

    @staticmethod
    def workflow(context: RemoteRunContext) -> str:
        name = context.target.job_name or str(context.tool.config.get("workflow") or "")
        if not name:
            name = f"{context.job_name}.yml"
        return name.rsplit("/", 1)[-1]

    @staticmethod
    def ref(context: RemoteRunContext) -> str:
        return str(context.target.job_config.get("ref") or context.tool.config.get("ref") or "main")

    def render_definition(self, context: RemoteRunContext) -> RemoteDefinition:
        path = f".github/workflows/{self.workflow(context)}"
        return RemoteDefinition("github_workflow", path, workflow_yaml(context), "application/yaml")

    def prepare(self, context: RemoteRunContext) -> None:
        if context.target.job_config.get("sync", True):
            definition = self.render_definition(context)
            self._client(context).write_file(
                definition.name,
                self.ref(context),
                definition.content,
                f"AnsFlow: pipeline {context.spec.pipeline_name}",
            )

    # -- trigger and find ------------------------------------------------------------------
    def _find(self, client: GitHubClient, context: RemoteRunContext) -> dict[str, Any] | None:
        token = context.dispatch_token
        for run in client.workflow_runs(self.workflow(context), self.ref(context)):
            if token in str(run.get("display_title") or run.get("name") or ""):
                return run
        return None

    @staticmethod
    def _handle(run_id: int, url: str, workflow: str) -> RemoteRunHandle:
        return RemoteRunHandle(str(run_id), url, {"run": run_id, "workflow": workflow})

    def trigger(self, context: RemoteRunContext, attempt: int = 1) -> RemoteRunHandle:
        client = self._client(context)
        workflow = self.workflow(context)
        found = self._find(client, context) if attempt > 1 else None
        if found is not None:
            return self._handle(int(found["id"]), str(found.get("html_url") or ""), workflow)
        inputs = {TOKEN_INPUT: context.dispatch_token}
        if context.spec.parameters:
            inputs[PARAMETERS_INPUT] = json.dumps(context.spec.parameters, sort_keys=True)
        run_id = client.dispatch(workflow, self.ref(context), inputs)
        if run_id is not None:
            return self._handle(run_id, "", workflow)
        return RemoteRunHandle(
            f"dispatch:{context.dispatch_token}",
            "",
            {"run": None, "workflow": workflow, "dispatched_at": utcnow().isoformat()},
        )

    # -- observe ---------------------------------------------------------------------------
    def observe(self, context: RemoteRunContext, handle: RemoteRunHandle) -> RemoteObservation:
        client = self._client(context)
        new_handle = None
        run_id = handle.data.get("run")
        if run_id is None:
            found = self._find(client, context)
            if found is None:
                dispatched = dt.datetime.fromisoformat(handle.data["dispatched_at"])
                if utcnow() - dispatched > DISPATCH_GRACE:
                    raise RemoteError("the dispatched GitHub workflow run never appeared")
                return RemoteObservation(ExecutionStatus.RUNNING, remote_status="dispatched")
            run_id = int(found["id"])
            new_handle = self._handle(
                run_id, str(found.get("html_url") or ""), handle.data["workflow"]
            )
        run = client.run(int(run_id))
        status_text = str(run.get("status") or "")
        conclusion = str(run.get("conclusion") or "")
        if status_text == "completed":
            status = CONCLUSIONS.get(conclusion, ExecutionStatus.FAILED)
            remote = conclusion or "completed"
        else:
            status, remote = ExecutionStatus.RUNNING, status_text
        observed = []
        for index, job in enumerate(client.jobs(int(run_id))):
            job_status = str(job.get("status") or "")
            if job_status == "completed":
                step_status = JOB_CONCLUSIONS.get(
                    str(job.get("conclusion") or ""), StepStatus.FAILED
                )
            elif job_status == "in_progress":
                step_status = StepStatus.RUNNING
            else:
                step_status = StepStatus.PENDING
            observed.append(
                RemoteJob(
                    key=str(job["id"]),
                    name=str(job.get("name") or ""),
                    status=step_status,
                    step_id=match_step(context.steps, str(job.get("name") or ""), index),
                    # GitHub serves a job's log once the job has finished.
                    has_log=job_status == "completed" and step_status != StepStatus.SKIPPED,
                    error=f"GitHub job {job.get('conclusion')}"
                    if step_status == StepStatus.FAILED
                    else None,
                )
            )
        reason = (
            None
            if status in (ExecutionStatus.SUCCESS, ExecutionStatus.RUNNING)
            else f"GitHub run {remote}"
        )
        return RemoteObservation(
            status, tuple(observed), reason=reason, remote_status=remote, handle=new_handle
        )

    def read_log(
        self,
        context: RemoteRunContext,
        handle: RemoteRunHandle,
        job: RemoteJob,
        offset: int,
        cursor: dict[str, Any],
    ) -> LogChunk:
        data = self._client(context).job_log(int(job.key))
        if data is None:
            return LogChunk((), offset, cursor, False)
        texts, used = split_complete_lines(data[offset:], final=True)
        lines = tuple((job.step_id, TIMESTAMP.sub("", text, count=1)) for text in texts)
        return LogChunk(lines, offset + used, cursor, True)

    def cancel(self, context: RemoteRunContext, handle: RemoteRunHandle | None) -> None:
        if handle is None:
            return
        run_id = handle.data.get("run")
        if run_id is None:
            found = self._find(self._client(context), context)
            run_id = found["id"] if found else None
        if run_id is not None:
            self._client(context).cancel(int(run_id))
