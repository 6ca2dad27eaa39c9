"""Inventories and playbooks: validation by Ansible itself, versions, generation."""

from __future__ import annotations

BROKEN_INI = "[web]\nhost1 ansible_host=10.0.0.1\n[web:vars]\nnot_a_pair\n"
GOOD_YAML = """\
all:
  children:
    web:
      hosts:
        web1:
          ansible_host: 10.0.0.1
        web2: {}
"""
BROKEN_PLAYBOOK = """\
- hosts: all
  tasks:
    - name: a task with two actions
      command: echo one
      shell: echo two
"""
GOOD_PLAYBOOK = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n"


def test_inventory_validation_uses_ansibles_own_parser(world):
    api = world.owner
    broken = api.post(
        "/api/v1/ansible/inventories/",
        {"name": "broken", "project": world.project, "content": BROKEN_INI},
    )
    error = api.post(f"/api/v1/ansible/inventories/{broken['id']}/validate_inventory/", status=400)
    assert error["code"] == "invalid_ansible_content"
    # Ansible's own words about the missing bracket.
    message = error["errors"]["content"][0]
    assert "key=value" in message and "not_a_pair" in message
    assert str(world.private_root) not in message  # no server paths in messages
    assert api.get(f"/api/v1/ansible/inventories/{broken['id']}/")["is_validated"] is False

    good = api.post(
        "/api/v1/ansible/inventories/",
        {"name": "good", "project": world.project, "content": GOOD_YAML, "format_type": "yaml"},
    )
    result = api.post(f"/api/v1/ansible/inventories/{good['id']}/validate_inventory/", status=200)
    assert result["valid"] is True
    assert result["hosts"] == ["web1", "web2"] and result["groups"] == ["web"]
    assert api.get(f"/api/v1/ansible/inventories/{good['id']}/")["is_validated"] is True


def test_playbook_validation_and_syntax_check_use_ansible_playbook(world):
    api = world.owner
    broken = world.playbook("broken-play", BROKEN_PLAYBOOK)
    error = api.post(f"/api/v1/ansible/playbooks/{broken['id']}/validate_playbook/", status=400)
    assert "conflicting action statements" in error["errors"]["content"][0]
    api.post(f"/api/v1/ansible/playbooks/{broken['id']}/syntax_check/", status=400)
    # Not YAML at all: still Ansible's message, still a JSON 400.
    error = api.post(
        "/api/v1/ansible/playbooks/validate/", {"content": "- hosts: [unclosed"}, status=400
    )
    assert error["errors"]["content"][0]
    good = world.playbook("good-play", GOOD_PLAYBOOK)
    assert api.post(f"/api/v1/ansible/playbooks/{good['id']}/validate_playbook/", status=200)[
        "valid"
    ]
    stored = api.get(f"/api/v1/ansible/playbooks/{good['id']}/")
    assert stored["is_validated"] and stored["syntax_check_passed"]


def test_versions_restore_content_exactly(world):
    api = world.owner
    original = "- hosts: all\n  tasks:\n    - debug: msg='  spaced  '\t\n\n# trailing comment  \n"
    playbook = world.playbook("versioned", original)
    first = api.post(
        f"/api/v1/ansible/playbooks/{playbook['id']}/create_version/", {"changelog": "first"}
    )
    assert first["version"] == "1" and first["content"] == original
    api.session.patch(
        api.url(f"/api/v1/ansible/playbooks/{playbook['id']}/"), json={"content": "- hosts: none\n"}
    ).raise_for_status()
    api.post(f"/api/v1/ansible/playbooks/{playbook['id']}/create_version/", {"version": "2.0"})
    api.post(
        f"/api/v1/ansible/playbooks/{playbook['id']}/create_version/",
        {"version": "2.0"},
        status=409,
    )
    restored = api.post(
        f"/api/v1/ansible/playbooks/{playbook['id']}/restore_version/",
        {"version_id": first["id"]},
        status=200,
    )
    assert restored["content"] == original
    assert restored["version"] == "1"
    versions = api.get(f"/api/v1/ansible/playbooks/{playbook['id']}/versions/")
    assert [v["version"] for v in versions] == ["2.0", "1"]

    inventory = api.post(
        "/api/v1/ansible/inventories/",
        {"name": "inv-versions", "project": world.project, "content": "[a]\nh1\n"},
    )
    version = api.post(f"/api/v1/ansible/inventories/{inventory['id']}/create_version/", {})
    api.session.put(
        api.url(f"/api/v1/ansible/inventories/{inventory['id']}/"),
        json={"name": "inv-versions", "content": "[b]\nh2\n"},
    ).raise_for_status()
    back = api.post(
        f"/api/v1/ansible/inventories/{inventory['id']}/restore_version/",
        {"version": version["version"]},
        status=200,
    )
    assert back["content"] == "[a]\nh1\n"
    api.post(
        f"/api/v1/ansible/inventories/{inventory['id']}/restore_version/",
        {"version_id": 999999},
        status=400,
    )


