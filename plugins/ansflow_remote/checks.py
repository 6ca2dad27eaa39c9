"""Tool checks and config validation shared by the CI tool plugins.

``health_check/`` and ``test_connection/`` call a tool type's check with the tool's
connection; the checks here send one authenticated request through the hardened
outbound client and turn the answer into a tool status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ansflow_cicd.tooltypes import CheckResult, ToolConnection

from ansflow_pyramid.execution.remote import (
    RemoteAuthError,
    RemoteError,
    RemoteTool,
    RemoteUnavailable,
)


def connection_tool(conn: ToolConnection, tool_type: str) -> RemoteTool:
    return RemoteTool(0, tool_type, conn.base_url, conn.username, conn.token, dict(conn.config))


def remote_check(
    registry: Any, tool_type: str, probe: Callable[[Any, RemoteTool, float], str]
) -> Callable[[ToolConnection, float], CheckResult]:
    """A tool check from ``probe(registry, tool, timeout) -> message`` that raises
    remote errors: auth errors -> needs_auth, unavailable -> offline."""

    def check(conn: ToolConnection, timeout: float) -> CheckResult:
        try:
            message = probe(registry, connection_tool(conn, tool_type), timeout)
        except RemoteAuthError as error:
            return CheckResult("needs_auth", str(error))
        except RemoteUnavailable as error:
            return CheckResult("offline", str(error))
        except RemoteError as error:
            return CheckResult("error", str(error))
        except (ValueError, KeyError, TypeError) as error:
            return CheckResult("error", f"The tool gave an unexpected answer: {error}")
        return CheckResult("authenticated", message)

    return check


def base_url_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """A base URL must be http(s) with a host and carry no credentials or query."""
    url = str(values.get("base_url") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return {"base_url": ["Enter an http:// or https:// URL."]}
    if parts.username or parts.password:
        return {"base_url": ["Put credentials in username and token, not in the URL."]}
    if parts.query or parts.fragment:
        return {"base_url": ["The base URL must not have a query or a fragment."]}
    return {}
