"""Region names as people write them: reading a province and city (浙江, 宁波) as their keys."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from crm_es.errors import FieldError, InvalidInput

if TYPE_CHECKING:  # only for annotations: reference.py imports this module
    from crm_es.aggregates.reference import Item

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
