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
state of the list (``RegionIndex``).

Lists with fixed keys (activity kinds, satisfaction levels) have keys that the API contract
defines: they can be relabelled, but no key can be added, retired or reinstated.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate
from crm_es.errors import Conflict, FieldError, InvalidInput, NotFound

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


# Region names as people write them ---------------------------------------------------------------

Place = tuple[str, str | None]
"""A province key with one of its city keys, or None for the province itself."""

SUGGESTIONS_MAX = 5
"""How many close names an error suggests."""

SHOWN_MAX = 20
"""How many accepted names an error lists when no close one is found."""

SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "林区", "新区", "省", "市", "盟", "区")
"""The endings a short form leaves out, longest first (only the first that matches): 浙江省 →
浙江, 宁波市 → 宁波, 内蒙古自治区 → 内蒙古, 香港特别行政区 → 香港, 阿里地区 → 阿里, 兴安盟 → 兴安,
神农架林区 → 神农架, and a municipality's districts as an administrator adds them (浦东新区 →
浦东). A short form keeps at least two characters."""

_AUTONOMOUS = frozenset({"自治区", "自治州"})

_ETHNIC_GROUPS = tuple(sorted((
    "壮", "回", "满", "维吾尔", "苗", "彝", "土家", "藏", "蒙古", "侗", "布依", "瑶", "白", "朝鲜", "哈尼",
    "黎", "哈萨克", "傣", "畲", "傈僳", "东乡", "仡佬", "拉祜", "佤", "水", "纳西", "羌", "土", "仫佬", "锡伯",
    "柯尔克孜", "景颇", "达斡尔", "撒拉", "布朗", "毛南", "塔吉克", "普米", "阿昌", "怒", "鄂温克", "京", "基诺",
    "德昂", "保安", "俄罗斯", "裕固", "乌孜别克", "门巴", "鄂伦春", "独龙", "赫哲", "高山", "珞巴", "塔塔尔",
), key=len, reverse=True))  # fmt: skip
"""The 55 ethnic minorities (少数民族). An autonomous region or prefecture is also called by its
place name alone: 广西壮族自治区 → 广西, 延边朝鲜族自治州 → 延边, 伊犁哈萨克自治州 → 伊犁."""


def normal_name(value: str) -> str:
    """A name as the lookup tables hold it: NFKC (full-width letters, digits and spaces become
    their usual forms), without surrounding spaces."""
    return unicodedata.normalize("NFKC", value).strip()


