"""The Ansible plugin's collections, registered in the central traverser.

Shows: resources that belong to a project or, managed by superusers, to none
(``project_id`` NULL).  A project's objects inherit the project's ACL, and rows of
projects the caller cannot see are absent from lists and answer 404 (so another
project's inventory cannot even be detected); global objects are readable by every
authenticated user and writable by superusers only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ansflow_cicd.secrets import get_secret_box
from ansflow_projects.acl import (
    actor_of,
    current_user_id,
    is_unrestricted,
    permission_denied,
    project_acl,
    visible_project_ids,
)
from ansflow_projects.resources import ProjectScopedCollection, ProjectScopedItem
from pydantic import BaseModel
from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow
from sqlalchemy import Select, or_, select

from ansflow_ansible import services
from ansflow_ansible.interfaces import Actor
from ansflow_ansible.models import (
    AnsibleExecution,
    Credential,
    Host,
    HostGroup,
    HostGroupMembership,
    Inventory,
    InventoryGroup,
    InventoryHost,
    Playbook,
)
from ansflow_ansible.schemas import (
    AnsibleExecutionOut,
    CredentialCreate,
    CredentialFields,
    CredentialOut,
    HostCreate,
    HostFields,
    HostGroupCreate,
    HostGroupFields,
    HostGroupOut,
    HostOut,
    InventoryCreate,
    InventoryFields,
    InventoryGroupCreate,
    InventoryGroupFields,
    InventoryGroupOut,
    InventoryHostCreate,
    InventoryHostFields,
    InventoryHostOut,
    InventoryOut,
    MembershipUpdate,
    PlaybookCreate,
    PlaybookFields,
    PlaybookOut,
)
from ansflow_pyramid.api import Filter, ModelCollection, ModelItem, ValidationFailed
from ansflow_pyramid.identity import AUTHENTICATED, SUPERUSERS

#: Global objects: every authenticated user may read them, superusers do the rest.
GLOBAL_ACL: list[Any] = [
    (Allow, SUPERUSERS, ALL_PERMISSIONS),
    (Allow, AUTHENTICATED, ("view",)),
    DENY_ALL,
]


class AnsibleItem(ProjectScopedItem):
    """An object of a project (its project's ACL) or a global one (:data:`GLOBAL_ACL`)."""

    def acl_project_id(self) -> int | None:  # type: ignore[override]
        return self.obj.project_id

    @property
    def __acl__(self) -> list[Any]:
        project_id = self.acl_project_id()
        return GLOBAL_ACL if project_id is None else project_acl(self.request, project_id)

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        self.apply(values)
        self.dbsession.flush()
        return self.obj

    def apply(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(self.obj, key, value)


class AnsibleCollection(ProjectScopedCollection):
    """Objects of the projects the caller may see, and global ones."""

    item_class: ClassVar[type[ModelItem]] = AnsibleItem

    def base_query(self) -> Select[Any]:
        column = type(self).project_column
        visible = visible_project_ids(self.request)
        query = select(self.model)
        if visible is None:
            return query
        return query.where(or_(column.is_(None), column.in_(visible)))

    def target_project(self, project_id: int | None) -> int | None:
        """Check the caller may create in ``project_id`` (None: a global object)."""
        if project_id is None:
            if not is_unrestricted(self.request):
                raise ValidationFailed(
                    {"project": ["Only superusers may create objects outside a project."]}
                )
            return None
        self.require_project(project_id)
        return project_id

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)


def project_filters(column: Any) -> dict[str, Filter]:
    return {
        "project": Filter(column, python_type=int),
        "project_id": Filter(column, python_type=int),
    }


# -- inventories --------------------------------------------------------------------
class InventoryItem(AnsibleItem):
    obj: Inventory

    def apply(self, values: dict[str, Any]) -> None:
        if "content" in values and values["content"] != self.obj.content:
            self.obj.is_validated = False
            self.obj.validation_message = ""
            self.obj.checksum = services.checksum(values["content"])
        super().apply(values)


class InventoryCollection(AnsibleCollection):
    """``/api/v1/ansible/inventories/``."""

    model = Inventory
    item_class = InventoryItem
    project_column = Inventory.project_id
    read_schema = InventoryOut
    create_schema = InventoryCreate
    update_schema = InventoryFields
    filters = {
        **project_filters(Inventory.project_id),
        "format_type": Filter(Inventory.format_type),
        "source_type": Filter(Inventory.source_type),
        "is_validated": Filter(Inventory.is_validated),
    }
    ordering_fields = {
        "id": Inventory.id,
        "name": Inventory.name,
        "created_at": Inventory.created_at,
    }
    default_ordering = ("name",)
    search_fields = (Inventory.name, Inventory.description)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, InventoryCreate)
        project_id = self.target_project(data.project)
        values = data.model_dump(exclude={"project"})
        inventory = Inventory(
            **values,
            project_id=project_id,
            checksum=services.checksum(data.content),
            created_by_id=current_user_id(self.request),
        )
        self.dbsession.add(inventory)
        self.dbsession.flush()
        return inventory


