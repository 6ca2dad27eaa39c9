"""Private service instances for the reliability suite, started and stopped by PID.

Nothing here touches the machine's shared PostgreSQL or Redis: each suite run gets a
``redis-server`` on a free port and a PostgreSQL cluster of its own (``initdb`` and
``pg_ctl`` from ``/usr/lib/postgresql/*/bin``, run as the ``postgres`` account when
the suite runs as root, as CI does), plus ``ansflow worker`` processes.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # not up yet
            pass
        time.sleep(interval)
    return False


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    """A ``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: port_open(self.port), 10):
            raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        """SIGKILL, as in the outage the suite reproduces."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        self.kill()


def postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries are not installed")
    return Path(candidates[-1]).parent


class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust authentication, loopback, no fsync)."""

    def __init__(self, workdir: Path) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.datadir = workdir / "pgdata"
        self.socketdir = workdir / "pgsocket"
        self.logfile = workdir / "postgres.log"
        self.as_postgres = os.geteuid() == 0
        for path in (workdir,):
            os.chmod(path, 0o755)

    def url(self, password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=check, capture_output=True, timeout=120)

    def init(self) -> None:
        for path in (self.datadir, self.socketdir):
            path.mkdir()
            if self.as_postgres:
                entry = pwd.getpwnam("postgres")
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            self.logfile.touch()
            os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "-N")

    def options(self) -> str:
        return (
            f"-p {self.port} -k {self.socketdir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            self.options(),
        )

    def restart_fast(self) -> None:
        """``pg_ctl restart -m fast``: the outage the suite reproduces."""
        self._run(
            "pg_ctl",
            "restart",
            "-w",
            "-m",
            "fast",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            self.options(),
        )

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.datadir), check=False)


class Worker:
    """An ``ansflow worker CONFIG`` process with the given extra environment."""

    def __init__(self, config: Path, environ: dict[str, str], logfile: Path) -> None:
        self.config = config
        self.environ = environ
        self.logfile = logfile
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            **self.environ,
        }
        with open(self.logfile, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "ansflow"), "worker", str(self.config), "--log-level", "WARNING"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def processes_of_user(uid: int, marker: str = "") -> list[int]:
    """Live processes owned by ``uid`` whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            if stat[stat.rindex(")") + 2] in "ZX":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if marker in cmdline:
            found.append(int(entry))
    return found


STEP_USER = "ansflow-step"


def ensure_step_user() -> pwd.struct_passwd | None:
    """The unprivileged account steps run as in the suites; created with ``useradd``
    when the suite runs as root (as CI does) and the machine has none.  None when it
    can be neither found nor created."""
    try:
        return pwd.getpwnam(STEP_USER)
    except KeyError:
        pass
    if os.geteuid() != 0:
        return None
    subprocess.run(
        ["useradd", "--system", "--create-home", "--shell", "/bin/sh", STEP_USER], check=True
    )
    return pwd.getpwnam(STEP_USER)
