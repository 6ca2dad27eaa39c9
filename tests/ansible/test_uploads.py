"""Uploads, templates, overview and run statistics (no Ansible process involved)."""

from __future__ import annotations


def test_uploads_templates_and_overview(world):
    api = world.owner
    uploaded = api.session.post(
        api.url("/api/v1/ansible/inventories/upload_inventory/"),
        data={"project": str(world.project)},
        files={"file": ("hosts.yml", b"all:\n  hosts:\n    h1: {}\n")},
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert body["format_type"] == "yaml" and body["source_type"] == "file"
    assert body["name"] == "hosts.yml" and "h1" in body["content"]
    assert uploaded.headers["Location"].endswith(f"/api/v1/ansible/inventories/{body['id']}/")
    playbook = api.post(
        "/api/v1/ansible/playbooks/upload_playbook/",
        {"name": "site.yml", "project": world.project, "content": "- hosts: all\n"},
    )
    assert playbook["source_type"] == "file"
    not_text = api.session.post(
        api.url("/api/v1/ansible/playbooks/upload_playbook/"),
        data={"project": str(world.project)},
        files={"file": ("x.bin", b"\xff\xfe\x00")},
        timeout=30,
    )
    assert not_text.status_code == 400 and not_text.json()["errors"]["file"]

    template = api.post(
        "/api/v1/ansible/playbooks/",
        {"name": "tpl", "project": world.project, "is_template": True, "content": "- hosts: all\n"},
    )
    copy = api.post(
        f"/api/v1/ansible/playbooks/{template['id']}/create_from_template/",
        {"name": "from tpl", "project": world.project},
    )
    assert copy["is_template"] is False and copy["source_type"] == "template"
    assert copy["content"] == template["content"]
    api.post(
        f"/api/v1/ansible/playbooks/{copy['id']}/create_from_template/",
        {"name": "again", "project": world.project},
        status=400,
    )
    overview = api.get("/api/v1/ansible/stats/overview/")
    assert overview["inventories"] >= 2 and overview["playbooks"] >= 3
    stats = api.get("/api/v1/ansible/executions/stats/")
    assert set(stats["by_status"]) >= {"success", "failed", "cancelled"}
    # A reporter cannot upload into the project.
    refused = world.reporter.session.post(
        world.reporter.url("/api/v1/ansible/playbooks/upload_playbook/"),
        json={"name": "nope", "project": world.project},
        timeout=30,
    )
    assert refused.status_code == 403
