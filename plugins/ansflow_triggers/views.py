"""The inbound webhook endpoints and the JSON rendering of the plugin's refusals.

``POST /api/v1/webhooks/{github,gitlab,jenkins,generic}/`` (also at the original
``/webhooks/...`` paths) are public: the signature is the authentication, so they
need no session or token and are exempt from CSRF (through the core's
``exempt_from_csrf``, which only ever applies to contexts declared exempt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ansflow_cicd.secrets import get_secret_box
from pyramid.request import Request
from pyramid.response import Response

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.db import session_scope
from ansflow_triggers.clock import get_clock
from ansflow_triggers.executions import start_pipeline
from ansflow_triggers.interfaces import Actor, DeliveryRejected, TriggerError
from ansflow_triggers.remote import locate_remote_runs, nudge_after_commit
from ansflow_triggers.services import (
    RemoteRuns,
    WebhookService,
    record_rejected_deliveries,
    trigger_settings,
)
from ansflow_triggers.sources import SOURCES

log = logging.getLogger(__name__)


def webhook_service(request: Request, source_name: str) -> WebhookService:
    registry = request.registry

    def start(dbsession: Any, pipeline: Any, **options: Any) -> int:
        return start_pipeline(dbsession, registry, pipeline, **options)

    return WebhookService(
        request.dbsession,
        Actor.system(f"webhook:{source_name}"),
        decrypt=get_secret_box(registry).decrypt,
        start=start,
        remote_runs=RemoteRuns(
            lambda dbsession, ref, projects: locate_remote_runs(registry, dbsession, ref, projects),
            lambda dbsession, ids: nudge_after_commit(registry, dbsession, ids),
        ),
        settings=trigger_settings(registry),
        clock=get_clock(registry),
    )


def webhook_view(source_name: str) -> Callable[[Any, Request], dict[str, Any]]:
    source = SOURCES[source_name]

    def receive(context: Any, request: Request) -> dict[str, Any]:
        service = webhook_service(request, source_name)
        # Size and media type are checked before the body is read.
        service.check_envelope(source, request.content_type or "", request.content_length)
        outcome = service.receive(
            source_name, request.headers, request.body, request.content_type or ""
        )
        request.response.status = 202
        return outcome.as_json()

    receive.__doc__ = f"Receive a signed {source_name} webhook delivery."
    return receive


def trigger_error_view(exc: TriggerError, request: Request) -> Response:
    """Render a refusal; refused deliveries join their triggers' history afterwards."""
    if isinstance(exc, DeliveryRejected) and exc.rejections:
        rejections, registry = exc.rejections, request.registry

        def record(request: Request) -> None:
            # After the request's transaction ended (aborted): on SQLite a second
            # writer could not begin while it held the lock.
            try:
                with session_scope(registry["dbsession_factory"]) as dbsession:
                    record_rejected_deliveries(
                        dbsession,
                        rejections,
                        get_clock(registry)(),
                        trigger_settings(registry).rejections_per_minute,
                    )
            except Exception:
                log.warning("recording a refused webhook delivery failed", exc_info=True)

        request.add_finished_callback(record)
    return error_response(exc.status, exc.detail, exc.code, exc.errors)
