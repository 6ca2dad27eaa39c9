"""A fake GitLab (REST API v4) on loopback: the calls AnsFlow's GitLab CI plugin makes.

Faithful where the client depends on it: ``PRIVATE-TOKEN`` (401 ``{"message": "401
Unauthorized"}`` without a valid one), projects by id or url-encoded path (404
``{"message": "404 Project Not Found"}``), repository files (create 201 / update 200,
``content`` base64 on read), ``POST /projects/:id/pipeline`` with ``ref`` and
``variables`` (400 when the ref has no ``.gitlab-ci.yml``), pipelines and their
variables, jobs paginated with ``X-Next-Page``/``X-Total``/``X-Page``, job traces
(``Range: bytes=N-`` answered 206), cancel and retry.  Pipelines run their
``.gitlab-ci.yml`` stage by stage with :mod:`tests.integrations.fakeshell`.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yaml

from tests.integrations.fakeserver import FakeRequest, FakeResponse, FakeServer, json_response
from tests.integrations.fakeshell import Stopped, run_script

FINAL = ("success", "failed", "canceled", "skipped")


@dataclass
class Job:
    id: int
    name: str
    stage: str
    script: list[str]
    variables: dict[str, str]
    status: str = "created"
    trace: bytearray = field(default_factory=bytearray)


@dataclass
class Pipeline:
    id: int
    project: int
    ref: str
    variables: dict[str, str]
    jobs: list[Job]
    status: str = "created"
    stop: threading.Event = field(default_factory=threading.Event)


class FakeGitLab(FakeServer):
    def __init__(self, token: str = "glpat-token", project_path: str = "group/app") -> None:
        super().__init__()
        self.token = token
        self.project_id = 42
        self.project_path = project_path
        self.files: dict[tuple[str, str], str] = {}  # (branch, path) -> content
        self.pipelines: dict[int, Pipeline] = {}
        self._ids = itertools.count(1000)
        self.cancels: list[int] = []
        self.retries: list[int] = []
        self.per_page_cap = 100

    def on_close(self) -> None:
        for pipeline in self.pipelines.values():
            pipeline.stop.set()

    def route(self, request: FakeRequest) -> FakeResponse:
        if request.header("PRIVATE-TOKEN") != self.token:
            return json_response({"message": "401 Unauthorized"}, 401)
        path = request.path
        if not path.startswith("/api/v4/"):
            return json_response({"error": "404 Not Found"}, 404)
        path = path[len("/api/v4") :]
        if path == "/version":
            return json_response({"version": "16.11.0", "revision": "fake"})
        match = re.fullmatch(r"/projects/([^/]+)(/.*)?", path)
        if not match:
            return json_response({"error": "404 Not Found"}, 404)
        project = unquote(match.group(1))
        if project not in (str(self.project_id), self.project_path):
            return json_response({"message": "404 Project Not Found"}, 404)
        with self.lock:
            return self._project_route(request, match.group(2) or "")

    def _project_route(self, request: FakeRequest, rest: str) -> FakeResponse:
        method = request.method
        if rest == "":
            return json_response({"id": self.project_id, "path_with_namespace": self.project_path})
        match = re.fullmatch(r"/repository/files/([^/]+)", rest)
        if match:
            file_path = unquote(match.group(1))
            if method == "GET":
                content = self.files.get((request.arg("ref") or "", file_path))
                if content is None:
                    return json_response({"message": "404 File Not Found"}, 404)
                return json_response(
                    {
                        "file_path": file_path,
                        "content": base64.b64encode(content.encode()).decode(),
                        "encoding": "base64",
                    }
                )
            body = request.json()
            key = (body["branch"], file_path)
            if method == "POST":
                if key in self.files:
                    return json_response({"message": "A file with this name already exists"}, 400)
                self.files[key] = body["content"]
                return json_response({"file_path": file_path, "branch": body["branch"]}, 201)
            if method == "PUT":
                if key not in self.files:
                    return json_response({"message": "A file with this name doesn't exist"}, 400)
                self.files[key] = body["content"]
                return json_response({"file_path": file_path, "branch": body["branch"]})
        if rest == "/pipeline" and method == "POST":
            body = request.json()
            return self._create_pipeline(body.get("ref", ""), body.get("variables") or [])
        if rest == "/pipelines" and method == "GET":
            ref = request.arg("ref")
            items = [p for p in self.pipelines.values() if ref in (None, p.ref)]
            items.sort(key=lambda p: -p.id)
            return json_response([self._pipeline_json(p) for p in items[:20]])
        match = re.fullmatch(r"/pipelines/(\d+)(/\w+)?", rest)
        if match:
            pipeline = self.pipelines.get(int(match.group(1)))
            if pipeline is None:
                return json_response({"message": "404 Not found"}, 404)
            action = match.group(2) or ""
            if action == "" and method == "GET":
                return json_response(self._pipeline_json(pipeline))
            if action == "/variables":
                return json_response(
                    [
                        {"key": k, "value": v, "variable_type": "env_var"}
                        for k, v in pipeline.variables.items()
                    ]
                )
            if action == "/jobs":
                return self._jobs_page(request, pipeline)
            if action == "/cancel" and method == "POST":
                self.cancels.append(pipeline.id)
                pipeline.stop.set()
                for job in pipeline.jobs:
                    if job.status in ("created", "pending"):
                        job.status = "canceled"
                return json_response(self._pipeline_json(pipeline))
            if action == "/retry" and method == "POST":
                self.retries.append(pipeline.id)
                for job in pipeline.jobs:
                    if job.status in ("failed", "canceled"):
                        job.status = "created"
                        job.trace.clear()
                pipeline.stop = threading.Event()
                self._start(pipeline)
                return json_response(self._pipeline_json(pipeline), 201)
        match = re.fullmatch(r"/jobs/(\d+)/trace", rest)
        if match:
            job = self._job(int(match.group(1)))
            if job is None:
                return json_response({"message": "404 Not found"}, 404)
            data = bytes(job.trace)
            ranged = re.fullmatch(r"bytes=(\d+)-", request.header("Range") or "")
            if ranged:
                start = int(ranged.group(1))
                if start > len(data):
                    return FakeResponse(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return FakeResponse(
                    206,
                    data[start:],
                    {
                        "Content-Type": "text/plain",
                        "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                    },
                )
            return FakeResponse(200, data, {"Content-Type": "text/plain"})
        return json_response({"error": "404 Not Found"}, 404)

    # -- pipelines ---------------------------------------------------------------------
    def _job(self, job_id: int) -> Job | None:
        for pipeline in self.pipelines.values():
            for job in pipeline.jobs:
                if job.id == job_id:
                    return job
        return None

    def _create_pipeline(self, ref: str, variables: list[dict[str, str]]) -> FakeResponse:
        content = self.files.get((ref, ".gitlab-ci.yml"))
        if content is None:
            return json_response({"message": {"base": ["Missing CI config file"]}}, 400)
        document = yaml.safe_load(content) or {}
        stages = document.get("stages") or ["test"]
        jobs = []
        for name, spec in document.items():
            if name in ("stages", "variables") or not isinstance(spec, dict):
                continue
            jobs.append(
                Job(
                    next(self._ids),
                    name,
                    spec.get("stage", "test"),
                    list(spec.get("script") or []),
                    dict(spec.get("variables") or {}),
                )
            )
        jobs.sort(key=lambda j: (stages.index(j.stage) if j.stage in stages else 99, j.id))
        pipeline = Pipeline(
            next(self._ids), self.project_id, ref, {v["key"]: v["value"] for v in variables}, jobs
        )
        self.pipelines[pipeline.id] = pipeline
        self._start(pipeline)
        return json_response(self._pipeline_json(pipeline), 201)

    def _start(self, pipeline: Pipeline) -> None:
        pipeline.status = "pending"
        threading.Thread(target=self._run, args=(pipeline,), daemon=True).start()

    def _pipeline_json(self, pipeline: Pipeline) -> dict[str, Any]:
        return {
            "id": pipeline.id,
            "project_id": pipeline.project,
            "ref": pipeline.ref,
            "status": pipeline.status,
            "source": "api",
            "web_url": f"{self.url}/{self.project_path}/-/pipelines/{pipeline.id}",
        }

    def _jobs_page(self, request: FakeRequest, pipeline: Pipeline) -> FakeResponse:
        per_page = min(int(request.arg("per_page") or 20), self.per_page_cap)
        page = int(request.arg("page") or 1)
        jobs = pipeline.jobs[(page - 1) * per_page : page * per_page]
        total_pages = max(1, -(-len(pipeline.jobs) // per_page))
        headers = {
            "X-Total": str(len(pipeline.jobs)),
            "X-Total-Pages": str(total_pages),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
        }
        body = [
            {
                "id": j.id,
                "name": j.name,
                "stage": j.stage,
                "status": j.status,
                "web_url": f"{self.url}/-/jobs/{j.id}",
            }
            for j in jobs
        ]
        return json_response(body, **headers)

    def _emit(self, job: Job, text: str) -> None:
        with self.lock:
            job.trace.extend((text + "\n").encode())

    def _run(self, pipeline: Pipeline) -> None:
        with self.lock:
            pipeline.status = "running"
        failed = False
        for job in pipeline.jobs:
            if job.status in FINAL and job.status != "canceled":
                failed = failed or job.status == "failed"
                continue
            if failed or pipeline.stop.is_set():
                with self.lock:
                    job.status = "canceled" if pipeline.stop.is_set() else "skipped"
                continue
            with self.lock:
                job.status = "running"
            self._emit(job, "Running with gitlab-runner 16.11.0 (fake)")
            env = {**pipeline.variables, **job.variables}
            code: int | None
            try:
                code = run_script(
                    "\n".join(job.script),
                    env,
                    lambda t, j=job: self._emit(j, t),
                    pipeline.stop.is_set,
                    trace=False,
                )
            except Stopped:
                code = None
            with self.lock:
                if code is None:
                    job.status = "canceled"
                elif code:
                    job.trace.extend(f"ERROR: Job failed: exit code {code}\n".encode())
                    job.status, failed = "failed", True
                else:
                    job.trace.extend(b"Job succeeded\n")
                    job.status = "success"
        with self.lock:
            if pipeline.stop.is_set():
                pipeline.status = "canceled"
            else:
                pipeline.status = "failed" if failed else "success"
