"""A fake GitHub REST API (Actions, contents) on loopback, and its log download host.

Faithful where the client depends on it: ``Authorization: Bearer`` (401 ``{"message":
"Bad credentials"}``), ``X-RateLimit-*`` headers on every answer and rate limiting on
demand (403 with ``X-RateLimit-Remaining: 0`` + ``X-RateLimit-Reset``, or 429 with
``Retry-After``), contents (PUT creates 201 / updates 200 with the current ``sha``,
409 on a stale one), ``workflow_dispatch`` by workflow *file name* (204; 404 for an
unknown workflow; 422 for an input the workflow does not declare), runs that appear a
moment after the dispatch (the race the client must not lose), ``run-name`` rendered
into ``display_title``, runs and jobs paginated with ``Link: rel="next"``, job logs
only once a job completed, served by a 302 to a *different host* that refuses requests
carrying the token, and ``cancel`` (202, 409 once completed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.integrations.fakeserver import FakeRequest, FakeResponse, FakeServer, json_response
from tests.integrations.fakeshell import Stopped, run_script


@dataclass
class Job:
    id: int
    key: str
    name: str
    script: str
    env: dict[str, str]
    status: str = "queued"
    conclusion: str | None = None
    log: list[str] = field(default_factory=list)


@dataclass
class Run:
    id: int
    workflow: str
    ref: str
    inputs: dict[str, str]
    display_title: str
    jobs: list[Job]
    visible_at: float
    status: str = "queued"
    conclusion: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())


class FakeBlobHost(FakeServer):
    """Serves job logs at signed URLs; a request carrying a token is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.blobs: dict[str, bytes] = {}
        self.refused_with_token = 0

    def route(self, request: FakeRequest) -> FakeResponse:
        if request.header("Authorization"):
            self.refused_with_token += 1
            return FakeResponse(400, "<Error>Authorization header not allowed</Error>")
        blob = self.blobs.get(request.path)
        if (
            blob is None
            or request.arg("sig") != hashlib.sha1(request.path.encode()).hexdigest()[:12]
        ):
            return FakeResponse(403, "<Error>Signature invalid</Error>")
        return FakeResponse(200, blob, {"Content-Type": "text/plain"})


