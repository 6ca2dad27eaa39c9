"""Pipelines on Jenkins: the remote backend of ``jenkins`` tools.

A run is a build of the pipeline's job: ``buildWithParameters`` (with AnsFlow's
dispatch token as a parameter) answers with a queue item, which becomes a build
number - or is cancelled.  Each poll reads the build's JSON (``building``,
``result``) and the console from the stored byte offset with
``logText/progressiveText?start=`` (``X-Text-Size`` is the next offset,
``X-More-Data`` says the build still writes).  Jenkins prints where each stage starts
(``[Pipeline] { (name)``) and how it ends, so the console is split into the steps'
logs and their states as it is read.

=================================  ==================================
Jenkins                            AnsFlow (execution / step)
=================================  ==================================
queue item waiting                 running / pending
queue item cancelled               cancelled (failed if nobody asked)
``building: true``                 running
result ``SUCCESS``                 success
result ``FAILURE``, ``UNSTABLE``   failed
result ``ABORTED``                 cancelled
result ``NOT_BUILT``               failed
stage started / ended              step running / success
``ERROR: ...`` in a stage          step failed
stage skipped                      step skipped
=================================  ==================================
"""

from __future__ import annotations

import re
from typing import Any

from ansflow_remote.http import split_complete_lines

from ansflow_jenkins.client import JenkinsClient
from ansflow_jenkins.definition import TOKEN_PARAMETER, config_xml
from ansflow_pyramid.execution.remote import (
    BackendCapabilities,
    LogChunk,
    RemoteBackend,
    RemoteDefinition,
    RemoteError,
    RemoteJob,
    RemoteNotFound,
    RemoteObservation,
    RemoteRunContext,
    RemoteRunHandle,
    match_step,
)
from ansflow_pyramid.execution.specs import ExecutionStatus, StepStatus

RESULTS = {
    "SUCCESS": ExecutionStatus.SUCCESS,
    "FAILURE": ExecutionStatus.FAILED,
    "UNSTABLE": ExecutionStatus.FAILED,
    "ABORTED": ExecutionStatus.CANCELLED,
    "NOT_BUILT": ExecutionStatus.FAILED,
}
STAGE_START = re.compile(r"^\[Pipeline\] \{ \((.*)\)$")
STAGE_END = "[Pipeline] // stage"
SKIPPED = re.compile(r'^Stage "(.*)" skipped due to')
ERROR = re.compile(r"^ERROR: (.*)$")
CONSOLE = "console"


def client_for(registry: Any, context: RemoteRunContext) -> JenkinsClient:
    return JenkinsClient(registry, context.tool)


