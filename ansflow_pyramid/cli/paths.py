"""``ansflow paths CONFIG``: every canonical path, its aliases, plugin and views."""

from __future__ import annotations

import argparse
import json

from ansflow_pyramid.cli.bootstrap import load_registry
from ansflow_pyramid.traversal.introspection import describe_resources


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.config, log=False)
    described = describe_resources(registry)
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    for resource in described:
        print(f"{resource['path']}  [{resource['name']}, plugin {resource['plugin']}]")
        for alias in resource["aliases"]:
            note = " (deprecated)" if alias["deprecated"] else ""
            filters = f" filters {', '.join(alias['filters'])}" if alias["filters"] else ""
            print(f"    alias {alias['path']}{filters}{note}")
        if resource.get("protocol") == "websocket":
            print(f"    {'WEBSOCKET':<24} {resource['path']}  (authorized per socket)")
            continue
        for view in resource["views"]:
            print(f"    {' '.join(view['methods']):<24} {view['path']}  ({view['permission']})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("paths", help="list every API path, alias, plugin and view")
    parser.add_argument("config", help="the ini file, e.g. development.ini")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)
