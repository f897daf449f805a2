"""The stock catalogue (库存分类与仓库): the category tree stock items are filed under, and the
warehouses they are kept in. One per installation (like the pipeline): a tree and a short list
that change rarely, whose invariants (sibling names unique, no cycles, warehouse codes unique)
are easiest to keep in one place."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput, NotFound

CATALOGUE_ID = uuid5(NAMESPACE_URL, "crm-es:stock-catalogue")
WAREHOUSE_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:warehouse")
MAX_CATEGORIES = 5000
MAX_DEPTH = 8
MAX_WAREHOUSES = 200
PATH_SEPARATOR = "/"
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")

DEFAULT_WAREHOUSE = {"code": "MAIN", "name": "主仓库", "address": None}
"""The warehouse every installation starts with: items go there unless another is named."""


def warehouse_id(code: str) -> UUID:
    """A warehouse's id derives from its code."""
    return uuid5(WAREHOUSE_NAMESPACE, code.upper())


def _key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def check_category_name(field: str, value: Any) -> str:
    name = check_text(field, value, 50, required=True)
    assert name is not None
    if PATH_SEPARATOR in name:
        raise InvalidInput.on(field, f"must not contain {PATH_SEPARATOR!r} (it separates the names of a category path)")
    return name


def check_code(value: Any) -> str:
    code = check_text("code", value, 32, required=True)
    assert code is not None
    code = unicodedata.normalize("NFKC", code).upper()
    if not _CODE.match(code):
        raise InvalidInput.on("code", "must be 1-32 letters, digits, - or _, starting with a letter or digit")
    return code