def short_forms(name: str) -> list[str]:
    """The shorter names a full name is also written as, longest first; none for a name
    without a known ending (浙江 has none, 恩施土家族苗族自治州 has 恩施土家族苗族, 恩施土家族 and 恩施)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            break
    else:
        return []
    forms = [name[: -len(suffix)]]
    if len(forms[0]) < 2:
        return []
    if suffix in _AUTONOMOUS:
        while (shorter := _without_ethnic_group(forms[-1])) is not None:
            forms.append(shorter)
    return forms


def _without_ethnic_group(name: str) -> str | None:
    """``name`` without the ethnic group it ends with (壮族, 哈萨克), keeping two characters."""
    for group in _ETHNIC_GROUPS:
        endings = (group + "族", group) if len(group) > 1 else (group + "族",)  # 回 alone is no ending
        for ending in endings:
            if name.endswith(ending) and len(name) - len(ending) >= 2:
                return name[: -len(ending)]
    return None


def _core(name: str) -> str:
    """The shortest form of a name: what suggestions compare."""
    forms = short_forms(name)
    return forms[-1] if forms else name


def _shown(places: Iterable[Place]) -> str:
    names = [_place(p) for p in places]
    text = ", ".join(names[:SHOWN_MAX])
    if len(names) > SHOWN_MAX:
        text += f", … ({len(names) - SHOWN_MAX} more)"
    return text or "none"


def _place(place: Place) -> str:
    return place[0] if place[1] is None else place[1]


def _where(place: Place) -> str:
    return place[0] if place[1] is None else f"{place[1]} ({place[0]})"


def _named(typed: str, key: str) -> str:
    return repr(typed) if typed == key else f"{typed!r} ({key})"


def _refused(field_name: str, message: str, suggestions: Iterable[Place] = ()) -> InvalidInput:
    """A 422 on the field; ``suggestions`` are what the person may have meant, as data."""
    return InvalidInput(
        f"{field_name}: {message}",
        errors=[FieldError(field_name, message)],
        suggestions=[{"province": p, "city": c} for p, c in suggestions],
    )


def _typed(field_name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput.on(field_name, "must be a string")
    return normal_name(value) or None


class RegionIndex:
    """The regions list at one state (``items``) as lookup tables: every full and short name of
    a province or city to its keys. Built once per state of the list (see
    ``ReferenceList._region_index``) and never changed, so resolving a name is a few dictionary
    lookups; only an error's suggestions scan the list."""

    def __init__(self, items: Mapping[str, Item]) -> None:
        self.items = items
        self._provinces: dict[str, list[Place]] = {}  # full name -> places (one, normally)
        self._provinces_short: dict[str, list[Place]] = {}  # short form -> places
        self._cities: dict[str, list[Place]] = {}
        self._cities_short: dict[str, list[Place]] = {}
        self._cores: dict[Place, str] = {}
        for province in items.values():
            self._add(self._provinces, self._provinces_short, province.key, (province.key, None))
            for city in province.children.values():
                self._add(self._cities, self._cities_short, city.key, (province.key, city.key))

    def _add(self, full: dict[str, list[Place]], short: dict[str, list[Place]], key: str, place: Place) -> None:
        name = normal_name(key)
        full.setdefault(name, []).append(place)
        forms = short_forms(name)
        for form in forms:
            short.setdefault(form, []).append(place)
        self._cores[place] = forms[-1] if forms else name

    def __repr__(self) -> str:
        return f"RegionIndex({len(self._provinces)} provinces, {len(self._cores) - len(self._provinces)} cities)"

    def __copy__(self) -> RegionIndex:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> RegionIndex:
        return self  # immutable; a copied list sees that it was built for other items and rebuilds

    # Resolving ---------------------------------------------------------------------------------

    def resolve(
        self, province: Any, city: Any, current: tuple[str | None, str | None]
    ) -> tuple[str | None, str | None]:
        """See ``ReferenceList.resolve_region``."""
        province_name, city_name = _typed("province", province), _typed("city", city)
        province_key = None if province_name is None else self._province(province_name, current)
        if city_name is None:
            return province_key, None
        if province_key is None:
            return self._city_alone(city_name, current)
        return province_key, self._city_of(province_key, city_name, current)

    def _province(self, name: str, current: tuple[str | None, str | None]) -> str:
        matches = self._provinces.get(name) or self._provinces_short.get(name, [])
        if not matches:
            raise self._unknown_province(name)
        accepted = [m for m in matches if self._accepted(m, current)]
        if len(accepted) > 1:
            raise self._ambiguous("province", name, accepted, "give the full name")
        if not accepted:
            raise _refused(
                "province", f"{_named(name, matches[0][0])} is retired and no longer accepted; "
                f"known values: {_shown(self._active_provinces())}", self._closest(name, self._active_provinces()),
            )  # fmt: skip
        return accepted[0][0]

    def _city_of(self, province: str, name: str, current: tuple[str | None, str | None]) -> str:
        """The key of the city ``name`` of ``province``."""
        matches = [m for m in self._cities.get(name, ()) if m[0] == province] or [
            m for m in self._cities_short.get(name, ()) if m[0] == province
        ]
        cities = self._active_cities(province)
        if len(matches) > 1:
            raise self._ambiguous("city", name, matches, "give the full name")
        if matches:
            if not self._accepted(matches[0], current):
                raise _refused(
                    "city", f"{_named(name, _place(matches[0]))} (or its province) is retired and no longer "
                    f"accepted; its cities: {_shown(cities)}", self._closest(name, cities),
                )  # fmt: skip
            return _place(matches[0])
        elsewhere = self._city_matches(name)
        if elsewhere:
            provinces = " or ".join(dict.fromkeys(p for p, _ in elsewhere))
            raise _refused("city", f"{name!r} is a city of {provinces}, not {province}", elsewhere)
        close = self._closest(name, cities)
        if close:
            raise _refused("city", f"{name!r} is not a city of {province}; did you mean {_shown(close)}?", close)
        raise _refused(
            "city", f"{name!r} is not a city of {province}; its cities: {_shown(cities)}", cities[:SUGGESTIONS_MAX]
        )

    def _city_alone(self, name: str, current: tuple[str | None, str | None]) -> tuple[str, str]:
        """The province and city keys of the city ``name`` given without its province."""
        exact = self._cities.get(name)
        matches = exact or self._cities_short.get(name, [])
        accepted = [m for m in matches if self._accepted(m, current)]
        if not exact and accepted:
            # A short form that also names another province (海南: 海南省, or 海南藏族自治州 of 青海省).
            ours = {p for p, _ in accepted}
            others = [m for m in self._province_matches(name) if m[0] not in ours and self._active(m)]
            if others:
                raise self._ambiguous("city", name, [*accepted, *others], "give the province too")
        if len(accepted) > 1:
            raise self._ambiguous("city", name, accepted, "give the province too")
        if accepted:
            province, city = accepted[0]
            assert city is not None
            return province, city
        cities = self._active_cities()
        if matches:
            raise _refused(
                "city", f"{_named(name, _place(matches[0]))} (or its province) is retired and no longer accepted",
                self._closest(name, cities),
            )  # fmt: skip
        provinces = [m for m in self._province_matches(name) if self._active(m)]
        if provinces:
            theirs = [c for p, _ in provinces for c in self._active_cities(p)]
            raise _refused(
                "city", f"{_named(name, provinces[0][0])} is a province, not a city; its cities: {_shown(theirs)}",
                theirs[:SUGGESTIONS_MAX],
            )  # fmt: skip
        close = self._closest(name, cities)
        if close:
            raise _refused("city", f"{name!r} is not a known city; did you mean {', '.join(map(_where, close))}?", close)
        raise _refused(
            "city", f"{name!r} is not a known city; give the province too, or pick one of: {_shown(cities)}"
        )

    def _unknown_province(self, name: str) -> InvalidInput:
        cities = [m for m in self._city_matches(name) if self._active(m)]
        if cities:
            provinces = " or ".join(dict.fromkeys(p for p, _ in cities))
            return _refused("province", f"{name!r} is not a province but a city of {provinces}", cities)
        provinces = self._active_provinces()
        close = self._closest(name, provinces)
        if close:
            return _refused("province", f"{name!r} is not a known province; did you mean {_shown(close)}?", close)
        return _refused("province", f"{name!r} is not a known province; known values: {_shown(provinces)}")

    @staticmethod
    def _ambiguous(field_name: str, name: str, places: list[Place], hint: str) -> InvalidInput:
        return _refused(field_name, f"{name!r} could be {' or '.join(map(_where, places))}; {hint}", places)

    # Helpers -----------------------------------------------------------------------------------

    def _province_matches(self, name: str) -> list[Place]:
        return self._provinces.get(name) or self._provinces_short.get(name, [])

    def _city_matches(self, name: str) -> list[Place]:
        return self._cities.get(name) or self._cities_short.get(name, [])

    def _active(self, place: Place) -> bool:
        """Accepted for new values: neither the province nor the city is retired."""
        province = self.items[place[0]]
        return not province.retired and (place[1] is None or not province.children[place[1]].retired)

    def _accepted(self, place: Place, current: tuple[str | None, str | None]) -> bool:
        """Active, or what the record has now (kept even if retired since)."""
        if self._active(place):
            return True
        province, city = place
        if city is None:
            return province == current[0]
        return city == current[1] and current[0] in (None, province)

    def _active_provinces(self) -> list[Place]:
        return [(p.key, None) for p in self.items.values() if not p.retired]

    def _active_cities(self, province: str | None = None) -> list[Place]:
        """The active cities of the province, or of every province."""
        provinces = self.items.values() if province is None else [self.items[province]]
        return [(p.key, c.key) for p in provinces if not p.retired for c in p.children.values() if not c.retired]

    def _closest(self, name: str, places: list[Place]) -> list[Place]:
        """A few of ``places`` whose names share most of their characters with ``name``, those
        that begin the same way first."""
        query = _core(name)
        wanted = set(query)
        scored = []
        for order, place in enumerate(places):
            core = self._cores[place]
            shared = len(wanted & set(core))
            if shared and 2 * shared >= len(wanted):
                prefix = len(os.path.commonprefix([query, core]))
                scored.append((-prefix, -shared, abs(len(core) - len(query)), order, place))
        scored.sort()
        if scored and scored[0][0] < 0:  # some begin like the name: only those
            scored = [s for s in scored if s[0] < 0]
        return [s[-1] for s in scored[:SUGGESTIONS_MAX]]


