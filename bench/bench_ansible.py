"""The engine's overhead per trivial ``ansible`` step over bare ``ansible-playbook``.

Runs the same one-task playbook against ``localhost`` (connection local) two ways,
interleaved so that load on the machine hits both alike:

* bare: ``ansible-playbook`` started directly, with the environment and files the
  runner gives it (same callback, same private directory layout);
* engine: ``Engine.run`` of a pending execution made by ``playbooks/{id}/execute/``
  (load the run spec, claim it, load the playbook, inventory and credential, write
  the private files, stream and store every line, parse and store the results,
  finish the step and the execution, remove the private directory).

Prints both medians and their difference (target: overhead <= 100 ms median).

    .venv/bin/python bench/bench_ansible.py [--runs 15] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ansflow_ansible.toolchain import (
    CONTROLLER_VARS,
    PrivateDirectory,
    ansible_environment,
    ansible_executable,
)
from bench_engine import (
    PASSWORD,
    Client,
    build_app,
    drop_postgres,
    scratch_postgres,
)
from webtest.http import StopableWSGIServer

from ansflow_pyramid import migrations
from ansflow_pyramid.db import session_scope
from ansflow_pyramid.execution import get_runtime
from ansflow_pyramid.identity.services import create_user

PLAYBOOK = "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: nothing\n      debug:\n        msg: hi\n"
INVENTORY = "[local]\nlocalhost ansible_connection=local\n"


def bare_run(settings: dict[str, str]) -> float:
    """Milliseconds of one bare ansible-playbook run, files written as the runner does."""
    started = time.perf_counter()
    private = PrivateDirectory(settings.get("ansflow.ansible.private_root"))
    try:
        inventory = private.write("inventory.ini", INVENTORY)
        controller = private.write("controller.yml", CONTROLLER_VARS)
        playbook = private.write("playbook.yml", PLAYBOOK)
        result = subprocess.run(
            [
                ansible_executable("ansible-playbook"),
                "-i",
                str(inventory),
                "-i",
                str(controller),
                str(playbook),
            ],
            env=ansible_environment(private, settings=settings),
            cwd=private.path,
            capture_output=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout.decode()[-2000:]
    finally:
        private.remove()
    return (time.perf_counter() - started) * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ansflow-bench-ansible-"))
    database_url = (
        scratch_postgres(args.database_url)
        if args.database_url.startswith("postgres")
        else f"sqlite:///{tmp / 'bench.sqlite'}"
    )
    try:
        app = build_app(database_url, "", str(tmp / "ws"), "threads")
        migrations.upgrade(app.registry)
        with session_scope(app.registry["dbsession_factory"]) as session:
            create_user(session, "bench", PASSWORD, is_superuser=True)
        # Runs are created through an application that does not dispatch them, then run
        # one at a time by the measured engine.
        quiet = build_app(database_url, "", str(tmp / "ws"), "none")
        server = StopableWSGIServer.create(quiet, host="127.0.0.1", threads=4)
        try:
            assert server.wait()
            client = Client(server.application_url.rstrip("/"))
            project = client.post("/api/v1/projects/projects/", {"name": "bench"})["id"]
            inventory = client.post(
                "/api/v1/ansible/inventories/",
                {"name": "local", "project": project, "content": INVENTORY},
            )["id"]
            playbook = client.post(
                "/api/v1/ansible/playbooks/",
                {"name": "trivial", "project": project, "content": PLAYBOOK},
            )["id"]
            engine = get_runtime(app.registry).engine
            settings = dict(app.registry.settings)
            engine_ms, bare_ms = [], []
            bare_run(settings)  # warm the file-system caches for both
            for _ in range(args.runs):
                run = client.post(
                    f"/api/v1/ansible/playbooks/{playbook}/execute/", {"inventory_id": inventory}
                )
                started = time.perf_counter()
                status = engine.run(run["execution"])
                engine_ms.append((time.perf_counter() - started) * 1000.0)
                assert status == "success", status
                bare_ms.append(bare_run(settings))
            print(f"backend: {app.registry['db_engine'].dialect.name}, runs: {args.runs}")
            engine_median, bare_median = statistics.median(engine_ms), statistics.median(bare_ms)
            overheads = sorted(e - b for e, b in zip(engine_ms, bare_ms, strict=True))
            print(f"bare ansible-playbook: median {bare_median:.0f} ms")
            print(f"engine ansible step:   median {engine_median:.0f} ms")
            print(
                f"engine overhead per trivial ansible step: median {engine_median - bare_median:.1f} ms "
                f"(pairwise median {statistics.median(overheads):.1f} ms)   (target <= 100 ms)"
            )
        finally:
            server.shutdown()
            get_runtime(app.registry).close()
            get_runtime(quiet.registry).close()
            app.registry["db_engine"].dispose()
            quiet.registry["db_engine"].dispose()
    finally:
        if database_url.startswith("postgres"):
            drop_postgres(database_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
