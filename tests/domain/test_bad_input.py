"""Bad input on every write endpoint: a JSON 4xx naming the problem, and no change.

Every case runs against a seeded database whose full content is compared before and
after: a rejected request must leave every table exactly as it was.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from ansflow_pyramid.db import Base
from tests.domain.conftest import add_member, make_execution, make_pipeline, make_project, make_tool

UNKNOWN = 987654
HUGE_STRING = "x" * 20_000
NAN = float("nan")
DEEP = json.loads("[" * 200 + "]" * 200)


def database_content(dbsession) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to compare before and after a rejected request."""
    content = {}
    with dbsession() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in ("sessions", "refresh_tokens", "login_attempts"):
                continue  # logging in to run the cases writes these
            rows = session.execute(select(table)).all()
            content[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return content


@pytest.fixture
def seeded(api):
    alice = api.as_user("alice")
    bob_id = api.user("bob")
    project = make_project(alice, "seeded")
    membership = add_member(alice, project["id"], bob_id, "developer")
    environment = alice.post(
        "/api/v1/projects/environments/", {"project": project["id"], "name": "qa"}
    ).json
    tool = make_tool(alice, project["id"])
    pipeline = make_pipeline(alice, project["id"], execution_tool=tool["id"])
    running = make_execution(alice, pipeline["id"])
    finished = make_execution(alice, pipeline["id"])
    alice.post(f"/api/v1/cicd/executions/{finished['id']}/cancel/", status=200)
    step = alice.post("/api/v1/cicd/atomic-steps/", {"name": "lint"}).json
    credential = alice.post(
        "/api/v1/cicd/git-credentials/", {"name": "gh", "username": "a", "password": "pw"}
    ).json
    ids = {
        "project": project["id"],
        "membership": membership["id"],
        "environment": environment["id"],
        "tool": tool["id"],
        "pipeline": pipeline["id"],
        "running": running["id"],
        "finished": finished["id"],
        "step": step["id"],
        "credential": credential["id"],
        "bob": bob_id,
    }
    return alice, ids


STRING_CASES = [None, 5, True, [], {}, "", "a\x00b", HUGE_STRING]
JSON_OBJECT_CASES = [[], "x", 5, {"a": NAN}, {"a\x00": 1}, {"deep": DEEP}]
ID_CASES = ["1", True, 1.5, 0, -1, 2**31, 2**70, UNKNOWN, None]

# Each endpoint: method, path template, a valid body, and the bad values per field.
ENDPOINTS: list[tuple[str, str, str, dict[str, Any], dict[str, list[Any]]]] = [
    (
        "project create",
        "post",
        "/api/v1/projects/projects/",
        {"name": "new"},
        {
            "name": [*STRING_CASES, "seeded"],
            "visibility": ["secret", 1, None],
            "settings": JSON_OBJECT_CASES,
            "is_active": ["yes", 1, None],
            "default_branch": ["", 7],
        },
    ),
    (
        "project update",
        "put",
        "/api/v1/projects/projects/{project}/",
        {"name": "renamed"},
        {"name": STRING_CASES, "settings": JSON_OBJECT_CASES},
    ),
    (
        "project partial update",
        "patch",
        "/api/v1/projects/projects/{project}/",
        {"description": "d"},
        {"name": STRING_CASES, "visibility": ["secret", None], "description": [None, 3]},
    ),
    (
        "add member",
        "post",
        "/api/v1/projects/projects/{project}/add_member/",
        {"user_id": "{bob}", "role": "reporter"},
        {"user_id": ID_CASES, "role": ["admin", None, 3]},
    ),
    (
        "remove member",
        "delete",
        "/api/v1/projects/projects/{project}/remove_member/",
        {"user_id": "{bob}"},
        {"user_id": ["1", True, 0, 2**70, None]},
    ),
    (
        "create environment (action)",
        "post",
        "/api/v1/projects/projects/{project}/create_environment/",
        {"name": "prod2"},
        {"name": [*STRING_CASES, "qa"], "env_type": ["live", None], "config": JSON_OBJECT_CASES},
    ),
    (
        "environment create",
        "post",
        "/api/v1/projects/environments/",
        {"name": "prod3", "project": "{project}"},
        {"name": [*STRING_CASES, "qa"], "project": ID_CASES, "auto_deploy": ["no", 0]},
    ),
    (
        "environment update",
        "patch",
        "/api/v1/projects/environments/{environment}/",
        {"url": "https://e.example"},
        {"name": STRING_CASES, "config": JSON_OBJECT_CASES, "url": [5, HUGE_STRING]},
    ),
    (
        "membership update",
        "patch",
        "/api/v1/projects/memberships/{membership}/",
        {"role": "reporter"},
        {"role": ["root", None, 1]},
    ),
    (
        "pipeline create",
        "post",
        "/api/v1/pipelines/pipelines/",
        {"name": "p2", "project": "{project}"},
        {
            "name": STRING_CASES,
            "project": ID_CASES,
            "execution_tool": ["1", UNKNOWN, 0],
            "execution_mode": ["fast", None],
            "config": JSON_OBJECT_CASES,
            "steps": [
                "x",
                {},
                [{"name": 5}],
                [{}],
                [{"name": "a", "order": 1}, {"name": "b", "order": 1}],
                [{"name": "a", "step_type": "teleport"}],
                [{"name": "a", "timeout_seconds": 0}],
                [{"name": "a", "timeout_seconds": 2**40}],
                [{"name": "a", "environment_vars": []}],
                [{"name": "a", "dependencies": {}}],
                [{"name": "a"}] * 201,
            ],
        },
    ),
    (
        "pipeline update",
        "put",
        "/api/v1/pipelines/pipelines/{pipeline}/",
        {"name": "p3", "steps": [{"name": "only"}]},
        {"name": STRING_CASES, "steps": [[{"name": None}], [{"name": "a", "order": -1}]]},
    ),
    (
        "pipeline partial update",
        "patch",
        "/api/v1/pipelines/pipelines/{pipeline}/",
        {"description": "x"},
        {
            "execution_tool": [UNKNOWN, "1", True],
            "is_active": ["false", None],
            "steps": [[{"name": "a", "order": 2}, {"name": "b", "order": 2}], "none"],
            "tool_job_config": JSON_OBJECT_CASES,
        },
    ),
    (
        "pipeline clone",
        "post",
        "/api/v1/pipelines/pipelines/{pipeline}/clone/",
        {"name": "copy"},
        {"name": STRING_CASES[1:], "project": ID_CASES[:-1]},
    ),
    (
        "pipeline import",
        "post",
        "/api/v1/pipelines/pipelines/import/",
        {"project": "{project}", "pipeline": {"name": "imported"}, "steps": []},
        {
            "project": ID_CASES,
            "format": ["yaml", None],
            "version": [2, "1"],
            "pipeline": [None, "x", {}, {"name": 5}],
            "steps": [[{"name": "a", "step_type": "nope"}], "x"],
        },
    ),
    (
        "pipeline run",
        "post",
        "/api/v1/pipelines/pipelines/{pipeline}/run/",
        {},
        {
            "cicd_tool_id": ID_CASES[:-1],
            "trigger_type": ["cron", None],
            "parameters": JSON_OBJECT_CASES,
        },
    ),
    (
        "execution create",
        "post",
        "/api/v1/cicd/executions/",
        {"pipeline_id": "{pipeline}"},
        {
            "pipeline_id": ID_CASES,
            "cicd_tool_id": ID_CASES[:-1],
            "trigger_type": ["cron", None, 1],
            "parameters": JSON_OBJECT_CASES,
            "trigger_data": JSON_OBJECT_CASES,
        },
    ),
    (
        "execution create through the pipeline alias",
        "post",
        "/api/v1/pipelines/{pipeline}/executions/",
        {},
        {"pipeline_id": [UNKNOWN, "x"], "parameters": JSON_OBJECT_CASES},
    ),
    (
        "tool create",
        "post",
        "/api/v1/cicd/tools/",
        {"name": "t2", "project": "{project}", "tool_type": "local"},
        {
            "name": [*STRING_CASES, "ci"],
            "project": ID_CASES,
            "tool_type": ["teamcity", None, 3],
            "base_url": ["ftp://x", "javascript:alert(1)", 5],
            "token": [5, [], HUGE_STRING],
            "metadata": JSON_OBJECT_CASES,
        },
    ),
    (
        "tool update",
        "put",
        "/api/v1/cicd/tools/{tool}/",
        {"name": "ci", "tool_type": "jenkins", "base_url": "http://127.0.0.1:9/"},
        {
            "tool_type": ["nope"],
            "base_url": ["", "file:///etc/passwd"],
            "config": JSON_OBJECT_CASES,
        },
    ),
    (
        "tool partial update",
        "patch",
        "/api/v1/cicd/tools/{tool}/",
        {"username": "u"},
        {"name": [None, ""], "token": [5], "tool_type": ["nope"], "base_url": [""]},
    ),
    (
        "create local executor",
        "post",
        "/api/v1/cicd/tools/create_local_executor/",
        {"project": "{project}"},
        {"project": ID_CASES, "name": STRING_CASES[1:]},
    ),
    (
        "atomic step create",
        "post",
        "/api/v1/cicd/atomic-steps/",
        {"name": "s2"},
        {
            "name": STRING_CASES,
            "step_type": ["nope", 5],
            "timeout_seconds": [0, -5, "10", 10**12],
            "retry_count": [101, -1],
            "parameters": JSON_OBJECT_CASES,
            "is_public": ["true"],
        },
    ),
    (
        "atomic step update",
        "patch",
        "/api/v1/cicd/atomic-steps/{step}/",
        {"name": "s3"},
        {"name": STRING_CASES, "step_type": ["nope"]},
    ),
    (
        "git credential create",
        "post",
        "/api/v1/cicd/git-credentials/",
        {"name": "c2", "password": "p"},
        {
            "name": [*STRING_CASES, "gh"],
            "platform": ["svn", None],
            "credential_type": ["kerberos"],
            "server_url": ["ssh://x"],
            "password": [5, "", None],
            "ssh_private_key": [5],
        },
    ),
    (
        "git credential update",
        "put",
        "/api/v1/cicd/git-credentials/{credential}/",
        {"name": "gh2"},
        {"name": STRING_CASES, "password": [5], "server_url": ["gopher://x"]},
    ),
]


#: Endpoints whose fields are all optional.
EMPTY_BODY_IS_VALID = {"pipeline clone"}


def fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids.get(value[1:-1], value)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def send(client, method: str, url: str, raw: bytes, content_type: str = "application/json"):
    return getattr(client.testapp, method)(
        url,
        raw,
        headers={**client.headers, "Content-Type": content_type},
        status="*",
        expect_errors=True,
    )


def check_error(response, status: int | tuple[int, ...], what: str) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_int in statuses, (what, response.status, response.body[:300])
    assert response.content_type == "application/json", what
    body = response.json
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), what
    return body


