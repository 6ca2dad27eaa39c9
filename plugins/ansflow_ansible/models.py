"""Tables of the Ansible plugin.

Shows: resources that belong to a project *or*, managed by superusers, to nobody
(``project_id`` NULL: global playbook templates, shared inventories); secrets stored
only encrypted (``*_encrypted`` columns, see :mod:`ansflow_ansible.services`);
version snapshots kept next to the row they version; and a run record that points at
the engine's execution and step execution instead of copying their state, so an
Ansible run has exactly one status, the engine's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansflow_cicd.models import Execution, StepExecution
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ansflow_pyramid.db import Base, JSONDocument, TimestampMixin, utcnow

INVENTORY_FORMATS = ("ini", "yaml")
INVENTORY_SOURCES = ("manual", "file", "git", "dynamic")
PLAYBOOK_CATEGORIES = (
    "web",
    "database",
    "monitoring",
    "security",
    "networking",
    "system",
    "container",
    "cloud",
    "other",
)
PLAYBOOK_SOURCES = ("manual", "file", "git", "template")
CREDENTIAL_TYPES = ("ssh_key", "password", "vault")
CONNECTION_TYPES = ("ssh", "local", "paramiko", "winrm", "docker")
BECOME_METHODS = ("sudo", "su", "pbrun", "pfexec", "doas", "dzdo", "ksu", "runas")
HOST_STATUSES = ("active", "inactive", "failed", "unknown")


def _project_fk() -> Any:
    return mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True, default=None)


def _user_fk() -> Any:
    return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)


class Inventory(TimestampMixin, Base):
    """An Ansible inventory: its text (ini or yaml) and how it was obtained."""

    __tablename__ = "ansible_inventories"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    format_type: Mapped[str] = mapped_column(String(8), default="ini")
    source_type: Mapped[str] = mapped_column(String(16), default="manual")
    file_path: Mapped[str] = mapped_column(String(500), default="")
    git_url: Mapped[str] = mapped_column(String(500), default="")
    git_branch: Mapped[str] = mapped_column(String(200), default="main")
    dynamic_script: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(50), default="1")
    checksum: Mapped[str] = mapped_column(String(64), default="")
    is_validated: Mapped[bool] = mapped_column(default=False)
    validation_message: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = _user_fk()


class InventoryVersion(Base):
    """A snapshot of an inventory's content."""

    __tablename__ = "ansible_inventory_versions"
    __table_args__ = (UniqueConstraint("inventory_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inventory_id: Mapped[int] = mapped_column(
        ForeignKey("ansible_inventories.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text, default="")
    checksum: Mapped[str] = mapped_column(String(64), default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = _user_fk()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Playbook(TimestampMixin, Base):
    """A playbook's YAML and what running it needs."""

    __tablename__ = "ansible_playbooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(50), default="1")
    is_template: Mapped[bool] = mapped_column(default=False)
    category: Mapped[str] = mapped_column(String(16), default="other")
    source_type: Mapped[str] = mapped_column(String(16), default="manual")
    file_path: Mapped[str] = mapped_column(String(500), default="")
    git_url: Mapped[str] = mapped_column(String(500), default="")
    git_branch: Mapped[str] = mapped_column(String(200), default="main")
    git_path: Mapped[str] = mapped_column(String(500), default="")
    checksum: Mapped[str] = mapped_column(String(64), default="")
    is_validated: Mapped[bool] = mapped_column(default=False)
    validation_message: Mapped[str] = mapped_column(Text, default="")
    syntax_check_passed: Mapped[bool] = mapped_column(default=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    required_vars: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    default_vars: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ansible_version: Mapped[str] = mapped_column(String(50), default="")
    required_collections: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    required_roles: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    execution_count: Mapped[int] = mapped_column(default=0)
    success_count: Mapped[int] = mapped_column(default=0)
    last_executed: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = _user_fk()


class PlaybookVersion(Base):
    """A snapshot of a playbook's content."""

    __tablename__ = "ansible_playbook_versions"
    __table_args__ = (UniqueConstraint("playbook_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    playbook_id: Mapped[int] = mapped_column(
        ForeignKey("ansible_playbooks.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text, default="")
    checksum: Mapped[str] = mapped_column(String(64), default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    is_release: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = _user_fk()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Credential(TimestampMixin, Base):
    """How Ansible logs in: a user name and encrypted, write-only secrets."""

    __tablename__ = "ansible_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    credential_type: Mapped[str] = mapped_column(String(16), default="ssh_key")
    username: Mapped[str] = mapped_column(String(200), default="")
    password_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    ssh_private_key_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    vault_password_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    sudo_password_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    created_by_id: Mapped[int | None] = _user_fk()

    @property
    def has_password(self) -> bool:
        return self.password_encrypted is not None

    @property
    def has_ssh_private_key(self) -> bool:
        return self.ssh_private_key_encrypted is not None

    @property
    def has_vault_password(self) -> bool:
        return self.vault_password_encrypted is not None

    @property
    def has_sudo_password(self) -> bool:
        return self.sudo_password_encrypted is not None


class HostGroup(TimestampMixin, Base):
    """A group of hosts; groups form a tree (``parent``) and carry variables."""

    __tablename__ = "ansible_host_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("ansible_host_groups.id", ondelete="SET NULL"), default=None
    )
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = _user_fk()


class Host(TimestampMixin, Base):
    """A managed machine, its connection settings and the facts last gathered."""

    __tablename__ = "ansible_hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = _project_fk()
    hostname: Mapped[str] = mapped_column(String(255))
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    port: Mapped[int] = mapped_column(default=22)
    username: Mapped[str] = mapped_column(String(200), default="")
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("ansible_credentials.id", ondelete="SET NULL"), default=None
    )
    connection_type: Mapped[str] = mapped_column(String(16), default="ssh")
    become_method: Mapped[str] = mapped_column(String(16), default="sudo")
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_check: Mapped[dt.datetime | None] = mapped_column(default=None)
    check_message: Mapped[str] = mapped_column(Text, default="")
    os_family: Mapped[str] = mapped_column(String(100), default="")
    os_distribution: Mapped[str] = mapped_column(String(100), default="")
    os_version: Mapped[str] = mapped_column(String(100), default="")
    ansible_facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = _user_fk()

    memberships: Mapped[list[HostGroupMembership]] = relationship(
        back_populates="host", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    @property
    def group_ids(self) -> list[int]:
        return sorted(m.group_id for m in self.memberships)


class HostGroupMembership(Base):
    """A host in a group, with variables of its own there."""

    __tablename__ = "ansible_host_group_memberships"
    __table_args__ = (UniqueConstraint("host_id", "group_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(
        ForeignKey("ansible_hosts.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("ansible_host_groups.id", ondelete="CASCADE"), index=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    host: Mapped[Host] = relationship(back_populates="memberships")


class InventoryHost(Base):
    """A host listed in an inventory (for generating it), with host variables."""

    __tablename__ = "ansible_inventory_hosts"
    __table_args__ = (UniqueConstraint("inventory_id", "host_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inventory_id: Mapped[int] = mapped_column(
        ForeignKey("ansible_inventories.id", ondelete="CASCADE"), index=True
    )
    host_id: Mapped[int] = mapped_column(ForeignKey("ansible_hosts.id", ondelete="CASCADE"))
    host_variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InventoryGroup(Base):
    """A host group listed in an inventory, with group variables."""

    __tablename__ = "ansible_inventory_groups"
    __table_args__ = (UniqueConstraint("inventory_id", "group_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inventory_id: Mapped[int] = mapped_column(
        ForeignKey("ansible_inventories.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("ansible_host_groups.id", ondelete="CASCADE"))
    group_variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AnsibleExecution(Base):
    """One playbook run: a step of an engine execution, with Ansible's results.

    Status, times and log lines belong to the engine's records (``step_execution``);
    this row adds what only Ansible knows: per-host counts, task results and the
    task that failed.
    """

    __tablename__ = "ansible_executions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    execution_id: Mapped[int] = mapped_column(
        ForeignKey("cicd_executions.id", ondelete="CASCADE"), index=True
    )
    step_execution_id: Mapped[int] = mapped_column(
        ForeignKey("cicd_step_executions.id", ondelete="CASCADE"), unique=True
    )
    playbook_id: Mapped[int | None] = mapped_column(
        ForeignKey("ansible_playbooks.id", ondelete="SET NULL"), default=None, index=True
    )
    inventory_id: Mapped[int | None] = mapped_column(
        ForeignKey("ansible_inventories.id", ondelete="SET NULL"), default=None
    )
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("ansible_credentials.id", ondelete="SET NULL"), default=None
    )
    pipeline_id: Mapped[int | None] = mapped_column(default=None, index=True)
    pipeline_step_id: Mapped[int | None] = mapped_column(default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    host_stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    task_results: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    failed_task: Mapped[str] = mapped_column(Text, default="")
    return_code: Mapped[int | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = _user_fk()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    step_execution: Mapped[StepExecution] = relationship(lazy="joined", innerjoin=True)
    execution: Mapped[Execution] = relationship(lazy="raise")

    # The run's state is the engine's, read through its step execution.
    @property
    def status(self) -> str:
        return self.step_execution.status

    @property
    def started_at(self) -> dt.datetime | None:
        return self.step_execution.started_at

    @property
    def completed_at(self) -> dt.datetime | None:
        return self.step_execution.completed_at

    @property
    def error_message(self) -> str:
        return self.step_execution.error_message
