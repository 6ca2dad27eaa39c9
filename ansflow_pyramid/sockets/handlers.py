"""What the execution and monitor sockets say (AnsFlow's message shapes).

Server messages are JSON objects with a ``type``:

* ``connection``: sent first (``message``, ``user``, and the socket's subject);
* ``execution_status``: the execution with its steps and ``total_steps`` /
  ``completed_steps`` - the execution store's snapshot, the same document the SSE
  stream's ``snapshot`` event carries;
* ``log_entry``: one stored log line (``line``, ``timestamp``, ``level``, ``message``,
  ``step_id``, ``step_name``, ``stream``), every line in order, each exactly once;
* ``step_progress``: a step changed (``step_id``, ``step_name``, ``status``, ``output``,
  ``error_message``, ``exit_code``);
* ``execution_update``: the execution's status changed (``status``, ``reason``,
  ``started_at``, ``completed_at``); after a final one the socket closes (1000);
* ``system_status`` and ``recent_executions`` (monitor socket);
* ``pong``, ``subscribed``, ``control_result`` answer the client; ``error``
  (``code``, ``message``) answers a message the server cannot act on - the socket
  stays open.

Client messages: ``{"type": "ping"}``, ``{"type": "get_status"}``, ``{"type":
"subscribe"}``, and on execution sockets ``{"type": "control", "action": "stop"}``
(``"cancel"`` too), which cancels the execution with the permission of ``cancel/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ansflow_pyramid.execution.events import LOG, STATUS, STEP, ExecutionEvent
from ansflow_pyramid.execution.specs import LogLine, is_final
from ansflow_pyramid.sockets import codes
from ansflow_pyramid.sockets.auth import Refused
from ansflow_pyramid.sockets.connection import ConnectionClosed, now_iso

if TYPE_CHECKING:
    from pyramid.request import Request

    from ansflow_pyramid.sockets.service import SocketSession

log = logging.getLogger(__name__)

REPLAY_PAGE = 1000
#: Live events a socket may have waiting before it resynchronises from the store.
INBOX_LIMIT = 2000


class SocketHandler:
    """Base of socket handlers: the guard path that authorizes a socket, and its life.

    ``guard`` is a path template filled with the socket path's captures; a socket may
    open when a GET of that path by the same credentials would be allowed
    ``permission`` (see :mod:`.auth`).
    """

    guard: str
    #: None: any authenticated user (the handler narrows what it shows).
    permission: str | None = "view"

    def guard_path(self, captures: dict[str, Any]) -> str:
        return self.guard.format(**captures)

    def inspect(self, request: Request, context: Any) -> Any:
        """Read what the socket needs while its credentials are checked (in a thread,
        in the read-only transaction of the check)."""
        return None

    async def run(self, session: SocketSession) -> None:
        raise NotImplementedError

    async def on_message(self, session: SocketSession, message: dict[str, Any]) -> bool:
        """Answer a client message; False when this handler does not know its type."""
        return False


# -- one execution --------------------------------------------------------------------
@dataclass
class ExecutionSocket(SocketHandler):
    """The live view of one execution (``/ws/executions/{execution_id}/``).

    :param guard: e.g. ``"/api/v1/cicd/executions/{execution_id}/events/"``.
    :param cancel_path: the path whose POST cancels, e.g.
        ``"/api/v1/cicd/executions/{execution_id}/cancel/"``.
    :param cancel: ``cancel(request, context)`` - the plugin's cancel, run as that POST
        after ``cancel_permission`` was checked on its context; returns the execution.
    """

    guard: str
    cancel_path: str
    cancel: Callable[[Any, Any], Any]
    cancel_permission: str = "run"
    capture: str = "execution_id"

    async def run(self, session: SocketSession) -> None:
        view = _ExecutionView(session, int(session.captures[self.capture]))
        await view.run()

    async def on_message(self, session: SocketSession, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        execution_id = int(session.captures[self.capture])
        if kind == "get_status":
            snapshot = await session.in_thread(session.store.snapshot, execution_id)
            if snapshot is not None:
                await session.send(status_message(snapshot))
            return True
        if kind == "subscribe":
            await session.send({"type": "subscribed", "execution_id": execution_id})
            return True
        if kind in ("control", "execution_control"):
            action = str(message.get("action") or message.get("command") or "").lower()
            if action not in ("stop", "cancel"):
                await session.error("unknown_action", f"Unknown control action {action!r}.")
                return True
            try:
                result = await session.in_thread(
                    session.requests.run_action,
                    session.scope,
                    self.cancel_path.format(**session.captures),
                    self.cancel_permission,
                    self.cancel,
                )
            except Refused as refused:
                await session.error(refused.code, refused.detail)
                return True
            status = result.get("status") if isinstance(result, dict) else None
            await session.send(
                {
                    "type": "control_result",
                    "action": action,
                    "success": True,
                    "execution_id": execution_id,
                    "status": status,
                }
            )
            return True
        return False


def status_message(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {**snapshot, "type": "execution_status", "timestamp": now_iso()}


def log_message(execution_id: int, line: dict[str, Any]) -> dict[str, Any]:
    return {"type": "log_entry", "execution_id": execution_id, **line}


def step_message(execution_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "step_progress",
        "execution_id": execution_id,
        "output": "",
        "error_message": "",
        **data,
        "timestamp": now_iso(),
    }


def update_message(execution_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "execution_update",
        "execution_id": execution_id,
        **data,
        "timestamp": now_iso(),
    }


class _ExecutionView:
    """The state of one execution socket: lines sent so far, events waiting."""

    def __init__(self, session: SocketSession, execution_id: int) -> None:
        self.session = session
        self.execution_id = execution_id
        self.store = session.store
        self.sent = 0
        self.step_names: dict[int, str] = {}
        self.inbox: deque[ExecutionEvent] = deque()
        self.lagged = False
        self.wake = asyncio.Event()

    def on_event(self, event: ExecutionEvent | None, lagged: bool) -> None:
        if lagged or len(self.inbox) >= INBOX_LIMIT:
            # Dropping is safe: the store has every line and state.
            self.lagged = True
            self.inbox.clear()
        if event is not None and not self.lagged:
            self.inbox.append(event)
        self.wake.set()

    async def snapshot(self) -> dict[str, Any] | None:
        snapshot = await self.session.in_thread(self.store.snapshot, self.execution_id)
        if snapshot is not None:
            self.step_names = {
                int(step["step_id"]): step.get("step_name", "")
                for step in snapshot.get("steps", [])
                if step.get("step_id") is not None
            }
        return snapshot

    async def send_lines(self, lines: list[dict[str, Any]]) -> None:
        for line in lines:
            number = int(line["line"])
            if number <= self.sent:
                continue
            await self.session.send(log_message(self.execution_id, line))
            self.sent = number

    async def replay(self) -> None:
        while True:
            lines: list[LogLine] = await self.session.in_thread(
                self.store.read_log_lines, self.execution_id, self.sent, REPLAY_PAGE
            )
            if not lines:
                return
            await self.send_lines(
                [
                    line.as_event_data(self.step_names.get(line.step_id) if line.step_id else None)
                    for line in lines
                ]
            )
            if len(lines) < REPLAY_PAGE:
                return

    async def finish(self, snapshot: dict[str, Any] | None) -> None:
        """The execution is final: every line, the final update, then close."""
        await self.replay()
        if snapshot is not None:
            keys = ("status", "reason", "started_at", "completed_at")
            await self.session.send(
                update_message(self.execution_id, {k: snapshot.get(k) for k in keys})
            )
        await self.session.close_after_commands(codes.NORMAL)

    async def run(self) -> None:
        session = self.session
        # Watch first, then read: whatever changes after the snapshot arrives live, and
        # line numbers drop what the replay already sent.
        unwatch = session.feeds.watch(self.execution_id, self.on_event)
        session.connection.on_close.append(self.wake.set)
        try:
            await session.send(
                {
                    "type": "connection",
                    "message": f"Connected to execution {self.execution_id}",
                    "execution_id": self.execution_id,
                    "user": session.grant.username,
                    "timestamp": now_iso(),
                }
            )
            snapshot = await self.snapshot()
            if snapshot is None:
                await session.error("not_found", "The execution no longer exists.")
                session.close(codes.NORMAL)
                return
            await session.send(status_message(snapshot))
            await self.replay()
            if is_final(snapshot.get("status")):
                await self.finish(snapshot)
                return
            await self.follow()
        except ConnectionClosed:
            return
        finally:
            unwatch()

    async def follow(self) -> None:
        session = self.session
        while not session.connection.closing.is_set():
            if not self.inbox and not self.lagged:
                self.wake.clear()
                await self.wake.wait()
                continue
            if self.lagged:
                self.lagged = False
                snapshot = await self.snapshot()
                if snapshot is not None:
                    await session.send(status_message(snapshot))
                await self.replay()
                if snapshot is None or is_final(snapshot.get("status")):
                    await self.finish(snapshot)
                    return
                continue
            event = self.inbox.popleft()
            if event.kind == LOG:
                lines = event.data.get("lines") or []
                if lines and int(lines[0]["line"]) > self.sent + 1:
                    await self.replay()  # a gap: fill it from the store
                await self.send_lines(lines)
            elif event.kind == STEP:
                step_id = event.data.get("step_id")
                if step_id is not None and event.data.get("step_name"):
                    self.step_names[int(step_id)] = str(event.data["step_name"])
                await session.send(step_message(self.execution_id, event.data))
            elif event.kind == STATUS:
                status = event.data.get("status")
                if is_final(status):
                    # The engine stores every line before the final status.
                    await self.replay()
                    await session.send(update_message(self.execution_id, event.data))
                    await session.close_after_commands(codes.NORMAL)
                    return
                await session.send(update_message(self.execution_id, event.data))


# -- every execution ------------------------------------------------------------------
@dataclass
class MonitorState:
    """What a monitor socket may see, read with its credentials."""

    visible_projects: set[int] | None
    system_status: dict[str, Any]
    recent_executions: list[dict[str, Any]]


@dataclass
class MonitorSocket(SocketHandler):
    """The dashboard socket (``/ws/monitor/``): ``system_status`` and
    ``recent_executions`` for what the user may see, then every visible execution's
    ``execution_update`` and ``step_progress``.

    :param guard: e.g. ``"/api/v1/cicd/events/"``.
    :param read: ``read(request) -> MonitorState``, run with the socket's credentials
        (at connect, on ``get_status`` and every ``ansflow.socket_status_interval``).
    :param project_of: ``project_of(execution_id) -> project id`` for events that do
        not carry one.
    """

    guard: str
    read: Callable[[Any], MonitorState]
    project_of: Callable[[int], int | None] | None = None
    permission: str | None = None

    def inspect(self, request: Request, context: Any) -> MonitorState:
        return self.read(request)

    async def send_state(self, session: SocketSession, state: MonitorState) -> None:
        await session.send(
            {
                "type": "system_status",
                **state.system_status,
                "connections": session.hub.count(),
                "timestamp": now_iso(),
            }
        )
        await session.send(
            {
                "type": "recent_executions",
                "executions": state.recent_executions,
                "timestamp": now_iso(),
            }
        )

    async def run(self, session: SocketSession) -> None:
        state: MonitorState = session.state
        projects: dict[int, int | None] = {}
        pending: deque[ExecutionEvent] = deque()
        wake = asyncio.Event()
        lagged = False

        def on_event(event: ExecutionEvent | None, was_lagged: bool) -> None:
            nonlocal lagged
            if was_lagged or len(pending) >= INBOX_LIMIT:
                lagged = True
                pending.clear()
            if event is not None and event.kind in (STATUS, STEP):
                pending.append(event)
            wake.set()

        unwatch = session.feeds.watch(None, on_event)
        session.connection.on_close.append(wake.set)
        try:
            await session.send(
                {
                    "type": "connection",
                    "message": "Connected to the execution monitor",
                    "user": session.grant.username,
                    "timestamp": now_iso(),
                }
            )
            await self.send_state(session, state)
            loop = asyncio.get_running_loop()
            next_status = loop.time() + session.settings.status_interval
            while not session.connection.closing.is_set():
                if not pending and not lagged:
                    wake.clear()
                    timeout = max(0.0, next_status - loop.time())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout)
                if loop.time() >= next_status or lagged:
                    lagged = False
                    state = session.state = await session.reread()
                    await self.send_state(session, state)
                    next_status = loop.time() + session.settings.status_interval
                    continue
                while pending:
                    event = pending.popleft()
                    if not await self._visible(session, state, projects, event):
                        continue
                    data = {"execution_id": event.execution_id, **event.data}
                    if event.kind == STATUS:
                        await session.send(update_message(event.execution_id, data))
                    else:
                        await session.send(step_message(event.execution_id, data))
        except ConnectionClosed:
            return
        finally:
            unwatch()

    async def _visible(
        self,
        session: SocketSession,
        state: MonitorState,
        projects: dict[int, int | None],
        event: ExecutionEvent,
    ) -> bool:
        if state.visible_projects is None:
            return True
        project_id = event.data.get("project_id")
        if project_id is None and self.project_of is not None:
            if event.execution_id not in projects:
                if len(projects) > 10_000:
                    projects.clear()
                projects[event.execution_id] = await session.in_thread(
                    self.project_of, event.execution_id
                )
            project_id = projects[event.execution_id]
        return project_id in state.visible_projects

    async def on_message(self, session: SocketSession, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "get_status":
            session.state = await session.reread()
            await self.send_state(session, session.state)
            return True
        if kind == "subscribe":
            await session.send({"type": "subscribed", "scope": "monitor"})
            return True
        return False
