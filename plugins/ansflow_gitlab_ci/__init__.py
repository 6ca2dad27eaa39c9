"""GitLab CI: the ``gitlab_ci`` tool type; pipelines run as GitLab pipelines.

Tool fields: ``base_url`` (the GitLab root, e.g. ``https://gitlab.com``), ``token`` (a
personal or project access token, sent as ``PRIVATE-TOKEN``), ``config.project_id``
(the project's id or ``group/name`` path) and ``config.ref`` (the branch, default
``main``).  A pipeline's ``tool_job_config`` (or its mapping's ``job_config``) may set
``project_id`` and ``ref`` too.
"""

from __future__ import annotations

from typing import Any

from ansflow_remote.checks import base_url_errors, remote_check
from pyramid.config import Configurator

from ansflow_gitlab_ci.backend import GitLabBackend
from ansflow_gitlab_ci.client import GitLabClient
from ansflow_pyramid.execution.remote import RemoteTool


def probe(registry: Any, tool: RemoteTool, timeout: float) -> str:
    client = GitLabClient(registry, tool)
    version = client.version().get("version", "")
    if client.project:
        name = client.project_info().get("path_with_namespace", client.project_label)
        return f"Connected to GitLab {version}; project {name}."
    return f"Connected to GitLab {version}."


def validate(values: dict[str, Any]) -> dict[str, list[str]]:
    errors = base_url_errors(values)
    config = values.get("config") or {}
    project = config.get("project_id")
    if project is not None and not (
        (isinstance(project, int) and project > 0)
        or (isinstance(project, str) and project.strip() and not project.startswith("/"))
    ):
        errors["config"] = ["config.project_id must be a project id or a group/name path."]
    ref = config.get("ref")
    if ref is not None and (not isinstance(ref, str) or not ref.strip()):
        errors.setdefault("config", []).append("config.ref must be a branch or tag name.")
    return errors


def includeme(config: Configurator) -> None:
    config.include("ansflow_remote")
    config.add_tool_type(
        "gitlab_ci",
        label="GitLab CI",
        check=remote_check(config.registry, "gitlab_ci", probe),
        validate=validate,
    )
    config.add_remote_backend("gitlab_ci", GitLabBackend)
