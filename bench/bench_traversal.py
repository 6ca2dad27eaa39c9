"""Path resolution cost with 10 and with 1000 registered resources.

Measures the central traverser (root factory + Pyramid's resource tree traverser, the
same code a real request runs) against Pyramid URL dispatch with the same number of
routes, resolving the most recently registered path (URL dispatch's worst case, since
it tries routes in order).  Prints microseconds per lookup and the ratio 1000/10.

    .venv/bin/python bench/bench_traversal.py [--repeat 7] [--number 20000]

Target: the traverser's ratio stays at or below 1.1.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import timeit

from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.traversal import ResourceTreeTraverser

from ansflow_pyramid.api import ModelCollection
from ansflow_pyramid.traversal import root_factory


def make_collection(index: int) -> type[ModelCollection]:
    return type(f"Bench{index}", (ModelCollection,), {})


def traverser_setup(count: int) -> tuple[Request, str]:
    config = Configurator(settings={})
    config.include("ansflow_pyramid.traversal")
    config.include("ansflow_pyramid.api.views")
    for index in range(count):
        # Paths spread over namespaces like real plugins': /api/v1/<area>/<resource>/.
        config.add_api_resource(
            f"bench.r{index}",
            make_collection(index),
            path=f"/api/v1/area{index % 25}/resource{index}",
            aliases=[f"/api/v1/alias{index}"],
        )
    config.commit()
    path = f"/api/v1/area{(count - 1) % 25}/resource{count - 1}/"
    request = Request.blank(path)
    request.registry = config.registry
    return request, path


def traverse_once(request: Request) -> None:
    root = root_factory(request)
    info = ResourceTreeTraverser(root)(request)
    assert info["view_name"] == ""


def dispatch_setup(count: int) -> tuple[Request, object]:
    config = Configurator(settings={})
    for index in range(count):
        config.add_route(f"r{index}", f"/api/v1/area{index % 25}/resource{index}/")
        config.add_route(f"r{index}-item", f"/api/v1/area{index % 25}/resource{index}/{{id}}/")
    config.commit()
    request = Request.blank(f"/api/v1/area{(count - 1) % 25}/resource{count - 1}/")
    request.registry = config.registry
    return request, config.registry.getUtility(IRoutesMapper)


def measure(statement, repeat: int, number: int) -> float:
    """Median microseconds per call over ``repeat`` runs of ``number`` calls."""
    runs = timeit.repeat(statement, repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()

    results: dict[str, dict[int, float]] = {"traverser": {}, "url dispatch": {}}
    for count in (10, 1000):
        request, _ = traverser_setup(count)
        results["traverser"][count] = measure(
            functools.partial(traverse_once, request), args.repeat, args.number
        )
        request, mapper = dispatch_setup(count)
        results["url dispatch"][count] = measure(
            functools.partial(mapper, request), args.repeat, args.number
        )

    print(f"{'resolver':<14} {'10 resources':>14} {'1000 resources':>16} {'ratio 1000/10':>14}")
    for name, timings in results.items():
        ratio = timings[1000] / timings[10]
        print(f"{name:<14} {timings[10]:>11.2f} us {timings[1000]:>13.2f} us {ratio:>14.2f}")
    ratio = results["traverser"][1000] / results["traverser"][10]
    print(f"traverser target ratio <= 1.1: {'met' if ratio <= 1.1 else 'NOT met'} ({ratio:.2f})")


if __name__ == "__main__":
    main()
