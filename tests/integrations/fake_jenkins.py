"""A fake Jenkins speaking the remote API AnsFlow uses, on loopback.

Faithful where the client depends on it: HTTP Basic auth with user + API token (401
without, 403 for a user without the build permission), a CSRF crumb from
``/crumbIssuer/api/json`` required on every POST (403 "No valid crumb" otherwise),
``createItem`` / ``config.xml`` / ``doDelete`` / ``enable`` / ``disable``,
``buildWithParameters`` answering 201 with a queue item ``Location``, queue items
that become builds (or are cancelled with ``queue/cancelItem``), build JSON with
``building``/``result``, progressive logs (``X-Text-Size``, ``X-More-Data``),
``consoleText``, ``stop`` (result ABORTED) and 404s for unknown jobs and builds.

Pipeline jobs run their declarative Jenkinsfile's stages with
:mod:`tests.integrations.fakeshell`, printing what Jenkins prints around stages.
"""

from __future__ import annotations

import base64
import html
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.integrations.fakeserver import FakeRequest, FakeResponse, FakeServer, json_response
from tests.integrations.fakeshell import Stopped, run_script

STAGE = re.compile(r"stage\('((?:[^'\\]|\\.)*)'\)\s*\{(.*?)sh\s+'''(.*?)'''", re.S)
ENV = re.compile(r"(\w+)\s*=\s*'((?:[^'\\]|\\.)*)'")
SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def groovy_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@dataclass
class Build:
    number: int
    job: str
    params: dict[str, str]
    log: bytearray = field(default_factory=bytearray)
    building: bool = True
    result: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.time)


@dataclass
class QueueItem:
    id: int
    job: str
    params: dict[str, str]
    cancelled: bool = False
    build: Build | None = None
    ready_at: float = 0.0


@dataclass
class Job:
    name: str
    config_xml: str
    disabled: bool = False
    builds: dict[int, Build] = field(default_factory=dict)
    next_build: int = 1