# -- playbooks ----------------------------------------------------------------------
class PlaybookItem(AnsibleItem):
    obj: Playbook

    def apply(self, values: dict[str, Any]) -> None:
        if "content" in values and values["content"] != self.obj.content:
            self.obj.is_validated = False
            self.obj.syntax_check_passed = False
            self.obj.validation_message = ""
            self.obj.checksum = services.checksum(values["content"])
        super().apply(values)


class PlaybookCollection(AnsibleCollection):
    """``/api/v1/ansible/playbooks/``."""

    model = Playbook
    item_class = PlaybookItem
    project_column = Playbook.project_id
    read_schema = PlaybookOut
    create_schema = PlaybookCreate
    update_schema = PlaybookFields
    filters = {
        **project_filters(Playbook.project_id),
        "category": Filter(Playbook.category),
        "is_template": Filter(Playbook.is_template),
        "source_type": Filter(Playbook.source_type),
    }
    ordering_fields = {
        "id": Playbook.id,
        "name": Playbook.name,
        "created_at": Playbook.created_at,
        "last_executed": Playbook.last_executed,
    }
    default_ordering = ("name",)
    search_fields = (Playbook.name, Playbook.description)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, PlaybookCreate)
        project_id = self.target_project(data.project)
        playbook = Playbook(
            **data.model_dump(exclude={"project"}),
            project_id=project_id,
            checksum=services.checksum(data.content),
            created_by_id=current_user_id(self.request),
        )
        self.dbsession.add(playbook)
        self.dbsession.flush()
        return playbook


# -- credentials --------------------------------------------------------------------
class CredentialItem(AnsibleItem):
    obj: Credential

    def apply(self, values: dict[str, Any]) -> None:
        secrets = {name: values.pop(name, None) for name in services.SECRET_COLUMNS}
        super().apply(values)
        services.set_credential_secrets(get_secret_box(self.request.registry), self.obj, secrets)


class CredentialCollection(AnsibleCollection):
    """``/api/v1/ansible/credentials/``: secrets are write-only (``has_*`` on reads)."""

    model = Credential
    item_class = CredentialItem
    project_column = Credential.project_id
    read_schema = CredentialOut
    create_schema = CredentialCreate
    update_schema = CredentialFields
    filters = {
        **project_filters(Credential.project_id),
        "credential_type": Filter(Credential.credential_type),
    }
    ordering_fields = {
        "id": Credential.id,
        "name": Credential.name,
        "created_at": Credential.created_at,
    }
    default_ordering = ("name",)
    search_fields = (Credential.name, Credential.username)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, CredentialCreate)
        project_id = self.target_project(data.project)
        values = data.model_dump(exclude={"project", *services.SECRET_COLUMNS})
        credential = Credential(
            **values, project_id=project_id, created_by_id=current_user_id(self.request)
        )
        services.set_credential_secrets(
            get_secret_box(self.request.registry), credential, data.model_dump()
        )
        self.dbsession.add(credential)
        self.dbsession.flush()
        return credential


# -- hosts and groups ---------------------------------------------------------------
def check_reference(
    dbsession: Any, model: Any, object_id: int | None, project_id: int | None, field: str
) -> None:
    """``object_id`` names a row of ``model`` usable by an object of ``project_id``."""
    if object_id is None:
        return
    row = dbsession.get(model, object_id)
    if row is None or row.project_id not in (None, project_id):
        raise ValidationFailed({field: [f'Invalid pk "{object_id}" - object does not exist.']})
    if model is Credential and row.project_id != project_id:
        raise ValidationFailed({field: ["The credential belongs to another project."]})


class HostItem(AnsibleItem):
    obj: Host

    def apply(self, values: dict[str, Any]) -> None:
        if "credential" in values:
            check_reference(
                self.dbsession, Credential, values["credential"], self.obj.project_id, "credential"
            )
            values["credential_id"] = values.pop("credential")
        super().apply(values)


