"""The reference-list aggregate: given events, when a command, then events (or an error). No database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from crm_es.aggregates.reference import LISTS, ListSpec, ReferenceList
from crm_es.errors import Conflict, DomainError, InvalidInput, NotFound
from crm_es.store import OrjsonTranscoder

Command = Callable[[ReferenceList], Any]


def created(list_key: str) -> list[ReferenceList.Event]:
    return ReferenceList.create(LISTS[list_key]).collect_events()


def given(events: Sequence[ReferenceList.Event]) -> ReferenceList:
    aggregate: ReferenceList | None = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)  # type: ignore[arg-type]
    assert isinstance(aggregate, ReferenceList)
    assert aggregate.version == len(events)
    return aggregate


def when(reference: ReferenceList, command: Command) -> list[ReferenceList.Event]:
    command(reference)
    return reference.collect_events()


def then(events: Sequence[Any], *expected: tuple[type, dict[str, Any]]) -> None:
    assert [type(e) for e in events] == [cls for cls, _ in expected]
    for domain_event, (_, fields) in zip(events, expected):
        for name, value in fields.items():
            assert getattr(domain_event, name) == value, f"{type(domain_event).__qualname__}.{name}"


def then_refused(reference: ReferenceList, command: Command, error: type[DomainError], field: str | None = None) -> None:
    version = reference.version
    with pytest.raises(error) as raised:
        command(reference)
    assert reference.collect_events() == [] and reference.version == version
    if field is not None:
        assert [e.field for e in raised.value.errors] == [field]


def test_each_list_has_an_id_of_its_own_derived_from_its_key() -> None:
    ids = {ReferenceList.create_id(key) for key in LISTS}
    assert len(ids) == len(LISTS)
    assert ReferenceList.create(LISTS["industries"]).id == ReferenceList.create_id("industries")


def test_a_list_is_created_with_its_defaults_in_one_event() -> None:
    events = created("customer_levels")
    then(events, (ReferenceList.Created, {"list_key": "customer_levels", "fixed_keys": False, "nested": False}))
    levels = given(events)
    assert [(i.key, i.label) for i in levels.active()] == [("A", "重点客户"), ("B", "重要客户"), ("C", "普通客户"), ("D", "一般客户")]


def test_the_default_regions_are_every_provincial_division_with_cities() -> None:
    regions = given(created("regions"))
    assert len(regions.items) == 34
    for municipality in ("北京市", "天津市", "上海市", "重庆市"):
        assert regions.is_active(municipality, municipality)
    assert len(regions.active("浙江省")) == 11 and len(regions.active("江苏省")) == 13
    assert len(regions.active("广东省")) == 21
    assert all(regions.active(p.key) for p in regions.active())  # every province has a city
    assert regions.provinces_of("宁波市") == ["浙江省"]


def test_the_created_event_survives_the_store_encoding() -> None:
    (event,) = created("regions")
    transcoder = OrjsonTranscoder()
    assert transcoder.decode(transcoder.encode(event.__dict__))["items"] == event.items


def test_an_item_is_added_relabelled_retired_and_reinstated() -> None:
    history = created("industries")
    industries = given(history)
    added = when(industries, lambda r: r.add_item(" 五金工具 "))
    then(added, (ReferenceList.ItemAdded, {"key": "五金工具", "label": "五金工具", "parent_key": None}))
    relabelled = when(industries, lambda r: r.relabel_item("五金工具", "五金/工具"))
    then(relabelled, (ReferenceList.ItemRelabelled, {"key": "五金工具", "label": "五金/工具", "previous_label": "五金工具"}))
    retired = when(industries, lambda r: r.retire_item("五金工具"))
    then(retired, (ReferenceList.ItemRetired, {"key": "五金工具"}))
    assert not industries.is_active("五金工具") and industries.find("五金工具") is not None
    assert when(industries, lambda r: r.retire_item("五金工具")) == []  # already retired: nothing to record
    reinstated = when(industries, lambda r: r.reinstate_item("五金工具"))
    then(reinstated, (ReferenceList.ItemReinstated, {"key": "五金工具"}))
    again = given([*history, *added, *relabelled, *retired, *reinstated])
    assert again.items == industries.items and again.is_active("五金工具")
    assert when(industries, lambda r: r.relabel_item("五金工具", "五金/工具")) == []  # same label


def test_duplicate_and_blank_keys_are_refused() -> None:
    industries = given(created("industries"))
    then_refused(industries, lambda r: r.add_item("外贸"), Conflict)
    industries.retire_item("外贸")
    industries.collect_events()
    with pytest.raises(Conflict, match="reinstate"):
        industries.add_item("外贸")
    then_refused(industries, lambda r: r.add_item("  "), InvalidInput, "key")
    then_refused(industries, lambda r: r.add_item("x" * 51), InvalidInput, "key")
    then_refused(industries, lambda r: r.add_item("新行业", label=""), InvalidInput, "label")
    then_refused(industries, lambda r: r.add_item("新行业", parent_key="外贸"), InvalidInput, "parent_key")
    then_refused(industries, lambda r: r.relabel_item("没有的行业", "x"), NotFound)
    then_refused(industries, lambda r: r.retire_item("没有的行业"), NotFound)


def test_fixed_keys_can_only_be_relabelled() -> None:
    for list_key, key in (("activity_kinds", "visit"), ("satisfaction_levels", "3")):
        fixed = given(created(list_key))
        then_refused(fixed, lambda r: r.add_item("lunch"), Conflict)
        then_refused(fixed, lambda r, k=key: r.retire_item(k), Conflict)  # type: ignore[misc]
        then_refused(fixed, lambda r, k=key: r.reinstate_item(k), Conflict)  # type: ignore[misc]
        then(when(fixed, lambda r, k=key: r.relabel_item(k, "新标签")), (ReferenceList.ItemRelabelled, {"key": key}))  # type: ignore[misc]
    satisfaction = given(created("satisfaction_levels"))
    assert [i.label for i in satisfaction.active()] == ["不满意", "基本满意", "满意", "新奇", "惊喜"]


def test_a_city_is_added_retired_and_reinstated_under_its_province() -> None:
    history = created("regions")
    regions = given(history)
    added = when(regions, lambda r: r.add_item("义乌市", parent_key="浙江省"))
    then(added, (ReferenceList.ItemAdded, {"key": "义乌市", "parent_key": "浙江省"}))
    assert regions.is_active("义乌市", "浙江省") and regions.find("义乌市") is None
    retired = when(regions, lambda r: r.retire_item("义乌市", parent_key=" 浙江省 "))
    then(retired, (ReferenceList.ItemRetired, {"key": "义乌市", "parent_key": "浙江省"}))
    assert not regions.is_active("义乌市", "浙江省")
    assert given([*history, *added, *retired]).items == regions.items
    then_refused(regions, lambda r: r.add_item("宁波市", parent_key="浙江省"), Conflict)
    then_refused(regions, lambda r: r.add_item("某市", parent_key="火星省"), InvalidInput, "parent_key")
    then_refused(regions, lambda r: r.retire_item("宁波市", parent_key="江苏省"), NotFound)


def test_a_retired_province_retires_its_cities_for_new_values() -> None:
    regions = given(created("regions"))
    regions.retire_item("浙江省")
    assert not regions.is_active("宁波市", "浙江省")
    assert regions.active("浙江省") == [] and regions.find("宁波市", "浙江省") is not None
    assert "宁波市" not in {c.key for c in regions.active_cities()}


def test_missing_defaults_are_added_but_nothing_else_changes() -> None:
    spec = ListSpec("sources", "客户来源", (("展会", "展会", ()), ("转介绍", "转介绍", ())))
    sources = given(ReferenceList.create(spec).collect_events())
    sources.retire_item("展会")
    sources.collect_events()
    sources.add_missing_defaults(LISTS["sources"])
    added = [e.key for e in sources.collect_events()]
    assert added == [k for k, _, _ in LISTS["sources"].defaults if k not in ("展会", "转介绍")]
    assert not sources.is_active("展会")  # a retired default stays retired
    sources.add_missing_defaults(LISTS["sources"])
    assert sources.collect_events() == []


def test_cached_readers_see_whole_changes_only() -> None:
    """A change replaces the items mapping instead of changing it, so a reader that took the
    mapping before the change still iterates a consistent one."""
    regions = given(created("regions"))
    before = regions.items
    regions.add_item("义乌市", parent_key="浙江省")
    assert before is not regions.items and "义乌市" not in before["浙江省"].children
