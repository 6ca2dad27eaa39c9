"""Steps against the production configuration: a worker SIGKILLed mid-step, and a
non-superuser's step hunting for the server's secrets."""

from __future__ import annotations

import pwd
import time

from tests.reliability.conftest import Client
from tests.reliability.services import STEP_USER, processes_of_user, wait_until

FINAL = ("success", "failed", "cancelled", "timeout")


def wait_for_execution(client: Client, execution_id: int, statuses: tuple[str, ...], timeout):
    found: dict = {}

    def reached() -> bool:
        found.update(client.execution(execution_id))
        return found["status"] in statuses

    assert wait_until(reached, timeout, 0.1), found
    return found


def test_a_killed_worker_leaves_no_step_process_and_its_execution_fails(stack):
    worker = stack.worker("killed")
    worker.start()
    try:
        admin = Client(stack, "admin")
        marker = "31.4159"
        pipeline = admin.pipeline(f"echo started; sleep {marker} & sleep {marker} & wait")
        created = admin.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json()
        wait_for_execution(admin, created["id"], ("running",), 20)
        uid = pwd.getpwnam(STEP_USER).pw_uid
        assert wait_until(lambda: len(processes_of_user(uid, marker)) >= 2, 10)

        worker.kill()
        killed_at = time.monotonic()
        execution = wait_for_execution(admin, created["id"], FINAL, 15)
        failed_after = time.monotonic() - killed_at
        assert execution["status"] == "failed"
        assert "worker lost" in execution["error_message"]
        # The heartbeat timeout is 3 s and the reaper passes every 0.5 s (plus slack
        # for a loaded 2-core CI machine).
        print(f"\nfigure: execution failed {failed_after:.2f} s after its worker was killed")
        assert failed_after <= 3 + 0.5 + 2.5, failed_after
        assert wait_until(lambda: processes_of_user(uid, marker) == [], 3), processes_of_user(
            uid, marker
        )
    finally:
        worker.kill()


def test_a_step_cannot_show_the_servers_secrets(stack, worker):
    bob = Client(stack, "bob")
    database_file_hunt = (
        f"find /tmp {stack.postgres.datadir} -maxdepth 4 "
        "\\( -name '*.sqlite*' -o -name '*.ini' -o -name 'postgresql.auto.conf' \\) 2>/dev/null"
    )
    command = " ; ".join(
        [
            "id",
            "env",
            "tr '\\0' '\\n' < /proc/$PPID/environ",
            "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>&1 | head -c 200000",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | head -c 200000",
            f"cat {stack.config}",
            f"ls -la {stack.config.parent}",
            f"for f in $({database_file_hunt} | head -50); do cat $f; done 2>&1 | head -c 200000",
            "cat /proc/$PPID/cmdline",
            "true",
        ]
    )
    pipeline = bob.pipeline(command, name="hunt")
    created = bob.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json()
    execution = wait_for_execution(bob, created["id"], FINAL, 60)
    assert execution["status"] == "success", execution
    logs = bob.get(f"/api/v1/cicd/executions/{created['id']}/logs/")
    assert logs.status_code == 200, logs.text
    assert not logs.json()["truncated"]
    text = logs.json()["logs"]
    assert f"uid={pwd.getpwnam(STEP_USER).pw_uid}" in text  # it ran, as the step user
    for value in stack.secrets.values():
        assert value not in text
    assert "DATABASE_URL" not in text
    assert "ANSFLOW_SECRET_KEY" not in text and "ANSFLOW_JWT_SECRET" not in text
