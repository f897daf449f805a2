"""Departments (部门): a tree with a manager (上级)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import InvalidInput


def check_name(name: Any) -> str:
    return check_text("name", name, 100, required=True)  # type: ignore[return-value]


class Department(CrmAggregate):
    """A unit of the company. The application checks that moves keep the tree a tree."""

    @classmethod
    def create(cls, *, name: str, parent_id: UUID | None) -> Department:
        return cls(name=check_name(name), parent_id=parent_id)

    @event("Created")
    def __init__(self, *, name: str, parent_id: UUID | None) -> None:
        self.name = name
        self.parent_id = parent_id
        self.manager_id: UUID | None = None

    def rename(self, name: str) -> None:
        name = check_name(name)
        if name != self.name:
            self._renamed(name=name)

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def move_under(self, parent_id: UUID | None) -> None:
        if parent_id == self.id:
            raise InvalidInput.on("parent_id", "a department cannot be its own parent")
        if parent_id != self.parent_id:
            self._moved(parent_id=parent_id, previous_parent_id=self.parent_id)

    @event("Moved")
    def _moved(self, parent_id: UUID | None, previous_parent_id: UUID | None) -> None:
        self.parent_id = parent_id

    def set_manager(self, manager_id: UUID | None) -> None:
        if manager_id != self.manager_id:
            self._manager_set(manager_id=manager_id)

    @event("ManagerSet")
    def _manager_set(self, manager_id: UUID | None) -> None:
        self.manager_id = manager_id
