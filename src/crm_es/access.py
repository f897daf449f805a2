"""The permission model: function permissions (``resource:action``) and data scopes.

A role grants permissions and, per resource, a data scope: which records of that resource the
holder may see and change. A user's rights are the union of their roles' rights; for each
resource the widest scope among the roles that grant anything on it applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

PERMISSIONS: dict[str, str] = {
    "customers:read": "see customers, contacts, activities, history and the 360° view",
    "customers:write": "register customers, change profiles, add contacts, log activities",
    "customers:reassign": "hand customers to another owner",
    "opportunities:read": "see opportunities and the funnel",
    "opportunities:write": "create opportunities, move stages, win and lose",
    "orders:read": "see orders and their totals",
    "orders:write": "create, confirm, deliver, return and cancel orders",
    "payments:write": "record payments against orders",
    "stock:read": "see stock items, levels and alerts",
    "stock:write": "create stock items, receive, issue, count stock",
    "tickets:read": "see service tickets",
    "tickets:write": "open, assign, resolve, reopen, close tickets, record return visits",
    "reports:read": "see reports (funnel, aging, statistics)",
    "reference:admin": "edit reference data (industries, regions, levels, sources, reasons)",
    "users:admin": "manage users, departments and roles",
    "audit:read": "read the operation log",
    "system:admin": "operate projections and other system functions",
}
"""Every permission crm-es knows, with what it allows."""

RESOURCES = ("customers", "opportunities", "orders", "payments", "stock", "tickets", "reports", "reference", "users", "audit", "system")

SCOPES = ("own", "department", "department_tree", "all")
"""Data scopes, narrowest first: records the user owns; owned by anyone in the user's
department; in the department or any department below it; every record."""


def widest(scopes: Iterable[str]) -> str | None:
    ranked = [SCOPES.index(s) for s in scopes]
    return SCOPES[max(ranked)] if ranked else None


@dataclass(frozen=True)
class RoleTemplate:
    name: str
    description: str
    permissions: tuple[str, ...]
    data_scope: str


DEFAULT_ROLES: tuple[RoleTemplate, ...] = (
    RoleTemplate("admin", "系统管理员: everything", tuple(PERMISSIONS), "all"),
    RoleTemplate(
        "sales_manager",
        "销售经理: the team's customers, pipeline, orders and reports",
        ("customers:read", "customers:write", "customers:reassign", "opportunities:read", "opportunities:write",
         "orders:read", "orders:write", "tickets:read", "reports:read"),
        "department_tree",
    ),  # fmt: skip
    RoleTemplate(
        "salesperson",
        "销售员: own customers, opportunities and orders",
        ("customers:read", "customers:write", "opportunities:read", "opportunities:write", "orders:read",
         "orders:write", "tickets:read"),
        "own",
    ),  # fmt: skip
    RoleTemplate(
        "service", "客服: tickets of every customer", ("customers:read", "tickets:read", "tickets:write"), "all"
    ),
    RoleTemplate("warehouse", "仓管: stock", ("stock:read", "stock:write", "orders:read"), "all"),
    RoleTemplate(
        "finance",
        "财务: orders, payments and aging reports",
        ("customers:read", "orders:read", "payments:write", "reports:read"),
        "all",
    ),
)


@dataclass(frozen=True)
class Access:
    """What one user may do: permissions, and per resource the scope of visible records,
    resolved to the set of owners whose records are visible (None: every owner)."""

    user_id: UUID
    permissions: frozenset[str]
    scopes: Mapping[str, str] = field(default_factory=dict)
    visible_owners: Mapping[str, frozenset[UUID] | None] = field(default_factory=dict)

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def owners(self, resource: str) -> frozenset[UUID] | None:
        """Owners whose ``resource`` records this user may see; None means all of them."""
        return self.visible_owners.get(resource, frozenset({self.user_id}))

    def sees(self, resource: str, owner_id: UUID) -> bool:
        owners = self.owners(resource)
        return owners is None or owner_id in owners
