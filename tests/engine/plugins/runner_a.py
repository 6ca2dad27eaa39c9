"""Test plugin: claims the ``docker_build`` step type (``ansible`` belongs to ansflow_ansible)."""

from ansflow_local_executor import LocalShellRunner


def includeme(config):
    config.add_step_runner(["docker_build"], LocalShellRunner)
