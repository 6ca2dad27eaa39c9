"""The ``jenkins/...`` resources of a Jenkins tool, as AnsFlow's client calls them.

They live under the tool's item (``/api/v1/cicd/tools/{tool_id}/jenkins/...``), so the
traverser loads the tool first - a tool the caller cannot see is a 404 before any
Jenkins call - and the tool's project ACL decides: reading needs ``view``, building
and stopping ``run``, changing or deleting jobs ``edit``/``delete``.

=========================================  ======  ===================================
path (under ``tools/{id}/jenkins/``)        method  answers
=========================================  ======  ===================================
``jobs/``                                   GET     ``{"jobs": [{name, url, color}]}``
``jobs/{name}/``                            GET     the job (builds, color, ...)
``jobs/{name}/``                            PUT     ``{"config_xml"}``: create/update it
``jobs/{name}/``                            DELETE  deletes the job
``jobs/{name}/enable/``, ``disable/``       POST    enables / disables the job
``jobs/{name}/builds/{n}/stop/``            POST    stops a build
``job-info/?job_name=``                     GET     the job
``build/``                                  POST    ``{job_name, parameters}`` -> queue item
``builds/?job_name=``                       GET     the job's recent builds
``build-info/?job_name=&build_number=``     GET     one build
``build-logs/?job_name=&build_number=``     GET     its console (``start=`` for a slice)
``queue/``                                  GET     the build queue
``delete-job/?job_name=``                   DELETE  deletes the job
=========================================  ======  ===================================
"""

from __future__ import annotations

from typing import Any, ClassVar

from ansflow_cicd.resources import ToolItem
from ansflow_remote.http import split_complete_lines
from ansflow_remote.services import call, remote_call, remote_tool
from pydantic import BaseModel, Field
from pyramid.config import Configurator
from pyramid.request import Request

from ansflow_jenkins.client import JenkinsClient
from ansflow_pyramid.api import NotFound, ValidationFailed, validated_body
from ansflow_pyramid.traversal.resources import Collection, Item, Resource

BASE = "/api/v1/cicd/tools/{tool_id}/jenkins"
MAX_BUILDS = 100


def tool_item(context: Resource) -> ToolItem:
    node: Any = context
    while node is not None and not isinstance(node, ToolItem):
        node = node.__parent__
    if node is None:
        raise NotFound()
    if node.obj.tool_type != "jenkins":
        raise NotFound(f"Tool {node.obj.id} is a {node.obj.tool_type} tool, not a Jenkins tool.")
    return node


def jenkins(context: Resource, request: Request) -> JenkinsClient:
    return JenkinsClient(request.registry, remote_tool(request.registry, tool_item(context).obj))


def required(request: Request, name: str) -> str:
    value = (request.GET.get(name) or "").strip()
    if not value:
        raise ValidationFailed({name: ["This query parameter is required."]})
    return value


def build_number(request: Request, name: str = "build_number") -> int:
    raw = required(request, name)
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise ValidationFailed({name: ["A positive whole number is required."]})
    return int(raw)


class BuildRequest(BaseModel):
    job_name: str = Field(min_length=1, max_length=255)
    parameters: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class JenkinsJobItem(Item):
    """One Jenkins job, by name (it is not looked up until a view asks Jenkins)."""

    @property
    def job_name(self) -> str:
        return str(self.key)


class JenkinsJobCollection(Collection):
    """``jenkins/jobs/``: the jobs of the Jenkins server."""

    key_converter: ClassVar[str] = "str"
    item_class = JenkinsJobItem

    def load_item(self, key: Any) -> Item:
        name = str(key).strip()
        if not name or len(name) > 255:
            raise KeyError(key)
        return self.item_class(self, name, name)


class JenkinsBuildItem(Item):
    pass


class JenkinsBuildCollection(Collection):
    """``jenkins/jobs/{name}/builds/``: a job's builds by number."""

    key_converter: ClassVar[str] = "int"
    item_class = JenkinsBuildItem

    def load_item(self, key: Any) -> Item:
        if not 0 < int(key) < 2**31:
            raise KeyError(key)
        return self.item_class(self, int(key), int(key))


# -- views -----------------------------------------------------------------------
def list_jobs(context: Resource, request: Request) -> dict[str, Any]:
    """The jobs of the Jenkins server (name, url, color)."""
    jobs = call(jenkins(context, request).jobs)
    return {"jobs": jobs, "count": len(jobs)}


def get_job(context: JenkinsJobItem, request: Request) -> dict[str, Any]:
    """The job, with its recent builds."""
    return call(jenkins(context, request).job_info, context.job_name)


def put_job(context: JenkinsJobItem, request: Request) -> dict[str, Any]:
    """Create or update the job from ``{"config_xml": "..."}``."""
    body = request.json_body if request.body else {}
    xml = body.get("config_xml") if isinstance(body, dict) else None
    if not isinstance(xml, str) or not xml.strip().startswith("<"):
        raise ValidationFailed({"config_xml": ["The job's config.xml is required."]})
    result = call(jenkins(context, request).create_or_update_job, context.job_name, xml)
    return {"job_name": context.job_name, "result": result}


def delete_job(context: JenkinsJobItem, request: Request) -> dict[str, Any]:
    """Delete the job."""
    call(jenkins(context, request).delete_job, context.job_name)
    return {"job_name": context.job_name, "deleted": True}


