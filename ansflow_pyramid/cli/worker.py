"""``ansflow worker CONFIG``: run executions from the RQ queue (``ansflow.dispatch = rq``).

Start as many as you like, on any machine that reaches the database and Redis.
Each worker runs one execution at a time in its own process (RQ's SimpleWorker: no
fork per job, so the engine's threads and connections stay valid) and runs the
heartbeat reaper, which fails executions whose worker died.  SIGTERM stops the
worker after the current execution (RQ's warm shutdown); a second SIGTERM stops it
at once, and the engine then ends the execution as failed.
"""

from __future__ import annotations

import argparse
import logging

from ansflow_pyramid.cli import CommandError
from ansflow_pyramid.cli.bootstrap import load_registry

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    import redis
    from rq import SimpleWorker

    from ansflow_pyramid.execution import jobs
    from ansflow_pyramid.execution.runtime import get_runtime
    from ansflow_pyramid.redis_client import get_redis

    registry = load_registry(args.config)
    client = get_redis(registry)
    if client is None:
        raise CommandError("a worker needs Redis: set redis.url in the ini file or REDIS_URL")
    runtime = get_runtime(registry)
    queue_name = args.queue or runtime.settings.rq_queue
    runtime.store  # noqa: B018 - fail now, not at the first job, when no store is configured
    jobs.bind_registry(registry)
    runtime.engine  # noqa: B018 - listen for cancel messages from the start
    if runtime.settings.reaper:
        runtime.start_reaper()
    # Remote runs are observed by the workers' schedulers (one observer per run).
    runtime.start_remote_observer(in_worker=True)
    # The shared client's short socket timeout would break RQ's long blocking
    # dequeue, so RQ gets a connection of its own.
    connection = redis.Redis.from_url(registry.settings["redis.url"], socket_connect_timeout=5)
    worker = SimpleWorker([queue_name], connection=connection, name=args.name)
    log.info("worker %s listening on queue %s", worker.name, queue_name)
    try:
        worker.work(burst=args.burst, logging_level=args.log_level, with_scheduler=False)
    finally:
        runtime.close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run executions queued on Redis (RQ)")
    parser.add_argument("config", help="the ini file, e.g. production.ini")
    parser.add_argument("--queue", default=None, help="queue name (default: ansflow.rq_queue)")
    parser.add_argument("--name", default=None, help="worker name (default: RQ's)")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--log-level", default="INFO", help="RQ's logging level")
    parser.set_defaults(handler=run)
