"""The reference-list aggregate: given events, when a command, then events (or an error). No database."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from crm_es.aggregates.reference import LISTS, REGIONS, ListSpec, ReferenceList, short_forms
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


# Region names as people write them -------------------------------------------------------------


def regions_list() -> ReferenceList:
    return given(created("regions"))


def refused(
    regions: ReferenceList, province: str | None, city: str | None, field: str,
    current: tuple[str | None, str | None] = (None, None),
) -> InvalidInput:  # fmt: skip
    """The 422 the resolver raises, on ``field`` (and nothing was recorded)."""
    version = regions.version
    with pytest.raises(InvalidInput) as raised:
        regions.resolve_region(province, city, current=current)
    assert [e.field for e in raised.value.errors] == [field], raised.value.detail
    assert regions.version == version
    return raised.value


def suggested(error: InvalidInput) -> list[tuple[str, str | None]]:
    return [(s["province"], s["city"]) for s in error.extra["suggestions"]]


@pytest.mark.parametrize(
    ("province", "city", "official"),
    [
        ("浙江", "宁波", ("浙江省", "宁波市")),
        ("浙江省", "宁波市", ("浙江省", "宁波市")),
        ("浙江省", "宁波", ("浙江省", "宁波市")),
        ("浙江", "宁波市", ("浙江省", "宁波市")),
        ("上海", "上海", ("上海市", "上海市")),
        ("上海市", "上海市", ("上海市", "上海市")),
        ("内蒙古", "呼和浩特", ("内蒙古自治区", "呼和浩特市")),
        ("内蒙古自治区", "兴安", ("内蒙古自治区", "兴安盟")),
        ("广西", "南宁", ("广西壮族自治区", "南宁市")),
        ("广西壮族自治区", None, ("广西壮族自治区", None)),
        ("新疆", "伊犁", ("新疆维吾尔自治区", "伊犁哈萨克自治州")),
        ("新疆", "阿克苏", ("新疆维吾尔自治区", "阿克苏地区")),
        ("西藏", "阿里", ("西藏自治区", "阿里地区")),
        ("宁夏", "银川", ("宁夏回族自治区", "银川市")),
        ("香港", "香港", ("香港特别行政区", "香港特别行政区")),
        ("澳门", None, ("澳门特别行政区", None)),
        ("台湾", "台北", ("台湾省", "台北市")),
        ("吉林", "延边", ("吉林省", "延边朝鲜族自治州")),
        ("吉林", "吉林", ("吉林省", "吉林市")),
        ("湖北", "恩施", ("湖北省", "恩施土家族苗族自治州")),
        ("湖北", "神农架", ("湖北省", "神农架林区")),
        ("黑龙江", "大兴安岭", ("黑龙江省", "大兴安岭地区")),
        ("青海", "海西", ("青海省", "海西蒙古族藏族自治州")),
        ("青海", "海西蒙古族", ("青海省", "海西蒙古族藏族自治州")),
        (None, None, (None, None)),
        ("  ", "", (None, None)),
    ],
)
def test_province_and_city_are_resolved_to_their_official_names(
    province: str | None, city: str | None, official: tuple[str | None, str | None]
) -> None:
    assert regions_list().resolve_region(province, city) == official


def test_every_default_name_resolves_from_its_full_and_its_shortest_form() -> None:
    regions = regions_list()
    short: dict[str, list[str]] = {}
    for province, cities in REGIONS:
        forms = short_forms(province)
        assert forms, province  # every province has a short form
        assert regions.resolve_region(forms[-1], None) == (province, None)
        for city in cities:
            assert regions.resolve_region(province, city) == (province, city)
            city_forms = short_forms(city)
            assert city_forms and len(city_forms[-1]) >= 2, city
            assert regions.resolve_region(forms[-1], city_forms[-1]) == (province, city)
            short.setdefault(city_forms[-1], []).append(city)
    # no two default cities share a short form: no default city needs its province to be told apart
    assert {form: names for form, names in short.items() if len(names) > 1} == {}


def test_spaces_and_full_width_characters_are_normalised() -> None:
    regions = regions_list()
    assert regions.resolve_region("\u3000浙江\u3000", " 宁波 ") == ("浙江省", "宁波市")
    assert regions.resolve_region(" 浙江省\t", "\u3000宁波市") == ("浙江省", "宁波市")
    regions.add_item("798艺术区", parent_key="北京市")
    assert regions.resolve_region("北京", "７９８艺术区") == ("北京市", "798艺术区")  # full-width digits


def test_a_city_alone_gets_its_province() -> None:
    regions = regions_list()
    assert regions.resolve_region(None, "宁波") == ("浙江省", "宁波市")
    assert regions.resolve_region(None, "宁波市") == ("浙江省", "宁波市")
    assert regions.resolve_region(None, "延边") == ("吉林省", "延边朝鲜族自治州")
    assert regions.resolve_region(None, "吉林") == ("吉林省", "吉林市")  # the province's name, and its city
    assert regions.resolve_region(None, "香港") == ("香港特别行政区", "香港特别行政区")


def test_municipalities_accept_themselves_and_the_districts_the_list_has() -> None:
    regions = regions_list()
    for short in ("北京", "天津", "上海", "重庆"):
        full = f"{short}市"
        for province in (short, full):
            for city in (short, full):
                assert regions.resolve_region(province, city) == (full, full)
        assert regions.resolve_region(short, None) == (full, None)
        assert regions.resolve_region(None, short) == (full, full)
    error = refused(regions, "上海", "浦东新区", "city")
    assert "not a city of 上海市; its cities: 上海市" in error.detail
    assert suggested(error) == [("上海市", "上海市")]
    regions.add_item("浦东新区", parent_key="上海市")
    assert regions.resolve_region("上海", "浦东新区") == ("上海市", "浦东新区")
    assert regions.resolve_region("上海", "浦东") == ("上海市", "浦东新区")
    assert regions.resolve_region(None, "浦东") == ("上海市", "浦东新区")


def test_an_ambiguous_short_form_is_refused_with_its_candidates() -> None:
    regions = regions_list()
    regions.add_item("朝阳区", parent_key="北京市")
    error = refused(regions, None, "朝阳", "city")  # 朝阳区 of 北京市, or 朝阳市 of 辽宁省
    assert "give the province too" in error.detail
    assert suggested(error) == [("北京市", "朝阳区"), ("辽宁省", "朝阳市")]  # in the list's order
    assert regions.resolve_region("北京", "朝阳") == ("北京市", "朝阳区")
    assert regions.resolve_region("辽宁", "朝阳") == ("辽宁省", "朝阳市")
    assert regions.resolve_region(None, "朝阳区") == ("北京市", "朝阳区")  # a full name is never ambiguous here
    regions.add_item("朝阳新区", parent_key="辽宁省")
    error = refused(regions, "辽宁", "朝阳", "city")  # two cities of one province
    assert "give the full name" in error.detail
    assert suggested(error) == [("辽宁省", "朝阳市"), ("辽宁省", "朝阳新区")]
    assert regions.resolve_region("辽宁", "朝阳市") == ("辽宁省", "朝阳市")  # the full name wins


def test_a_short_form_that_also_names_a_province_needs_the_province() -> None:
    regions = regions_list()
    error = refused(regions, None, "海南", "city")
    assert suggested(error) == [("青海省", "海南藏族自治州"), ("海南省", None)]
    assert regions.resolve_region("青海", "海南") == ("青海省", "海南藏族自治州")
    assert regions.resolve_region("海南", "海口") == ("海南省", "海口市")
    assert regions.resolve_region(None, "海南藏族自治州") == ("青海省", "海南藏族自治州")


def test_an_unknown_province_is_refused_with_the_closest_names() -> None:
    regions = regions_list()
    error = refused(regions, "浙紅", None, "province")
    assert "did you mean 浙江省?" in error.detail and suggested(error) == [("浙江省", None)]
    error = refused(regions, "江", None, "province")
    assert suggested(error) == [("江苏省", None), ("江西省", None)]  # those that begin the same way
    error = refused(regions, "火星省", "火星市", "province")  # nothing close: the accepted values
    assert suggested(error) == [] and "known values: 北京市, 天津市" in error.detail
    error = refused(regions, "宁波", None, "province")  # a city in the province field
    assert "'宁波' is not a province but a city of 浙江省" in error.detail
    assert suggested(error) == [("浙江省", "宁波市")]


def test_an_unknown_city_is_refused_with_the_closest_names() -> None:
    regions = regions_list()
    error = refused(regions, "江苏", "苏洲", "city")
    assert "'苏洲' is not a city of 江苏省; did you mean 苏州市?" in error.detail
    assert suggested(error) == [("江苏省", "苏州市")]
    error = refused(regions, "江苏", "不存在", "city")  # nothing close: some of the province's cities
    assert "its cities: 南京市, 无锡市" in error.detail
    assert suggested(error) == [("江苏省", c) for c in ("南京市", "无锡市", "徐州市", "常州市", "苏州市")]
    error = refused(regions, None, "宁坡", "city")
    assert suggested(error)[0] == ("浙江省", "宁波市") and len(suggested(error)) <= 5
    error = refused(regions, None, "南", "city")
    assert 0 < len(suggested(error)) <= 5
    error = refused(regions, None, "不存在市", "city")
    assert suggested(error) == [] and "give the province too, or pick one of: 北京市" in error.detail
    error = refused(regions, None, "浙江", "city")  # a province in the city field
    assert "'浙江' (浙江省) is a province, not a city" in error.detail
    assert suggested(error)[0] == ("浙江省", "杭州市")


def test_a_city_of_another_province_is_refused_naming_its_province() -> None:
    regions = regions_list()
    error = refused(regions, "江苏", "宁波", "city")
    assert "'宁波' is a city of 浙江省, not 江苏省" in error.detail
    assert suggested(error) == [("浙江省", "宁波市")]
    error = refused(regions, "江苏省", "宁波市", "city")
    assert "'宁波市' is a city of 浙江省, not 江苏省" in error.detail
    error = refused(regions, "上海", "北京", "city")
    assert suggested(error) == [("北京市", "北京市")]


def test_a_retired_name_is_refused_unless_the_record_has_it_already() -> None:
    regions = regions_list()
    regions.retire_item("宁波市", parent_key="浙江省")
    for province, city in (("浙江", "宁波"), (None, "宁波"), ("浙江省", "宁波市")):
        error = refused(regions, province, city, "city")
        assert "retired" in error.detail and ("浙江省", "宁波市") not in suggested(error)
        assert regions.resolve_region(province, city, current=("浙江省", "宁波市")) == ("浙江省", "宁波市")
        assert regions.resolve_region(province, city, current=(None, "宁波市")) == ("浙江省", "宁波市")
    refused(regions, "浙江", "宁波", "city", current=("浙江省", "杭州市"))  # another city: a new value
    regions.retire_item("浙江省")
    error = refused(regions, "浙江", None, "province")
    assert "'浙江' (浙江省) is retired" in error.detail
    assert regions.resolve_region("浙江", None, current=("浙江省", None)) == ("浙江省", None)
    assert regions.resolve_region("浙江", "杭州", current=("浙江省", "杭州市")) == ("浙江省", "杭州市")
    refused(regions, "浙江", "杭州", "city", current=("浙江省", "宁波市"))  # a new city of a retired province
    regions.reinstate_item("浙江省")
    assert regions.resolve_region("浙江", "杭州") == ("浙江省", "杭州市")


def test_a_retired_candidate_does_not_make_a_name_ambiguous() -> None:
    regions = regions_list()
    regions.add_item("朝阳区", parent_key="北京市")
    regions.retire_item("朝阳区", parent_key="北京市")
    assert regions.resolve_region(None, "朝阳") == ("辽宁省", "朝阳市")
    refused(regions, None, "朝阳", "city", current=("北京市", "朝阳区"))  # the record's own is accepted too


def test_a_name_must_be_a_string() -> None:
    regions = regions_list()
    refused(regions, 33, None, "province")
    refused(regions, "浙江", ["宁波"], "city")


def test_the_lookup_tables_are_built_once_per_state_of_the_list() -> None:
    history = created("regions")
    regions = given(history)
    index = regions._region_index()
    regions.resolve_region("浙江", "宁波")
    assert regions._region_index() is index  # reused while the list does not change
    copied = copy.deepcopy(regions)
    assert copied.resolve_region("浙江", "宁波") == ("浙江省", "宁波市")
    added = when(regions, lambda r: r.add_item("义乌市", parent_key="浙江省"))
    assert regions._region_index() is not index  # the command's event replaced the items
    assert regions.resolve_region("浙江", "义乌") == ("浙江省", "义乌市")
    refused(copied, "浙江", "义乌", "city")  # the copy is still the list before the change
    # An event applied to a list that holds tables (as the repository's cache fast-forwards) too
    for domain_event in added:
        domain_event.mutate(copied)
    assert copied.resolve_region("浙江", "义乌") == ("浙江省", "义乌市")
