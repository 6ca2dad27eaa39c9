"""Inbound webhooks: signatures, replays, envelopes, matching and history."""

from __future__ import annotations

import pytest
from ansflow_cicd.models import Execution
from sqlalchemy import select

from tests.triggers.conftest import (
    SECRET,
    delivery,
    generic_event,
    github_push,
    gitlab_push,
    jenkins_notification,
    send,
)

PAYLOADS = {
    "github": github_push,
    "gitlab": gitlab_push,
    "generic": generic_event,
    "jenkins": lambda: jenkins_notification(job="acme/app"),
}
SIGNATURE_HEADERS = {
    "github": "X-Hub-Signature-256",
    "gitlab": "X-Gitlab-Token",
    "generic": "X-AnsFlow-Signature-256",
    "jenkins": "X-AnsFlow-Signature-256",
}


@pytest.fixture
def pipeline(alice):
    return alice.pipeline()


@pytest.mark.parametrize("source", ["github", "gitlab", "generic", "jenkins"])
def test_signatures_per_source(testapp, alice, pipeline, counts, source):
    alice.trigger(pipeline["id"], source)
    payload = PAYLOADS[source]()

    missing = send(testapp, source, delivery(source, payload, secret=None), status=401)
    assert missing.json["code"] == "signature_missing"
    wrong = send(testapp, source, delivery(source, payload, secret="x" * 30), status=401)
    assert wrong.json["code"] == "signature_invalid"
    tampered = delivery(source, payload)
    tampered.body += b" "
    if source != "gitlab":  # GitLab's token does not cover the body
        assert send(testapp, source, tampered, status=401).json["code"] == "signature_invalid"
    executions, _ = counts()
    assert executions == 0

    good = delivery(source, payload)
    accepted = send(testapp, source, good)
    assert accepted.json["status"] == "accepted"
    expected = 0 if source == "jenkins" else 1
    assert len(accepted.json["executions"]) == expected
    replay = send(testapp, source, good, status=409)
    assert replay.json["code"] == "delivery_replayed"
    assert counts()[0] == expected


def test_a_signature_header_is_checked_in_its_own_format(testapp, alice, pipeline):
    alice.trigger(pipeline["id"])
    sent = delivery("github", github_push())
    sent.headers["X-Hub-Signature-256"] = sent.headers["X-Hub-Signature-256"].removeprefix(
        "sha256="
    )
    assert send(testapp, "github", sent, status=401).json["code"] == "signature_invalid"
    sent.headers["X-Hub-Signature-256"] = "sha256=" + "é" * 64
    assert send(testapp, "github", sent, status=401).json["code"] == "signature_invalid"


def test_envelope_errors_create_nothing(testapp, alice, pipeline, counts):
    alice.trigger(pipeline["id"])
    good = delivery("github", github_push())
    form = delivery("github", github_push())
    form.headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert send(testapp, "github", form, status=415).json["code"] == "unsupported_media_type"
    malformed = delivery("github", None, raw=b'{"ref": ')
    assert send(testapp, "github", malformed, status=400).json["code"] == "malformed_delivery"
    not_object = delivery("github", None, raw=b"[1, 2]")
    assert send(testapp, "github", not_object, status=400).json["code"] == "malformed_delivery"
    no_id = delivery("github", github_push())
    del no_id.headers["X-GitHub-Delivery"]
    assert send(testapp, "github", no_id, status=400).json["code"] == "delivery_id_missing"
    no_event = delivery("github", github_push())
    del no_event.headers["X-GitHub-Event"]
    assert send(testapp, "github", no_event, status=400).json["code"] == "event_missing"
    unknown = delivery("github", github_push(repository="someone/else"))
    assert send(testapp, "github", unknown, status=404).json["code"] == "unknown_hook"
    assert counts() == (0, 0)
    # None of these consumed the delivery id: the real one is still accepted.
    accepted = send(testapp, "github", good)
    assert len(accepted.json["executions"]) == 1


def test_oversized_deliveries_are_refused_before_reading(make_app, alice, pipeline, counts):
    from webtest import TestApp

    app = TestApp(make_app(ansflow__webhooks__max_body_bytes="2000"))
    alice.trigger(pipeline["id"])
    payload = github_push()
    payload["padding"] = "x" * 3000
    response = send(app, "github", delivery("github", payload), status=413)
    assert response.json["code"] == "payload_too_large"
    assert counts() == (0, 0)


