"""A GitLab REST API (v4) client on the hardened outbound client.

Why not python-gitlab: it sends its requests with ``requests``, so they could not go
through the application's outbound client; the handful of calls needed here are plain
JSON.  Authentication is the ``PRIVATE-TOKEN`` header; lists are paginated with
``X-Next-Page``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import httpx
from ansflow_remote.http import ToolHTTP

from ansflow_pyramid.execution.remote import RemoteError, RemoteTool

LABEL = "GitLab"
PER_PAGE = 100
MAX_PAGES = 50


class GitLabClient:
    def __init__(self, registry: Any, tool: RemoteTool, project: str | None = None) -> None:
        headers = {"Accept": "application/json"}
        if tool.token:
            headers["PRIVATE-TOKEN"] = tool.token
        self.http = ToolHTTP(
            registry, tool.base_url.rstrip("/") + "/api/v4", LABEL, headers=headers
        )
        raw = str(project if project is not None else tool.config.get("project_id") or "")
        self.project = quote(raw, safe="")
        self.project_label = raw

    def _project(self) -> str:
        if not self.project:
            raise RemoteError("the GitLab tool has no project (config.project_id)")
        return f"/projects/{self.project}"

    def version(self) -> dict[str, Any]:
        return self.http.request("GET", "/version").json()

    def project_info(self) -> dict[str, Any]:
        return self.http.request(
            "GET",
            self._project(),
            not_found=f"GitLab project {self.project_label!r} does not exist",
        ).json()

    def paginated(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every page of a list, following ``X-Next-Page``."""
        items: list[dict[str, Any]] = []
        page: str | None = "1"
        for _ in range(MAX_PAGES):
            if not page:
                break
            response = self.http.request(
                "GET", path, params={**(params or {}), "per_page": PER_PAGE, "page": page}
            )
            items.extend(response.json())
            page = response.headers.get("X-Next-Page") or None
        return items

    # -- repository files ---------------------------------------------------------------
    def write_file(self, path: str, branch: str, content: str, message: str) -> str:
        """Create or update a file on ``branch``; returns ``created``/``updated``/``unchanged``."""
        file_path = f"{self._project()}/repository/files/{quote(path, safe='')}"
        current = self.http.request("GET", file_path, params={"ref": branch}, expect=(200, 404))
        body = {"branch": branch, "content": content, "commit_message": message}
        if current.status_code == 404:
            self.http.request("POST", file_path, json=body, expect=(201,))
            return "created"
        existing = base64.b64decode(current.json().get("content") or "").decode(errors="replace")
        if existing == content:
            return "unchanged"
        self.http.request("PUT", file_path, json=body, expect=(200,))
        return "updated"

    # -- pipelines ---------------------------------------------------------------------
    def create_pipeline(self, ref: str, variables: dict[str, str]) -> dict[str, Any]:
        response = self.http.request(
            "POST",
            f"{self._project()}/pipeline",
            json={"ref": ref, "variables": [{"key": k, "value": v} for k, v in variables.items()]},
            expect=(201, 400),
            not_found=f"GitLab project {self.project_label!r} does not exist",
        )
        if response.status_code == 400:
            raise RemoteError(f"GitLab refused the pipeline: {_message(response)}")
        return response.json()

    def pipelines(self, ref: str, limit: int = 20) -> list[dict[str, Any]]:
        return self.http.request(
            "GET",
            f"{self._project()}/pipelines",
            params={"ref": ref, "source": "api", "per_page": limit, "order_by": "id"},
        ).json()

    def pipeline_variables(self, pipeline_id: int) -> dict[str, str]:
        items = self.http.request(
            "GET", f"{self._project()}/pipelines/{pipeline_id}/variables"
        ).json()
        return {str(i.get("key")): str(i.get("value")) for i in items}

    def pipeline(self, pipeline_id: int) -> dict[str, Any]:
        return self.http.request(
            "GET",
            f"{self._project()}/pipelines/{pipeline_id}",
            not_found=f"GitLab pipeline {pipeline_id} does not exist",
        ).json()

    def jobs(self, pipeline_id: int) -> list[dict[str, Any]]:
        return self.paginated(f"{self._project()}/pipelines/{pipeline_id}/jobs")

    def trace(self, job_id: int, offset: int) -> tuple[bytes, bool]:
        """The job's log from byte ``offset``: (bytes, whether the server sliced it)."""
        response = self.http.request(
            "GET",
            f"{self._project()}/jobs/{job_id}/trace",
            headers={"Range": f"bytes={offset}-"} if offset else None,
            expect=(200, 206, 416),
            not_found=f"GitLab job {job_id} does not exist",
        )
        if response.status_code == 416:
            return b"", True
        return response.content, response.status_code == 206

    def cancel(self, pipeline_id: int) -> None:
        self.http.request(
            "POST", f"{self._project()}/pipelines/{pipeline_id}/cancel", expect=(200, 201)
        )

    def retry(self, pipeline_id: int) -> dict[str, Any]:
        return self.http.request(
            "POST", f"{self._project()}/pipelines/{pipeline_id}/retry", expect=(200, 201)
        ).json()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    message = body.get("message") if isinstance(body, dict) else body
    return str(message)[:300]
