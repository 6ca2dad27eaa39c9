"""The remote run store over ``remote_runs`` and the cicd plugin's tables.

Shows: a plugin implementing a core interface (:class:`RemoteRunStore`) whose key
method writes two plugins' tables in one transaction - the new log lines into
``cicd_execution_log_lines`` and the log offsets they advance to into
``remote_runs`` - conditional on the caller still holding the run's lease.  That one
transaction is why a restarted observer neither loses nor repeats a line.

Leases are conditional updates (``WHERE lease_owner IS NULL OR lease_owner = :me OR
lease_until < :now``): on PostgreSQL a concurrent claim of the same row waits for the
first and then re-checks the condition, on SQLite writers are serialised, so a run
has one observer however many processes poll.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ansflow_cicd.models import Execution, ExecutionLogLine, Tool
from ansflow_cicd.secrets import get_secret_box
from sqlalchemy import and_, func, insert, or_, select, update

from ansflow_pyramid.db import SQLITE_IMMEDIATE_OPTION, utcnow
from ansflow_pyramid.execution.remote import HYBRID, REMOTE, RemoteTarget, RemoteTool
from ansflow_pyramid.execution.remote_store import (
    FINISHED,
    NewLine,
    RemoteRun,
    RemoteRunStore,
)
from ansflow_pyramid.execution.specs import LogLine
from ansflow_remote.models import PipelineToolMapping, RemoteRunRecord

_runs = RemoteRunRecord.__table__
_executions = Execution.__table__
_lines = ExecutionLogLine.__table__

#: Tool types that never run remotely.
LOCAL_TOOL_TYPES = frozenset({"local"})


def execution_mode(definition: dict[str, Any], trigger_data: dict[str, Any]) -> str:
    """The mode an execution runs in: a trigger's override, else its pipeline's."""
    override = (trigger_data or {}).get("execution_mode")
    if override in (REMOTE, HYBRID, "local"):
        return str(override)
    return str(((definition or {}).get("pipeline") or {}).get("execution_mode") or "local")


class SqlRemoteRunStore(RemoteRunStore):
    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.engine = registry["db_engine"]
        # Transactions that read and then write take SQLite's write lock up front: a
        # deferred one cannot upgrade once another writer committed (PostgreSQL
        # ignores the option).
        self.writer = self.engine.execution_options(**{SQLITE_IMMEDIATE_OPTION: True})

    # -- targets and tools -------------------------------------------------------------
    def remote_target(self, execution_id: int) -> RemoteTarget | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(
                    _executions.c.definition,
                    _executions.c.trigger_data,
                    _executions.c.cicd_tool_id,
                    _executions.c.pipeline_id,
                ).where(_executions.c.id == execution_id)
            ).first()
            if row is None or row.cicd_tool_id is None:
                return None
            mode = execution_mode(row.definition, row.trigger_data)
            tool = (row.definition or {}).get("tool") or {}
            tool_type = str(tool.get("tool_type") or "")
            if mode not in (REMOTE, HYBRID) or not tool_type or tool_type in LOCAL_TOOL_TYPES:
                return None
            mapping = connection.execute(
                select(PipelineToolMapping.job_name, PipelineToolMapping.job_config).where(
                    PipelineToolMapping.pipeline_id == row.pipeline_id,
                    PipelineToolMapping.tool_id == row.cicd_tool_id,
                )
            ).first()
        pipeline = (row.definition or {}).get("pipeline") or {}
        job_config = dict(pipeline.get("tool_job_config") or {})
        job_name = str(pipeline.get("tool_job_name") or "")
        if mapping is not None:
            job_config.update(mapping.job_config or {})
            job_name = mapping.job_name or job_name
        trigger_data = row.trigger_data or {}
        if trigger_data.get("job_name"):
            job_name = str(trigger_data["job_name"])
        if trigger_data.get("external_build"):
            # An existing remote job is triggered as it is: no definition is written.
            job_config["sync"] = False
        if isinstance(trigger_data.get("job_config"), dict):
            job_config.update(trigger_data["job_config"])
        return RemoteTarget(
            tool_id=int(row.cicd_tool_id),
            tool_type=tool_type,
            mode=mode,
            job_name=job_name,
            job_config=job_config,
        )

    def load_tool(self, tool_id: int) -> RemoteTool | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(Tool.__table__).where(Tool.id == tool_id)).first()
        if row is None:
            return None
        token = ""
        if row.token_encrypted:
            token = get_secret_box(self.registry).decrypt(row.token_encrypted)
        return RemoteTool(
            tool_id=row.id,
            tool_type=row.tool_type,
            base_url=row.base_url,
            username=row.username,
            token=token,
            config=dict(row.config or {}),
            project_id=row.project_id,
            name=row.name,
        )

    # -- rows ----------------------------------------------------------------------------
    @staticmethod
    def _to_run(row: Any) -> RemoteRun:
        run = RemoteRun(
            execution_id=row.execution_id,
            target=RemoteTarget(
                tool_id=row.tool_id,
                tool_type=row.tool_type,
                mode=row.mode,
                job_name=row.job_name,
                job_config=dict(row.job_config or {}),
            ),
            dispatch_token=row.dispatch_token,
            phase=row.phase,
            remote_status=row.remote_status,
            failures=row.failures,
            failing_since=row.failing_since,
            cancel_sent_at=row.cancel_sent_at,
            finished_at=row.finished_at,
            next_poll_at=row.next_poll_at,
            version=row.version,
        )
        run.load_state_json(row.state or {})
        if "status" in row._fields:
            run.execution_status = row.status
            run.cancel_requested = bool(row.cancel_requested)
        return run

    def create(self, run: RemoteRun, owner: str, lease_until: dt.datetime) -> bool:
        now = utcnow()
        with self.writer.begin() as connection:
            exists = connection.scalar(
                select(_runs.c.execution_id).where(_runs.c.execution_id == run.execution_id)
            )
            if exists is not None:
                return False
            connection.execute(
                insert(_runs).values(
                    execution_id=run.execution_id,
                    tool_id=run.target.tool_id,
                    tool_type=run.target.tool_type,
                    mode=run.target.mode,
                    job_name=run.target.job_name[:255],
                    job_config=run.target.job_config,
                    dispatch_token=run.dispatch_token,
                    phase=run.phase,
                    external_id="",
                    external_url="",
                    remote_status="",
                    state=run.state_json(),
                    failures=0,
                    last_error="",
                    next_poll_at=run.next_poll_at or now,
                    lease_owner=owner,
                    lease_until=lease_until,
                    version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        return True

    def _select_runs(self) -> Any:
        return select(_runs, _executions.c.status, _executions.c.cancel_requested).join(
            _executions, _executions.c.id == _runs.c.execution_id
        )

    def claim_due(
        self, owner: str, now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[RemoteRun]:
        free = or_(
            _runs.c.lease_owner.is_(None),
            _runs.c.lease_owner == owner,
            _runs.c.lease_until < now,
        )
        candidates = (
            select(_runs.c.execution_id)
            .where(
                _runs.c.phase != FINISHED,
                or_(and_(_runs.c.next_poll_at <= now, free), _runs.c.lease_until < now),
            )
            .order_by(_runs.c.next_poll_at)
            .limit(limit)
        )
        with self.writer.begin() as connection:
            ids = list(connection.scalars(candidates))
            if not ids:
                return []
            claimed = list(
                connection.scalars(
                    update(_runs)
                    .where(_runs.c.execution_id.in_(ids), _runs.c.phase != FINISHED, free)
                    .values(lease_owner=owner, lease_until=lease_until)
                    .returning(_runs.c.execution_id)
                )
            )
            if not claimed:
                return []
            rows = connection.execute(
                self._select_runs()
                .where(_runs.c.execution_id.in_(claimed))
                .order_by(_runs.c.next_poll_at)
            ).all()
        return [self._to_run(row) for row in rows]

    def renew(self, owner: str, lease_until: dt.datetime) -> list[int]:
        with self.writer.begin() as connection:
            return list(
                connection.scalars(
                    update(_runs)
                    .where(_runs.c.lease_owner == owner, _runs.c.phase != FINISHED)
                    .values(lease_until=lease_until)
                    .returning(_runs.c.execution_id)
                )
            )

    def release(self, owner: str, execution_ids: Sequence[int]) -> None:
        if not execution_ids:
            return
        with self.writer.begin() as connection:
            connection.execute(
                update(_runs)
                .where(_runs.c.lease_owner == owner, _runs.c.execution_id.in_(list(execution_ids)))
                .values(lease_owner=None, lease_until=None)
            )

    def save(
        self,
        owner: str,
        run: RemoteRun,
        lines: Sequence[NewLine],
        next_poll_at: dt.datetime | None,
        lease_until: dt.datetime,
    ) -> list[LogLine] | None:
        now = utcnow()
        finished = run.phase == FINISHED
        handle = run.handle
        values = {
            "phase": run.phase,
            "external_id": (handle.external_id if handle else "")[:255],
            "external_url": (handle.external_url if handle else "")[:500],
            "remote_status": (run.remote_status or "")[:32],
            "state": run.state_json(),
            "failures": run.failures,
            "failing_since": run.failing_since,
            "last_error": run.last_error,
            "cancel_sent_at": run.cancel_sent_at,
            "finished_at": run.finished_at,
            "next_poll_at": next_poll_at,
            "lease_owner": None if finished else owner,
            "lease_until": None if finished else lease_until,
            "version": run.version + 1,
            "updated_at": now,
        }
        with self.writer.begin() as connection:
            saved = connection.execute(
                update(_runs)
                .where(
                    _runs.c.execution_id == run.execution_id,
                    _runs.c.lease_owner == owner,
                    _runs.c.version == run.version,
                )
                .values(**values)
                .returning(_runs.c.execution_id)
            ).first()
            if saved is None:
                connection.rollback()
                return None
            run.version += 1
            if not lines:
                return []
            last = connection.scalar(
                select(func.coalesce(func.max(_lines.c.number), 0)).where(
                    _lines.c.execution_id == run.execution_id
                )
            )
            stored = [
                LogLine(last + index, line.step_id, line.text.replace("\x00", ""), now, line.stream)
                for index, line in enumerate(lines, start=1)
            ]
            connection.execute(
                insert(_lines),
                [
                    {
                        "execution_id": run.execution_id,
                        "number": line.number,
                        "step_execution_id": line.step_id,
                        "stream": line.stream,
                        "text": line.text,
                        "created_at": now,
                    }
                    for line in stored
                ],
            )
        return stored

    def nudge(self, execution_id: int) -> bool:
        with self.writer.begin() as connection:
            result = connection.execute(
                update(_runs)
                .where(_runs.c.execution_id == execution_id, _runs.c.phase != FINISHED)
                .values(next_poll_at=utcnow())
            )
        return result.rowcount == 1

    def get(self, execution_id: int) -> RemoteRun | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                self._select_runs().where(_runs.c.execution_id == execution_id)
            ).first()
        return None if row is None else self._to_run(row)

    def active_count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count()).select_from(_runs).where(_runs.c.phase != FINISHED)
                )
                or 0
            )
