"""Creating through any project-scoped collection checks the target project's
permission, even when the plugin's own ``create`` checks nothing."""

from __future__ import annotations

import pytest
from webtest import TestApp

from tests.domain.conftest import API, add_member, make_project


@pytest.fixture
def careless(make_app, testapp, dbsession):
    app = make_app(ansflow__plugins="tests.plugins.careless_scoped")
    return API(TestApp(app, extra_environ={"HTTP_HOST": "localhost"}), dbsession)


def test_a_stranger_cannot_create_in_a_private_project(careless):
    owner = careless.as_user("owner")
    project = make_project(owner, visibility="private")
    stranger = careless.as_user("stranger")
    body = {"name": "prod", "project": project["id"]}
    refused = stranger.post("/api/v1/careless/environments/", body, status=400)
    assert "project" in refused.json["errors"]
    alias = f"/api/v1/careless/projects/{project['id']}/environments/"
    stranger.post(alias, body, status=400)
    assert owner.get("/api/v1/careless/environments/").json["count"] == 0


def test_a_reporter_is_forbidden_and_a_developer_allowed(careless):
    owner = careless.as_user("owner")
    project = make_project(owner, visibility="private")
    reporter, developer = careless.as_user("reporter"), careless.as_user("developer")
    add_member(owner, project["id"], reporter.user_id, "reporter")
    add_member(owner, project["id"], developer.user_id, "developer")
    body = {"name": "prod", "project": project["id"]}
    reporter.post("/api/v1/careless/environments/", body, status=403)
    created = developer.post("/api/v1/careless/environments/", body, status=201)
    assert created.json["project"] == project["id"]


def test_the_project_a_row_lands_in_is_checked_too(careless):
    owner = careless.as_user("owner")
    mine = make_project(owner, "mine", visibility="private")
    other = careless.as_user("other")
    theirs = make_project(other, "theirs", visibility="internal")
    assert theirs["id"] == mine["id"] + 1
    # Allowed in the project it names, but the plugin writes into the next one.
    owner.post("/api/v1/careless/sneaky/", {"name": "x", "project": mine["id"]}, status=403)
    assert other.get("/api/v1/careless/environments/").json["count"] == 0
