"""The ``quality_gate`` step runner: reads a coverage figure, passes or fails the step.

The step's ``command`` names a file in the execution's workspace (default
``coverage.txt``) whose first line is a percentage such as ``87.5`` (what a previous
step wrote); ``MIN_COVERAGE`` in the step's environment is the threshold (default 80).
It runs in-process: nothing to start, nothing to kill.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from ansflow_pyramid.execution import StepContext, StepOutcome, StepRunner


class QualityGateRunner(StepRunner):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.exit_code: int | None = None
        self.error: str | None = None
        self.cancelled = threading.Event()

    def prepare(self, context: StepContext) -> None:
        self.context = context
        name = context.step.command.strip() or "coverage.txt"
        self.path = (context.workspace / name).resolve()
        # A coverage file outside the workspace is refused before anything runs.
        if not self.path.is_relative_to(context.workspace.resolve()):
            raise ValueError(f"{name!r} is outside the execution's workspace")
        self.minimum = float(context.environment.get("MIN_COVERAGE", "80"))

    def start(self) -> None:
        try:
            first = Path(self.path).read_text(encoding="utf-8").splitlines()[0]
            coverage = float(first.strip().rstrip("%"))
        except (OSError, IndexError, ValueError) as error:
            self.lines.append(f"cannot read a coverage figure from {self.path.name}: {error}")
            self.exit_code, self.error = 2, "no coverage figure"
            return
        verdict = "passed" if coverage >= self.minimum else "failed"
        self.lines.append(f"coverage {coverage:.2f}% (minimum {self.minimum:.2f}%): {verdict}")
        self.exit_code = 0 if verdict == "passed" else 1
        if verdict == "failed":
            self.error = "coverage below the minimum"

    def stream_output(self) -> Iterator[str]:
        for line in self.lines:
            if self.cancelled.is_set():
                return
            yield line

    def wait(self, timeout: float | None = None) -> StepOutcome:
        return StepOutcome(exit_code=self.exit_code, error=self.error)

    def cancel(self) -> None:
        self.cancelled.set()

    def cleanup(self) -> None:
        self.lines.clear()
