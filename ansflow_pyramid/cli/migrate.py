"""``ansflow migrate CONFIG``: bring the database schema up to date."""

from __future__ import annotations

import argparse

from ansflow_pyramid import migrations
from ansflow_pyramid.cli.bootstrap import load_registry


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.config)
    applied = migrations.upgrade(registry, args.revision)
    for line in applied:
        print(f"applied {line}")
    where = registry["db_engine"].url.render_as_string(hide_password=True)
    if applied:
        count = f"{len(applied)} migration{'s' if len(applied) != 1 else ''}"
        print(f"database at {where} is up to date ({count} applied)")
    else:
        print(f"database at {where} is up to date (nothing to apply)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "migrate", aliases=["initdb"], help="apply the core's and every plugin's migrations"
    )
    parser.add_argument("config", help="the ini file, e.g. development.ini")
    parser.add_argument("--revision", default="heads", help="target revision (default: heads)")
    parser.set_defaults(handler=run)
