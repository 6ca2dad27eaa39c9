"""Pipelines on GitLab CI: the remote backend of ``gitlab_ci`` tools.

The pipeline's steps become a ``.gitlab-ci.yml`` (one stage and one job per step, in
order), written to the project's repository by ``sync_to_tool/`` (and before each run
unless the run triggers an existing definition).  A run is a pipeline created on the
ref with the execution's parameters and AnsFlow's dispatch token as variables; each
poll reads the pipeline and its jobs (every page, ``X-Next-Page``), and each job's
trace from the stored byte offset (``Range: bytes=N-``).

=======================================================  ====================
GitLab (pipeline / job)                                  AnsFlow
=======================================================  ====================
created, waiting_for_resource, preparing, pending,       running / pending
scheduled, manual
running                                                  running
success                                                  success
failed                                                   failed
canceled                                                 cancelled
skipped                                                  cancelled / skipped
=======================================================  ====================
"""

from __future__ import annotations

import contextlib
from typing import Any

import yaml
from ansflow_remote.http import split_complete_lines

from ansflow_gitlab_ci.client import GitLabClient
from ansflow_pyramid.execution.remote import (
    BackendCapabilities,
    LogChunk,
    RemoteBackend,
    RemoteDefinition,
    RemoteJob,
    RemoteNotFound,
    RemoteObservation,
    RemoteRunContext,
    RemoteRunHandle,
    match_step,
)
from ansflow_pyramid.execution.specs import ExecutionStatus, StepStatus

TOKEN_VARIABLE = "ANSFLOW_RUN_TOKEN"
CI_FILE = ".gitlab-ci.yml"
PIPELINE_STATES = {
    "success": ExecutionStatus.SUCCESS,
    "failed": ExecutionStatus.FAILED,
    "canceled": ExecutionStatus.CANCELLED,
    "skipped": ExecutionStatus.CANCELLED,
}
JOB_STATES = {
    "running": StepStatus.RUNNING,
    "success": StepStatus.SUCCESS,
    "failed": StepStatus.FAILED,
    "canceled": StepStatus.CANCELLED,
    "skipped": StepStatus.SKIPPED,
}


def gitlab_ci_yaml(context: RemoteRunContext) -> str:
    steps = context.steps
    stages = [f"{index + 1:02d}-{step.name}"[:60] for index, step in enumerate(steps)]
    document: dict[str, Any] = {"stages": stages}
    for stage, step in zip(stages, steps, strict=True):
        job: dict[str, Any] = {
            "stage": stage,
            "script": [line for line in (step.command or "true").splitlines() if line.strip()]
            or ["true"],
        }
        if step.environment_vars:
            job["variables"] = {str(k): str(v) for k, v in step.environment_vars.items()}
        if step.timeout_seconds:
            job["timeout"] = f"{max(1, int(step.timeout_seconds // 60) or 1)} minutes"
        document[step.name] = job
    header = f"# Managed by AnsFlow: pipeline {context.spec.pipeline_name!r}.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


class GitLabBackend(RemoteBackend):
    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(retry=True, extra={"definition": CI_FILE})

    def _client(self, context: RemoteRunContext) -> GitLabClient:
        project = context.target.job_config.get("project_id")
        return GitLabClient(self.registry, context.tool, str(project) if project else None)

    @staticmethod
    def ref(context: RemoteRunContext) -> str:
        return str(context.target.job_config.get("ref") or context.tool.config.get("ref") or "main")

    def render_definition(self, context: RemoteRunContext) -> RemoteDefinition:
        return RemoteDefinition(
            "gitlab_ci_yaml", CI_FILE, gitlab_ci_yaml(context), "application/yaml"
        )

    def prepare(self, context: RemoteRunContext) -> None:
        if context.target.job_config.get("sync", True):
            self._client(context).write_file(
                CI_FILE,
                self.ref(context),
                self.render_definition(context).content,
                f"AnsFlow: pipeline {context.spec.pipeline_name}",
            )

    def trigger(self, context: RemoteRunContext, attempt: int = 1) -> RemoteRunHandle:
        client = self._client(context)
        ref = self.ref(context)
        for pipeline in client.pipelines(ref) if attempt > 1 else ():
            variables = client.pipeline_variables(int(pipeline["id"]))
            if variables.get(TOKEN_VARIABLE) == context.dispatch_token:
                return self._handle(pipeline)
        variables = {str(k): str(v) for k, v in context.spec.parameters.items()}
        variables[TOKEN_VARIABLE] = context.dispatch_token
        return self._handle(client.create_pipeline(ref, variables))

    @staticmethod
    def _handle(pipeline: dict[str, Any]) -> RemoteRunHandle:
        return RemoteRunHandle(
            str(pipeline["id"]),
            str(pipeline.get("web_url") or ""),
            {"pipeline": int(pipeline["id"])},
        )

    def observe(self, context: RemoteRunContext, handle: RemoteRunHandle) -> RemoteObservation:
        client = self._client(context)
        pipeline_id = int(handle.data["pipeline"])
        pipeline = client.pipeline(pipeline_id)
        remote = str(pipeline.get("status") or "")
        status = PIPELINE_STATES.get(remote, ExecutionStatus.RUNNING)
        jobs = sorted(client.jobs(pipeline_id), key=lambda job: int(job["id"]))
        observed = []
        for index, job in enumerate(jobs):
            job_state = str(job.get("status") or "")
            step_status = JOB_STATES.get(job_state, StepStatus.PENDING)
            if job_state == "manual" and status in ExecutionStatus.FINAL:
                step_status = StepStatus.SKIPPED
            observed.append(
                RemoteJob(
                    key=str(job["id"]),
                    name=str(job.get("name") or ""),
                    status=step_status,
                    step_id=match_step(context.steps, str(job.get("name") or ""), index),
                    has_log=step_status not in (StepStatus.PENDING, StepStatus.SKIPPED),
                    error=f"GitLab job {job_state}" if step_status == StepStatus.FAILED else None,
                )
            )
        reason = (
            None
            if status in (ExecutionStatus.SUCCESS, ExecutionStatus.RUNNING)
            else f"GitLab pipeline {remote}"
        )
        return RemoteObservation(status, tuple(observed), reason=reason, remote_status=remote)

    def read_log(
        self,
        context: RemoteRunContext,
        handle: RemoteRunHandle,
        job: RemoteJob,
        offset: int,
        cursor: dict[str, Any],
    ) -> LogChunk:
        data, sliced = self._client(context).trace(int(job.key), offset)
        if not sliced:
            data = data[offset:]
        complete = job.status in StepStatus.FINAL
        texts, used = split_complete_lines(data, final=complete)
        lines = tuple((job.step_id, text) for text in texts)
        return LogChunk(lines, offset + used, cursor, complete)

    def cancel(self, context: RemoteRunContext, handle: RemoteRunHandle | None) -> None:
        if handle is not None:
            # A pipeline that is gone has nothing left to stop.
            with contextlib.suppress(RemoteNotFound):
                self._client(context).cancel(int(handle.data["pipeline"]))

    def retry(self, context: RemoteRunContext, handle: RemoteRunHandle) -> None:
        """Retry the pipeline's failed and cancelled jobs on GitLab."""
        self._client(context).retry(int(handle.data["pipeline"]))
