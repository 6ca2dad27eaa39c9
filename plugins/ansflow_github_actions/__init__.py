"""GitHub Actions: the ``github_actions`` tool type; pipelines run as workflow runs.

Tool fields: ``base_url`` (default ``https://api.github.com``; a GitHub Enterprise
API URL otherwise), ``token`` (a token with ``actions`` and ``contents`` write access,
sent as ``Authorization: Bearer``), ``config.repository`` (``owner/name``),
``config.ref`` (default ``main``) and optionally ``config.workflow`` (the workflow
file name pipelines run as).
"""

from __future__ import annotations

import re
from typing import Any

from ansflow_remote.checks import base_url_errors, remote_check
from pyramid.config import Configurator

from ansflow_github_actions.backend import GitHubActionsBackend
from ansflow_github_actions.client import GitHubClient
from ansflow_pyramid.execution.remote import RemoteTool

REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
WORKFLOW_FILE = re.compile(r"[A-Za-z0-9_.-]+\.ya?ml")


def probe(registry: Any, tool: RemoteTool, timeout: float) -> str:
    client = GitHubClient(registry, tool)
    login = client.user().get("login", "")
    if client.repository:
        name = client.repository_info().get("full_name", client.repository)
        return f"Connected to GitHub as {login}; repository {name}."
    return f"Connected to GitHub as {login}."


def validate(values: dict[str, Any]) -> dict[str, list[str]]:
    errors = base_url_errors(values)
    config = values.get("config") or {}
    messages = []
    repository = config.get("repository")
    if repository is not None and not (
        isinstance(repository, str) and REPOSITORY.fullmatch(repository)
    ):
        messages.append("config.repository must be owner/name.")
    workflow = config.get("workflow")
    if workflow is not None and not (
        isinstance(workflow, str) and WORKFLOW_FILE.fullmatch(workflow)
    ):
        messages.append("config.workflow must be a workflow file name (ci.yml).")
    if messages:
        errors["config"] = messages
    return errors


def includeme(config: Configurator) -> None:
    config.include("ansflow_remote")
    config.add_tool_type(
        "github_actions",
        label="GitHub Actions",
        check=remote_check(config.registry, "github_actions", probe),
        validate=validate,
        default_base_url="https://api.github.com",
    )
    config.add_remote_backend("github_actions", GitHubActionsBackend)
