"""The step guard: steps die with their worker.

Each step runs in a process group of its own.  When the worker is stopped normally it
ends them itself; when it is killed (SIGKILL, out of memory) nothing in it runs any
more.  So each worker process starts one small guard process (:data:`GUARD_SOURCE`,
run by the same Python with ``-I -S``: no imports beyond ``os``, ``signal`` and ``sys``,
nothing of the worker's code or configuration) and tells it, through a pipe, which
process groups are running.  The pipe's writing end exists only in the worker: when
the worker dies, however it dies, the guard reads end-of-file and kills every group
still registered (SIGKILL), then exits.

Steps that deliberately leave their process group (``setsid``) escape this, as they
escape cancel; put workers in containers or systemd units (which kill their whole
cgroup) where that matters.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

log = logging.getLogger(__name__)


class StepGuard:
    """The worker's side: starts the guard on first use; ``watch``/``forget`` groups."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _send(self, line: str) -> None:
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None or self._pid != os.getpid():
                process = self._start()
            try:
                assert process.stdin is not None
                process.stdin.write(line.encode() + b"\n")
                process.stdin.flush()
            except OSError:
                log.warning("the step guard is gone; steps may outlive a killed worker")
                self._process = None

    def _start(self) -> subprocess.Popen[bytes]:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", GUARD_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C or a signal to the worker's process
            # group must not take the guard down before the worker.
            start_new_session=True,
            close_fds=True,
        )
        self._pid = os.getpid()
        return self._process

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")


_guard = StepGuard()


def get_step_guard() -> StepGuard:
    """The guard of this process."""
    return _guard


#: The guard's program: read "+pgid" / "-pgid" lines; at end of file (the worker is
#: gone) kill every group still registered.
GUARD_SOURCE = """
import os, signal, sys
groups = set()
for raw in sys.stdin.buffer:
    line = raw.strip()
    try:
        pgid = int(line[1:])
    except ValueError:
        continue
    if line[:1] == b"+":
        groups.add(pgid)
    elif line[:1] == b"-":
        groups.discard(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""
