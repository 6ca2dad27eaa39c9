"""What the Ansible plugin's services take and raise.

Services (:mod:`ansflow_ansible.services`) take a database session and an
:class:`Actor` (the projects plugin's: who acts, and whether they see every project;
never a request), so views, the engine's runner and command-line
tools share each rule.  They raise the exceptions below, which are
:class:`~ansflow_pyramid.api.APIError` subclasses: the API's exception views render
them as JSON errors (``{"detail", "code", "errors"?}``) with their status.
"""

from __future__ import annotations

from ansflow_projects.interfaces import SYSTEM, Actor

from ansflow_pyramid.api import APIError, Conflict, ValidationFailed

__all__ = [
    "SYSTEM",
    "Actor",
    "AnsibleNotInstalled",
    "InvalidAnsibleContent",
    "VersionExists",
    "WrongProject",
]


class InvalidAnsibleContent(ValidationFailed):
    """Ansible refused an inventory or a playbook; ``message`` is Ansible's own text."""

    def __init__(self, field: str, message: str, code: str = "invalid_ansible_content") -> None:
        super().__init__({field: [message]})
        self.detail = f"Ansible rejected the {field}: {message}"
        self.code = code
        self.message = message


class AnsibleNotInstalled(APIError):
    """The server cannot run Ansible (a deployment problem, not the caller's)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="ansible_unavailable", status=503)


class VersionExists(Conflict):
    def __init__(self, version: str) -> None:
        super().__init__(f"Version {version!r} exists already.", code="unique")


class WrongProject(ValidationFailed):
    """An object used together with another belongs to a different project."""

    def __init__(self, field: str, what: str) -> None:
        super().__init__({field: [f"The {what} belongs to another project."]})