class HostCollection(AnsibleCollection):
    """``/api/v1/ansible/hosts/``."""

    model = Host
    item_class = HostItem
    project_column = Host.project_id
    read_schema = HostOut
    create_schema = HostCreate
    update_schema = HostFields
    filters = {
        **project_filters(Host.project_id),
        "status": Filter(Host.status),
        "connection_type": Filter(Host.connection_type),
    }
    ordering_fields = {"id": Host.id, "hostname": Host.hostname, "created_at": Host.created_at}
    default_ordering = ("hostname",)
    search_fields = (Host.hostname, Host.ip_address)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, HostCreate)
        project_id = self.target_project(data.project)
        check_reference(self.dbsession, Credential, data.credential, project_id, "credential")
        for group_id in data.groups:
            check_reference(self.dbsession, HostGroup, group_id, project_id, "groups")
        values = data.model_dump(exclude={"project", "credential", "groups"})
        host = Host(
            **values,
            project_id=project_id,
            credential_id=data.credential,
            created_by_id=current_user_id(self.request),
        )
        self.dbsession.add(host)
        self.dbsession.flush()
        services.set_host_groups(self.dbsession, host, data.groups)
        self.dbsession.refresh(host)
        return host


class HostGroupItem(AnsibleItem):
    obj: HostGroup

    def apply(self, values: dict[str, Any]) -> None:
        if "parent" in values:
            check_reference(
                self.dbsession, HostGroup, values["parent"], self.obj.project_id, "parent"
            )
            services.check_group_parent(self.dbsession, self.obj, values["parent"])
            values["parent_id"] = values.pop("parent")
        super().apply(values)


class HostGroupCollection(AnsibleCollection):
    """``/api/v1/ansible/host-groups/``: a tree of groups (``parent``) with variables."""

    model = HostGroup
    item_class = HostGroupItem
    project_column = HostGroup.project_id
    read_schema = HostGroupOut
    create_schema = HostGroupCreate
    update_schema = HostGroupFields
    filters = {
        **project_filters(HostGroup.project_id),
        "parent": Filter(HostGroup.parent_id, python_type=int),
    }
    ordering_fields = {"id": HostGroup.id, "name": HostGroup.name}
    default_ordering = ("name",)
    search_fields = (HostGroup.name, HostGroup.description)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, HostGroupCreate)
        project_id = self.target_project(data.project)
        check_reference(self.dbsession, HostGroup, data.parent, project_id, "parent")
        group = HostGroup(
            **data.model_dump(exclude={"project", "parent"}),
            project_id=project_id,
            parent_id=data.parent,
            created_by_id=current_user_id(self.request),
        )
        self.dbsession.add(group)
        self.dbsession.flush()
        return group


class GroupMembershipItem(ModelItem):
    """``host-groups/{id}/hosts/{host_id}/``: its ACL is its group's (the parent's)."""

    def serialize(self) -> dict[str, Any]:
        return membership_out(self.obj)


def membership_out(membership: HostGroupMembership) -> dict[str, Any]:
    host = HostOut.model_validate(membership.host).model_dump(mode="json")
    return {**host, "membership_variables": membership.variables, "group": membership.group_id}


class GroupMembershipCollection(ModelCollection):
    """The hosts of one group, addressed by host id; variables of the membership."""

    model = HostGroupMembership
    item_class = GroupMembershipItem
    read_schema = MembershipUpdate
    update_schema = MembershipUpdate
    collection_methods = ("GET",)
    item_methods = ("GET", "PUT")
    filters = {"group_id": Filter(HostGroupMembership.group_id, python_type=int)}
    ordering_fields = {"id": HostGroupMembership.id}
    default_ordering = ("id",)

    def load_item(self, key: Any) -> Any:
        if not Filter(HostGroupMembership.host_id).holds(key):
            raise KeyError(key)
        obj = self.dbsession.scalars(self.query().where(HostGroupMembership.host_id == key)).first()
        if obj is None:
            raise KeyError(key)
        return self.item_class(self, key, obj)

    def serialize(self, obj: Any) -> dict[str, Any]:
        return membership_out(obj)


# -- inventory hosts and groups --------------------------------------------------------
class InventoryMemberItem(AnsibleItem):
    """A row of an inventory: its ACL is its inventory's project's."""

    def acl_project_id(self) -> int | None:
        inventory = self.dbsession.get(Inventory, self.obj.inventory_id)
        return inventory.project_id if inventory is not None else None