# The lists and their defaults ------------------------------------------------------------------

Default = tuple[str, str, tuple[tuple[str, str], ...]]
"""(key, label, children as (key, label) pairs: a province's cities)"""


@dataclass(frozen=True)
class ListSpec:
    key: str
    title: str
    defaults: tuple[Default, ...]
    fixed_keys: bool = False
    nested: bool = False


def _same(values: Iterable[str]) -> tuple[Default, ...]:
    """Items whose label is their key (Chinese lists)."""
    return tuple((v, v, ()) for v in values)


INDUSTRIES = (
    "纺织服装", "机械制造", "电子电器", "外贸", "食品饮料", "化工", "物流", "软件信息", "建筑建材", "医药",
    "汽车配件", "家居用品", "教育培训", "金融服务", "其他",
)  # fmt: skip
SOURCES = ("展会", "转介绍", "网络推广", "电话营销", "老客户推荐", "广告", "其他")
CUSTOMER_LEVELS = (("A", "重点客户"), ("B", "重要客户"), ("C", "普通客户"), ("D", "一般客户"))
LOST_REASONS = ("价格过高", "竞争对手胜出", "需求取消", "预算不足", "决策延期", "产品不符合需求", "其他")
ACTIVITY_KINDS = (("visit", "拜访"), ("call", "电话"), ("email", "邮件"), ("meeting", "会议"), ("other", "其他"))
SATISFACTION_LEVELS = (("1", "不满意"), ("2", "基本满意"), ("3", "满意"), ("4", "新奇"), ("5", "惊喜"))

