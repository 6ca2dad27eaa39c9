"""Who may do what with every Ansible resource: the project's owner, a reporter of
the project, and an outsider (a member of another project, who must not even learn
that the objects exist: 404 everywhere, absent from lists)."""

from __future__ import annotations

import pytest
import requests

A = "/api/v1/ansible"


@pytest.fixture(scope="module")
def objects(world):
    api = world.owner
    project = world.project
    credential = api.post(
        f"{A}/credentials/",
        {
            "name": "authz",
            "project": project,
            "credential_type": "password",
            "username": "u",
            "password": "pw-authz-1",
        },
    )
    host = api.post(
        f"{A}/hosts/", {"hostname": "authz-host", "project": project, "connection_type": "local"}
    )
    group = api.post(f"{A}/host-groups/", {"name": "authz-group", "project": project})
    api.post(f"{A}/host-groups/{group['id']}/add_hosts/", {"host_ids": [host["id"]]}, status=200)
    inventory = api.post(
        f"{A}/inventories/", {"name": "authz-inv", "project": project, "content": "[x]\nh\n"}
    )
    inventory_host = api.post(
        f"{A}/inventory-hosts/", {"inventory": inventory["id"], "host": host["id"]}
    )
    inventory_group = api.post(
        f"{A}/inventory-groups/", {"inventory": inventory["id"], "group": group["id"]}
    )
    playbook = world.playbook("authz-play", "- hosts: local\n  gather_facts: false\n  tasks: []\n")
    run = world.execute(playbook["id"])
    world.wait_run(run["id"])
    return {
        "credentials": (credential["id"], {"description": "x"}),
        "hosts": (host["id"], {"username": "x"}),
        "host-groups": (group["id"], {"description": "x"}),
        "inventories": (inventory["id"], {"description": "x"}),
        "inventory-hosts": (inventory_host["id"], {"is_active": False}),
        "inventory-groups": (inventory_group["id"], {"is_active": False}),
        "playbooks": (playbook["id"], {"description": "x"}),
        "executions": (run["id"], None),
        f"host-groups/{group['id']}/hosts": (host["id"], None),
    }


#: Actions that change or run something: (resource, action, body).
ACTIONS = [
    ("inventories", "validate_inventory", {}),
    ("inventories", "create_version", {}),
    ("inventories", "restore_version", {"version": "1"}),
    ("inventories", "add_hosts", {"host_ids": []}),
    ("inventories", "remove_groups", {"group_ids": []}),
    ("playbooks", "validate_playbook", {}),
    ("playbooks", "create_version", {}),
    ("playbooks", "restore_version", {"version": "1"}),
    ("playbooks", "execute", {"inventory_id": 1}),
    ("credentials", "test_connection", {"hostname": "localhost", "connection_type": "local"}),
    ("hosts", "check_connectivity", {}),
    ("hosts", "gather_facts", {}),
    ("host-groups", "add_hosts", {"host_ids": [1]}),
    ("host-groups", "remove_hosts", {"host_ids": [1]}),
    ("executions", "execute", {}),
    ("executions", "cancel", {}),
]
READS = [
    ("inventories", "versions"),
    ("inventories", "hosts"),
    ("inventories", "groups"),
    ("inventories", "generate_inventory"),
    ("inventories", "generate_dynamic_inventory"),
    ("playbooks", "versions"),
    ("executions", "logs"),
    ("executions", "pipeline_info"),
]


def _status(api, method, path, body=None):
    response = api.session.request(method, api.url(path), json=body, timeout=60)
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    return response.status_code


def test_the_owner_reads_and_edits_everything(world, objects):
    for name, (key, patch) in objects.items():
        assert _status(world.owner, "GET", f"{A}/{name}/{key}/") == 200, name
        listed = world.owner.get(f"{A}/{name}/")
        assert key in [row.get("id") for row in listed["results"]] or name.endswith("/hosts"), name
        if patch is not None:
            assert _status(world.owner, "PATCH", f"{A}/{name}/{key}/", patch) == 200, name
    for name, action in READS:
        assert _status(world.owner, "GET", f"{A}/{name}/{objects[name][0]}/{action}/") == 200


def test_a_reporter_reads_but_cannot_change_or_run(world, objects):
    api = world.reporter
    for name, (key, patch) in objects.items():
        assert _status(api, "GET", f"{A}/{name}/{key}/") == 200, name
        if patch is not None:
            assert _status(api, "PATCH", f"{A}/{name}/{key}/", patch) == 403, name
            assert _status(api, "DELETE", f"{A}/{name}/{key}/") == 403, name
    for name, action, body in ACTIONS:
        assert _status(api, "POST", f"{A}/{name}/{objects[name][0]}/{action}/", body) == 403, (
            name,
            action,
        )
    for name, action in READS:
        assert _status(api, "GET", f"{A}/{name}/{objects[name][0]}/{action}/") == 200
    # Nor create in the project.
    assert _status(api, "POST", f"{A}/playbooks/", {"name": "p", "project": world.project}) == 403
    credential = api.get(f"{A}/credentials/{objects['credentials'][0]}/")
    assert credential["has_password"] is True and "password" not in credential


def test_an_outsider_cannot_detect_anything(world, objects):
    api = world.outsider
    for name, (key, patch) in objects.items():
        if name.startswith("host-groups/"):
            assert _status(api, "GET", f"{A}/{name}/") == 404, name
            continue
        assert _status(api, "GET", f"{A}/{name}/{key}/") == 404, name
        assert api.get(f"{A}/{name}/")["count"] == 0, name
        if patch is not None:
            assert _status(api, "PATCH", f"{A}/{name}/{key}/", patch) == 404, name
            assert _status(api, "DELETE", f"{A}/{name}/{key}/") == 404, name
    for name, action, body in ACTIONS:
        assert _status(api, "POST", f"{A}/{name}/{objects[name][0]}/{action}/", body) == 404, (
            name,
            action,
        )
    for name, action in READS:
        assert _status(api, "GET", f"{A}/{name}/{objects[name][0]}/{action}/") == 404
    overview = api.get(f"{A}/stats/overview/")
    assert overview["playbooks"] == 0 and overview["executions"] == 0
    assert api.get(f"{A}/executions/recent/") == []
    assert api.get(f"{A}/executions/stats/")["total"] == 0
    # Using another project's objects by id is refused as if they did not exist.
    foreign = _status(
        api,
        "POST",
        f"{A}/inventory-hosts/",
        {"inventory": objects["inventories"][0], "host": objects["hosts"][0]},
    )
    assert foreign == 400
    own = api.post(f"{A}/playbooks/", {"name": "mine", "project": world.other_project})
    error = api.post(
        f"{A}/playbooks/{own['id']}/execute/",
        {"inventory_id": objects["inventories"][0]},
        status=400,
    )
    assert "inventory_id" in error["errors"]


def test_anonymous_callers_are_refused(world, objects):
    for name, (key, _) in objects.items():
        response = requests.get(f"{world.base}{A}/{name}/{key}/", timeout=10)
        assert response.status_code in (401, 403), name


def test_global_objects_are_for_superusers_to_manage(world):
    error = world.owner.post(f"{A}/playbooks/", {"name": "global"}, status=400)
    assert "project" in error["errors"]