class JenkinsBackend(RemoteBackend):
    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(retry=False, extra={"definition": "pipeline job (config.xml)"})

    def _client(self, context: RemoteRunContext) -> JenkinsClient:
        return client_for(self.registry, context)

    def render_definition(self, context: RemoteRunContext) -> RemoteDefinition:
        pipeline = context.spec.pipeline_name or context.job_name
        xml = config_xml(
            f"Managed by AnsFlow: pipeline {pipeline!r}. Edits are overwritten on sync.",
            context.steps,
            context.spec.parameters,
        )
        return RemoteDefinition("jenkins_config_xml", context.job_name, xml, "application/xml")

    def prepare(self, context: RemoteRunContext) -> None:
        if context.target.job_config.get("sync", True):
            self._client(context).create_or_update_job(
                context.job_name, self.render_definition(context).content
            )

    # -- trigger ---------------------------------------------------------------------------
    def trigger(self, context: RemoteRunContext, attempt: int = 1) -> RemoteRunHandle:
        client = self._client(context)
        job = context.job_name
        found = self._find(client, job, context.dispatch_token) if attempt > 1 else None
        if found is not None:
            return found
        parameters = {key: value for key, value in context.spec.parameters.items()}
        parameters[TOKEN_PARAMETER] = context.dispatch_token
        location = client.build(job, parameters)
        item_id = location.rstrip("/").rsplit("/", 1)[-1]
        return RemoteRunHandle(f"queue:{item_id}", location, {"job": job, "queue_url": location})

    @staticmethod
    def _has_token(document: dict[str, Any], token: str) -> bool:
        for action in document.get("actions") or []:
            for parameter in (action or {}).get("parameters") or []:
                if parameter.get("name") == TOKEN_PARAMETER and parameter.get("value") == token:
                    return True
        return False

    def _find(self, client: JenkinsClient, job: str, token: str) -> RemoteRunHandle | None:
        """A build or queue item already started with ``token`` (a trigger repeated
        after a restart must not start a second build)."""
        try:
            for item in client.queue():
                if (item.get("task") or {}).get("name") == job.rsplit("/", 1)[
                    -1
                ] and self._has_token(item, token):
                    url = f"{client.http.base_url}/queue/item/{item['id']}/"
                    return RemoteRunHandle(
                        f"queue:{item['id']}", url, {"job": job, "queue_url": url}
                    )
            info = client.job_info(job, builds=10)
        except RemoteNotFound:
            return None
        for build in info.get("builds") or []:
            number = int(build["number"])
            details = client.build_info(job, number)
            if self._has_token(details, token):
                return RemoteRunHandle(
                    f"{job}#{number}", details.get("url", ""), {"job": job, "build": number}
                )
        return None

    # -- observe ---------------------------------------------------------------------------
    def observe(self, context: RemoteRunContext, handle: RemoteRunHandle) -> RemoteObservation:
        client = self._client(context)
        job = handle.data["job"]
        number = handle.data.get("build")
        new_handle = None
        if number is None:
            item = client.queue_item(handle.data["queue_url"])
            if item.get("cancelled"):
                return RemoteObservation(
                    ExecutionStatus.CANCELLED,
                    reason="the Jenkins queue item was cancelled",
                    remote_status="cancelled",
                )
            executable = item.get("executable")
            if not executable:
                return RemoteObservation(ExecutionStatus.RUNNING, remote_status="queued")
            number = int(executable["number"])
            new_handle = RemoteRunHandle(
                f"{job}#{number}", executable.get("url", ""), {**handle.data, "build": number}
            )
        info = client.build_info(job, number)
        result = info.get("result")
        if info.get("building") or result is None:
            status, remote = ExecutionStatus.RUNNING, "building"
        else:
            status, remote = RESULTS.get(str(result), ExecutionStatus.FAILED), str(result)
        reason = None if status == ExecutionStatus.SUCCESS else f"Jenkins build result {remote}"
        job_status = StepStatus.RUNNING if status == ExecutionStatus.RUNNING else status
        return RemoteObservation(
            status,
            (RemoteJob(CONSOLE, "console", job_status),),
            reason=None if status == ExecutionStatus.RUNNING else reason,
            remote_status=remote,
            handle=new_handle,
        )

    def read_log(
        self,
        context: RemoteRunContext,
        handle: RemoteRunHandle,
        job: RemoteJob,
        offset: int,
        cursor: dict[str, Any],
    ) -> LogChunk:
        number = handle.data.get("build")
        if number is None:
            return LogChunk((), offset, cursor)
        progress = self._client(context).progressive_text(handle.data["job"], int(number), offset)
        complete = not progress.more
        texts, used = split_complete_lines(progress.data, final=complete)
        next_offset = progress.next_offset if complete else offset + used
        return self._attribute(context, texts, next_offset, cursor, complete)

    def _attribute(
        self,
        context: RemoteRunContext,
        texts: list[str],
        next_offset: int,
        cursor: dict[str, Any],
        complete: bool,
    ) -> LogChunk:
        """Split console lines into steps by the stage markers Jenkins prints."""
        state = dict(cursor)
        stage_index = int(state.get("stages", 0))
        current = state.get("step")
        error = state.get("error")
        lines: list[tuple[int | None, str]] = []
        changes: list[tuple[int, str, str | None]] = []
        for text in texts:
            start = STAGE_START.match(text)
            if start:
                current = match_step(context.steps, start.group(1), stage_index)
                stage_index += 1
                error = None
                state["running"] = False
                lines.append((current, text))
                continue
            skipped = SKIPPED.match(text)
            if skipped and current is not None:
                changes.append((current, StepStatus.SKIPPED, None))
                error = "skipped"
            elif current is not None and error is None and not state.get("running"):
                # The first line after the stage's start that is not "skipped".
                changes.append((current, StepStatus.RUNNING, None))
                state["running"] = True
            failure = ERROR.match(text)
            if failure and current is not None:
                error = failure.group(1)
            if text == "Aborted by user" and current is not None:
                error = "aborted"
            lines.append((current, text))
            if text == STAGE_END and current is not None:
                if error == "aborted":
                    changes.append((current, StepStatus.CANCELLED, "stopped on Jenkins"))
                elif error and error != "skipped":
                    changes.append((current, StepStatus.FAILED, error))
                elif error is None:
                    if not state.get("running"):
                        changes.append((current, StepStatus.RUNNING, None))
                    changes.append((current, StepStatus.SUCCESS, None))
                current, error = None, None
                state["running"] = False
        state.update({"stages": stage_index, "step": current, "error": error})
        return LogChunk(tuple(lines), next_offset, state, complete, tuple(changes))

    # -- stop ------------------------------------------------------------------------------
    def cancel(self, context: RemoteRunContext, handle: RemoteRunHandle | None) -> None:
        if handle is None:
            return
        client = self._client(context)
        number = handle.data.get("build")
        if number is not None:
            client.stop(handle.data["job"], int(number))
            return
        item_id = handle.external_id.removeprefix("queue:")
        item = client.queue_item(handle.data["queue_url"])
        executable = item.get("executable")
        if executable:
            client.stop(handle.data["job"], int(executable["number"]))
        elif item_id.isdigit():
            client.cancel_queue_item(int(item_id))


def check_job_name(name: str) -> None:
    if not name or any(c in name for c in '\\?*#%<>|"') or name.startswith("/"):
        raise RemoteError(f"{name!r} is not a valid Jenkins job name")
