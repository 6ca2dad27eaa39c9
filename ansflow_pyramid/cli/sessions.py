"""``ansflow prune-sessions CONFIG``: delete expired sessions, refresh tokens and
old failed-login records, then run the prune tasks plugins registered.  Run it from
cron (daily is plenty)."""

from __future__ import annotations

import argparse

from sqlalchemy import delete

from ansflow_pyramid.cli.bootstrap import load_registry
from ansflow_pyramid.db import session_scope, utcnow
from ansflow_pyramid.identity.models import RefreshToken
from ansflow_pyramid.identity.throttle import DatabaseLoginThrottle, ThrottleConfig
from ansflow_pyramid.pruning import prune_tasks
from ansflow_pyramid.sessions import get_session_store


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.config)
    store = get_session_store(registry)
    throttle = DatabaseLoginThrottle(ThrottleConfig.from_settings(registry.settings))
    with session_scope(registry["dbsession_factory"]) as dbsession:
        now = utcnow()
        sessions = store.prune(dbsession, now)
        tokens = dbsession.execute(
            delete(RefreshToken).where(RefreshToken.expires_at <= now)
        ).rowcount
        failures = throttle.prune(dbsession)
    print(
        f"removed {sessions} expired sessions, {tokens} expired refresh tokens, "
        f"{failures} old failed-login records"
    )
    # Plugins' history (webhook deliveries...), each task in its own transaction.
    for name, task in prune_tasks(registry).items():
        with session_scope(registry["dbsession_factory"]) as dbsession:
            removed = task(registry, dbsession, utcnow())
        counts = ", ".join(f"{count} {kind}" for kind, count in removed.items())
        print(f"{name}: removed {counts or 'nothing'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prune-sessions", help="delete expired sessions, refresh tokens and login failures"
    )
    parser.add_argument("config", help="the ini file, e.g. development.ini")
    parser.set_defaults(handler=run)