def enable_job(context: JenkinsJobItem, request: Request) -> dict[str, Any]:
    """Enable the job."""
    call(jenkins(context, request).set_enabled, context.job_name, True)
    return {"job_name": context.job_name, "enabled": True}


def disable_job(context: JenkinsJobItem, request: Request) -> dict[str, Any]:
    """Disable the job."""
    call(jenkins(context, request).set_enabled, context.job_name, False)
    return {"job_name": context.job_name, "enabled": False}


def stop_build(context: JenkinsBuildItem, request: Request) -> dict[str, Any]:
    """Stop a running build."""
    job = context.__parent__.__parent__
    assert isinstance(job, JenkinsJobItem)
    client = jenkins(context, request)
    with remote_call():
        client.build_info(job.job_name, int(context.key))  # 404 for a missing build
        client.stop(job.job_name, int(context.key))
    return {"job_name": job.job_name, "build_number": int(context.key), "stopped": True}


def job_info(context: Resource, request: Request) -> dict[str, Any]:
    """``?job_name=``: the job, with its recent builds."""
    return call(jenkins(context, request).job_info, required(request, "job_name"))


def trigger_build(context: Resource, request: Request) -> dict[str, Any]:
    """``{"job_name", "parameters"}``: queue a build; returns the queue item."""
    body = validated_body(request, BuildRequest)
    location = call(jenkins(context, request).build, body.job_name, body.parameters)
    request.response.status = 201
    return {
        "job_name": body.job_name,
        "queue_url": location,
        "queue_id": int(location.rstrip("/").rsplit("/", 1)[-1]),
    }


def list_builds(context: Resource, request: Request) -> dict[str, Any]:
    """``?job_name=``: the job's recent builds, newest first."""
    info = call(jenkins(context, request).job_info, required(request, "job_name"), MAX_BUILDS)
    builds = info.get("builds") or []
    return {"job_name": info.get("name"), "builds": builds, "count": len(builds)}


def build_info(context: Resource, request: Request) -> dict[str, Any]:
    """``?job_name=&build_number=``: one build."""
    return call(
        jenkins(context, request).build_info, required(request, "job_name"), build_number(request)
    )


def build_logs(context: Resource, request: Request) -> dict[str, Any]:
    """``?job_name=&build_number=`` and optionally ``start=`` (a byte offset): the
    console from there, ``next_start`` to continue with, ``more`` while it grows."""
    job, number = required(request, "job_name"), build_number(request)
    raw = request.GET.get("start", "0")
    if not raw.isdigit():
        raise ValidationFailed({"start": ["A byte offset (a whole number) is required."]})
    progress = call(jenkins(context, request).progressive_text, job, number, int(raw))
    lines, used = split_complete_lines(progress.data, final=not progress.more)
    return {
        "job_name": job,
        "build_number": number,
        "start": int(raw),
        "next_start": progress.next_offset if not progress.more else int(raw) + used,
        "more": progress.more,
        "logs": "\n".join(lines),
        "lines": lines,
    }


def queue(context: Resource, request: Request) -> dict[str, Any]:
    """The Jenkins build queue."""
    items = call(jenkins(context, request).queue)
    return {"items": items, "count": len(items)}


def delete_job_by_name(context: Resource, request: Request) -> dict[str, Any]:
    """``?job_name=`` (or ``{"job_name"}``): delete the job."""
    name = (request.GET.get("job_name") or "").strip()
    if not name and request.body:
        body = request.json_body
        name = str(body.get("job_name") or "").strip() if isinstance(body, dict) else ""
    if not name:
        raise ValidationFailed({"job_name": ["The job's name is required."]})
    call(jenkins(context, request).delete_job, name)
    return {"job_name": name, "deleted": True}


def includeme(config: Configurator) -> None:
    endpoints = [
        ("job-info", job_info, ("GET",), "view"),
        ("build", trigger_build, ("POST",), "run"),
        ("builds", list_builds, ("GET",), "view"),
        ("build-info", build_info, ("GET",), "view"),
        ("build-logs", build_logs, ("GET",), "view"),
        ("queue", queue, ("GET",), "view"),
        ("delete-job", delete_job_by_name, ("DELETE",), "delete"),
    ]
    for name, view, methods, permission in endpoints:
        config.add_api_endpoint(
            f"jenkins.{name}",
            f"{BASE}/{name}",
            view,
            methods=methods,
            permission=permission,
            description=(view.__doc__ or "").strip().split("\n")[0],
        )
    config.add_api_resource(
        "jenkins.jobs", JenkinsJobCollection, path=f"{BASE}/jobs", description="Jenkins jobs."
    )
    config.add_api_resource(
        "jenkins.job_builds",
        JenkinsBuildCollection,
        path=f"{BASE}/jobs/{{job_name:str}}/builds",
        description="Builds of a Jenkins job.",
    )
    add_api_view = config.registry["ansflow.add_api_view"]
    add_api_view(config, JenkinsJobCollection, "", list_jobs, ["GET"], "view", "json")
    add_api_view(config, JenkinsJobItem, "", get_job, ["GET"], "view", "json")
    add_api_view(config, JenkinsJobItem, "", put_job, ["PUT"], "edit", "json")
    add_api_view(config, JenkinsJobItem, "", delete_job, ["DELETE"], "delete", "json")
    config.add_api_action(JenkinsJobCollection, "enable", enable_job, permission="edit")
    config.add_api_action(JenkinsJobCollection, "disable", disable_job, permission="edit")
    config.add_api_action(JenkinsBuildCollection, "stop", stop_build, permission="run")
