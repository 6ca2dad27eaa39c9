"""The ``ansflow`` command: ``ansflow <command> CONFIG [options]``.

Each command lives in a module of this package with a ``register(subparsers)``
function; ``COMMAND_MODULES`` lists them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "ansflow_pyramid.cli.migrate",
    "ansflow_pyramid.cli.paths",
    "ansflow_pyramid.cli.revision",
    "ansflow_pyramid.cli.users",
    "ansflow_pyramid.cli.sessions",
    "ansflow_pyramid.cli.worker",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ansflow", description="AnsFlow API administration.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CommandError as error:
        print(f"ansflow {args.command}: {error}", file=sys.stderr)
        return 2


class CommandError(Exception):
    """A failure the command reports in one line, exiting with status 2."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
