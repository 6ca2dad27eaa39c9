"""``ansflow revision CONFIG PACKAGE -m MESSAGE``: write a migration for one package.

For developers: migrate a scratch database to every head, change the models, then run
this to autogenerate the next script on the package's own branch.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from alembic.util import CommandError as AlembicCommandError

from ansflow_pyramid import migrations
from ansflow_pyramid.cli import CommandError
from ansflow_pyramid.cli.bootstrap import load_registry


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.config)
    try:
        folder = Path(str(files(args.package))) / (
            "migrations/versions" if args.package == "ansflow_pyramid" else "migrations"
        )
    except ModuleNotFoundError:
        raise CommandError(f"no package named {args.package!r}") from None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        written = migrations.make_revision(registry, args.package, args.message, str(folder))
    except (ValueError, AlembicCommandError) as error:
        # "Target database is not up to date" and the like: one line, not a traceback.
        raise CommandError(str(error)) from None
    print(f"wrote {written}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("revision", help="autogenerate a migration for one package")
    parser.add_argument("config", help="an ini file pointing at a database at every head")
    parser.add_argument(
        "package", help="ansflow_pyramid or a plugin package, e.g. ansflow_projects"
    )
    parser.add_argument("-m", "--message", required=True, help="what the migration does")
    parser.set_defaults(handler=run)
