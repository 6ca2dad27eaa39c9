"""The engine's settings, read once from the application settings.

=============================== ======================================================
``ansflow.dispatch``            ``threads`` (default: a pool in the serving process),
                                ``rq`` (jobs on Redis for ``ansflow worker``) or
                                ``none`` (executions stay pending: an API-only
                                process, or tests that look at pending executions)
``ansflow.dispatch_threads``    pool size for ``threads`` (4)
``ansflow.rq_queue``            RQ queue name (``<redis_prefix>executions``)
``ansflow.events``              ``memory`` or ``redis`` (default: redis when
                                ``redis.url`` is set)
``ansflow.heartbeat_interval``  seconds between a running execution's heartbeats (5)
``ansflow.heartbeat_timeout``   a running execution without a heartbeat for this long
                                is failed by the reaper (30)
``ansflow.reaper_interval``     seconds between reaper passes (heartbeat_timeout / 3)
``ansflow.reaper``              run the reaper in this process (true)
``ansflow.pending_timeout``     a pending execution that no queue holds any more is
                                failed by the reaper after this long (600)
``ansflow.dispatch_retries``    attempts to queue an execution again when queueing
                                fails (3), before it fails as "could not be queued"
``ansflow.dispatch_retry_delay`` seconds before the first of them, doubling (1)
``ansflow.db_retry_budget``     how long the engine's database calls are retried
                                across a database restart (30 s)
``ansflow.resume_pending``      with ``threads``: run pending executions left by a
                                previous process when the application starts (true)
``ansflow.cancel_poll_interval`` seconds between checks of the stored cancel flag (1)
``ansflow.cancel_grace``        seconds between SIGTERM and SIGKILL (3)
``ansflow.workspace_root``      where execution workspaces are made (a temp folder)
``ansflow.keep_workspaces``     keep workspaces after the run (false)
``ansflow.step_env_passthrough`` variables passed from the server to steps
``ansflow.log_flush_lines``     store a batch once this many lines wait (1000)
``ansflow.log_flush_ms``        ... or once the oldest waited this long (25)
``ansflow.max_streams``         concurrent live streams per process (16)
``ansflow.sse_heartbeat``       seconds between keep-alive comments on streams (15)
``ansflow.stream_max_seconds``  a stream ends after this long; clients resume (3600)
``ansflow.stream_token_ttl``    lifetime of stream tokens in seconds (300)
=============================== ======================================================
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansflow_pyramid.execution.environment import DEFAULT_PASSTHROUGH
from ansflow_pyramid.settings import as_bool, as_list


def _float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    return float(value)


@dataclass(frozen=True)
class EngineSettings:
    dispatch: str = "threads"
    dispatch_threads: int = 4
    rq_queue: str = "ansflow:executions"
    events: str = "memory"
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    reaper_interval: float = 10.0
    reaper: bool = True
    pending_timeout: float = 600.0
    dispatch_retries: int = 3
    dispatch_retry_delay: float = 1.0
    db_retry_budget: float = 30.0
    resume_pending: bool = True
    cancel_poll_interval: float = 1.0
    cancel_grace: float = 3.0
    workspace_root: str = ""
    keep_workspaces: bool = False
    env_passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH
    log_flush_lines: int = 1000
    log_flush_interval: float = 0.025
    max_streams: int = 16
    sse_heartbeat: float = 15.0
    stream_max_seconds: float = 3600.0
    stream_token_ttl: int = 300
    redis_prefix: str = "ansflow:"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> EngineSettings:
        get = settings.get
        prefix = str(get("ansflow.redis_prefix") or "ansflow:")
        redis_configured = bool((get("redis.url") or "").strip())
        heartbeat_timeout = _float(get("ansflow.heartbeat_timeout"), 30.0)
        heartbeat_interval = _float(
            get("ansflow.heartbeat_interval"), min(5.0, heartbeat_timeout / 4)
        )
        passthrough = as_list(get("ansflow.step_env_passthrough"))
        dispatch = str(get("ansflow.dispatch") or "threads").strip().lower()
        events = str(get("ansflow.events") or ("redis" if redis_configured else "memory"))
        if dispatch not in ("threads", "rq", "none"):
            raise ValueError(
                f"ansflow.dispatch must be 'threads', 'rq' or 'none', not {dispatch!r}"
            )
        if events.strip().lower() not in ("memory", "redis"):
            raise ValueError(f"ansflow.events must be 'memory' or 'redis', not {events!r}")
        return cls(
            dispatch=dispatch,
            dispatch_threads=max(1, int(get("ansflow.dispatch_threads") or 4)),
            rq_queue=str(get("ansflow.rq_queue") or f"{prefix}executions"),
            events=events.strip().lower(),
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            reaper_interval=_float(get("ansflow.reaper_interval"), max(0.5, heartbeat_timeout / 3)),
            reaper=as_bool(get("ansflow.reaper"), default=True),
            pending_timeout=_float(get("ansflow.pending_timeout"), 600.0),
            dispatch_retries=max(0, int(get("ansflow.dispatch_retries") or 3)),
            dispatch_retry_delay=_float(get("ansflow.dispatch_retry_delay"), 1.0),
            db_retry_budget=_float(get("ansflow.db_retry_budget"), 30.0),
            resume_pending=as_bool(get("ansflow.resume_pending"), default=True),
            cancel_poll_interval=_float(get("ansflow.cancel_poll_interval"), 1.0),
            cancel_grace=_float(get("ansflow.cancel_grace"), 3.0),
            workspace_root=str(get("ansflow.workspace_root") or ""),
            keep_workspaces=as_bool(get("ansflow.keep_workspaces")),
            env_passthrough=tuple(passthrough) if passthrough else DEFAULT_PASSTHROUGH,
            log_flush_lines=int(get("ansflow.log_flush_lines") or 1000),
            log_flush_interval=_float(get("ansflow.log_flush_ms"), 25.0) / 1000.0,
            max_streams=int(get("ansflow.max_streams") or 16),
            sse_heartbeat=_float(get("ansflow.sse_heartbeat"), 15.0),
            stream_max_seconds=_float(get("ansflow.stream_max_seconds"), 3600.0),
            stream_token_ttl=int(get("ansflow.stream_token_ttl") or 300),
            redis_prefix=prefix,
        )

    def workspace_base(self) -> str:
        return self.workspace_root or os.path.join(tempfile.gettempdir(), "ansflow-workspaces")