@pytest.mark.parametrize(
    ("name", "method", "template", "valid", "bad_fields"),
    ENDPOINTS,
    ids=[e[0] for e in ENDPOINTS],
)
def test_bad_input_is_a_json_4xx_and_changes_nothing(
    seeded, dbsession, name, method, template, valid, bad_fields
):
    alice, ids = seeded
    url = template.format(**ids)
    valid = fill(valid, ids)
    before = database_content(dbsession)

    raw_cases = [
        (b"{not json", 400),
        (b"[1, 2, 3]", 400),
        (b'"just a string"', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}', 413),
        (b"\xff\xfe\x00garbage", 400),
    ]
    for raw, status in raw_cases:
        check_error(send(alice, method, url, raw), status, f"{name}: raw {raw[:20]!r}")
    check_error(
        send(alice, method, url, json.dumps(valid).encode(), "text/xml"), 415, f"{name}: xml"
    )

    for field_name, values in bad_fields.items():
        for value in values:
            body = {**valid, field_name: value}
            raw = json.dumps(body).encode()
            response = send(alice, method, url, raw)
            what = f"{name}: {field_name}={str(value)[:40]!r}"
            error = check_error(response, 400, what)
            fields = set(error.get("errors") or {})
            assert any(key == field_name or key.startswith(field_name + ".") for key in fields) or (
                not fields and error["code"] in ("invalid", "malformed_json")
            ), (what, error)

    if method in ("post", "put") and valid and name not in EMPTY_BODY_IS_VALID:
        required = [key for key in valid if key not in ("steps",)]
        response = send(alice, method, url, b"{}")
        if response.status_int < 300:
            pytest.fail(f"{name}: an empty body was accepted")
        error = check_error(response, 400, f"{name}: empty body")
        assert set(error["errors"]) & set(required), (name, error)

    assert database_content(dbsession) == before, f"{name}: a rejected request changed data"


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("post", "/api/v1/cicd/executions/{running}/retry/"),
        ("post", "/api/v1/cicd/executions/{finished}/cancel/"),
        ("post", "/api/v1/executions/{finished}/cancel/"),
        ("delete", "/api/v1/projects/projects/{project}/remove_member/"),
        ("delete", "/api/v1/cicd/executions/{running}/"),
        ("put", "/api/v1/cicd/executions/{running}/steps/"),
        ("post", "/api/v1/projects/memberships/"),
        ("post", "/api/v1/cicd/executions/{running}/logs/"),
    ],
)
def test_refused_transitions_and_methods_change_nothing(seeded, dbsession, method, template):
    alice, ids = seeded
    url = template.format(**ids)
    before = database_content(dbsession)
    body = {"user_id": ids["bob"] + 1000} if "remove_member" in url else {}
    response = getattr(alice, method)(url, body, status="*")
    assert response.status_int in (404, 405, 409), response.body
    assert response.json["code"] in ("invalid_state", "method_not_allowed", "not_a_member")
    assert database_content(dbsession) == before


def test_the_owner_cannot_be_demoted_or_removed(seeded, dbsession):
    alice, ids = seeded
    before = database_content(dbsession)
    owner_membership = alice.get(
        "/api/v1/projects/memberships/", {"project": ids["project"], "role": "owner"}
    ).json["results"][0]
    alice.patch(
        f"/api/v1/projects/memberships/{owner_membership['id']}/", {"role": "guest"}, status=400
    )
    alice.delete(
        f"/api/v1/projects/projects/{ids['project']}/remove_member/",
        {"user_id": alice.user_id},
        status=400,
    )
    alice.post(
        f"/api/v1/projects/projects/{ids['project']}/add_member/",
        {"user_id": alice.user_id, "role": "developer"},
        status=400,
    )
    assert database_content(dbsession) == before
