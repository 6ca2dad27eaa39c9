"""Project roles as ACL entries, and the root ACL that makes superusers all-powerful."""

from __future__ import annotations

from types import SimpleNamespace

from pyramid.authorization import ACLHelper, Authenticated, Everyone

from ansflow_pyramid.identity.roles import ROLES, role_acl, role_rank
from ansflow_pyramid.traversal import Root


class Project:
    def __init__(self, memberships, registry=None):
        self.__acl__ = role_acl(memberships)
        self.__parent__ = Root.__new__(Root)
        self.__parent__.__parent__ = None
        # The root's ACL is what the application's layers granted there.
        self.__parent__.request = SimpleNamespace(registry=registry or {})


def allowed(context, user_id, permission, superuser=False):
    principals = [Everyone, Authenticated, f"user:{user_id}"]
    if superuser:
        principals.append("group:superusers")
    return bool(ACLHelper().permits(context, principals, permission))


def test_roles_grant_their_permissions():
    project = Project(
        [(1, "owner"), (2, "maintainer"), (3, "developer"), (4, "reporter"), (5, "guest")]
    )
    assert allowed(project, 1, "manage_project")
    assert allowed(project, 2, "manage_members") and not allowed(project, 2, "manage_project")
    assert allowed(project, 3, "execute") and not allowed(project, 3, "manage_members")
    assert allowed(project, 4, "view") and not allowed(project, 4, "edit")
    assert allowed(project, 5, "view") and not allowed(project, 5, "execute")
    assert not allowed(project, 6, "view")


def test_superusers_may_do_anything_through_the_root_acl(ansflow_app):
    project = Project([], ansflow_app.registry)
    assert allowed(project, 99, "delete", superuser=True)
    assert allowed(project, 99, "anything-at-all", superuser=True)
    assert not allowed(project, 99, "view")


def test_role_order():
    assert ROLES[0] == "owner" and role_rank("guest") == len(ROLES) - 1
