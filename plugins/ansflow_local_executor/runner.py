"""The local shell runner: one subprocess per step, in a process group of its own.

The step's command runs as ``<shell> -c <command>`` in a new session, so cancelling
signals the whole group - the shell and everything it started - with SIGTERM, then
SIGKILL after the grace period.  stdout and stderr share one pipe (their relative
order is kept); lines are read with ``select`` so the runner notices when the shell
has exited even if a background child still holds the pipe, and that leftover child
is then terminated: a finished step leaves no process behind.

Isolation (see :mod:`ansflow_local_executor.isolation`): the step runs as
``ansflow.step_user`` with no supplementary groups and the engine's clean environment;
its workspace is handed to that user.  Its process group is registered with the
worker's step guard (:mod:`ansflow_local_executor.guard`), which kills it if the worker
dies without cleaning up.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

from ansflow_local_executor.guard import get_step_guard
from ansflow_local_executor.isolation import StepIdentity, step_identity
from ansflow_pyramid.execution import StepContext, StepOutcome, StepRunner

log = logging.getLogger(__name__)

READ_SIZE = 65536
#: Longer lines are split, so one runaway line cannot exhaust memory.
MAX_LINE_BYTES = 65536
#: After the shell exits, how long to keep reading from children still holding the pipe.
LINGER_SECONDS = 0.5
#: After a normal exit, how long leftover processes get between SIGTERM and SIGKILL.
LEFTOVER_GRACE = 0.5


def default_shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the process group; False if no process is left in it."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _group_alive(pgid: int) -> bool:
    return _signal_group(pgid, 0)


class LocalShellRunner(StepRunner):
    """Runs a step's ``command`` with the local shell; see the module documentation."""

    def __init__(self) -> None:
        self.context: StepContext | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None
        self.shell = default_shell()
        self._lock = threading.Lock()
        self._cancelled = False
        self._kill_timer: threading.Timer | None = None
        self._cleaned = False
        self.identity: StepIdentity | None = None

    def prepare(self, context: StepContext) -> None:
        self.context = context
        configured = str(context.settings.get("ansflow.local_shell") or "").strip()
        if configured:
            self.shell = configured
        if not context.workspace.is_dir():
            raise RuntimeError(f"workspace {context.workspace} does not exist")
        self.identity = step_identity(context.settings)
        if self.identity is not None:
            identity = self.identity
            if os.stat(context.workspace).st_uid != identity.uid:
                os.chown(context.workspace, identity.uid, identity.gid)

    def process_environment(self) -> dict[str, str]:
        """The step's environment, as the user it runs as sees it.

        Derived from ``self.context`` when the process starts, so a subclass that
        replaces the context after ``prepare`` (the Ansible runner does) is honoured.
        """
        assert self.context is not None
        environment = dict(self.context.environment)
        if self.identity is not None:
            identity = self.identity
            environment.update(HOME=identity.home, USER=identity.name, LOGNAME=identity.name)
        return environment

    def start(self) -> None:
        context = self.context
        if context is None:
            raise RuntimeError("prepare() must be called before start()")
        command = context.step.command or ""
        if not command.strip():
            context.system_log("no command to run")
            return
        with self._lock:
            if self._cancelled:
                return
            identity = self.identity
            switch: dict[str, object] = {}
            if identity is not None:
                switch = {"user": identity.uid, "group": identity.gid, "extra_groups": []}
            self.process = subprocess.Popen(
                [self.shell, "-c", command],
                cwd=str(context.workspace),
                env=self.process_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **switch,  # type: ignore[call-overload]
            )
            self.pgid = self.process.pid
            get_step_guard().watch(self.pgid)

    def stream_output(self) -> Iterator[str]:
        process = self.process
        if process is None or process.stdout is None:
            return
        fd = process.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        pending = b""
        exited_at: float | None = None
        try:
            while True:
                if selector.select(timeout=0.1):
                    chunk = os.read(fd, READ_SIZE)
                    if not chunk:
                        break
                    pending += chunk
                    if b"\n" in pending:
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            if len(line) > MAX_LINE_BYTES:
                                yield from _split_long(line)
                            else:
                                yield _decode(line)
                    while len(pending) > MAX_LINE_BYTES:
                        yield _decode(pending[:MAX_LINE_BYTES])
                        pending = pending[MAX_LINE_BYTES:]
                    continue
                if process.poll() is not None:
                    # The shell is gone but something it started keeps the pipe open.
                    if exited_at is None:
                        exited_at = time.monotonic()
                    elif time.monotonic() - exited_at > LINGER_SECONDS:
                        break
            if pending:
                yield _decode(pending)
        finally:
            selector.close()

    def wait(self, timeout: float | None = None) -> StepOutcome:
        process = self.process
        if process is None:
            if self._cancelled:
                return StepOutcome(exit_code=None, error="cancelled before it started")
            return StepOutcome(exit_code=0)
        code = process.wait(timeout)
        self._stop_leftovers()
        if code == 0:
            return StepOutcome(exit_code=0)
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return StepOutcome(exit_code=code, error=f"killed by {name}")
        return StepOutcome(exit_code=code, error=f"exited with code {code}")

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            pgid = self.pgid
        if pgid is None:
            return
        if _signal_group(pgid, signal.SIGTERM):
            grace = self.context.cancel_grace if self.context is not None else 3.0
            timer = threading.Timer(grace, self._kill, args=(pgid,))
            timer.daemon = True
            self._kill_timer = timer
            timer.start()

    def _kill(self, pgid: int) -> None:
        if _group_alive(pgid):
            log.info("process group %s ignored SIGTERM; killing it", pgid)
            _signal_group(pgid, signal.SIGKILL)

    def _stop_leftovers(self) -> None:
        """Terminate processes the step left running in its group."""
        pgid = self.pgid
        if pgid is None or not _group_alive(pgid):
            return
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + LEFTOVER_GRACE
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.02)
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        process = self.process
        if process is not None:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGKILL)
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    log.error("step process %s did not die", process.pid)
            self._stop_leftovers()
            if process.stdout is not None:
                process.stdout.close()
        timer = self._kill_timer
        if timer is not None and (self.pgid is None or not _group_alive(self.pgid)):
            timer.cancel()
        if self.pgid is not None and not _group_alive(self.pgid):
            get_step_guard().forget(self.pgid)


def _split_long(raw: bytes) -> Iterator[str]:
    """One line, or pieces of at most MAX_LINE_BYTES for a very long one."""
    while len(raw) > MAX_LINE_BYTES:
        yield _decode(raw[:MAX_LINE_BYTES])
        raw = raw[MAX_LINE_BYTES:]
    yield _decode(raw)


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "replace")
