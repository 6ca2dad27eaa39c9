"""A GitHub REST API client (Actions and contents) on the hardened outbound client.

Why not githubkit or PyGithub: PyGithub sends its requests with ``requests``;
githubkit builds its own httpx client, so its calls would bypass the outbound client's
address policy and its hop-by-hop redirect handling - which is exactly what keeps the
token away from the log download host.  The calls needed are few and plain JSON.

Headers on every call: ``Authorization: Bearer``, ``Accept:
application/vnd.github+json``, ``X-GitHub-Api-Version: 2022-11-28``.  Lists follow
``Link: <...>; rel="next"``; ``Retry-After`` and ``X-RateLimit-*`` become
:class:`RemoteUnavailable` with the wait (see :mod:`ansflow_remote.http`).
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

from ansflow_remote.http import ToolHTTP

from ansflow_pyramid.execution.remote import RemoteError, RemoteNotFound, RemoteTool

LABEL = "GitHub"
API_VERSION = "2022-11-28"
NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
MAX_PAGES = 20


class GitHubClient:
    def __init__(self, registry: Any, tool: RemoteTool, repository: str | None = None) -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if tool.token:
            headers["Authorization"] = f"Bearer {tool.token}"
        base = tool.base_url or "https://api.github.com"
        self.http = ToolHTTP(registry, base, LABEL, headers=headers)
        self.repository = str(repository or tool.config.get("repository") or "")

    def repo(self) -> str:
        if self.repository.count("/") != 1:
            raise RemoteError("the GitHub tool has no repository (config.repository: owner/name)")
        owner, name = self.repository.split("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    def user(self) -> dict[str, Any]:
        return self.http.request("GET", "/user").json()

    def repository_info(self) -> dict[str, Any]:
        return self.http.request(
            "GET", self.repo(), not_found=f"GitHub repository {self.repository!r} does not exist"
        ).json()

    def paginated(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": 100}
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self.http.request("GET", url, params=query)
            items.extend(response.json().get(key) or [])
            found = NEXT_LINK.search(response.headers.get("Link", ""))
            url, query = (found.group(1), None) if found else (None, None)
        return items

    # -- contents ---------------------------------------------------------------------
    def write_file(self, path: str, branch: str, content: str, message: str) -> str:
        url = f"{self.repo()}/contents/{quote(path)}"
        current = self.http.request("GET", url, params={"ref": branch}, expect=(200, 404))
        body: dict[str, Any] = {
            "message": message,
            "content": base64.b64encode(content.encode()).decode(),
            "branch": branch,
        }
        if current.status_code == 200:
            stored = current.json()
            if base64.b64decode(stored.get("content") or "").decode(errors="replace") == content:
                return "unchanged"
            body["sha"] = stored["sha"]
        response = self.http.request("PUT", url, json=body, expect=(200, 201))
        return "created" if response.status_code == 201 else "updated"

    # -- workflows and runs -----------------------------------------------------------
    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> int | None:
        """Dispatch ``workflow`` (its file name); the run's id when GitHub returns the
        run's details, else None (the run is then found by its dispatch input)."""
        response = self.http.request(
            "POST",
            f"{self.repo()}/actions/workflows/{quote(workflow, safe='')}/dispatches",
            json={"ref": ref, "inputs": inputs, "return_run_details": True},
            expect=(200, 204, 422),
            not_found=f"GitHub workflow {workflow!r} does not exist in {self.repository}",
        )
        if response.status_code == 422:
            raise RemoteError(f"GitHub refused the dispatch: {response.text[:300]}")
        if response.status_code == 200 and response.content:
            run_id = response.json().get("workflow_run_id")
            return int(run_id) if run_id else None
        return None

    def workflow_runs(self, workflow: str, ref: str) -> list[dict[str, Any]]:
        return self.paginated(
            f"{self.repo()}/actions/workflows/{quote(workflow, safe='')}/runs",
            "workflow_runs",
            {"event": "workflow_dispatch", "branch": ref},
        )

    def run(self, run_id: int) -> dict[str, Any]:
        return self.http.request(
            "GET",
            f"{self.repo()}/actions/runs/{run_id}",
            not_found=f"GitHub run {run_id} does not exist",
        ).json()

    def jobs(self, run_id: int) -> list[dict[str, Any]]:
        return self.paginated(f"{self.repo()}/actions/runs/{run_id}/jobs", "jobs")

    def job_log(self, job_id: int) -> bytes | None:
        """The job's whole log (GitHub answers with a redirect to a short-lived download
        URL on another host; the outbound client follows it without the token).
        None while GitHub has no log for the job yet."""
        try:
            response = self.http.request("GET", f"{self.repo()}/actions/jobs/{job_id}/logs")
        except RemoteNotFound:
            return None
        return response.content

    def cancel(self, run_id: int) -> None:
        # 409: the run has completed already - nothing to stop.
        self.http.request("POST", f"{self.repo()}/actions/runs/{run_id}/cancel", expect=(202, 409))
