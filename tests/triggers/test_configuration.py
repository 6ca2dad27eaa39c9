"""The plugin's place in the application: OpenAPI, settings, the step environment
and the prune command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from ansflow_triggers.models import DeliveryId, WebhookDelivery
from pyramid.exceptions import ConfigurationError
from sqlalchemy import func, select

from ansflow_pyramid.cli import main
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.environment import step_environment
from ansflow_pyramid.execution.specs import RunSpec, StepSpec


def test_openapi_documents_webhooks_and_trigger_configuration(testapp):
    document = testapp.get("/api/v1/openapi.json").json
    paths = document["paths"]
    for source in ("github", "gitlab", "jenkins", "generic"):
        operation = paths[f"/api/v1/webhooks/{source}/"]["post"]
        assert "202" in operation["responses"]
    for path in (
        "/api/v1/triggers/webhooks/",
        "/api/v1/triggers/schedules/",
        "/api/v1/triggers/deliveries/",
    ):
        assert path in paths
    schemas = document["components"]["schemas"]
    trigger_in = next(v for k, v in schemas.items() if k.startswith("WebhookTriggerCreate"))
    trigger_out = next(v for k, v in schemas.items() if k.startswith("WebhookTriggerOut"))
    assert "secret" in trigger_in["properties"]
    assert "secret" not in trigger_out["properties"]
    assert "has_secret" in trigger_out["properties"]
    assert "post" not in paths["/api/v1/triggers/deliveries/"]


def test_unknown_scheduler_mode_stops_startup(make_app):
    with pytest.raises(ConfigurationError, match=r"ansflow\.scheduler"):
        make_app(ansflow__scheduler="sometimes")


def test_trigger_variables_are_set_last_and_cannot_be_faked():
    spec = RunSpec(
        execution_id=1,
        steps=(),
        parameters={"ANSFLOW_COMMIT_SHA": "fake", "ANSFLOW_REF": "fake"},
        trigger={"type": "webhook", "commit": "abc123", "ref": "refs/heads/main", "tag": None},
    )
    step = StepSpec(
        step_id=1,
        name="s",
        step_type="shell_script",
        command="true",
        environment_vars={"ANSFLOW_COMMIT_SHA": "also fake"},
    )
    env = step_environment(spec, step, Path("/tmp"), base={})
    assert env["ANSFLOW_COMMIT_SHA"] == "abc123"
    assert env["ANSFLOW_REF"] == "refs/heads/main"
    assert env["ANSFLOW_TRIGGER_TYPE"] == "webhook"
    assert "ANSFLOW_TAG" not in env
    manual = RunSpec(execution_id=2, steps=(), trigger={"type": "manual", "retry_of": 1})
    env = step_environment(manual, step, Path("/tmp"), base={})
    assert env["ANSFLOW_TRIGGER_TYPE"] == "manual"
    assert env["ANSFLOW_COMMIT_SHA"] == "also fake"  # the step's own, nothing overrides it


@pytest.fixture
def ini(tmp_path, ansflow_settings, monkeypatch, testapp):
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cli.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:ansflow-pyramid\n"
        f"sqlalchemy.url = {ansflow_settings['sqlalchemy.url']}\n"
        "redis.url =\n"
        "ansflow.dispatch = none\n"
        "ansflow.webhooks.replay_window = 3600\n"
        "ansflow.webhooks.history_days = 7\n"
        f"jwt.secret = {ansflow_settings['jwt.secret']}\n"
        f"session.secret = {ansflow_settings['session.secret']}\n"
        f"ansflow.secret_key = {ansflow_settings['ansflow.secret_key']}\n"
    )
    return str(path)


def test_prune_sessions_prunes_trigger_history(ini, capsys, dbsession, alice):
    pipeline = alice.pipeline()
    now = utcnow()
    with dbsession() as session:
        for age, delivery_id in ((dt.timedelta(hours=2), "old"), (dt.timedelta(0), "new")):
            session.add(DeliveryId(source="github", delivery_id=delivery_id, received_at=now - age))
        for age in (dt.timedelta(days=8), dt.timedelta(days=1)):
            session.add(
                WebhookDelivery(
                    project_id=pipeline["project"],
                    pipeline_id=pipeline["id"],
                    source="github",
                    received_at=now - age,
                )
            )
    assert main(["prune-sessions", ini]) == 0
    out = capsys.readouterr().out
    assert "triggers: removed 1 delivery ids, 1 webhook deliveries, 0 schedule runs" in out
    with dbsession() as session:
        assert [d.delivery_id for d in session.scalars(select(DeliveryId))] == ["new"]
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