class FakeJenkins(FakeServer):
    def __init__(
        self,
        user: str = "admin",
        token: str = "api-token",
        *,
        queue_delay: float = 0.1,
        readers: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.user, self.token = user, token
        self.readers = dict(readers or {})  # users who may read but not build
        self.queue_delay = queue_delay
        self.crumb = "crumb-" + base64.b16encode(token.encode()).decode()[:12]
        self.jobs: dict[str, Job] = {}
        self.queue: dict[int, QueueItem] = {}
        self._queue_ids = itertools.count(100)
        self.threads: list[threading.Thread] = []
        self.stops: list[tuple[str, int]] = []

    # -- helpers for tests -------------------------------------------------------------
    def add_job(self, name: str, script_steps: list[tuple[str, str]]) -> None:
        stages = "\n".join(f"stage('{n}') {{ steps {{ sh '''{s}''' }} }}" for n, s in script_steps)
        xml = (
            "<flow-definition><definition><script>"
            + html.escape(f"pipeline {{ agent any\n stages {{ {stages} }} }}")
            + "</script></definition></flow-definition>"
        )
        self.jobs[name] = Job(name, xml)

    def build(self, job: str, number: int) -> Build:
        return self.jobs[job].builds[number]

    def on_close(self) -> None:
        for job in self.jobs.values():
            for build in job.builds.values():
                build.stop.set()

    # -- auth --------------------------------------------------------------------------
    def _who(self, request: FakeRequest) -> str | None:
        header = request.header("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        if user == self.user and token == self.token:
            return "admin"
        if self.readers.get(user) == token:
            return "reader"
        return None

    def route(self, request: FakeRequest) -> FakeResponse:
        who = self._who(request)
        if who is None:
            return FakeResponse(
                401,
                "<html>Authentication required</html>",
                {"WWW-Authenticate": 'Basic realm="Jenkins"', "Content-Type": "text/html"},
            )
        path = unquote(request.path)
        if request.method == "POST":
            if request.header("Jenkins-Crumb") != self.crumb:
                return FakeResponse(403, "<html>No valid crumb was included in the request</html>")
            if who != "admin":
                return FakeResponse(403, "<html>reader is missing the Job/Build permission</html>")
        with self.lock:
            return self._route(request, path)

    def _route(self, request: FakeRequest, path: str) -> FakeResponse:
        method = request.method
        if path == "/crumbIssuer/api/json":
            return json_response({"crumb": self.crumb, "crumbRequestField": "Jenkins-Crumb"})
        if path in ("/api/json", "/"):
            return json_response(
                {
                    "_class": "hudson.model.Hudson",
                    "jobs": [
                        {
                            "name": j.name,
                            "url": f"{self.url}/job/{j.name}/",
                            "color": "disabled" if j.disabled else "blue",
                        }
                        for j in self.jobs.values()
                    ],
                },
                **{"X-Jenkins": "2.440.1"},
            )
        if path == "/createItem" and method == "POST":
            name = request.arg("name") or ""
            if name in self.jobs:
                return FakeResponse(400, f"A job already exists with the name '{name}'")
            self.jobs[name] = Job(name, request.body.decode())
            return FakeResponse(200)
        if path == "/queue/api/json":
            return json_response(
                {
                    "items": [
                        self._queue_json(q)
                        for q in self.queue.values()
                        if q.build is None and not q.cancelled
                    ]
                }
            )
        if path == "/queue/cancelItem" and method == "POST":
            item = self.queue.get(int(request.arg("id") or 0))
            if item is None:
                return FakeResponse(404)
            if item.build is None:
                item.cancelled = True
            return FakeResponse(302, b"", {"Location": f"{self.url}/queue/"})
        match = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
        if match:
            item = self.queue.get(int(match.group(1)))
            if item is None:
                return FakeResponse(404)
            self._advance(item)
            return json_response(self._queue_json(item))
        match = re.fullmatch(r"/job/([^/]+)(/.*)?", path)
        if not match:
            return FakeResponse(404, "<html>Not Found</html>")
        job = self.jobs.get(match.group(1))
        rest = (match.group(2) or "/").rstrip("/") or "/"
        if job is None:
            return FakeResponse(404, "<html>Not Found</html>")
        return self._job_route(request, job, rest)

    def _job_route(self, request: FakeRequest, job: Job, rest: str) -> FakeResponse:
        method = request.method
        if rest == "/api/json":
            builds = sorted(job.builds.values(), key=lambda b: -b.number)
            return json_response(
                {
                    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                    "name": job.name,
                    "url": f"{self.url}/job/{job.name}/",
                    "buildable": not job.disabled,
                    "color": "disabled" if job.disabled else "blue",
                    "nextBuildNumber": job.next_build,
                    "inQueue": any(
                        q.job == job.name and q.build is None and not q.cancelled
                        for q in self.queue.values()
                    ),
                    "builds": [self._build_json(b) for b in builds],
                    "lastBuild": self._build_json(builds[0]) if builds else None,
                }
            )
        if rest == "/config.xml":
            if method == "GET":
                return FakeResponse(200, job.config_xml, {"Content-Type": "application/xml"})
            job.config_xml = request.body.decode()
            return FakeResponse(200)
        if rest == "/doDelete" and method == "POST":
            del self.jobs[job.name]
            return FakeResponse(302, b"", {"Location": f"{self.url}/"})
        if rest in ("/enable", "/disable") and method == "POST":
            job.disabled = rest == "/disable"
            return FakeResponse(302, b"", {"Location": f"{self.url}/job/{job.name}/"})
        if rest in ("/build", "/buildWithParameters") and method == "POST":
            if job.disabled:
                return FakeResponse(409, "<html>job is disabled</html>")
            params = {**request.form(), **{k: v[0] for k, v in request.query.items()}}
            item = QueueItem(
                next(self._queue_ids), job.name, params, ready_at=time.time() + self.queue_delay
            )
            self.queue[item.id] = item
            return FakeResponse(201, b"", {"Location": f"{self.url}/queue/item/{item.id}/"})
        match = re.fullmatch(r"/(\d+)(/.*)?", rest)
        if not match or int(match.group(1)) not in job.builds:
            return FakeResponse(404, "<html>Not Found</html>")
        build = job.builds[int(match.group(1))]
        sub = match.group(2) or "/"
        if sub == "/api/json":
            return json_response(self._build_json(build))
        if sub == "/logText/progressiveText":
            start = int(request.arg("start") or 0)
            data = bytes(build.log[start:])
            headers = {
                "X-Text-Size": str(len(build.log)),
                "Content-Type": "text/plain;charset=UTF-8",
            }
            if build.building:
                headers["X-More-Data"] = "true"
            return FakeResponse(200, data, headers)
        if sub == "/consoleText":
            return FakeResponse(200, bytes(build.log), {"Content-Type": "text/plain"})
        if sub == "/stop" and method == "POST":
            self.stops.append((job.name, build.number))
            build.stop.set()
            return FakeResponse(
                302, b"", {"Location": f"{self.url}/job/{job.name}/{build.number}/"}
            )
        return FakeResponse(404)

    # -- queue and builds ----------------------------------------------------------------
    def _queue_json(self, item: QueueItem) -> dict[str, Any]:
        document: dict[str, Any] = {
            "_class": "hudson.model.Queue$LeftItem"
            if item.build or item.cancelled
            else "hudson.model.Queue$WaitingItem",
            "id": item.id,
            "task": {"name": item.job, "url": f"{self.url}/job/{item.job}/"},
            "actions": [{"parameters": [{"name": k, "value": v} for k, v in item.params.items()]}],
            "why": None if item.build else "In the quiet period.",
        }
        if item.cancelled:
            document["cancelled"] = True
        if item.build is not None:
            document["executable"] = {
                "number": item.build.number,
                "url": f"{self.url}/job/{item.job}/{item.build.number}/",
            }
        return document

    def _build_json(self, build: Build) -> dict[str, Any]:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": build.number,
            "url": f"{self.url}/job/{build.job}/{build.number}/",
            "building": build.building,
            "result": build.result,
            "timestamp": int(build.started * 1000),
            "duration": 0 if build.building else 1,
            "actions": [{"parameters": [{"name": k, "value": v} for k, v in build.params.items()]}],
        }

    def _advance(self, item: QueueItem) -> None:
        if item.build is None and not item.cancelled and time.time() >= item.ready_at:
            job = self.jobs.get(item.job)
            if job is None:
                item.cancelled = True
                return
            build = Build(job.next_build, job.name, item.params)
            job.next_build += 1
            job.builds[build.number] = build
            item.build = build
            thread = threading.Thread(target=self._run, args=(job, build), daemon=True)
            self.threads.append(thread)
            thread.start()

    def tick(self) -> None:
        """Move ripe queue items to builds (Jenkins does it on its own)."""
        with self.lock:
            for item in list(self.queue.values()):
                self._advance(item)

    def _emit(self, build: Build, text: str) -> None:
        with self.lock:
            build.log.extend((text + "\n").encode())

    def _run(self, job: Job, build: Build) -> None:
        match = SCRIPT.search(job.config_xml)
        script = html.unescape(match.group(1)) if match else ""
        stages = [
            (groovy_unescape(name), dict(ENV.findall(body)), groovy_unescape(sh))
            for name, body, sh in STAGE.findall(script)
        ]
        emit = lambda text: self._emit(build, text)  # noqa: E731
        emit("Started by user admin")
        emit("[Pipeline] Start of Pipeline")
        result, failed = "SUCCESS", False
        for name, env, sh in stages:
            if failed or build.stop.is_set():
                emit("[Pipeline] stage")
                emit(f"[Pipeline] {{ ({name})")
                emit(f'Stage "{name}" skipped due to earlier failure(s)')
                emit("[Pipeline] }")
                emit("[Pipeline] // stage")
                continue
            emit("[Pipeline] stage")
            emit(f"[Pipeline] {{ ({name})")
            emit("[Pipeline] sh")
            try:
                code = run_script(sh, {**build.params, **env}, emit, build.stop.is_set, trace=True)
            except Stopped:
                code = None
            if code is None:
                emit("Aborted by user")
                result, failed = "ABORTED", True
            elif code != 0:
                emit(f"ERROR: script returned exit code {code}")
                result, failed = "FAILURE", True
            emit("[Pipeline] }")
            emit("[Pipeline] // stage")
        emit("[Pipeline] End of Pipeline")
        emit(f"Finished: {result}")
        with self.lock:
            build.result = result
            build.building = False