# Provincial-level divisions (省级行政区) with their prefecture-level cities (地级行政区, and a
# few county-level cities administered by the province directly). Municipalities and special
# administrative regions are their own city.
REGIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("北京市", ("北京市",)),
    ("天津市", ("天津市",)),
    ("上海市", ("上海市",)),
    ("重庆市", ("重庆市",)),
    ("河北省", ("石家庄市", "唐山市", "秦皇岛市", "邯郸市", "邢台市", "保定市", "张家口市", "承德市", "沧州市",
               "廊坊市", "衡水市")),
    ("山西省", ("太原市", "大同市", "阳泉市", "长治市", "晋城市", "朔州市", "晋中市", "运城市", "忻州市", "临汾市",
               "吕梁市")),
    ("内蒙古自治区", ("呼和浩特市", "包头市", "乌海市", "赤峰市", "通辽市", "鄂尔多斯市", "呼伦贝尔市",
                    "巴彦淖尔市", "乌兰察布市", "兴安盟", "锡林郭勒盟", "阿拉善盟")),
    ("辽宁省", ("沈阳市", "大连市", "鞍山市", "抚顺市", "本溪市", "丹东市", "锦州市", "营口市", "阜新市", "辽阳市",
               "盘锦市", "铁岭市", "朝阳市", "葫芦岛市")),
    ("吉林省", ("长春市", "吉林市", "四平市", "辽源市", "通化市", "白山市", "松原市", "白城市", "延边朝鲜族自治州")),
    ("黑龙江省", ("哈尔滨市", "齐齐哈尔市", "鸡西市", "鹤岗市", "双鸭山市", "大庆市", "伊春市", "佳木斯市",
                 "七台河市", "牡丹江市", "黑河市", "绥化市", "大兴安岭地区")),
    ("江苏省", ("南京市", "无锡市", "徐州市", "常州市", "苏州市", "南通市", "连云港市", "淮安市", "盐城市", "扬州市",
               "镇江市", "泰州市", "宿迁市")),
    ("浙江省", ("杭州市", "宁波市", "温州市", "嘉兴市", "湖州市", "绍兴市", "金华市", "衢州市", "舟山市", "台州市",
               "丽水市")),
    ("安徽省", ("合肥市", "芜湖市", "蚌埠市", "淮南市", "马鞍山市", "淮北市", "铜陵市", "安庆市", "黄山市", "滁州市",
               "阜阳市", "宿州市", "六安市", "亳州市", "池州市", "宣城市")),
    ("福建省", ("福州市", "厦门市", "莆田市", "三明市", "泉州市", "漳州市", "南平市", "龙岩市", "宁德市")),
    ("江西省", ("南昌市", "景德镇市", "萍乡市", "九江市", "新余市", "鹰潭市", "赣州市", "吉安市", "宜春市", "抚州市",
               "上饶市")),
    ("山东省", ("济南市", "青岛市", "淄博市", "枣庄市", "东营市", "烟台市", "潍坊市", "济宁市", "泰安市", "威海市",
               "日照市", "临沂市", "德州市", "聊城市", "滨州市", "菏泽市")),
    ("河南省", ("郑州市", "开封市", "洛阳市", "平顶山市", "安阳市", "鹤壁市", "新乡市", "焦作市", "濮阳市", "许昌市",
               "漯河市", "三门峡市", "南阳市", "商丘市", "信阳市", "周口市", "驻马店市", "济源市")),
    ("湖北省", ("武汉市", "黄石市", "十堰市", "宜昌市", "襄阳市", "鄂州市", "荆门市", "孝感市", "荆州市", "黄冈市",
               "咸宁市", "随州市", "恩施土家族苗族自治州", "仙桃市", "潜江市", "天门市", "神农架林区")),
    ("湖南省", ("长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市", "郴州市",
               "永州市", "怀化市", "娄底市", "湘西土家族苗族自治州")),
    ("广东省", ("广州市", "韶关市", "深圳市", "珠海市", "汕头市", "佛山市", "江门市", "湛江市", "茂名市", "肇庆市",
               "惠州市", "梅州市", "汕尾市", "河源市", "阳江市", "清远市", "东莞市", "中山市", "潮州市", "揭阳市",
               "云浮市")),
    ("广西壮族自治区", ("南宁市", "柳州市", "桂林市", "梧州市", "北海市", "防城港市", "钦州市", "贵港市", "玉林市",
                      "百色市", "贺州市", "河池市", "来宾市", "崇左市")),
    ("海南省", ("海口市", "三亚市", "三沙市", "儋州市")),
    ("四川省", ("成都市", "自贡市", "攀枝花市", "泸州市", "德阳市", "绵阳市", "广元市", "遂宁市", "内江市", "乐山市",
               "南充市", "眉山市", "宜宾市", "广安市", "达州市", "雅安市", "巴中市", "资阳市", "阿坝藏族羌族自治州",
               "甘孜藏族自治州", "凉山彝族自治州")),
    ("贵州省", ("贵阳市", "六盘水市", "遵义市", "安顺市", "毕节市", "铜仁市", "黔西南布依族苗族自治州",
               "黔东南苗族侗族自治州", "黔南布依族苗族自治州")),
    ("云南省", ("昆明市", "曲靖市", "玉溪市", "保山市", "昭通市", "丽江市", "普洱市", "临沧市", "楚雄彝族自治州",
               "红河哈尼族彝族自治州", "文山壮族苗族自治州", "西双版纳傣族自治州", "大理白族自治州",
               "德宏傣族景颇族自治州", "怒江傈僳族自治州", "迪庆藏族自治州")),
    ("西藏自治区", ("拉萨市", "日喀则市", "昌都市", "林芝市", "山南市", "那曲市", "阿里地区")),
    ("陕西省", ("西安市", "铜川市", "宝鸡市", "咸阳市", "渭南市", "延安市", "汉中市", "榆林市", "安康市", "商洛市")),
    ("甘肃省", ("兰州市", "嘉峪关市", "金昌市", "白银市", "天水市", "武威市", "张掖市", "平凉市", "酒泉市", "庆阳市",
               "定西市", "陇南市", "临夏回族自治州", "甘南藏族自治州")),
    ("青海省", ("西宁市", "海东市", "海北藏族自治州", "黄南藏族自治州", "海南藏族自治州", "果洛藏族自治州",
               "玉树藏族自治州", "海西蒙古族藏族自治州")),
    ("宁夏回族自治区", ("银川市", "石嘴山市", "吴忠市", "固原市", "中卫市")),
    ("新疆维吾尔自治区", ("乌鲁木齐市", "克拉玛依市", "吐鲁番市", "哈密市", "昌吉回族自治州", "博尔塔拉蒙古自治州",
                        "巴音郭楞蒙古自治州", "阿克苏地区", "克孜勒苏柯尔克孜自治州", "喀什地区", "和田地区",
                        "伊犁哈萨克自治州", "塔城地区", "阿勒泰地区")),
    ("台湾省", ("台北市", "新北市", "桃园市", "台中市", "台南市", "高雄市")),
    ("香港特别行政区", ("香港特别行政区",)),
    ("澳门特别行政区", ("澳门特别行政区",)),
)  # fmt: skip

LISTS: dict[str, ListSpec] = {
    spec.key: spec
    for spec in (
        ListSpec("industries", "行业", _same(INDUSTRIES)),
        ListSpec("sources", "客户来源", _same(SOURCES)),
        ListSpec("customer_levels", "客户等级", tuple((k, v, ()) for k, v in CUSTOMER_LEVELS)),
        ListSpec(
            "regions", "地区",
            tuple((p, p, tuple((c, c) for c in cities)) for p, cities in REGIONS),
            nested=True,
        ),  # fmt: skip
        ListSpec("lost_reasons", "失单原因", _same(LOST_REASONS)),
        ListSpec("activity_kinds", "行动类型", tuple((k, v, ()) for k, v in ACTIVITY_KINDS), fixed_keys=True),
        ListSpec("satisfaction_levels", "满意度", tuple((k, v, ()) for k, v in SATISFACTION_LEVELS), fixed_keys=True),
    )
}
"""Every reference list, in the order screens show them."""