def test_the_original_paths_are_aliases(testapp, alice, pipeline):
    alice.trigger(pipeline["id"])
    response = send(testapp, "github", delivery("github", github_push()), path="/webhooks/github")
    assert response.json["executions"]
    assert 'rel="canonical"' in response.headers["Link"]
    assert "/api/v1/webhooks/github/" in response.headers["Link"]


def test_cookie_holders_need_no_csrf_token_but_sessions_do_not_authenticate(
    testapp, alice, pipeline
):
    alice.trigger(pipeline["id"])
    testapp.set_cookie("sessionid", "whatever")
    response = send(testapp, "github", delivery("github", github_push()))
    assert response.json["executions"]
    testapp.reset()
    # A bad token changes nothing either: the signature is the only authentication.
    sent = delivery("github", github_push())
    sent.headers["Authorization"] = "Bearer not-a-token"
    assert send(testapp, "github", sent).json["executions"]
    unsigned = delivery("github", github_push(), secret=None)
    unsigned.headers.update(alice.headers)
    assert send(testapp, "github", unsigned, status=401).json["code"] == "signature_missing"


def test_matching_push_starts_with_trigger_data(testapp, alice, pipeline, dbsession):
    alice.trigger(pipeline["id"], branches=["main", "release/*"])
    sent = delivery("github", github_push(ref="refs/heads/release/1.2", commit="d" * 40))
    execution_id = send(testapp, "github", sent).json["executions"][0]
    detail = alice.get(f"/api/v1/cicd/executions/{execution_id}/")
    assert detail["trigger_type"] == "webhook"
    data = detail["trigger_data"]
    assert data["commit"] == "d" * 40
    assert data["ref"] == "refs/heads/release/1.2"
    assert data["sender"] == "octocat"
    assert data["delivery_id"] == sent.headers["X-GitHub-Delivery"]
    assert detail["triggered_by"] is None


@pytest.mark.parametrize(
    ("branches", "tags", "ref", "starts"),
    [
        (["main"], [], "refs/heads/develop", False),
        (["main"], [], "refs/heads/main", True),
        ([], [], "refs/heads/anything", True),
        ([], [], "refs/tags/v1.0", False),
        (["main"], ["v*"], "refs/tags/v1.0", True),
        (["main"], ["v*"], "refs/tags/nightly", False),
        (["feature/*"], [], "refs/heads/feature/x/y", True),
    ],
)
def test_branch_and_tag_globs(testapp, alice, pipeline, counts, branches, tags, ref, starts):
    alice.trigger(pipeline["id"], branches=branches, tags=tags)
    response = send(testapp, "github", delivery("github", github_push(ref=ref)))
    assert bool(response.json["executions"]) is starts
    assert counts()[0] == int(starts)
    history = alice.get(f"/api/v1/pipelines/{pipeline['id']}/webhook-deliveries/")["results"]
    assert [(d["matched"], d["execution_created"]) for d in history] == [(starts, starts)]


def test_pull_requests_start_on_opened_synchronize_reopened(testapp, alice, pipeline, counts):
    alice.trigger(pipeline["id"], events=["pull_request"], branches=["main"])

    def pull_request(action, base="main"):
        return {
            "action": action,
            "number": 42,
            "pull_request": {"head": {"sha": "e" * 40, "ref": "topic"}, "base": {"ref": base}},
            "repository": {"full_name": "acme/app"},
            "sender": {"login": "octocat"},
        }

    for action, starts in [("opened", 1), ("synchronize", 1), ("closed", 0), ("labeled", 0)]:
        sent = delivery("github", pull_request(action), event="pull_request")
        assert len(send(testapp, "github", sent).json["executions"]) == starts
    sent = delivery("github", pull_request("reopened", base="develop"), event="pull_request")
    assert send(testapp, "github", sent).json["executions"] == []
    # A push is not a pull request: this trigger does not listen to it.
    assert send(testapp, "github", delivery("github", github_push())).json["executions"] == []
    assert counts()[0] == 2
    executions = alice.get(f"/api/v1/pipelines/{pipeline['id']}/executions/")["results"]
    assert {e["trigger_data"]["pull_request"] for e in executions} == {42}
    assert {e["trigger_data"]["commit"] for e in executions} == {"e" * 40}


