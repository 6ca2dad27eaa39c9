"""Bounded mixed load against a live server, every answer recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class Answer:
    at: float
    name: str
    status: int  # 0: no HTTP answer at all (connection refused, reset, timeout)
    content_type: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Load:
    """Run ``actions`` (name -> callable(session) -> requests.Response) in ``threads``
    threads until stopped, each pausing ``pause`` seconds between requests."""

    actions: dict[str, Callable[[requests.Session], requests.Response]]
    threads: int = 4
    pause: float = 0.05
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, index: int) -> None:
        session = requests.Session()
        names = list(self.actions)
        turn = index
        while not self._stop.is_set():
            name = names[turn % len(names)]
            turn += 1
            try:
                response = self.actions[name](session)
                answer = Answer(
                    time.monotonic(),
                    name,
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    response.content,
                    dict(response.headers),
                )
            except requests.RequestException as error:
                answer = Answer(time.monotonic(), name, 0, "", str(error).encode(), {})
            with self._lock:
                self.answers.append(answer)
            self._stop.wait(self.pause)

    def start(self) -> Load:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)
        return self.answers


def server_errors(answers: list[Answer], allow_json_503: bool = False) -> list[Answer]:
    """Answers that are 5xx (or no answer at all); JSON 503s with Retry-After are
    allowed when ``allow_json_503``."""
    bad = []
    for answer in answers:
        if answer.status == 0:
            bad.append(answer)
        elif answer.status >= 500:
            json_503 = (
                answer.status == 503
                and answer.content_type.startswith("application/json")
                and "Retry-After" in answer.headers
            )
            if not (allow_json_503 and json_503):
                bad.append(answer)
    return bad


def describe(answers: list[Answer]) -> str:
    return "\n".join(
        f"{a.name}: {a.status} {a.content_type} {a.body[:200]!r}" for a in answers[:20]
    )


def json_of(response: requests.Response) -> Any:
    return response.json()
