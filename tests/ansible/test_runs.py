"""Playbook runs through the engine, with real ansible against localhost."""

from __future__ import annotations

import os
import threading
import time

from ansflow_pyramid.execution.sseclient import SSEClient

THREE_TASKS = """\
- hosts: local
  gather_facts: false
  tasks:
    - name: say hello
      command: echo hello-from-ansible
    - name: show a variable
      debug:
        msg: "greeting is {{ greeting }}"
    - name: nothing to change
      debug:
        msg: done
"""

FAILING = """\
- hosts: local
  gather_facts: false
  tasks:
    - name: first works
      debug:
        msg: fine
    - name: this one breaks
      command: /bin/false
    - name: never reached
      debug:
        msg: unreachable
"""

SLEEPING = """\
- hosts: local
  gather_facts: false
  tasks:
    - name: wait a long time
      command: sleep 61.7
"""


def collect_events(world, execution_id, events, ready):
    client = SSEClient(
        f"{world.base}/api/v1/cicd/executions/{execution_id}/events/",
        headers={"Authorization": f"Bearer {world.owner.token}"},
        timeout=60,
    )
    ready.set()
    for event in client:
        events.append(event)
        if event.event == "end":
            break


def test_a_playbook_runs_through_the_engine_with_live_lines_and_host_counts(world):
    playbook = world.playbook("hello", THREE_TASKS)
    run = world.execute(playbook["id"], parameters={"extra_vars": {"greeting": "bonjour"}})
    assert run["status"] == "pending"
    assert run["playbook"] == playbook["id"] and run["inventory"] == world.inventory
    events: list = []
    ready = threading.Event()
    reader = threading.Thread(
        target=collect_events, args=(world, run["execution"], events, ready), daemon=True
    )
    reader.start()
    finished = world.wait_run(run["id"])
    reader.join(30)
    assert finished["status"] == "success", finished
    assert finished["host_stats"]["localhost"]["ok"] == 3
    assert finished["host_stats"]["localhost"]["failures"] == 0
    assert finished["stats"]["changed"] == 1  # the command task
    assert [r["task"] for r in finished["task_results"]] == [
        "say hello",
        "show a variable",
        "nothing to change",
    ]
    # Ansible's own lines arrived as log events over Server-Sent Events.
    lines = [e.json()["message"] for e in events if e.event == "log"]
    assert any("TASK [say hello]" in line for line in lines)
    assert any("greeting is bonjour" in line for line in lines)
    assert any("PLAY RECAP" in line for line in lines)
    assert events[-1].event == "end" and events[-1].json()["status"] == "success"
    # The same lines by offset through the run's logs/.
    page = world.owner.get(f"/api/v1/ansible/executions/{run['id']}/logs/", offset=0, limit=1000)
    assert "hello-from-ansible" in page["stdout"] or "say hello" in page["stdout"]
    assert page["complete"] is True
    # The run is an execution of the engine like any other.
    execution = world.owner.get(f"/api/v1/cicd/executions/{run['execution']}/")
    assert execution["status"] == "success"
    # Its private directory is gone.
    assert list(world.private_root.iterdir()) == []
    counted = world.owner.get(f"/api/v1/ansible/playbooks/{playbook['id']}/")
    assert counted["execution_count"] == 1 and counted["success_count"] == 1


def test_a_failing_task_fails_the_run_and_is_named(world):
    playbook = world.playbook("breaks", FAILING)
    run = world.execute(playbook["id"])
    finished = world.wait_run(run["id"])
    assert finished["status"] == "failed"
    assert finished["failed_task"] == "this one breaks"
    assert "this one breaks" in finished["error_message"]
    assert finished["host_stats"]["localhost"]["failures"] == 1
    assert "never reached" not in [r["task"] for r in finished["task_results"]]
    execution = world.owner.get(f"/api/v1/cicd/executions/{run['execution']}/")
    assert execution["status"] == "failed"


def _processes_with(needle: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().decode(errors="replace").rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def test_cancel_stops_a_run_within_five_seconds_and_leaves_no_process(world):
    playbook = world.playbook("sleeps", SLEEPING)
    run = world.execute(playbook["id"])
    deadline = time.monotonic() + 30
    while not _processes_with("sleep 61.7"):
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.1)
    started = time.monotonic()
    cancelled = world.owner.post(f"/api/v1/ansible/executions/{run['id']}/cancel/", status=200)
    assert cancelled["id"] == run["id"]
    finished = world.wait_run(run["id"], timeout=10)
    elapsed = time.monotonic() - started
    assert finished["status"] == "cancelled", finished
    assert elapsed < 5, elapsed
    assert _processes_with("sleep 61.7") == []
    assert _processes_with(str(world.private_root)) == []
    # Cancelling a finished run is a clear conflict, not a 500.
    world.owner.post(f"/api/v1/ansible/executions/{run['id']}/cancel/", status=409)