def test_gitlab_merge_requests_and_deleted_branches(testapp, alice, pipeline, counts):
    alice.trigger(pipeline["id"], source="gitlab", events=["push", "merge_request"])

    def merge_request(action, **extra):
        return {
            "object_kind": "merge_request",
            "user": {"username": "tanuki"},
            "project": {"path_with_namespace": "acme/app"},
            "object_attributes": {
                "iid": 3,
                "action": action,
                "source_branch": "topic",
                "target_branch": "main",
                "last_commit": {"id": "f" * 40},
                **extra,
            },
        }

    hook = "Merge Request Hook"
    opened = delivery("gitlab", merge_request("open"), event=hook)
    assert len(send(testapp, "gitlab", opened).json["executions"]) == 1
    retitled = delivery("gitlab", merge_request("update"), event=hook)
    assert send(testapp, "gitlab", retitled).json["executions"] == []
    pushed = delivery("gitlab", merge_request("update", oldrev="1" * 40), event=hook)
    assert len(send(testapp, "gitlab", pushed).json["executions"]) == 1
    deleted = delivery("gitlab", gitlab_push(commit="0" * 40))
    assert send(testapp, "gitlab", deleted).json["effect"] == "ignored"
    assert counts()[0] == 2


def test_unhandled_events_are_acknowledged_without_effect(testapp, alice, pipeline, counts):
    alice.trigger(pipeline["id"])
    ping = delivery("github", {"zen": "Keep it simple.", "repository": {"full_name": "acme/app"}})
    ping.headers["X-GitHub-Event"] = "ping"
    response = send(testapp, "github", ping)
    assert response.json["effect"] == "ignored"
    assert "not handled" in response.json["reason"]
    assert counts() == (0, 1)
    # Acknowledged deliveries keep their id, even when they did nothing.
    assert send(testapp, "github", ping, status=409).json["code"] == "delivery_replayed"


def test_an_inactive_pipeline_is_recorded_not_started(testapp, alice, pipeline, counts):
    alice.trigger(pipeline["id"])
    alice.patch(f"/api/v1/pipelines/pipelines/{pipeline['id']}/", {"is_active": False})
    response = send(testapp, "github", delivery("github", github_push()))
    assert response.json["executions"] == []
    history = alice.get("/api/v1/triggers/deliveries/", pipeline=pipeline["id"])["results"]
    assert history[0]["matched"] is True
    assert "inactive" in history[0]["error"]
    assert counts()[0] == 0


def test_two_triggers_of_one_pipeline_start_it_once(testapp, alice, pipeline, counts):
    alice.trigger(pipeline["id"])
    alice.trigger(pipeline["id"], repository="")
    response = send(testapp, "github", delivery("github", github_push()))
    assert len(response.json["executions"]) == 1
    assert counts() == (1, 2)


def test_each_trigger_verifies_with_its_own_secret(testapp, alice, counts):
    first = alice.pipeline("first")
    second = alice.pipeline("second")
    alice.trigger(first["id"])
    alice.trigger(second["id"], secret="another-secret-for-pipeline-2")
    response = send(testapp, "github", delivery("github", github_push()))
    executions = alice.get("/api/v1/cicd/executions/")["results"]
    assert [e["pipeline"] for e in executions] == [first["id"]]
    assert response.json["executions"] == [executions[0]["id"]]


def test_rejected_deliveries_are_recorded_without_secrets(testapp, alice, pipeline):
    trigger = alice.trigger(pipeline["id"])
    assert trigger["has_secret"] is True
    assert "secret" not in trigger and SECRET not in str(trigger)
    assert trigger["url"].endswith("/api/v1/webhooks/github/")
    send(testapp, "github", delivery("github", github_push(), secret="y" * 30), status=401)
    sent = delivery("github", github_push())
    send(testapp, "github", sent)
    send(testapp, "github", sent, status=409)
    history = alice.get(f"/api/v1/pipelines/{pipeline['id']}/webhook-deliveries/")["results"]
    assert [(d["signature_valid"], d["matched"], d["execution_created"]) for d in history] == [
        (True, False, False),  # the replay
        (True, True, True),
        (False, False, False),
    ]
    assert "received already" in history[0]["error"]
    assert "does not match" in history[2]["error"]
    assert all(d["event"] == "push" and d["received_at"] for d in history)
    listing = (
        testapp.get("/api/v1/triggers/webhooks/", headers=alice.headers).text
        + testapp.get("/api/v1/triggers/deliveries/", headers=alice.headers).text
    )
    assert SECRET not in listing


