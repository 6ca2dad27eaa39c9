"""Test plugin: claims the ``ansible`` step type."""

from ansflow_local_executor import LocalShellRunner


def includeme(config):
    config.add_step_runner(["ansible"], LocalShellRunner)
