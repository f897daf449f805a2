"""The permission model: function permissions (``resource:action``) and data scopes.

A role grants permissions and, per resource, a data scope: which records of that resource the
holder may see and change. A user's rights are the union of their roles' rights; for each
resource the widest scope among the roles that grant anything on it applies.

This module is the one scope rule. ``Access.sees`` decides whether a caller sees one record
(commands, single reads, ``as_of``, history, contacts, activities); ``Access.owners`` is the
owner filter every list, search, report and export query takes as a parameter and applies in
SQL (``owner_id = ANY(owners)``; None means no filter). A record outside the scope does not
exist for the caller: ``ensure_sees`` answers 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from crm_es.errors import NotFound

PERMISSIONS: dict[str, str] = {
    "customers:read": "see customers, contacts, activities, history and the 360° view",
    "customers:write": "register customers, change profiles, add contacts, log activities",
    "customers:reassign": "hand customers to another owner",
    "opportunities:read": "see opportunities and the funnel",
    "opportunities:write": "create opportunities, move stages, win and lose",
    "targets:write": "set monthly sales targets of salespeople (and, with the whole company in scope, of departments)",
    "orders:read": "see orders and their totals",
    "orders:write": "draft, confirm, deliver, return, adjust, plan instalments of and cancel orders",
    "orders:override_credit": "confirm an order beyond the customer's credit limit (recorded on the confirmation)",
    "payments:write": "record payments and invoices against orders",
    "stock:read": "see stock items, levels, alerts, the movement ledger and stock on its way (company-wide)",
    "stock:write": "create stock items, receive, issue, count, reserve for orders; manage categories and warehouses",
    "tickets:read": "see service tickets",
    "tickets:write": "open, assign, resolve, reopen, close tickets, record return visits",
    "reports:read": "see reports (funnel, aging, statistics)",
    "reference:admin": "edit reference data (industries, regions, levels, sources, reasons)",
    "users:admin": "manage users, departments and roles",
    "audit:read": "read the operation log",
    "system:admin": "operate projections and other system functions",
}
"""Every permission crm-es knows, with what it allows."""

RESOURCES = ("customers", "opportunities", "targets", "orders", "payments", "stock", "tickets", "reports", "reference", "users", "audit", "system")

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
        "销售经理: the team's customers, pipeline, orders and reports; stock levels",
        ("customers:read", "customers:write", "customers:reassign", "opportunities:read", "opportunities:write",
         "targets:write", "orders:read", "orders:write", "orders:override_credit", "stock:read", "tickets:read", "reports:read"),
        "department_tree",
    ),  # fmt: skip
    RoleTemplate(
        "salesperson",
        "销售员: own customers, opportunities and orders; stock levels (what can be promised)",
        ("customers:read", "customers:write", "opportunities:read", "opportunities:write", "orders:read",
         "orders:write", "stock:read", "tickets:read"),
        "own",
    ),  # fmt: skip
    RoleTemplate(
        "service", "客服: tickets of every customer", ("customers:read", "tickets:read", "tickets:write"), "all"
    ),
    RoleTemplate("warehouse", "仓管: stock", ("stock:read", "stock:write", "orders:read"), "all"),
    RoleTemplate(
        "auditor",
        "审计: reads every record and the whole operation log, changes nothing",
        ("audit:read", "customers:read", "opportunities:read", "orders:read", "stock:read", "tickets:read",
         "reports:read"),
        "all",
    ),  # fmt: skip
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
    admin: bool = False
    """Holds the built-in admin role (only an administrator may make or change another)."""

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def owners(self, resource: str) -> frozenset[UUID] | None:
        """Owners whose ``resource`` records this user may see; None means all of them."""
        return self.visible_owners.get(resource, frozenset({self.user_id}))

    def sees(self, resource: str, owner_id: UUID | None) -> bool:
        """Whether one record of ``resource`` owned by ``owner_id`` is within the scope."""
        owners = self.owners(resource)
        return owners is None or owner_id in owners

    def ensure_sees(self, resource: str, owner_id: UUID | None, what: str, record_id: object) -> None:
        """404 unless the record is within the scope: outside it, it does not exist for the caller."""
        if not self.sees(resource, owner_id):
            raise NotFound(f"no {what} with id {record_id}")

    def actors(self, resource: str) -> list[str] | None:
        """``owners`` as actor strings (the operation log filters by who acted); None: all."""
        owners = self.owners(resource)
        return None if owners is None else [str(o) for o in owners]
