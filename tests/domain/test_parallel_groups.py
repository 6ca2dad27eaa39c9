"""``/api/v1/pipelines/parallel-groups/``: CRUD, the ``?pipeline=`` filter, the
pipeline's ACL, and memberships kept on the steps."""

from __future__ import annotations

from tests.domain.conftest import add_member, make_pipeline, make_project

URL = "/api/v1/pipelines/parallel-groups/"


def setup(api, steps=3):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], steps=steps)
    return alice, project, pipeline, [s["id"] for s in pipeline["steps"]]


def test_create_read_update_delete(api):
    alice, _, pipeline, step_ids = setup(api)
    created = alice.post(
        URL,
        {
            "id": "parallel_group_1700000000000",
            "name": "tests",
            "pipeline": pipeline["id"],
            "sync_policy": "wait_any",
            "timeout_seconds": 60,
            "steps": step_ids[:2],
        },
    )
    assert created.headers["Location"].endswith(f"{URL}parallel_group_1700000000000/")
    group = created.json
    assert group == {
        **group,
        "id": "parallel_group_1700000000000",
        "pipeline": pipeline["id"],
        "sync_policy": "wait_any",
        "sync_policy_display": "Wait Any",
        "timeout_seconds": 60,
        "steps": step_ids[:2],
        "description": "",
    }
    steps = alice.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/").json["steps"]
    assert [s["parallel_group"] for s in steps] == [group["id"], group["id"], ""]

    url = f"{URL}{group['id']}/"
    put = alice.put(url, {**group, "name": "all tests", "sync_policy": "fail_fast",
                          "steps": step_ids[1:]}).json  # fmt: skip
    assert (put["name"], put["sync_policy"], put["steps"]) == (
        "all tests",
        "fail_fast",
        step_ids[1:],
    )
    patched = alice.patch(url, {"timeout_seconds": None}).json
    assert patched["timeout_seconds"] is None and patched["steps"] == step_ids[1:]
    listed = alice.get(URL, {"pipeline": pipeline["id"]}).json
    assert listed["count"] == 1 and listed["results"][0]["steps"] == step_ids[1:]
    assert alice.get(URL, {"pipeline": pipeline["id"] + 1}).json["count"] == 0

    alice.delete(url)
    alice.get(url, status=404)
    steps = alice.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/").json["steps"]
    assert [s["parallel_group"] for s in steps] == ["", "", ""]


def test_ids_are_made_up_when_missing_and_unique(api):
    alice, _, pipeline, _ = setup(api)
    made = alice.post(URL, {"name": "g", "pipeline": pipeline["id"]}).json
    assert made["id"].startswith("parallel_group_") and made["sync_policy"] == "wait_all"
    body = {"id": "g1", "name": "g", "pipeline": pipeline["id"]}
    alice.post(URL, body)
    assert "id" in alice.post(URL, body, status=409).json["errors"]


def test_bad_input_is_a_json_400(api):
    alice, _, pipeline, step_ids = setup(api)
    other = make_pipeline(alice, pipeline["project"], "other")
    base = {"name": "g", "pipeline": pipeline["id"]}
    cases = [
        ({**base, "sync_policy": "wait_some"}, "sync_policy"),
        ({**base, "timeout_seconds": 0}, "timeout_seconds"),
        ({**base, "timeout_seconds": "10"}, "timeout_seconds"),
        ({**base, "id": "a/b"}, "id"),
        ({**base, "id": ""}, "id"),
        ({**base, "steps": [other["steps"][0]["id"]]}, "steps.0"),
        ({**base, "steps": ["x"]}, "steps.0"),
        ({"name": "g", "pipeline": 999999}, "pipeline"),
        ({"pipeline": pipeline["id"]}, "name"),
    ]
    for body, field in cases:
        response = alice.post(URL, body, status=400)
        assert response.content_type == "application/json"
        assert field in response.json["errors"], (body, response.json)
    assert alice.get(URL).json["count"] == 0
    group = alice.post(URL, {**base, "id": "g", "steps": step_ids[:1]}).json
    alice.patch(f"{URL}g/", {"pipeline": other["id"]}, status=400)
    alice.patch(f"{URL}g/", {"steps": [other["steps"][0]["id"]]}, status=400)
    assert alice.get(f"{URL}g/").json["steps"] == group["steps"]


def test_the_pipelines_acl_applies(api):
    alice, project, pipeline, _ = setup(api)
    alice.post(URL, {"id": "g", "name": "g", "pipeline": pipeline["id"]})
    rita = api.as_user("rita")
    add_member(alice, project["id"], rita.user_id, "reporter")
    assert rita.get(f"{URL}g/").json["id"] == "g"
    rita.patch(f"{URL}g/", {"name": "x"}, status=403)
    rita.delete(f"{URL}g/", status=403)
    rita.post(URL, {"name": "r", "pipeline": pipeline["id"]}, status=403)
    sam = api.as_user("sam")
    sam.get(f"{URL}g/", status=404)
    assert sam.get(URL).json["count"] == 0
    assert (
        "pipeline"
        in sam.post(URL, {"name": "s", "pipeline": pipeline["id"]}, status=400).json["errors"]
    )
    api.anonymous.get(f"{URL}g/", status=401)
