"""Dispatch: where executions run.

* ``threads`` (the default, embedded): a bounded pool of worker threads in the
  serving process.  No Redis needed; executions queued in a process that stops are
  lost with it (they stay pending).
* ``rq``: an RQ job per execution on Redis, run by ``ansflow worker CONFIG`` processes
  on any number of machines.
* ``none``: nothing runs here; executions stay pending (an API-only process, or a
  test suite that looks at pending executions).

The API submits *after* its transaction commits (:func:`submit_after_commit`), so a
worker never looks for an execution that is not visible yet.
"""

from __future__ import annotations

import abc
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

#: The RQ job function, by dotted name (workers import it; the server need not).
JOB_FUNCTION = "ansflow_pyramid.execution.jobs.run_execution"


class Dispatcher(abc.ABC):
    """Sends executions to whatever runs them."""

    @abc.abstractmethod
    def submit(self, execution_id: int) -> None:
        """Queue a pending execution to run.  Raises if it cannot be queued."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Stop accepting work and release resources."""

    def is_queued(self, execution_id: int) -> bool | None:
        """Whether ``execution_id`` waits in (or runs from) this dispatcher's queue:
        True, False, or None when it cannot tell (the reaper then leaves it alone)."""
        return None


class NullDispatcher(Dispatcher):
    """``ansflow.dispatch = none``: executions are stored and left pending."""

    def submit(self, execution_id: int) -> None:
        log.debug("dispatch is off; execution %s stays pending", execution_id)


class ThreadDispatcher(Dispatcher):
    """A bounded pool of threads in this process (``ansflow.dispatch_threads``)."""

    def __init__(self, run: Callable[[int], Any], size: int) -> None:
        self._run = run
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ansflow-exec")
        self._lock = threading.Lock()
        self._queued: set[int] = set()
        self.closed = False

    def _guarded_run(self, execution_id: int) -> None:
        try:
            self._run(execution_id)
        except Exception:
            log.exception("execution %s failed outside the engine", execution_id)
        finally:
            with self._lock:
                self._queued.discard(execution_id)

    def submit(self, execution_id: int) -> None:
        with self._lock:
            if self.closed:
                raise RuntimeError("the dispatcher is closed")
            self._executor.submit(self._guarded_run, execution_id)
            self._queued.add(execution_id)

    def is_queued(self, execution_id: int) -> bool | None:
        # Only this process's queue is known; another process's pool is not, so the
        # reaper's pending timeout must exceed the longest wait in any pool.
        with self._lock:
            return execution_id in self._queued

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)


class RQDispatcher(Dispatcher):
    """One RQ job per execution on ``queue_name``; ``ansflow worker`` runs them."""

    def __init__(self, connection: Any, queue_name: str) -> None:
        from rq import Queue

        self.queue = Queue(queue_name, connection=connection)

    def job_id(self, execution_id: int) -> str:
        """A job id per execution, so the reaper can ask whether it is still queued."""
        queue = re.sub(r"[^A-Za-z0-9_-]", "-", self.queue.name)
        return f"{queue}-execution-{int(execution_id)}"

    def is_queued(self, execution_id: int) -> bool | None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(self.job_id(execution_id), connection=self.queue.connection)
            status = job.get_status(refresh=False)
        except NoSuchJobError:
            return False
        except Exception:  # Redis unreachable: cannot tell
            log.debug("cannot tell whether execution %s is queued", execution_id, exc_info=True)
            return None
        return str(getattr(status, "value", status)) in {
            "queued",
            "started",
            "deferred",
            "scheduled",
        }

    def submit(self, execution_id: int) -> None:
        self.queue.enqueue_call(
            JOB_FUNCTION,
            args=(int(execution_id),),
            job_id=self.job_id(execution_id),
            # The engine enforces each step's timeout; RQ's job timeout would kill a
            # long pipeline without leaving its steps in a final state.
            timeout=-1,
            result_ttl=0,
            failure_ttl=24 * 3600,
            description=f"ansflow execution {execution_id}",
        )


def submit_after_commit(request: Any, execution_id: int) -> None:
    """Dispatch ``execution_id`` once the request's transaction commits."""
    from ansflow_pyramid.execution.runtime import get_runtime

    runtime = get_runtime(request.registry)
    _after_commit(request, lambda: runtime.submit(execution_id))


def cancel_after_commit(request: Any, execution_id: int, by: str | None = None) -> None:
    """Tell the engine running ``execution_id`` to cancel it, after the commit that
    stored the cancel request (the stored flag is the fallback if the message is
    lost).  ``by`` names who asked, for the log."""
    from ansflow_pyramid.execution.runtime import get_runtime

    runtime = get_runtime(request.registry)
    _after_commit(request, lambda: runtime.cancel(execution_id, by))


def publish_after_commit(request: Any, event: Any) -> None:
    """Publish an execution event once the change it announces is committed."""
    from ansflow_pyramid.execution.runtime import get_runtime

    runtime = get_runtime(request.registry)
    _after_commit(request, lambda: runtime.publish(event))


def _after_commit(request: Any, action: Callable[[], None]) -> None:
    manager = getattr(request, "tm", None)
    current = None
    if manager is not None:
        try:
            current = manager.get()
        except Exception:  # no transaction begun (explicit manager outside a request)
            current = None
    if current is None:
        action()
        return

    def hook(committed: bool) -> None:
        if committed:
            try:
                action()
            except Exception:
                log.exception("after-commit execution action failed")

    current.addAfterCommitHook(hook)