def test_inventories_are_generated_from_hosts_and_groups(world):
    api = world.owner
    group = api.post(
        "/api/v1/ansible/host-groups/",
        {"name": "web", "project": world.project, "variables": {"http_port": 8080}},
    )
    child = api.post(
        "/api/v1/ansible/host-groups/",
        {"name": "web-eu", "project": world.project, "parent": group["id"]},
    )
    # A group cannot become its own ancestor.
    cycle = api.session.patch(
        api.url(f"/api/v1/ansible/host-groups/{group['id']}/"), json={"parent": child["id"]}
    )
    assert cycle.status_code == 400, cycle.text
    web1 = api.post(
        "/api/v1/ansible/hosts/",
        {
            "hostname": "web1",
            "ip_address": "10.0.0.5",
            "project": world.project,
            "groups": [group["id"]],
        },
    )
    db1 = api.post(
        "/api/v1/ansible/hosts/",
        {
            "hostname": "db1",
            "ip_address": "10.0.0.6",
            "project": world.project,
            "username": "admin",
        },
    )
    assert web1["groups"] == [group["id"]]
    inventory = api.post(
        "/api/v1/ansible/inventories/", {"name": "generated", "project": world.project}
    )
    api.post(
        f"/api/v1/ansible/inventories/{inventory['id']}/add_hosts/",
        {"host_ids": [db1["id"]]},
        status=200,
    )
    api.post(
        "/api/v1/ansible/inventory-groups/batch_add/",
        {"inventory": inventory["id"], "group_ids": [group["id"]]},
        status=200,
    )
    generated = api.get(f"/api/v1/ansible/inventories/{inventory['id']}/generate_inventory/")
    assert generated["format_type"] == "ini"
    text = generated["content"]
    assert "[web]" in text and "web1 " in text and "http_port=8080" in text
    assert "db1 " in text and "ansible_user=admin" in text
    dynamic = api.get(f"/api/v1/ansible/inventories/{inventory['id']}/generate_dynamic_inventory/")
    assert dynamic["web"]["hosts"] == ["web1"]
    assert dynamic["_meta"]["hostvars"]["db1"]["ansible_host"] == "10.0.0.6"
    # What was generated parses with Ansible.
    checked = api.post(
        "/api/v1/ansible/inventories/validate/", {"content": text, "format_type": "ini"}, status=200
    )
    assert checked["hosts"] == ["db1", "web1"]
    yaml_text = api.get(
        f"/api/v1/ansible/inventories/{inventory['id']}/generate_inventory/", format="yaml"
    )["content"]
    assert "web1" in yaml_text
    assert [
        h["hostname"] for h in api.get(f"/api/v1/ansible/inventories/{inventory['id']}/hosts/")
    ] == ["db1"]
    assert [
        g["name"] for g in api.get(f"/api/v1/ansible/inventories/{inventory['id']}/groups/")
    ] == ["web"]
    members = api.get(f"/api/v1/ansible/host-groups/{group['id']}/hosts/")
    assert [m["hostname"] for m in members["results"]] == ["web1"]
    api.post(
        f"/api/v1/ansible/host-groups/{group['id']}/remove_hosts/",
        {"host_ids": [web1["id"]]},
        status=200,
    )
    assert api.get(f"/api/v1/ansible/host-groups/{group['id']}/hosts/")["count"] == 0
