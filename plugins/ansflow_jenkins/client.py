"""A Jenkins remote API client on the hardened outbound client.

Why not python-jenkins: it sends its requests with ``requests``, so its calls could
not go through the application's outbound client (address policy on the resolved IP,
timeouts, no credentials across redirects).  The calls AnsFlow needs are few and
plain (JSON and form posts), so they are written here on :class:`ToolHTTP`.

Authentication is HTTP Basic with the user and an API token; every POST carries the
CSRF crumb from ``/crumbIssuer/api/json`` (fetched once and again after a 403 that
says the crumb is invalid; a Jenkins without a crumb issuer answers 404 there and
needs none).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from ansflow_remote.http import ToolHTTP

from ansflow_pyramid.execution.remote import RemoteError, RemoteNotFound, RemoteTool

LABEL = "Jenkins"


def job_path(name: str) -> str:
    """``/job/a/job/b`` for a job in folders (``a/b``)."""
    return "".join(f"/job/{quote(part, safe='')}" for part in name.strip("/").split("/") if part)


@dataclass(frozen=True)
class Progress:
    """A slice of a build's console: ``data`` from the requested offset up to
    ``next_offset`` (``X-Text-Size``), and whether more is coming (``X-More-Data``)."""

    data: bytes
    next_offset: int
    more: bool


class JenkinsClient:
    def __init__(self, registry: Any, tool: RemoteTool) -> None:
        auth = httpx.BasicAuth(tool.username, tool.token) if tool.token else None
        self.http = ToolHTTP(
            registry, tool.base_url, LABEL, headers={"Accept": "application/json"}, auth=auth
        )
        self._crumb: dict[str, str] | None = None
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------
    def crumb(self, refresh: bool = False) -> dict[str, str]:
        with self._lock:
            if self._crumb is None or refresh:
                response = self.http.request("GET", "/crumbIssuer/api/json", expect=(200, 404))
                if response.status_code == 404:
                    self._crumb = {}
                else:
                    try:
                        data = response.json()
                        self._crumb = {str(data["crumbRequestField"]): str(data["crumb"])}
                    except (ValueError, KeyError, TypeError) as error:
                        raise RemoteError("Jenkins answered the crumb request oddly") from error
            return dict(self._crumb)

    def post(
        self, path: str, *, expect: tuple[int, ...] = (200, 201, 302), **kwargs: Any
    ) -> httpx.Response:
        """A POST with the crumb (fetched again once if Jenkins refuses it)."""
        headers = {**kwargs.pop("headers", {}), **self.crumb()}
        response = self.http.request(
            "POST", path, expect=(*expect, 403), headers=headers, follow_redirects=False, **kwargs
        )
        if response.status_code == 403 and "crumb" in response.text.lower():
            headers.update(self.crumb(refresh=True))
            response = self.http.request(
                "POST",
                path,
                expect=(*expect, 403),
                headers=headers,
                follow_redirects=False,
                **kwargs,
            )
        if response.status_code == 403 and 403 not in expect:
            raise self.http.error_for(response)
        return response

    def get_json(
        self, path: str, params: dict[str, Any] | None = None, not_found: str | None = None
    ) -> Any:
        return self.http.request("GET", path, params=params, not_found=not_found).json()

    # -- server ----------------------------------------------------------------------------
    def whoami(self) -> httpx.Response:
        return self.http.request("GET", "/api/json", expect=(200,))

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/json", {"tree": "jobs[name,url,color]"}).get("jobs", []))

    def queue(self) -> list[dict[str, Any]]:
        return list(self.get_json("/queue/api/json").get("items", []))

    # -- jobs ------------------------------------------------------------------------------
    def job_info(self, name: str, builds: int = 20) -> dict[str, Any]:
        tree = (
            "name,url,color,buildable,inQueue,nextBuildNumber,description,"
            f"builds[number,result,building,timestamp,duration,url]{{0,{builds}}},"
            "lastBuild[number,result,building,url]"
        )
        return self.get_json(
            job_path(name) + "/api/json", {"tree": tree}, f"Jenkins job {name!r} does not exist"
        )

    def job_exists(self, name: str) -> bool:
        try:
            self.http.request("GET", job_path(name) + "/api/json", params={"tree": "name"})
        except RemoteNotFound:
            return False
        return True

    def get_config(self, name: str) -> str:
        return self.http.request(
            "GET", job_path(name) + "/config.xml", not_found=f"Jenkins job {name!r} does not exist"
        ).text

    def create_or_update_job(self, name: str, config_xml: str) -> str:
        """Write the job's config.xml; returns ``created`` or ``updated``."""
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        body = config_xml.encode()
        if self.job_exists(name):
            self.post(job_path(name) + "/config.xml", content=body, headers=headers, expect=(200,))
            return "updated"
        parent, _, leaf = name.strip("/").rpartition("/")
        self.post(
            job_path(parent) + "/createItem" if parent else "/createItem",
            params={"name": leaf},
            content=body,
            headers=headers,
            expect=(200,),
        )
        return "created"

    def delete_job(self, name: str) -> None:
        self.post(job_path(name) + "/doDelete", not_found=f"Jenkins job {name!r} does not exist")

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.post(
            job_path(name) + ("/enable" if enabled else "/disable"),
            not_found=f"Jenkins job {name!r} does not exist",
        )

    def build(self, name: str, parameters: dict[str, Any]) -> str:
        """Queue a build; returns the queue item's URL (the ``Location`` header)."""
        path = job_path(name) + ("/buildWithParameters" if parameters else "/build")
        response = self.post(
            path,
            data={k: "" if v is None else str(v) for k, v in parameters.items()},
            expect=(201, 200, 302, 409),
            not_found=f"Jenkins job {name!r} does not exist",
        )
        if response.status_code == 409:
            raise RemoteError(f"Jenkins refused to build {name!r} (the job is disabled?)")
        location = response.headers.get("Location", "")
        if "/queue/item/" not in location:
            raise RemoteError(f"Jenkins did not return a queue item for {name!r}")
        return location.rstrip("/") + "/"

    # -- queue items and builds ------------------------------------------------------------
    def queue_item(self, item_url: str) -> dict[str, Any]:
        return self.get_json(item_url + "api/json", not_found="the Jenkins queue item is gone")

    def cancel_queue_item(self, item_id: int) -> None:
        self.post("/queue/cancelItem", params={"id": str(item_id)}, expect=(200, 204, 302, 404))

    def build_info(self, name: str, number: int) -> dict[str, Any]:
        return self.get_json(
            f"{job_path(name)}/{number}/api/json",
            {
                "tree": "number,url,building,result,timestamp,duration,actions[parameters[name,value]]"
            },
            f"Jenkins build {name} #{number} does not exist",
        )

    def progressive_text(self, name: str, number: int, start: int) -> Progress:
        response = self.http.request(
            "GET",
            f"{job_path(name)}/{number}/logText/progressiveText",
            params={"start": str(start)},
            not_found=f"Jenkins build {name} #{number} does not exist",
        )
        size = response.headers.get("X-Text-Size")
        next_offset = int(size) if size and size.isdigit() else start + len(response.content)
        return Progress(
            response.content, next_offset, response.headers.get("X-More-Data") == "true"
        )

    def console_text(self, name: str, number: int) -> str:
        return self.http.request(
            "GET",
            f"{job_path(name)}/{number}/consoleText",
            not_found=f"Jenkins build {name} #{number} does not exist",
        ).text

    def stop(self, name: str, number: int) -> None:
        self.post(f"{job_path(name)}/{number}/stop", expect=(200, 302, 404))
