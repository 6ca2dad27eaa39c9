"""Bounded fuzzing of the whole API (every built-in plugin) against its own document.

Schemathesis generates requests from ``/api/v1/openapi.json`` and checks each response:
no 5xx, only documented status codes and content types, bodies matching the schemas,
schema-valid input accepted.  Requests carry a superuser's token so they reach the
views, and a project, pipeline and execution exist so ids resolve.

Operations that reach outside the process are left out: tool health checks, connection
tests and Ansible host checks would contact whatever URL or host the fuzzer invented, an
atomic step's ``test/`` would run whatever command it invented, and event streams stay
open until an execution ends.
"""

from __future__ import annotations

import os

from schemathesis.specs.openapi.checks import positive_data_acceptance

from ansflow_pyramid.identity.services import create_user
from tests.test_openapi import fuzz_operations

PASSWORD = "fuzzing password 123"
EXAMPLES = int(os.environ.get("ANSFLOW_FUZZ_EXAMPLES", "6"))
OUTBOUND_OR_STREAMING = (
    "health_check/",
    "test_connection/",
    "/test/",
    "events/",
    # Ansible host checks log in to whatever host the fuzzer invented.
    "check_connectivity/",
    "gather_facts/",
    "batch_check/",
    # Ansible validations start ansible-playbook / ansible-inventory (a second or more
    # each); tests/ansible/ covers their input handling.
    "inventories/validate/",
    "playbooks/validate/",
    "validate_inventory/",
    "validate_playbook/",
    "syntax_check/",
)


def test_fuzz_every_operation_of_the_api(testapp, ansflow_app, dbsession):
    with dbsession() as session:
        create_user(session, "fuzzer", PASSWORD, is_superuser=True)
    access = testapp.post_json(
        "/api/v1/auth/token/", {"username": "fuzzer", "password": PASSWORD}
    ).json["access"]
    headers = {"Authorization": f"Bearer {access}"}
    project = testapp.post_json(
        "/api/v1/projects/projects/", {"name": "fuzz"}, headers=headers
    ).json
    pipeline = testapp.post_json(
        "/api/v1/pipelines/pipelines/",
        {
            "name": "p",
            "project": project["id"],
            "steps": [{"name": "s", "step_type": "shell_script", "command": "true"}],
        },
        headers=headers,
    ).json
    testapp.post_json("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}, headers=headers)

    # Bodies name other rows (a project, a playbook...): a schema cannot say which ids
    # exist, so a 400 "Invalid pk" for a schema-valid body is right, and schemathesis's
    # "schema-valid request rejected" check only fires on operations where some ids
    # happened to exist.  The test plugin's fuzzing (tests/test_openapi.py) keeps it.
    failures = fuzz_operations(
        ansflow_app,
        examples_per_operation=EXAMPLES,
        headers=headers,
        excluded=[positive_data_acceptance],
        skip=lambda path: path.endswith(OUTBOUND_OR_STREAMING),
    )
    assert not failures, "\n\n".join(failures)
