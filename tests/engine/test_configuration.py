"""The engine inside an application: directives, settings, the runtime."""

from __future__ import annotations

import pytest
from ansflow_local_executor import LocalShellRunner
from pyramid.exceptions import ConfigurationConflictError, ConfigurationError

from ansflow_pyramid import make_configurator
from ansflow_pyramid.execution import get_runtime
from ansflow_pyramid.execution.events import InProcessEventBus
from ansflow_pyramid.execution.redis_events import RedisEventBus
from ansflow_pyramid.execution.runners import get_runner_registry
from ansflow_pyramid.execution.store import NoExecutionStore, get_execution_store


def configure(ansflow_settings, **extra):
    settings = dict(ansflow_settings)
    settings.update({k.replace("__", "."): v for k, v in extra.items()})
    return make_configurator(settings, environ={})


def test_the_local_executor_plugin_is_the_fallback_runner(ansflow_settings):
    config = configure(ansflow_settings)
    runners = get_runner_registry(config.registry)
    assert runners.factory_for("shell_script") is LocalShellRunner
    assert runners.factory_for("anything-else") is LocalShellRunner
    assert runners.owners["*"] == "ansflow_local_executor"


def test_a_plugin_claims_a_step_type_and_two_claims_conflict(ansflow_settings):
    config = configure(ansflow_settings, ansflow__plugins="tests.engine.plugins.runner_a")
    assert (
        get_runner_registry(config.registry).owners["docker_build"]
        == "tests.engine.plugins.runner_a"
    )
    with pytest.raises(ConfigurationConflictError) as caught:
        configure(
            ansflow_settings,
            ansflow__plugins="tests.engine.plugins.runner_a tests.engine.plugins.runner_b",
        )
    assert "ansflow.step-runner" in str(caught.value)


def test_invalid_dispatch_or_events_settings_fail_at_startup(ansflow_settings):
    with pytest.raises(ConfigurationError, match=r"ansflow\.dispatch"):
        configure(ansflow_settings, ansflow__dispatch="celery")
    with pytest.raises(ConfigurationError, match=r"ansflow\.events"):
        configure(ansflow_settings, ansflow__events="kafka")
    with pytest.raises(ConfigurationError, match=r"redis\.url"):
        configure(ansflow_settings, ansflow__events="redis", redis__url="")


def test_the_bus_follows_the_redis_setting(ansflow_settings, redis_url):
    with_redis = get_runtime(configure(ansflow_settings, redis__url=redis_url).registry)
    assert isinstance(with_redis.bus, RedisEventBus)
    assert with_redis.bus.channel_prefix == ansflow_settings["ansflow.redis_prefix"] + "events:"
    assert with_redis.settings.rq_queue == ansflow_settings["ansflow.redis_prefix"] + "executions"
    without = get_runtime(configure(ansflow_settings, redis__url="").registry)
    assert isinstance(without.bus, InProcessEventBus)
    forced = get_runtime(
        configure(ansflow_settings, redis__url=redis_url, ansflow__events="memory").registry
    )
    assert isinstance(forced.bus, InProcessEventBus)


def test_without_a_store_the_engine_says_what_is_missing(ansflow_settings):
    # Analytics, ansible, the CI tool plugins and triggers build on cicd and would include it.
    config = configure(
        ansflow_settings,
        ansflow__exclude_plugins=(
            "cicd analytics ansible remote jenkins gitlab_ci github_actions triggers"
        ),
    )
    with pytest.raises(NoExecutionStore, match="set_execution_store"):
        get_execution_store(config.registry)


def test_settings_are_read(ansflow_settings):
    runtime = get_runtime(
        configure(
            ansflow_settings,
            ansflow__dispatch_threads="7",
            ansflow__heartbeat_timeout="9",
            ansflow__max_streams="3",
            ansflow__log_flush_ms="40",
            ansflow__step_env_passthrough="PATH LANG",
        ).registry
    )
    settings = runtime.settings
    assert settings.dispatch_threads == 7
    assert settings.heartbeat_timeout == 9.0
    assert settings.heartbeat_interval == 2.25
    assert settings.reaper_interval == 3.0
    assert runtime.streams.limit == 3
    assert settings.log_flush_interval == 0.04
    assert settings.env_passthrough == ("PATH", "LANG")
