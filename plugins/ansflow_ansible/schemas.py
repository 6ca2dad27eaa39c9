"""Request and response schemas of the Ansible plugin.

Secrets exist only in write schemas (``password``, ``ssh_private_key``,
``vault_password``, ``sudo_password``); the read schema says ``has_password``... .
Body fields that AnsFlow's clients spell two ways accept both (``project`` /
``project_id``, ``playbook`` / ``playbook_id``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ansflow_projects.fields import Bool, BoundedInt, Id, JSONArray, JSONObject, Name, Text
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from ansflow_ansible.models import (
    BECOME_METHODS,
    CONNECTION_TYPES,
    CREDENTIAL_TYPES,
    HOST_STATUSES,
    INVENTORY_FORMATS,
    INVENTORY_SOURCES,
    PLAYBOOK_CATEGORIES,
    PLAYBOOK_SOURCES,
)

InventoryFormat = Literal[INVENTORY_FORMATS]  # type: ignore[valid-type]
InventorySource = Literal[INVENTORY_SOURCES]  # type: ignore[valid-type]
PlaybookCategory = Literal[PLAYBOOK_CATEGORIES]  # type: ignore[valid-type]
PlaybookSource = Literal[PLAYBOOK_SOURCES]  # type: ignore[valid-type]
CredentialType = Literal[CREDENTIAL_TYPES]  # type: ignore[valid-type]
ConnectionType = Literal[CONNECTION_TYPES]  # type: ignore[valid-type]
BecomeMethod = Literal[BECOME_METHODS]  # type: ignore[valid-type]
HostStatus = Literal[HOST_STATUSES]  # type: ignore[valid-type]

#: An optional id.  ``Id | None`` would document its bounds as pydantic's ``ge``/``le``
#: inside ``anyOf`` (not JSON Schema), so the optional form states them plainly.
OptionalId = Annotated[int, Field(ge=1, le=2**31 - 1)] | None

#: A host's inventory name: a host name, an address, or an Ansible range (``web[1:3]``).
HostName = Annotated[
    str,
    StringConstraints(
        strict=True, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:\[\]-]*$"
    ),
]

Content = Text(1_000_000)
ShortText = Text(500)
Version = Text(50)


def project_field() -> Any:
    """The owning project of a playbook; omitted (null) makes a global playbook (a
    shared template), for superusers only.  Inventories, credentials, hosts and groups
    always belong to a project."""
    return Field(default=None, validation_alias=AliasChoices("project", "project_id"))


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- inventories --------------------------------------------------------------------
class InventoryFields(BaseModel):
    name: Name
    description: Text(10_000) = ""
    content: Content = ""
    format_type: InventoryFormat = "ini"
    source_type: InventorySource = "manual"
    file_path: ShortText = ""
    git_url: ShortText = ""
    git_branch: Text(200) = "main"
    dynamic_script: Content = ""


class InventoryCreate(InventoryFields):
    project: Id = Field(validation_alias=AliasChoices("project", "project_id"))


class InventoryOut(ReadSchema):
    id: int
    project: int | None = Field(validation_alias="project_id")
    name: str
    description: str
    content: str
    format_type: str
    source_type: str
    file_path: str
    git_url: str
    git_branch: str
    dynamic_script: str
    version: str
    checksum: str
    is_validated: bool
    validation_message: str
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class VersionOut(ReadSchema):
    id: int
    version: str
    content: str
    checksum: str
    changelog: str
    is_release: bool = False
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime


class VersionCreate(BaseModel):
    version: Version | None = None
    changelog: Text(10_000) = ""
    is_release: Bool = False


class VersionRestore(BaseModel):
    version_id: OptionalId = Field(default=None, validation_alias=AliasChoices("version_id", "id"))
    version: Version | None = None


class ContentCheck(BaseModel):
    content: Content
    format_type: InventoryFormat = "ini"


class ValidationOut(BaseModel):
    valid: bool
    message: str
    hosts: list[str] = []
    groups: list[str] = []


class IdList(BaseModel):
    host_ids: list[Id] = Field(default_factory=list, max_length=1000)
    group_ids: list[Id] = Field(default_factory=list, max_length=1000)


# -- playbooks ----------------------------------------------------------------------
class PlaybookFields(BaseModel):
    name: Name
    description: Text(10_000) = ""
    content: Content = ""
    is_template: Bool = False
    category: PlaybookCategory = "other"
    source_type: PlaybookSource = "manual"
    file_path: ShortText = ""
    git_url: ShortText = ""
    git_branch: Text(200) = "main"
    git_path: ShortText = ""
    parameters: JSONObject = Field(default_factory=dict)
    required_vars: JSONArray = Field(default_factory=list)
    default_vars: JSONObject = Field(default_factory=dict)
    ansible_version: Text(50) = ""
    required_collections: JSONArray = Field(default_factory=list)
    required_roles: JSONArray = Field(default_factory=list)


class PlaybookCreate(PlaybookFields):
    project: OptionalId = project_field()


class PlaybookOut(ReadSchema):
    id: int
    project: int | None = Field(validation_alias="project_id")
    name: str
    description: str
    content: str
    version: str
    is_template: bool
    category: str
    source_type: str
    file_path: str
    git_url: str
    git_branch: str
    git_path: str
    checksum: str
    is_validated: bool
    validation_message: str
    syntax_check_passed: bool
    parameters: dict[str, Any]
    required_vars: list[Any]
    default_vars: dict[str, Any]
    ansible_version: str
    required_collections: list[Any]
    required_roles: list[Any]
    execution_count: int
    success_count: int
    last_executed: dt.datetime | None
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class FromTemplate(BaseModel):
    name: Name
    project: OptionalId = project_field()
    description: Text(10_000) | None = None


class PlaybookValidate(BaseModel):
    content: Content


# -- runs ---------------------------------------------------------------------------
class AnsibleParameters(BaseModel):
    """What an ``ansible`` step (or a playbook's ``execute/``) runs."""

    model_config = ConfigDict(extra="forbid")

    playbook_id: Id = Field(validation_alias=AliasChoices("playbook_id", "playbook"))
    inventory_id: Id = Field(validation_alias=AliasChoices("inventory_id", "inventory"))
    credential_id: OptionalId = Field(
        default=None, validation_alias=AliasChoices("credential_id", "credential")
    )
    extra_vars: JSONObject = Field(default_factory=dict)
    tags: list[Text(200)] | Text(2000) = Field(default_factory=list)
    skip_tags: list[Text(200)] | Text(2000) = Field(default_factory=list)
    limit: Text(2000) = ""
    check_mode: Bool = False
    become: Bool = False
    become_user: Text(200) = ""
    forks: BoundedInt(1, 50) | None = None


class ExecuteRequest(BaseModel):
    """``playbooks/{id}/execute/``: AnsFlow's body, ``parameters`` being the run's
    options (``extra_vars``, ``tags``, ``limit``, ``check_mode``, ``become``...)."""

    inventory_id: Id = Field(validation_alias=AliasChoices("inventory_id", "inventory"))
    credential_id: OptionalId = Field(
        default=None, validation_alias=AliasChoices("credential_id", "credential")
    )
    parameters: JSONObject = Field(default_factory=dict)
    timeout_seconds: BoundedInt(1, 86_400) = 3600


class AnsibleExecutionOut(ReadSchema):
    id: int
    project: int = Field(validation_alias="project_id")
    execution: int = Field(validation_alias="execution_id")
    step_execution: int = Field(validation_alias="step_execution_id")
    playbook: int | None = Field(validation_alias="playbook_id")
    inventory: int | None = Field(validation_alias="inventory_id")
    credential: int | None = Field(validation_alias="credential_id")
    pipeline: int | None = Field(validation_alias="pipeline_id")
    pipeline_step: int | None = Field(validation_alias="pipeline_step_id")
    parameters: dict[str, Any]
    status: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    return_code: int | None
    error_message: str
    failed_task: str
    host_stats: dict[str, Any]
    task_results: list[Any]
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stats(self) -> dict[str, int]:
        keys = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
        return {k: sum(int(h.get(k, 0)) for h in self.host_stats.values()) for k in keys}


# -- credentials --------------------------------------------------------------------
class CredentialFields(BaseModel):
    name: Name
    description: Text(10_000) = ""
    credential_type: CredentialType = "ssh_key"
    username: Text(200) = ""
    # Write-only: null keeps the stored value, "" removes it.
    password: Text(1024) | None = None
    ssh_private_key: Text(16_384) | None = None
    vault_password: Text(1024) | None = None
    sudo_password: Text(1024) | None = None


class CredentialCreate(CredentialFields):
    project: Id = Field(validation_alias=AliasChoices("project", "project_id"))


class CredentialOut(ReadSchema):
    id: int
    project: int | None = Field(validation_alias="project_id")
    name: str
    description: str
    credential_type: str
    username: str
    has_password: bool
    has_ssh_private_key: bool
    has_vault_password: bool
    has_sudo_password: bool
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectionTest(BaseModel):
    """``credentials/{id}/test_connection/`` and ``hosts/test_connection/``.

    Names a stored host (``host_id``) or describes one (``hostname``); the document
    says so with ``anyOf``, so a body with neither is invalid by the schema too.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["host_id"], "properties": {"host_id": {"type": "integer"}}},
                {"required": ["hostname"], "properties": {"hostname": {"type": "string"}}},
            ]
        }
    )

    host_id: OptionalId = Field(default=None, validation_alias=AliasChoices("host_id", "host"))
    hostname: HostName | None = None
    ip_address: Text(64) = ""
    port: BoundedInt(1, 65535) = 22
    username: Text(200) = ""
    connection_type: ConnectionType = "ssh"
    credential_id: OptionalId = Field(
        default=None, validation_alias=AliasChoices("credential_id", "credential")
    )
    variables: JSONObject = Field(default_factory=dict)


class CheckOut(BaseModel):
    success: bool
    status: str
    message: str
    host: str
    host_stats: dict[str, Any] = {}
    facts_count: int | None = None


# -- hosts and groups -----------------------------------------------------------------
class HostFields(BaseModel):
    hostname: HostName
    ip_address: Text(64) = ""
    port: BoundedInt(1, 65535) = 22
    username: Text(200) = ""
    credential: OptionalId = Field(
        default=None, validation_alias=AliasChoices("credential", "credential_id")
    )
    connection_type: ConnectionType = "ssh"
    become_method: BecomeMethod = "sudo"
    variables: JSONObject = Field(default_factory=dict)
    tags: JSONArray = Field(default_factory=list)
    status: HostStatus = "unknown"


class HostCreate(HostFields):
    project: Id = Field(validation_alias=AliasChoices("project", "project_id"))
    groups: list[Id] = Field(default_factory=list, max_length=1000)


class HostOut(ReadSchema):
    id: int
    project: int | None = Field(validation_alias="project_id")
    hostname: str
    ip_address: str
    port: int
    username: str
    credential: int | None = Field(validation_alias="credential_id")
    connection_type: str
    become_method: str
    variables: dict[str, Any]
    tags: list[Any]
    status: str
    last_check: dt.datetime | None
    check_message: str
    os_family: str
    os_distribution: str
    os_version: str
    ansible_facts: dict[str, Any]
    groups: list[int] = Field(default_factory=list, validation_alias="group_ids")
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class BatchCheck(BaseModel):
    host_ids: list[Id] = Field(min_length=1, max_length=50)
    gather_facts: Bool = False


class HostGroupFields(BaseModel):
    name: Name
    description: Text(10_000) = ""
    parent: OptionalId = Field(default=None, validation_alias=AliasChoices("parent", "parent_id"))
    variables: JSONObject = Field(default_factory=dict)


class HostGroupCreate(HostGroupFields):
    project: Id = Field(validation_alias=AliasChoices("project", "project_id"))


class HostGroupOut(ReadSchema):
    id: int
    project: int | None = Field(validation_alias="project_id")
    name: str
    description: str
    parent: int | None = Field(validation_alias="parent_id")
    variables: dict[str, Any]
    created_by: int | None = Field(validation_alias="created_by_id")
    created_at: dt.datetime
    updated_at: dt.datetime


class MembershipUpdate(BaseModel):
    variables: JSONObject = Field(default_factory=dict)


class GroupHostIds(BaseModel):
    host_ids: list[Id] = Field(min_length=1, max_length=1000)
    variables: JSONObject = Field(default_factory=dict)


# -- inventory hosts and groups -------------------------------------------------------
class InventoryHostFields(BaseModel):
    host_variables: JSONObject = Field(default_factory=dict)
    is_active: Bool = True


class InventoryHostCreate(InventoryHostFields):
    inventory: Id = Field(validation_alias=AliasChoices("inventory", "inventory_id"))
    host: Id = Field(validation_alias=AliasChoices("host", "host_id"))


class InventoryHostOut(ReadSchema):
    id: int
    inventory: int = Field(validation_alias="inventory_id")
    host: int = Field(validation_alias="host_id")
    host_variables: dict[str, Any]
    is_active: bool
    created_at: dt.datetime


class InventoryGroupFields(BaseModel):
    group_variables: JSONObject = Field(default_factory=dict)
    is_active: Bool = True


class InventoryGroupCreate(InventoryGroupFields):
    inventory: Id = Field(validation_alias=AliasChoices("inventory", "inventory_id"))
    group: Id = Field(validation_alias=AliasChoices("group", "group_id"))


class InventoryGroupOut(ReadSchema):
    id: int
    inventory: int = Field(validation_alias="inventory_id")
    group: int = Field(validation_alias="group_id")
    group_variables: dict[str, Any]
    is_active: bool
    created_at: dt.datetime


class InventoryBatch(BaseModel):
    inventory: Id = Field(validation_alias=AliasChoices("inventory", "inventory_id"))
    host_ids: list[Id] = Field(default_factory=list, max_length=1000)
    group_ids: list[Id] = Field(default_factory=list, max_length=1000)


# -- pipelines ------------------------------------------------------------------------
class AddAnsibleStep(BaseModel):
    name: Name = "Ansible"
    order: BoundedInt(0, 100_000) | None = None
    timeout_seconds: BoundedInt(1, 86_400) = 3600
    ansible_parameters: AnsibleParameters
