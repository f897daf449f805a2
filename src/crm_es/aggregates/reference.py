"""Reference data (基础信息): admin-editable lists that customer and other fields are picked from.

One ``ReferenceList`` aggregate per list; its id derives from the list key, so creating the
default lists is idempotent. An item has a stable ``key`` (what records store; for Chinese lists
the Chinese value itself) and a ``label`` (what screens show). Items are never deleted: a
retired item stays for history (old records keep it) but is refused for new values, and can be
reinstated.

The regions list is the one nested list: its top-level items are provinces (省级行政区), and
each province's sub-items are its cities. A city is addressed by its province's key
(``parent_key``); the same events serve both levels, with ``parent_key`` null for a province.
``ReferenceList.resolve_region`` reads a province and city as people write them (浙江, 宁波,
内蒙古) and answers their keys (浙江省, 宁波市, 内蒙古自治区), from lookup tables built once per
state of the list (``RegionIndex``, in regions.py). The default lists are in
reference_defaults.py.

Lists with fixed keys (activity kinds, satisfaction levels) have keys that the API contract
defines: they can be relabelled, but no key can be added, retired or reinstated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate
from crm_es.aggregates.reference_defaults import LISTS, REGIONS, ListSpec
from crm_es.aggregates.regions import RegionIndex, short_forms
from crm_es.errors import Conflict, InvalidInput, NotFound

__all__ = [  # the aggregate, and the lists and region names it works with
    "KEY_MAX", "LABEL_MAX", "LISTS", "REGIONS", "REFERENCE_NAMESPACE", "Item", "ListSpec", "ReferenceList",
    "RegionIndex", "check_key", "check_label", "short_forms",
]  # fmt: skip

REFERENCE_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:reference-list")

KEY_MAX = 50
LABEL_MAX = 100


@dataclass(frozen=True)
class Item:
    """One entry of a list; ``children`` are a province's cities (regions only). Immutable: a
    change replaces the item, so a reader holding the list sees a consistent state."""

    key: str
    label: str
    retired: bool = False
    children: Mapping[str, Item] = field(default_factory=dict)


def _check_text(field_name: str, value: Any, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput.on(field_name, "must not be blank")
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInput.on(field_name, f"must be at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidInput.on(field_name, "must not contain control characters")
    return value


def check_key(key: Any, field_name: str = "key") -> str:
    return _check_text(field_name, key, KEY_MAX)


def check_label(label: Any) -> str:
    return _check_text("label", label, LABEL_MAX)


class ReferenceList(CrmAggregate):
    """One reference list: its items in the order they were added."""

    @staticmethod
    def create_id(list_key: str, **_: Any) -> UUID:  # type: ignore[override]
        return uuid5(REFERENCE_NAMESPACE, list_key)

    @classmethod
    def create(cls, spec: ListSpec) -> ReferenceList:
        items = []
        seen: set[str] = set()
        for key, label, children in spec.defaults:
            key = check_key(key)
            if key in seen:
                raise InvalidInput.on("key", f"{key!r} appears twice in the list")
            seen.add(key)
            entry: dict[str, Any] = {"key": key, "label": check_label(label)}
            if spec.nested:
                entry["children"] = [{"key": check_key(k), "label": check_label(v)} for k, v in children]
            items.append(entry)
        return cls(list_key=spec.key, title=spec.title, fixed_keys=spec.fixed_keys, nested=spec.nested, items=items)

    @event("Created")
    def __init__(self, *, list_key: str, title: str, fixed_keys: bool, nested: bool, items: list[dict[str, Any]]) -> None:
        self.list_key = list_key
        self.title = title
        self.fixed_keys = fixed_keys
        self.nested = nested
        self.items: dict[str, Item] = {
            entry["key"]: Item(
                entry["key"], entry["label"],
                children={c["key"]: Item(c["key"], c["label"]) for c in entry.get("children") or ()},
            )  # fmt: skip
            for entry in items
        }

    # Reading ---------------------------------------------------------------------------------

    def find(self, key: str, parent_key: str | None = None) -> Item | None:
        """The item (a city when ``parent_key`` names its province), retired or not."""
        if parent_key is None:
            return self.items.get(key)
        parent = self.items.get(parent_key)
        return None if parent is None else parent.children.get(key)

    def is_active(self, key: str, parent_key: str | None = None) -> bool:
        """Accepted for new values: the item exists and neither it nor its province is retired."""
        item = self.find(key, parent_key)
        if item is None or item.retired:
            return False
        return parent_key is None or not self.items[parent_key].retired

    def active(self, parent_key: str | None = None) -> list[Item]:
        """Items accepted for new values (a province's cities when ``parent_key`` is given)."""
        if parent_key is None:
            return [i for i in self.items.values() if not i.retired]
        parent = self.items.get(parent_key)
        if parent is None or parent.retired:
            return []
        return [c for c in parent.children.values() if not c.retired]

    def provinces_of(self, city: str) -> list[str]:
        """The keys of the provinces that have a city with this key (retired or not)."""
        return [p.key for p in self.items.values() if city in p.children]

    def active_cities(self) -> Iterator[Item]:
        for province in self.active():
            yield from self.active(province.key)

    def resolve_region(
        self, province: Any, city: Any, *, current: tuple[str | None, str | None] = (None, None)
    ) -> tuple[str | None, str | None]:
        """The official keys of a province and city as people write them (regions only).

        Either may be None. Full names, short forms (浙江, 宁波, 上海, 内蒙古, 香港 …) and
        full-width input are accepted; a city alone gets its province when that is unique. The
        ``current`` (province, city) keys of the record are accepted even if retired since; any
        other value must be active. Raises InvalidInput on the field at fault, with
        ``suggestions`` (``[{"province": …, "city": …}]``) naming what the person may have meant.
        """
        return self._region_index().resolve(province, city, current)

    def _region_index(self) -> RegionIndex:
        """The lookup tables of the regions, built once per state of the list. Every event
        replaces ``items`` (copy on write), so tables built from another ``items`` are stale and
        are built again. The tables are derived, not state: no event carries them (reference
        lists are not snapshotted; a snapshot would have to leave ``_regions`` out)."""
        items = self.items
        index: RegionIndex | None = self.__dict__.get("_regions")
        if index is None or index.items is not items:
            index = RegionIndex(items)
            self._regions = index
        return index

    # Commands --------------------------------------------------------------------------------

    def add_item(self, key: Any, label: Any = None, parent_key: Any = None) -> None:
        if self.fixed_keys:
            raise Conflict(f"the keys of {self.list_key} are fixed; items can only be relabelled")
        key = check_key(key)
        label = key if label is None else check_label(label)
        if parent_key is not None:
            parent_key = self._parent(parent_key)
        existing = self.find(key, parent_key)
        if existing is not None:
            state = "a retired item (reinstate it instead)" if existing.retired else "an item"
            raise Conflict(f"{self.list_key} already has {state} with the key {key!r}")
        self._item_added(key=key, label=label, parent_key=parent_key)

    @event("ItemAdded")
    def _item_added(self, key: str, label: str, parent_key: str | None) -> None:
        self._put(Item(key, label), parent_key)

    def relabel_item(self, key: Any, label: Any, parent_key: Any = None) -> None:
        item, parent_key = self._item(key, parent_key)
        label = check_label(label)
        if label != item.label:
            self._item_relabelled(key=item.key, label=label, previous_label=item.label, parent_key=parent_key)

    @event("ItemRelabelled")
    def _item_relabelled(self, key: str, label: str, previous_label: str, parent_key: str | None) -> None:
        self._put(replace(self._stored(key, parent_key), label=label), parent_key)

    def retire_item(self, key: Any, parent_key: Any = None) -> None:
        self._check_not_fixed("retired")
        item, parent_key = self._item(key, parent_key)
        if not item.retired:
            self._item_retired(key=item.key, parent_key=parent_key)

    @event("ItemRetired")
    def _item_retired(self, key: str, parent_key: str | None) -> None:
        self._put(replace(self._stored(key, parent_key), retired=True), parent_key)

    def reinstate_item(self, key: Any, parent_key: Any = None) -> None:
        self._check_not_fixed("reinstated")
        item, parent_key = self._item(key, parent_key)
        if item.retired:
            self._item_reinstated(key=item.key, parent_key=parent_key)

    @event("ItemReinstated")
    def _item_reinstated(self, key: str, parent_key: str | None) -> None:
        self._put(replace(self._stored(key, parent_key), retired=False), parent_key)

    def add_missing_defaults(self, spec: ListSpec) -> None:
        """Add the default items (and cities) this list lacks: defaults introduced after the
        list was created. Fixed keys come from the contract, so they are added here too."""
        for key, label, children in spec.defaults:
            if key not in self.items:
                self._item_added(key=key, label=label, parent_key=None)
            if self.nested:
                for child_key, child_label in children:
                    if child_key not in self.items[key].children:
                        self._item_added(key=child_key, label=child_label, parent_key=key)

    # Helpers ---------------------------------------------------------------------------------

    def _check_not_fixed(self, what: str) -> None:
        if self.fixed_keys:
            raise Conflict(f"the keys of {self.list_key} are fixed; items cannot be {what}, only relabelled")

    def _parent(self, parent_key: Any) -> str:
        if not self.nested:
            raise InvalidInput.on("parent_key", f"{self.list_key} has no sub-items")
        parent_key = check_key(parent_key, "parent_key")
        if parent_key not in self.items:
            raise InvalidInput.on("parent_key", f"{self.list_key} has no item {parent_key!r}")
        return parent_key

    def _item(self, key: Any, parent_key: Any) -> tuple[Item, str | None]:
        """The existing item and its normalised parent key, or NotFound."""
        if parent_key is not None:
            if not self.nested:
                raise InvalidInput.on("parent_key", f"{self.list_key} has no sub-items")
            parent_key = check_key(parent_key, "parent_key")
            if parent_key not in self.items:
                raise NotFound(f"{self.list_key} has no item {parent_key!r}")
        item = self.find(key.strip(), parent_key) if isinstance(key, str) else None
        if item is None:
            where = f" under {parent_key!r}" if parent_key is not None else ""
            raise NotFound(f"{self.list_key} has no item {key!r}{where}")
        return item, parent_key

    def _stored(self, key: str, parent_key: str | None) -> Item:
        item = self.find(key, parent_key)
        assert item is not None
        return item

    def _put(self, item: Item, parent_key: str | None) -> None:
        """Replace (copy on write) rather than change in place: readers of the cached list never
        see a half-made change."""
        if parent_key is None:
            self.items = {**self.items, item.key: item}
        else:
            parent = self.items[parent_key]
            self.items = {**self.items, parent_key: replace(parent, children={**parent.children, item.key: item})}