def test_deliveries_are_visible_to_the_project_only(testapp, alice, pipeline, dbsession):
    from tests.triggers.conftest import Client

    alice.trigger(pipeline["id"])
    send(testapp, "github", delivery("github", github_push()))
    mallory = Client(testapp, dbsession, "mallory")
    assert mallory.get("/api/v1/triggers/deliveries/")["count"] == 0
    assert mallory.get("/api/v1/triggers/webhooks/")["count"] == 0
    testapp.get("/api/v1/triggers/deliveries/", status=401)


def test_trigger_configuration_is_validated(testapp, alice, pipeline):
    url = f"/api/v1/pipelines/{pipeline['id']}/webhook-triggers/"
    bad = alice.post(url, {"source": "github", "secret": "short"}, status=400)
    assert "secret" in bad["errors"]
    bad = alice.post(url, {"source": "svn", "secret": SECRET}, status=400)
    assert "source" in bad["errors"]
    bad = alice.post(url, {"source": "github", "secret": SECRET, "events": ["tag"]}, status=400)
    assert "events" in bad["errors"]
    bad = alice.post(
        url,
        {"source": "github", "secret": SECRET, "branches": ["ma in", "x..y", "[ab"]},
        status=400,
    )
    assert set(bad["errors"]) == {"branches.0", "branches.1", "branches.2"}
    bad = alice.post(url, {"source": "jenkins", "secret": SECRET, "events": ["push"]}, status=400)
    assert "events" in bad["errors"]
    bad = alice.post(
        "/api/v1/triggers/webhooks/", {"source": "github", "secret": SECRET}, status=400
    )
    assert "pipeline" in bad["errors"]
    bad = alice.post(
        "/api/v1/triggers/webhooks/",
        {"source": "github", "secret": SECRET, "pipeline": 999999},
        status=400,
    )
    assert "pipeline" in bad["errors"]
    created = alice.post(url, {"source": "github", "secret": SECRET, "branches": ["main"]})
    item = f"/api/v1/triggers/webhooks/{created['id']}/"
    bad = alice.patch(item, {"tags": ["v 1"]}, status=400)
    assert "tags.0" in bad["errors"]
    updated = alice.patch(item, {"branches": ["release/*"], "secret": "a-new-secret-value-123"})
    assert updated["branches"] == ["release/*"] and updated["has_secret"]


def test_a_rotated_secret_verifies_new_deliveries(testapp, alice, pipeline):
    trigger = alice.trigger(pipeline["id"])
    alice.patch(f"/api/v1/triggers/webhooks/{trigger['id']}/", {"secret": "rotated-secret-0123456"})
    send(testapp, "github", delivery("github", github_push()), status=401)
    rotated = delivery("github", github_push(), secret="rotated-secret-0123456")
    assert send(testapp, "github", rotated).json["executions"]


def test_the_replay_window_and_pruning(make_app, alice, pipeline, dbsession):
    import datetime as dt

    from ansflow_triggers import prune_history
    from ansflow_triggers.clock import set_clock
    from ansflow_triggers.models import DeliveryId, WebhookDelivery
    from webtest import TestApp

    from ansflow_pyramid.db import utcnow

    raw = make_app(ansflow__webhooks__replay_window="60", ansflow__webhooks__history_days="1")
    now = [utcnow()]
    set_clock(raw.registry, lambda: now[0])
    app = TestApp(raw)
    alice.trigger(pipeline["id"])
    sent = delivery("github", github_push())
    send(app, "github", sent)
    now[0] += dt.timedelta(seconds=30)
    send(app, "github", sent, status=409)
    now[0] += dt.timedelta(seconds=61)
    assert send(app, "github", sent).json["executions"]
    with dbsession() as session:
        removed = prune_history(raw.registry, session, now[0] + dt.timedelta(days=2))
    assert removed == {"delivery ids": 1, "webhook deliveries": 3, "schedule runs": 0}
    with dbsession() as session:
        assert session.scalars(select(DeliveryId)).all() == []
        assert session.scalars(select(WebhookDelivery)).all() == []
        assert len(session.scalars(select(Execution)).all()) == 2


def test_refused_deliveries_are_recorded_within_a_budget(make_app, alice, pipeline):
    from webtest import TestApp

    app = TestApp(make_app(ansflow__webhooks__rejections_per_minute="3"))
    alice.trigger(pipeline["id"])
    for _ in range(6):
        send(app, "github", delivery("github", github_push(), secret="z" * 30), status=401)
    history = alice.get("/api/v1/triggers/deliveries/")["results"]
    assert len(history) == 3
    assert all(not d["signature_valid"] for d in history)
