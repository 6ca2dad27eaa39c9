"""An Ansible callback that records task and host results as JSON lines.

Ansible loads this file itself (``ANSIBLE_CALLBACK_PLUGINS`` names this folder and
``ANSIBLE_CALLBACKS_ENABLED`` enables ``ansflow_events``); it never imports the rest
of the plugin.  It writes one JSON object per line to the file named by the
``ANSFLOW_ANSIBLE_EVENTS`` environment variable, next to the human-readable output of
the default stdout callback, which the engine streams as the step's log.

Only what the run record needs is written: host, task, status, ``changed``, a short
message and the return code.  Module arguments (``invocation``) are never written,
because they may hold secrets; facts are written only when ``ANSFLOW_ANSIBLE_FACTS``
is set (the fact-gathering action asks for them).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: ansflow_events
    type: notification
    short_description: records task and host results as JSON lines for AnsFlow
    description:
      - Writes one JSON object per task result to the file in ANSFLOW_ANSIBLE_EVENTS.
    requirements:
      - enable in configuration
"""

MAX_MESSAGE = 2000


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "ansflow_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        path = os.environ.get("ANSFLOW_ANSIBLE_EVENTS")
        self._out = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._facts = bool(os.environ.get("ANSFLOW_ANSIBLE_FACTS"))

    def _write(self, event: dict[str, Any]) -> None:
        if self._out is None:
            return
        self._out.write(json.dumps(event, default=str) + "\n")
        self._out.flush()

    def _result(self, status: str, result: Any) -> None:
        data = result._result if isinstance(getattr(result, "_result", None), dict) else {}
        message = data.get("msg") or data.get("stderr") or data.get("reason") or ""
        if not isinstance(message, str):
            message = json.dumps(message, default=str)
        event: dict[str, Any] = {
            "event": "result",
            "status": status,
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "changed": bool(data.get("changed")),
            "message": message[:MAX_MESSAGE],
            "rc": data.get("rc"),
        }
        if self._facts and isinstance(data.get("ansible_facts"), dict):
            event["facts"] = data["ansible_facts"]
        self._write(event)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._write({"event": "task_start", "task": task.get_name()})

    def v2_runner_on_ok(self, result: Any) -> None:
        self._result("ok", result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result("unreachable", result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result("skipped", result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {
                key: int(summary.get(key, 0))
                for key in (
                    "ok",
                    "changed",
                    "failures",
                    "unreachable",
                    "skipped",
                    "rescued",
                    "ignored",
                )
            }
        self._write({"event": "stats", "hosts": hosts})
        if self._out is not None:
            self._out.close()
            self._out = None