class InventoryMemberCollection(AnsibleCollection):
    """Rows visible through their inventory's project."""

    item_class = InventoryMemberItem
    member_model: ClassVar[Any]
    member_field: ClassVar[str]

    def base_query(self) -> Select[Any]:
        visible = visible_project_ids(self.request)
        query = select(self.model).join(Inventory, Inventory.id == self.model.inventory_id)
        if visible is None:
            return query
        return query.where(or_(Inventory.project_id.is_(None), Inventory.project_id.in_(visible)))

    def create(self, data: BaseModel) -> Any:
        values = data.model_dump()
        inventory = self.editable_inventory(values.pop("inventory"))
        member_id = values.pop(self.member_field)
        check_reference(
            self.dbsession, self.member_model, member_id, inventory.project_id, self.member_field
        )
        column = f"{self.member_field}_id"
        exists = self.dbsession.scalar(
            select(self.model.id).where(
                self.model.inventory_id == inventory.id, getattr(self.model, column) == member_id
            )
        )
        if exists is not None:
            raise ValidationFailed({self.member_field: ["It is in this inventory already."]})
        row = self.model(inventory_id=inventory.id, **{column: member_id}, **values)
        self.dbsession.add(row)
        self.dbsession.flush()
        return row

    def editable_inventory(self, inventory_id: int) -> Inventory:
        """The inventory if the caller may see it (else 400) and edit it (else 403)."""
        visible = visible_project_ids(self.request)
        query = select(Inventory).where(Inventory.id == inventory_id)
        if visible is not None:
            query = query.where(
                or_(Inventory.project_id.is_(None), Inventory.project_id.in_(visible))
            )
        inventory = self.dbsession.scalars(query).first()
        if inventory is None:
            raise ValidationFailed(
                {"inventory": [f'Invalid pk "{inventory_id}" - object does not exist.']}
            )
        acl_context = InventoryItem(self, inventory.id, inventory)
        if not self.request.has_permission("edit", acl_context):
            raise permission_denied()
        return inventory


class InventoryHostCollection(InventoryMemberCollection):
    """``/api/v1/ansible/inventory-hosts/``."""

    model = InventoryHost
    project_column = Inventory.project_id
    member_model = Host
    member_field = "host"
    read_schema = InventoryHostOut
    create_schema = InventoryHostCreate
    update_schema = InventoryHostFields
    filters = {
        "inventory": Filter(InventoryHost.inventory_id, python_type=int),
        "inventory_id": Filter(InventoryHost.inventory_id, python_type=int),
        "host": Filter(InventoryHost.host_id, python_type=int),
        "is_active": Filter(InventoryHost.is_active),
    }
    ordering_fields = {"id": InventoryHost.id}
    default_ordering = ("id",)


class InventoryGroupCollection(InventoryMemberCollection):
    """``/api/v1/ansible/inventory-groups/``."""

    model = InventoryGroup
    project_column = Inventory.project_id
    member_model = HostGroup
    member_field = "group"
    read_schema = InventoryGroupOut
    create_schema = InventoryGroupCreate
    update_schema = InventoryGroupFields
    filters = {
        "inventory": Filter(InventoryGroup.inventory_id, python_type=int),
        "inventory_id": Filter(InventoryGroup.inventory_id, python_type=int),
        "group": Filter(InventoryGroup.group_id, python_type=int),
        "is_active": Filter(InventoryGroup.is_active),
    }
    ordering_fields = {"id": InventoryGroup.id}
    default_ordering = ("id",)


# -- runs ---------------------------------------------------------------------------
class AnsibleExecutionItem(AnsibleItem):
    obj: AnsibleExecution


class AnsibleExecutionCollection(AnsibleCollection):
    """``/api/v1/ansible/executions/``: playbook runs (read-only; started by
    ``playbooks/{id}/execute/``, ``executions/{id}/execute/`` or ``ansible`` steps)."""

    model = AnsibleExecution
    item_class = AnsibleExecutionItem
    project_column = AnsibleExecution.project_id
    read_schema = AnsibleExecutionOut
    collection_methods = ("GET",)
    item_methods = ("GET",)
    filters = {
        **project_filters(AnsibleExecution.project_id),
        "playbook": Filter(AnsibleExecution.playbook_id, python_type=int),
        "playbook_id": Filter(AnsibleExecution.playbook_id, python_type=int),
        "inventory": Filter(AnsibleExecution.inventory_id, python_type=int),
        "pipeline": Filter(AnsibleExecution.pipeline_id, python_type=int),
        "pipeline_id": Filter(AnsibleExecution.pipeline_id, python_type=int),
        "execution": Filter(AnsibleExecution.execution_id, python_type=int),
    }
    ordering_fields = {"id": AnsibleExecution.id, "created_at": AnsibleExecution.created_at}
    default_ordering = ("-id",)

    def base_query(self) -> Select[Any]:
        visible = visible_project_ids(self.request)
        query = select(AnsibleExecution)
        return query if visible is None else query.where(AnsibleExecution.project_id.in_(visible))