class FakeGitHub(FakeServer):
    def __init__(self, token: str = "ghp-token", repository: str = "octo/app") -> None:
        super().__init__()
        self.token = token
        self.repository = repository
        self.blob = FakeBlobHost()
        self.files: dict[tuple[str, str], str] = {}
        self.runs: dict[int, Run] = {}
        self._ids = itertools.count(5000)
        self.run_delay = 0.3  # a run is listed this long after its dispatch
        self.return_run_details = False
        self.cancels: list[int] = []
        self._limited: list[str] = []
        self.per_page_cap = 100

    def start(self) -> FakeGitHub:
        self.blob.start()
        super().start()
        return self

    def on_close(self) -> None:
        self.blob.close()
        for run in self.runs.values():
            run.stop.set()

    def rate_limit_next(self, count: int, kind: str = "429") -> None:
        """The next requests are rate limited: ``429`` (Retry-After) or ``403``
        (X-RateLimit-Remaining: 0 with a reset time)."""
        with self.lock:
            self._limited.extend([kind] * count)

    def route(self, request: FakeRequest) -> FakeResponse:
        if request.header("Authorization") != f"Bearer {self.token}":
            return json_response({"message": "Bad credentials"}, 401)
        with self.lock:
            limited = self._limited.pop(0) if self._limited else None
        reset = str(int(time.time()) + 1)
        if limited == "429":
            return json_response({"message": "secondary rate limit"}, 429, **{"Retry-After": "1"})
        if limited == "403":
            return json_response(
                {"message": "API rate limit exceeded"},
                403,
                **{
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                    "X-RateLimit-Limit": "5000",
                },
            )
        with self.lock:
            response = self._route(request)
        response.headers.setdefault("X-RateLimit-Limit", "5000")
        response.headers.setdefault("X-RateLimit-Remaining", "4999")
        response.headers.setdefault("X-RateLimit-Reset", reset)
        return response

    def _route(self, request: FakeRequest) -> FakeResponse:
        path, method = request.path, request.method
        if path == "/user":
            return json_response({"login": "octocat"})
        prefix = f"/repos/{self.repository}"
        if not path.startswith(prefix):
            return json_response({"message": "Not Found"}, 404)
        rest = path[len(prefix) :]
        if rest == "":
            return json_response({"full_name": self.repository, "default_branch": "main"})
        match = re.fullmatch(r"/contents/(.+)", rest)
        if match:
            return self._contents(request, match.group(1))
        match = re.fullmatch(r"/actions/workflows/([^/]+)/dispatches", rest)
        if match and method == "POST":
            return self._dispatch(match.group(1), request.json())
        match = re.fullmatch(r"/actions/workflows/([^/]+)/runs", rest)
        if match:
            runs = [
                r
                for r in self.runs.values()
                if r.workflow == match.group(1)
                and time.time() >= r.visible_at
                and request.arg("branch") in (None, r.ref)
            ]
            runs.sort(key=lambda r: -r.id)
            return self._page(request, [self._run_json(r) for r in runs], "workflow_runs")
        match = re.fullmatch(r"/actions/runs/(\d+)(/\w+)?", rest)
        if match:
            run = self.runs.get(int(match.group(1)))
            if run is None or time.time() < run.visible_at:
                return json_response({"message": "Not Found"}, 404)
            action = match.group(2) or ""
            if action == "":
                return json_response(self._run_json(run))
            if action == "/jobs":
                return self._page(request, [self._job_json(run, j) for j in run.jobs], "jobs")
            if action == "/cancel" and method == "POST":
                if run.status == "completed":
                    return json_response(
                        {"message": "Cannot cancel a workflow run that is completed."}, 409
                    )
                self.cancels.append(run.id)
                run.stop.set()
                return json_response({}, 202)
        match = re.fullmatch(r"/actions/jobs/(\d+)/logs", rest)
        if match:
            for run in self.runs.values():
                for job in run.jobs:
                    if job.id == int(match.group(1)) and job.status == "completed":
                        blob_path = f"/logs/{job.id}/{secrets.token_hex(4)}.txt"
                        self.blob.blobs[blob_path] = ("\n".join(job.log) + "\n").encode()
                        sig = hashlib.sha1(blob_path.encode()).hexdigest()[:12]
                        return FakeResponse(
                            302, b"", {"Location": f"{self.blob.url}{blob_path}?sig={sig}"}
                        )
            return json_response({"message": "Not Found"}, 404)
        return json_response({"message": "Not Found"}, 404)

    def _page(self, request: FakeRequest, items: list[Any], key: str) -> FakeResponse:
        per_page = min(int(request.arg("per_page") or 30), self.per_page_cap)
        page = int(request.arg("page") or 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = "&".join(
                f"{k}={v[0]}" for k, v in request.query.items() if k not in ("page", "per_page")
            )
            headers["Link"] = (
                f'<{self.url}{request.path}?{query}&per_page={per_page}&page={page + 1}>; rel="next"'
            )
        return json_response({"total_count": len(items), key: chunk}, **headers)

    def _contents(self, request: FakeRequest, path: str) -> FakeResponse:
        if request.method == "GET":
            content = self.files.get((request.arg("ref") or "main", path))
            if content is None:
                return json_response({"message": "Not Found"}, 404)
            return json_response(
                {
                    "path": path,
                    "sha": hashlib.sha1(content.encode()).hexdigest(),
                    "content": base64.b64encode(content.encode()).decode(),
                    "encoding": "base64",
                }
            )
        if request.method == "PUT":
            body = request.json()
            key = (body.get("branch") or "main", path)
            current = self.files.get(key)
            if (
                current is not None
                and body.get("sha") != hashlib.sha1(current.encode()).hexdigest()
            ):
                return json_response({"message": f"{path} does not match"}, 409)
            self.files[key] = base64.b64decode(body["content"]).decode()
            return json_response({"content": {"path": path}}, 200 if current is not None else 201)
        return json_response({"message": "Not Found"}, 404)

    def _dispatch(self, workflow: str, body: dict[str, Any]) -> FakeResponse:
        ref = body.get("ref") or "main"
        content = self.files.get((ref, f".github/workflows/{workflow}"))
        if content is None:
            return json_response({"message": "Not Found"}, 404)
        document = yaml.safe_load(content)
        on = document.get("on") or document.get(True) or {}
        declared = ((on.get("workflow_dispatch") or {}).get("inputs")) or {}
        inputs = {str(k): str(v) for k, v in (body.get("inputs") or {}).items()}
        unexpected = sorted(set(inputs) - set(declared))
        if unexpected:
            return json_response({"message": f"Unexpected inputs provided: {unexpected}"}, 422)
        title = re.sub(
            r"\$\{\{\s*inputs\.(\w+)\s*\}\}",
            lambda m: inputs.get(m.group(1), ""),
            document.get("run-name") or workflow,
        )
        jobs = []
        for key, spec in (document.get("jobs") or {}).items():
            script = "\n".join(str(s.get("run") or "") for s in spec.get("steps") or [])
            jobs.append(
                Job(
                    next(self._ids),
                    key,
                    spec.get("name") or key,
                    script,
                    dict(spec.get("env") or {}),
                )
            )
        # A dispatch that returns the run's details returns a run that exists.
        delay = (
            0.0 if self.return_run_details and body.get("return_run_details") else self.run_delay
        )
        run = Run(next(self._ids), workflow, ref, inputs, title, jobs, time.time() + delay)
        self.runs[run.id] = run
        threading.Thread(target=self._run, args=(run,), daemon=True).start()
        if self.return_run_details and body.get("return_run_details"):
            return json_response(
                {"workflow_run_id": run.id, "run_url": f"{self.url}/runs/{run.id}"}
            )
        return FakeResponse(204)

    def _run_json(self, run: Run) -> dict[str, Any]:
        return {
            "id": run.id,
            "name": run.workflow,
            "display_title": run.display_title,
            "event": "workflow_dispatch",
            "head_branch": run.ref,
            "status": run.status,
            "conclusion": run.conclusion,
            "html_url": f"https://github.example/{self.repository}/actions/runs/{run.id}",
            "created_at": run.created_at,
        }

    def _job_json(self, run: Run, job: Job) -> dict[str, Any]:
        return {
            "id": job.id,
            "run_id": run.id,
            "name": job.name,
            "status": job.status,
            "conclusion": job.conclusion,
        }

    def _run(self, run: Run) -> None:
        while time.time() < run.visible_at:
            time.sleep(0.01)
        with self.lock:
            run.status = "in_progress"
        failed = False
        for job in run.jobs:
            if failed or run.stop.is_set():
                with self.lock:
                    job.status, job.conclusion = (
                        "completed",
                        "cancelled" if run.stop.is_set() else "skipped",
                    )
                continue
            with self.lock:
                job.status = "in_progress"

            def emit(text: str, job: Job = job) -> None:
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
                with self.lock:
                    job.log.append(f"{stamp} {text}")

            try:
                code: int | None = run_script(
                    job.script, {**run.inputs, **job.env}, emit, run.stop.is_set
                )
            except Stopped:
                code = None
            with self.lock:
                job.status = "completed"
                if code is None:
                    job.conclusion = "cancelled"
                elif code:
                    emit(f"##[error]Process completed with exit code {code}.")
                    job.conclusion, failed = "failure", True
                else:
                    job.conclusion = "success"
        with self.lock:
            run.status = "completed"
            run.conclusion = (
                "cancelled" if run.stop.is_set() else "failure" if failed else "success"
            )
