"""A plugin declaring a step type and registering its runner."""

from __future__ import annotations

from typing import Any

from ansflow_pyramid.execution import StepRunner


class ExoticRunner(StepRunner):
    """Never runs anything: only its registration matters here."""

    def prepare(self, context: Any) -> None: ...
    def start(self) -> None: ...
    def stream_output(self) -> Any:
        return iter(())

    def wait(self, timeout: float | None = None) -> Any: ...
    def cancel(self) -> None: ...
    def cleanup(self) -> None: ...


def includeme(config: Any) -> None:
    config.include("ansflow_pipelines")
    config.add_step_type("exotic", label="Exotic")
    config.add_step_runner(["exotic"], ExoticRunner)
