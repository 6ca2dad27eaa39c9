"""Jenkins: the ``jenkins`` tool type, pipelines run as Jenkins pipeline jobs, and
the ``tools/{id}/jenkins/...`` resources AnsFlow's client calls.

Shows: a plugin that extends three others - a tool type with its check and config
validation (``config.add_tool_type``), a remote execution backend
(``config.add_remote_backend``), and resources nested under another plugin's item
(``/api/v1/cicd/tools/{tool_id}/jenkins/...``), which therefore inherit the tool's
project ACL: a user who cannot see the tool gets a 404 on them.

Tool fields: ``base_url`` (the Jenkins root URL), ``username`` and ``token`` (an API
token of that user); ``config.job_name`` optionally names the job pipelines run as.
"""

from __future__ import annotations

from typing import Any

from ansflow_remote.checks import base_url_errors, remote_check
from pyramid.config import Configurator

from ansflow_jenkins.backend import JenkinsBackend
from ansflow_jenkins.client import JenkinsClient
from ansflow_pyramid.execution.remote import RemoteTool


def probe(registry: Any, tool: RemoteTool, timeout: float) -> str:
    response = JenkinsClient(registry, tool).whoami()
    version = response.headers.get("X-Jenkins", "")
    return f"Connected to Jenkins {version}".rstrip() + "."


def validate(values: dict[str, Any]) -> dict[str, list[str]]:
    errors = base_url_errors(values)
    if values.get("sets_token") and not values.get("username"):
        errors["username"] = ["Jenkins authenticates with a user name and its API token."]
    job_name = (values.get("config") or {}).get("job_name")
    if job_name is not None and (not isinstance(job_name, str) or not job_name.strip()):
        errors["config"] = ["config.job_name must be a non-empty string."]
    return errors


def includeme(config: Configurator) -> None:
    config.include("ansflow_remote")
    config.add_tool_type(
        "jenkins",
        label="Jenkins",
        check=remote_check(config.registry, "jenkins", probe),
        validate=validate,
    )
    config.add_remote_backend("jenkins", JenkinsBackend)
    config.include("ansflow_jenkins.resources")