class StockCatalogue(CrmAggregate):
    """Categories (a tree) and warehouses."""

    @staticmethod
    def create_id(**_: Any) -> UUID:  # type: ignore[override]
        return CATALOGUE_ID

    @classmethod
    def create(cls) -> StockCatalogue:
        code = DEFAULT_WAREHOUSE["code"]
        assert code is not None
        return cls(warehouses=({"id": warehouse_id(code), **DEFAULT_WAREHOUSE},))

    @event("Created")
    def __init__(self, *, warehouses: tuple[dict[str, Any], ...]) -> None:
        self.categories: dict[UUID, dict[str, Any]] = {}
        self.warehouses: dict[UUID, dict[str, Any]] = {w["id"]: {k: v for k, v in w.items() if k != "id"} for w in warehouses}

    # Categories ---------------------------------------------------------------------------------

    def category(self, category_id: UUID, field: str = "category_id") -> dict[str, Any]:
        found = self.categories.get(category_id)
        if found is None:
            raise InvalidInput.on(field, f"no stock category with id {category_id}")
        return found

    def ancestors(self, category_id: UUID) -> list[UUID]:
        """The category's ancestors and itself, root first."""
        chain: list[UUID] = []
        current: UUID | None = category_id
        while current is not None:
            chain.append(current)
            current = self.categories[current]["parent_id"]
        return chain[::-1]

    def path(self, category_id: UUID) -> str:
        """The names from the root down to the category: 五金/紧固件/螺丝."""
        return PATH_SEPARATOR.join(self.categories[c]["name"] for c in self.ancestors(category_id))

    def find_path(self, path: str, field: str = "category") -> UUID:
        """The category named by a path of names (case-insensitive), or 422 on ``field``."""
        parent: UUID | None = None
        names = [n.strip() for n in path.split(PATH_SEPARATOR) if n.strip()]
        if not names:
            raise InvalidInput.on(field, "must name a category: its id, or its path such as 五金/紧固件")
        for depth, name in enumerate(names):
            found = self._child(parent, name)
            if found is None:
                known = PATH_SEPARATOR.join(names[:depth]) or "the top level"
                raise InvalidInput.on(field, f"no category {name!r} under {known}")
            parent = found
        assert parent is not None
        return parent

    def _child(self, parent_id: UUID | None, name: str) -> UUID | None:
        key = _key(name)
        for category_id, category in self.categories.items():
            if category["parent_id"] == parent_id and _key(category["name"]) == key:
                return category_id
        return None

    def _check_free_name(self, parent_id: UUID | None, name: str, but: UUID | None = None) -> None:
        taken = self._child(parent_id, name)
        if taken is not None and taken != but:
            where = f"under {self.path(parent_id)}" if parent_id else "at the top level"
            raise Conflict(f"there is a category {name!r} {where} already", category_id=str(taken))

    def _depth(self, category_id: UUID) -> int:
        """Levels of the subtree below and including the category."""
        children = [c for c, v in self.categories.items() if v["parent_id"] == category_id]
        return 1 + max((self._depth(c) for c in children), default=0)

    def add_category(self, *, category_id: UUID, name: Any, parent_id: UUID | None = None) -> None:
        name = check_category_name("name", name)
        if category_id in self.categories:
            raise Conflict(f"category {category_id} exists already")
        if len(self.categories) >= MAX_CATEGORIES:
            raise Conflict(f"the catalogue has the most categories it may have ({MAX_CATEGORIES})")
        if parent_id is not None:
            self.category(parent_id, "parent_id")
            if len(self.ancestors(parent_id)) >= MAX_DEPTH:
                raise InvalidInput.on("parent_id", f"categories nest at most {MAX_DEPTH} levels deep")
        self._check_free_name(parent_id, name)
        self._category_added(category_id=category_id, name=name, parent_id=parent_id)

    @event("CategoryAdded")
    def _category_added(self, category_id: UUID, name: str, parent_id: UUID | None) -> None:
        self.categories[category_id] = {"name": name, "parent_id": parent_id}

    def rename_category(self, category_id: UUID, name: Any) -> None:
        category = self.category(category_id)
        name = check_category_name("name", name)
        if name == category["name"]:
            return
        self._check_free_name(category["parent_id"], name, but=category_id)
        self._category_renamed(category_id=category_id, name=name, previous_name=category["name"])

    @event("CategoryRenamed")
    def _category_renamed(self, category_id: UUID, name: str, previous_name: str) -> None:
        self.categories[category_id]["name"] = name

    def move_category(self, category_id: UUID, parent_id: UUID | None) -> None:
        """Put the category (with everything below it) under another parent, or at the top."""
        category = self.category(category_id)
        if parent_id == category["parent_id"]:
            return
        if parent_id is not None:
            self.category(parent_id, "parent_id")
            if category_id in self.ancestors(parent_id):
                raise Conflict("a category cannot be moved under itself or under a category below it")
            if len(self.ancestors(parent_id)) + self._depth(category_id) > MAX_DEPTH:
                raise InvalidInput.on("parent_id", f"categories nest at most {MAX_DEPTH} levels deep")
        self._check_free_name(parent_id, category["name"], but=category_id)
        self._category_moved(category_id=category_id, parent_id=parent_id, previous_parent_id=category["parent_id"])

    @event("CategoryMoved")
    def _category_moved(self, category_id: UUID, parent_id: UUID | None, previous_parent_id: UUID | None) -> None:
        self.categories[category_id]["parent_id"] = parent_id

    # Warehouses ---------------------------------------------------------------------------------

    def warehouse(self, warehouse_id_: UUID, field: str = "warehouse_id") -> dict[str, Any]:
        found = self.warehouses.get(warehouse_id_)
        if found is None:
            raise InvalidInput.on(field, f"no warehouse with id {warehouse_id_}")
        return found

    def add_warehouse(self, *, code: Any, name: Any, address: Any = None) -> UUID:
        code = check_code(code)
        new_id = warehouse_id(code)
        if new_id in self.warehouses:
            raise Conflict(f"there is a warehouse with code {code} already", warehouse_id=str(new_id))
        if len(self.warehouses) >= MAX_WAREHOUSES:
            raise Conflict(f"crm-es keeps at most {MAX_WAREHOUSES} warehouses")
        name = check_text("name", name, 100, required=True)
        self._check_free_warehouse_name(name)
        self._warehouse_added(warehouse_id=new_id, code=code, name=name, address=check_text("address", address, 300))
        return new_id

    def _check_free_warehouse_name(self, name: str, but: UUID | None = None) -> None:
        for other_id, other in self.warehouses.items():
            if other_id != but and _key(other["name"]) == _key(name):
                raise Conflict(f"there is a warehouse named {name!r} already ({other['code']})")

    @event("WarehouseAdded")
    def _warehouse_added(self, warehouse_id: UUID, code: str, name: str, address: str | None) -> None:
        self.warehouses[warehouse_id] = {"code": code, "name": name, "address": address}

    def update_warehouse(self, warehouse_id_: UUID, **fields: Any) -> None:
        """Change the name and/or the address (the code is the warehouse's identity)."""
        if warehouse_id_ not in self.warehouses:
            raise NotFound(f"no warehouse with id {warehouse_id_}")
        current = self.warehouses[warehouse_id_]
        changes: dict[str, Any] = {}
        if "name" in fields:
            name = check_text("name", fields["name"], 100, required=True)
            assert name is not None
            if name != current["name"]:
                self._check_free_warehouse_name(name, but=warehouse_id_)
                changes["name"] = name
        if "address" in fields:
            address = check_text("address", fields["address"], 300)
            if address != current["address"]:
                changes["address"] = address
        if changes:
            self._warehouse_updated(warehouse_id=warehouse_id_, changes=changes)

    @event("WarehouseUpdated")
    def _warehouse_updated(self, warehouse_id: UUID, changes: dict[str, Any]) -> None:
        self.warehouses[warehouse_id].update(changes)
