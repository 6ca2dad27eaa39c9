"""The ``ansible`` step type in pipelines: order, fail-fast, the pipeline actions."""

from __future__ import annotations

READS_THE_SHELL_STEPS_FILE = """\
- hosts: local
  gather_facts: false
  tasks:
    - name: read what the shell step wrote
      command: cat {{ lookup('env', 'ANSFLOW_WORKSPACE') }}/one.txt
      register: written
    - name: check it
      assert:
        that: written.stdout == 'written-by-shell'
"""


def _pipeline(world, name, steps):
    return world.owner.post(
        "/api/v1/pipelines/pipelines/", {"name": name, "project": world.project, "steps": steps}
    )


def _shell(name, command, order):
    return {"name": name, "step_type": "shell_script", "command": command, "order": order}


def _statuses(execution):
    steps = sorted(execution["step_executions"], key=lambda s: s["order"])
    return [(s["step_name"], s["status"]) for s in steps]


def test_a_shell_step_then_an_ansible_step_run_in_order(world):
    playbook = world.playbook("reads file", READS_THE_SHELL_STEPS_FILE)
    pipeline = _pipeline(
        world,
        "shell then ansible",
        [_shell("write", "echo written-by-shell > $ANSFLOW_WORKSPACE/one.txt", 1)],
    )
    # AnsFlow's client sends the parameters at the top level.
    added = world.owner.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/add_ansible_step/",
        {"name": "configure", "playbook_id": playbook["id"], "inventory_id": world.inventory},
    )
    world.owner.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/add_ansible_step/",
        {
            "name": "after",
            "ansible_parameters": {
                "playbook": playbook["id"],
                "inventory": world.inventory,
                "tags": ["none-such"],  # runs no task: the play still succeeds
            },
        },
    )
    steps = world.owner.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/")["steps"]
    assert [(s["name"], s["step_type"]) for s in steps] == [
        ("write", "shell_script"),
        ("configure", "ansible"),
        ("after", "ansible"),
    ]
    assert added["added_step"] == steps[1]["id"]
    execution = world.owner.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/execute_ansible_steps/", {}
    )
    final = world.owner.wait_final(execution["id"], timeout=90)
    assert final["status"] == "success", _statuses(final)
    assert _statuses(final) == [
        ("write", "success"),
        ("configure", "success"),
        ("after", "success"),
    ]
    runs = world.owner.get(
        "/api/v1/ansible/executions/pipeline_executions/", pipeline_id=pipeline["id"]
    )
    assert len(runs) == 2 and {r["pipeline"] for r in runs} == {pipeline["id"]}
    configure = next(r for r in runs if r["pipeline_step"] == steps[1]["id"])
    assert configure["host_stats"]["localhost"]["ok"] == 2
    info = world.owner.get(f"/api/v1/ansible/executions/{configure['id']}/pipeline_info/")
    assert info["execution"] == execution["id"] and info["execution_status"] == "success"


def test_a_failing_ansible_step_stops_the_pipeline(world):
    failing = world.playbook(
        "fails",
        "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: boom\n      fail:\n        msg: on purpose\n",
    )
    pipeline = _pipeline(world, "fail fast", [_shell("first", "echo first", 1)])
    world.owner.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/add_ansible_step/",
        {"name": "breaks", "playbook_id": failing["id"], "inventory_id": world.inventory},
    )
    pipeline_now = world.owner.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/")
    steps = [
        {k: s[k] for k in ("name", "step_type", "command", "order", "ansible_parameters")}
        for s in pipeline_now["steps"]
    ]
    steps.append(_shell("never", "echo never", 3))
    world.owner.session.patch(
        world.owner.url(f"/api/v1/pipelines/pipelines/{pipeline['id']}/"), json={"steps": steps}
    ).raise_for_status()
    execution = world.owner.post(f"/api/v1/pipelines/pipelines/{pipeline['id']}/run/", {})
    final = world.owner.wait_final(execution["id"], timeout=90)
    assert final["status"] == "failed"
    assert _statuses(final) == [("first", "success"), ("breaks", "failed"), ("never", "skipped")]
    broken = next(s for s in final["step_executions"] if s["step_name"] == "breaks")
    assert "boom" in broken["error_message"]

    # A shell step failing first: the ansible step never starts.
    early = _pipeline(
        world,
        "shell fails first",
        [_shell("exit", "exit 3", 1)],
    )
    world.owner.post(
        f"/api/v1/pipelines/pipelines/{early['id']}/add_ansible_step/",
        {"playbook_id": failing["id"], "inventory_id": world.inventory},
    )
    execution = world.owner.post(f"/api/v1/pipelines/pipelines/{early['id']}/run/", {})
    final = world.owner.wait_final(execution["id"], timeout=60)
    assert _statuses(final) == [("exit", "failed"), ("Ansible", "skipped")]


def test_ansible_steps_refuse_objects_of_other_projects(world):
    foreign = world.outsider.post(
        "/api/v1/ansible/playbooks/", {"name": "theirs", "project": world.other_project}
    )
    pipeline = _pipeline(world, "borrowing", [])
    error = world.owner.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/add_ansible_step/",
        {"playbook_id": foreign["id"], "inventory_id": world.inventory},
        status=400,
    )
    assert "playbook_id" in error["errors"]
    error = world.owner.post(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/add_ansible_step/",
        {"inventory_id": world.inventory},
        status=400,
    )
    assert error["errors"]
