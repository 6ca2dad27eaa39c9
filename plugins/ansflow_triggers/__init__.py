"""The triggers plugin: signed inbound webhooks and cron schedules start pipelines.

Shows: public endpoints authenticated by a signature instead of a session (declared
with ``add_api_endpoint`` and exempted from CSRF through the core's mechanism), domain
services with their own exceptions rendered as JSON, hook points for other plugins
(``add_remote_run_locator``, ``set_remote_run_nudger``), background work started
with the application (the embedded scheduler), and a prune task for the history
it keeps.

Settings:

=================================== ======================================================
``ansflow.webhooks.max_body_bytes``  larger deliveries get a 413 (default 1 MiB)
``ansflow.webhooks.replay_window``   seconds a delivery id is remembered (default 7 days)
``ansflow.webhooks.history_days``    days of delivery and schedule-run history kept (30)
``ansflow.webhooks.rejections_per_minute`` refused deliveries recorded per trigger and
                                     minute (20; the refusal is answered either way)
``ansflow.scheduler``                ``embedded`` (default: every serving process runs due
                                     schedules, each due time exactly once) or ``off``
``ansflow.scheduler_interval``       seconds between looks for due schedules (default 10)
``ansflow.scheduler_missed_after``   seconds after which a due time counts as missed (300)
=================================== ======================================================
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.events import ApplicationCreated
from pyramid.exceptions import ConfigurationError

from ansflow_pyramid.security.csrf import exempt_from_csrf
from ansflow_triggers.interfaces import TriggerError
from ansflow_triggers.resources import (
    ScheduleCollection,
    WebhookDeliveryCollection,
    WebhookTriggerCollection,
)
from ansflow_triggers.scheduler import SCHEDULER_MODES, build_scheduler, start_scheduler
from ansflow_triggers.schemas import DELIVERY_SCHEMAS, DeliveryAccepted
from ansflow_triggers.services import (
    SETTINGS_KEY,
    TriggerSettings,
    prune_trigger_history,
    trigger_settings,
)
from ansflow_triggers.sources import SOURCES
from ansflow_triggers.views import trigger_error_view, webhook_view

__all__ = ["build_scheduler", "includeme"]


def prune_history(registry: Any, dbsession: Any, now: Any) -> dict[str, int]:
    return prune_trigger_history(dbsession, now, trigger_settings(registry))


def includeme(config: Configurator) -> None:
    config.include("ansflow_cicd")
    config.include("ansflow_triggers.remote")
    settings = config.get_settings()
    mode = str(settings.get("ansflow.scheduler") or "embedded")
    if mode not in SCHEDULER_MODES:
        raise ConfigurationError(
            f"ansflow.scheduler must be one of {', '.join(SCHEDULER_MODES)}, not {mode!r}"
        )
    config.registry[SETTINGS_KEY] = TriggerSettings.from_settings(settings)
    config.add_migrations("ansflow_triggers:migrations")
    config.add_exception_view(trigger_error_view, context=TriggerError)
    config.add_prune_task("triggers", prune_history)

    config.add_api_resource(
        "triggers.webhooks",
        WebhookTriggerCollection,
        path="/api/v1/triggers/webhooks",
        aliases=["/api/v1/pipelines/{pipeline_id}/webhook-triggers"],
        description="Webhook triggers: which signed deliveries start which pipelines.",
    )
    config.add_api_resource(
        "triggers.deliveries",
        WebhookDeliveryCollection,
        path="/api/v1/triggers/deliveries",
        aliases=["/api/v1/pipelines/{pipeline_id}/webhook-deliveries"],
        description="Recent webhook deliveries and what each did (never their payload).",
    )
    config.add_api_resource(
        "triggers.schedules",
        ScheduleCollection,
        path="/api/v1/triggers/schedules",
        aliases=["/api/v1/pipelines/{pipeline_id}/schedules"],
        description="Cron schedules of pipelines.",
    )
    for source_name, source in SOURCES.items():
        endpoint = config.add_api_endpoint(
            f"triggers.webhook.{source_name}",
            f"/api/v1/webhooks/{source_name}",
            webhook_view(source_name),
            methods=["POST"],
            aliases=[f"/webhooks/{source_name}"],
            description=f"Receive a signed {source_name} webhook delivery (202 when accepted).",
            request_schema=DELIVERY_SCHEMAS[source_name],
            response_schema=DeliveryAccepted,
            success_status=202,
            request_headers=source.documented_headers(),
        )
        # The signature authenticates these: no cookie is involved, so no CSRF token.
        exempt_from_csrf(config.registry, endpoint)
    config.add_subscriber(start_scheduler, ApplicationCreated)
