"""Roles (角色): function permissions and a data scope per resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.access import PERMISSIONS, RESOURCES, SCOPES
from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import InvalidInput

ROLE_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:role")


def check_permissions(permissions: Iterable[Any]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(permissions))
    unknown = [p for p in cleaned if p not in PERMISSIONS]
    if unknown:
        raise InvalidInput.on("permissions", f"unknown permissions: {', '.join(map(str, unknown))}")
    return tuple(sorted(cleaned))


def check_scope(field: str, scope: Any) -> str:
    if scope not in SCOPES:
        raise InvalidInput.on(field, f"must be one of {', '.join(SCOPES)}")
    return scope


def check_scopes(scopes: Mapping[str, Any] | None) -> dict[str, str]:
    cleaned = {}
    for resource, scope in (scopes or {}).items():
        if resource not in RESOURCES:
            raise InvalidInput.on("scopes", f"unknown resource {resource!r}; known: {', '.join(RESOURCES)}")
        cleaned[resource] = check_scope(f"scopes.{resource}", scope)
    return dict(sorted(cleaned.items()))


def check_role_name(name: Any) -> str:
    return check_text("name", name, 64, required=True)  # type: ignore[return-value]


class Role(CrmAggregate):
    """Grants permissions; ``data_scope`` applies to every resource unless ``scopes`` names
    another scope for it."""

    @staticmethod
    def create_id(name: str, **_: Any) -> UUID:  # type: ignore[override]
        # A role's id derives from its name, which makes role names unique.
        return uuid5(ROLE_NAMESPACE, name.lower())

    @classmethod
    def create(
        cls, *, name: str, description: str | None, permissions: Iterable[Any], data_scope: str,
        scopes: Mapping[str, Any] | None = None,
    ) -> Role:  # fmt: skip
        return cls(
            name=check_role_name(name),
            description=(description or "").strip() or None,
            permissions=check_permissions(permissions),
            data_scope=check_scope("data_scope", data_scope),
            scopes=check_scopes(scopes),
        )

    @event("Created")
    def __init__(
        self, *, name: str, description: str | None, permissions: tuple[str, ...], data_scope: str,
        scopes: dict[str, str],
    ) -> None:  # fmt: skip
        self.name = name
        self.description = description
        self.permissions = tuple(permissions)
        self.data_scope = data_scope
        self.scopes = dict(scopes)

    def change_permissions(self, permissions: Iterable[Any]) -> None:
        cleaned = check_permissions(permissions)
        if cleaned != self.permissions:
            self._permissions_changed(permissions=cleaned)

    @event("PermissionsChanged")
    def _permissions_changed(self, permissions: tuple[str, ...]) -> None:
        self.permissions = permissions

    def change_scope(self, *, data_scope: str | None = None, scopes: Mapping[str, Any] | None = None) -> None:
        new_scope = self.data_scope if data_scope is None else check_scope("data_scope", data_scope)
        new_scopes = self.scopes if scopes is None else check_scopes(scopes)
        if new_scope != self.data_scope or new_scopes != self.scopes:
            self._scope_changed(data_scope=new_scope, scopes=new_scopes)

    @event("ScopeChanged")
    def _scope_changed(self, data_scope: str, scopes: dict[str, str]) -> None:
        self.data_scope = data_scope
        self.scopes = scopes

    def scope_of(self, resource: str) -> str:
        return self.scopes.get(resource, self.data_scope)
