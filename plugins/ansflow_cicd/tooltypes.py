"""Tool types and their connection checks: the ``add_tool_type`` directive.

Shows: a registry that other plugins extend.  An integration plugin (say, a Jenkins
plugin) declares its tool type once::

    config.add_tool_type("jenkins", label="Jenkins", check=my_check)

and tools of that type can then be created, checked (``health_check/``,
``test_connection/``) and chosen for pipelines.  ``check(conn, timeout)`` receives a
:class:`ToolConnection` (with the token decrypted, and ``conn.client``, the
application's hardened outbound HTTP client) and returns a :class:`CheckResult`; it
must give up after ``timeout`` seconds and make its HTTP calls through ``conn.client``
(``ansflow_pyramid.outbound``), never with another HTTP library.  The cicd plugin
registers ``local``; ``jenkins``, ``gitlab_ci`` and ``github_actions`` come with
their plugins (which also run pipelines on them).  Declaring a type twice is a
configuration conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import Configurator

from ansflow_pyramid.outbound import (
    OutboundClient,
    OutboundError,
    OutboundUnavailable,
)

REGISTRY_KEY = "ansflow_cicd.tool_types"
TIMEOUT_SETTING = "ansflow.tool_check_timeout"
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ToolConnection:
    """What a check needs to reach a tool; ``token`` is the decrypted secret and
    ``client`` the outbound HTTP client to reach it with (the application's, from
    ``get_outbound_client(registry)``; a client with the default policy if omitted)."""

    base_url: str
    username: str = ""
    token: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    client: OutboundClient | None = None

    def outbound(self) -> OutboundClient:
        return self.client if self.client is not None else _default_client()


_fallback_client: OutboundClient | None = None


def _default_client() -> OutboundClient:
    global _fallback_client
    if _fallback_client is None:
        _fallback_client = OutboundClient()
    return _fallback_client


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check: a tool status (authenticated, needs_auth, offline,
    unknown, error) and a sentence for people."""

    status: str
    message: str

    @property
    def healthy(self) -> bool:
        return self.status == "authenticated"


Check = Callable[[ToolConnection, float], CheckResult]
#: ``validate(values) -> {field: [messages]}``: checks a tool's fields on create and
#: update (``values`` has ``base_url``, ``username``, ``config``, ``has_token`` and
#: ``sets_token``: whether this request sets a new token).
Validate = Callable[[dict[str, Any]], dict[str, list[str]]]


@dataclass(frozen=True)
class ToolType:
    name: str
    label: str
    check: Check
    #: Whether tools of this type need a ``base_url`` (the local executor does not).
    requires_base_url: bool = True
    default_base_url: str = ""
    validate: Validate | None = None


def http_check(probe_path: str = "/", auth: str = "basic") -> Check:
    """A check that GETs ``base_url + probe_path`` with the tool's credentials.

    ``auth`` is ``basic`` (username:token, Jenkins), ``bearer`` (GitHub) or
    ``private-token`` (GitLab).  2xx -> authenticated, 401/403 -> needs_auth,
    other HTTP errors -> error, no answer within the timeout -> offline, an address
    the outbound policy refuses -> error.  Redirects are followed without the
    credentials when they lead to another origin.
    """

    def check(conn: ToolConnection, timeout: float) -> CheckResult:
        url = conn.base_url.rstrip("/") + probe_path
        headers = {"Accept": "application/json"}
        credentials: tuple[str, str] | None = None
        if conn.token:
            if auth == "bearer":
                headers["Authorization"] = f"Bearer {conn.token}"
            elif auth == "private-token":
                headers["PRIVATE-TOKEN"] = conn.token
            else:
                credentials = (conn.username, conn.token)
        try:
            response = conn.outbound().request(
                "GET", url, headers=headers, auth=credentials, timeout=timeout
            )
        except OutboundUnavailable as error:
            return CheckResult("offline", str(error))
        except OutboundError as error:
            return CheckResult("error", str(error))
        if response.status_code in (401, 403):
            return CheckResult(
                "needs_auth", f"The tool refused the credentials ({response.status_code})."
            )
        if response.is_success:
            return CheckResult("authenticated", f"Connected ({response.status_code}).")
        return CheckResult("error", f"The tool answered with HTTP {response.status_code}.")

    return check


def local_check(conn: ToolConnection, timeout: float) -> CheckResult:
    """The local executor runs in this service: it is available whenever we are."""
    return CheckResult("authenticated", "The local executor is available.")


# Jenkins, GitLab CI and GitHub Actions come with their plugins (ansflow_jenkins,
# ansflow_gitlab_ci, ansflow_github_actions), which also run pipelines on them.
BUILTIN_TOOL_TYPES = (ToolType("local", "Local executor", local_check, requires_base_url=False),)


def add_tool_type(
    config: Configurator,
    name: str,
    *,
    label: str | None = None,
    check: Check | None = None,
    requires_base_url: bool = True,
    default_base_url: str = "",
    validate: Validate | None = None,
) -> None:
    """Declare a CI/CD tool type; ``check`` defaults to an HTTP GET of the base URL,
    ``validate`` (optional) checks a tool's fields on create and update."""
    tool_type = ToolType(
        name,
        label or name.replace("_", " ").title(),
        check or http_check("/"),
        requires_base_url=requires_base_url,
        default_base_url=default_base_url,
        validate=validate,
    )

    def register() -> None:
        config.registry.setdefault(REGISTRY_KEY, {})[name] = tool_type

    config.action(("ansflow.tool-type", name), register)


def tool_types(registry: Any) -> dict[str, ToolType]:
    return registry.get(REGISTRY_KEY, {})


def check_timeout(registry: Any) -> float:
    raw = registry.settings.get(TIMEOUT_SETTING)
    try:
        return max(0.1, min(float(raw), 60.0)) if raw not in (None, "") else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT
