"""Reference data over HTTP: the default lists, and customer fields validated against them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import Api

PASSWORD = "reference-password-1"


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    return body


def _new_item(api: Api, list_key: str, prefix: str, **extra: Any) -> str:
    key = f"{prefix}{uuid.uuid4().hex[:6]}"
    response = api.post(f"/reference/{list_key}/items", json={"key": key, **extra})
    assert response.status_code == 201, response.text
    return key


@pytest.fixture(scope="module")
def salesperson(api: Api) -> Api:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    username = f"ref-seller-{uuid.uuid4().hex[:6]}"
    response = api.post("/users", json={
        "username": username, "password": PASSWORD, "display_name": "销售", "role_ids": [roles["salesperson"]]})
    assert response.status_code == 201, response.text
    login = api.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Api(api.client, login.json()["access_token"])


def test_the_default_lists_are_there(api: Api) -> None:
    response = api.get("/reference")
    assert response.status_code == 200, response.text
    lists = {lst["key"]: lst for lst in response.json()["items"]}
    assert list(lists)[:4] == ["industries", "sources", "customer_levels", "regions"]
    assert set(lists) >= {"lost_reasons", "activity_kinds", "satisfaction_levels"}
    assert {"纺织服装", "外贸", "其他"} <= {i["key"] for i in lists["industries"]["items"]}
    assert {"展会", "转介绍", "老客户推荐"} <= {i["key"] for i in lists["sources"]["items"]}
    assert [(i["key"], i["label"]) for i in lists["customer_levels"]["items"]][0] == ("A", "重点客户")
    provinces = {p["key"]: p for p in lists["regions"]["items"]}
    assert len(provinces) >= 34 and lists["regions"]["nested"]
    assert "宁波市" in {c["key"] for c in provinces["浙江省"]["children"]}
    assert [c["key"] for c in provinces["上海市"]["children"]] == ["上海市"]
    assert lists["activity_kinds"]["fixed_keys"] and [i["key"] for i in lists["activity_kinds"]["items"]] == [
        "visit", "call", "email", "meeting", "other"]  # fmt: skip
    assert [i["label"] for i in lists["satisfaction_levels"]["items"]] == ["不满意", "基本满意", "满意", "新奇", "惊喜"]


def test_any_signed_in_user_reads_the_lists_but_only_reference_admins_change_them(api: Api, salesperson: Api) -> None:
    assert salesperson.get("/reference").status_code == 200
    one = salesperson.get("/reference/lost_reasons")
    assert one.status_code == 200 and one.headers["ETag"]
    assert "价格过高" in {i["key"] for i in one.json()["items"]}
    _problem(salesperson.post("/reference/industries/items", json={"key": "偷偷加的行业"}), 403)
    _problem(salesperson.patch("/reference/industries/items/外贸", json={"label": "x"}), 403)
    _problem(salesperson.post("/reference/industries/items/外贸/retire"), 403)
    _problem(api.client.get("/api/v1/reference"), 401)


def test_unknown_lists_fixed_keys_and_duplicates_are_refused(api: Api) -> None:
    _problem(api.get("/reference/planets"), 404)
    _problem(api.post("/reference/planets/items", json={"key": "火星"}), 404)
    _problem(api.post("/reference/activity_kinds/items", json={"key": "lunch"}), 409)
    _problem(api.post("/reference/satisfaction_levels/items/3/retire"), 409)
    _problem(api.post("/reference/industries/items", json={"key": "外贸"}), 409)
    _problem(api.patch("/reference/industries/items/没有的行业", json={"label": "x"}), 404)
    _problem(api.post("/reference/industries/items", json={"key": "x", "parent_key": "外贸"}), 422, "parent_key")
    relabelled = api.patch("/reference/activity_kinds/items/visit", json={"label": "上门拜访"})
    assert relabelled.status_code == 200, relabelled.text
    kinds = {i["key"]: i["label"] for i in api.get("/reference/activity_kinds").json()["items"]}
    assert kinds["visit"] == "上门拜访"
    assert api.patch("/reference/activity_kinds/items/visit", json={"label": "拜访"}).status_code == 200


def test_a_customer_with_an_unknown_value_is_refused_naming_the_field(api: Api) -> None:
    cases = [
        ({"industry": "星际采矿"}, "industry"),
        ({"source": "托梦"}, "source"),
        ({"level": "S"}, "level"),
        ({"province": "火星省"}, "province"),
        ({"city": "不存在市"}, "city"),
    ]
    for fields, field in cases:
        body = _problem(api.post("/customers", json={"name": api.unique("校验测试公司"), "kind": "customer", **fields}), 422, field)
        assert "known values" in body["errors"][0]["message"] or "pick one of" in body["errors"][0]["message"], body
    created = api.create_customer(industry="外贸", source="展会", level="A", province="浙江省", city="宁波市")
    _problem(api.patch(f"/customers/{created['id']}", json={"industry": "星际采矿"}), 422, "industry")


def test_a_city_must_belong_to_the_province(api: Api) -> None:
    body = _problem(api.post("/customers", json={
        "name": api.unique("错位测试公司"), "kind": "customer", "province": "江苏省", "city": "宁波市"}), 422, "city")
    assert "'宁波市' is a city of 浙江省, not 江苏省" in body["errors"][0]["message"]
    assert body["suggestions"] == [{"province": "浙江省", "city": "宁波市"}]
    api.create_customer(city="宁波市")  # a city alone: it exists in some province
    api.create_customer(province="上海市", city="上海市")
    api.create_customer(country="美国", province="California", city="Los Angeles")  # abroad: not checked
    created = api.create_customer(province="浙江省", city="宁波市")
    _problem(api.patch(f"/customers/{created['id']}", json={"province": "江苏省"}), 422, "city")
    moved = api.patch(f"/customers/{created['id']}", json={"province": "江苏省", "city": "苏州市"})
    assert moved.status_code == 200, moved.text


def test_a_retired_value_is_refused_for_new_values_but_kept_by_existing_records(api: Api) -> None:
    industry = _new_item(api, "industries", "退役行业")
    customer = api.create_customer(industry=industry)
    retired = api.post(f"/reference/industries/items/{industry}/retire")
    assert retired.status_code == 200, retired.text
    listed = api.get("/reference/industries").json()["items"]
    assert industry not in {i["key"] for i in listed}
    with_retired = api.get("/reference/industries", params={"include_retired": "true"}).json()["items"]
    assert {"key": industry, "label": industry, "retired": True, "children": []} in with_retired
    body = _problem(api.post("/customers", json={"name": api.unique("退役测试公司"), "kind": "customer", "industry": industry}),
                    422, "industry")  # fmt: skip
    assert "retired" in body["errors"][0]["message"]
    unrelated = api.patch(f"/customers/{customer['id']}", json={"phone": "0574-87654321", "industry": industry})
    assert unrelated.status_code == 200, unrelated.text
    assert api.get(f"/customers/{customer['id']}", params={"min_position": unrelated.json()["position"]}).json()["industry"] == industry
    assert api.post(f"/reference/industries/items/{industry}/reinstate").status_code == 200
    api.create_customer(industry=industry)


def test_an_added_industry_is_accepted_on_the_very_next_request(api: Api) -> None:
    industry = _new_item(api, "industries", "新能源")
    api.create_customer(industry=industry)
    assert industry in {i["key"] for i in api.get("/reference/industries").json()["items"]}


def test_an_added_city_is_accepted_under_its_province(api: Api) -> None:
    city = _new_item(api, "regions", "新区市", parent_key="浙江省")
    api.create_customer(province="浙江省", city=city)
    _problem(api.post("/customers", json={
        "name": api.unique("新区测试公司"), "kind": "customer", "province": "江苏省", "city": city}), 422, "city")
    assert api.post(f"/reference/regions/items/{city}/retire", params={"parent_key": "浙江省"}).status_code == 200
    _problem(api.post("/customers", json={"name": api.unique("新区测试公司"), "kind": "customer", "city": city}), 422, "city")
    provinces = {p["key"]: p for p in api.get("/reference/regions").json()["items"]}
    assert city not in {c["key"] for c in provinces["浙江省"]["children"]}


def _read(api: Api, written: dict[str, Any]) -> dict[str, Any]:
    response = api.get(f"/customers/{written['id']}", params={"min_position": written["position"]})
    assert response.status_code == 200, response.text
    return response.json()


def _region(customer: dict[str, Any]) -> tuple[str | None, str | None]:
    return customer["province"], customer["city"]


def test_regions_as_people_write_them_are_stored_in_their_official_form(api: Api) -> None:
    cases = [
        ({"province": "浙江", "city": "宁波"}, ("浙江省", "宁波市")),
        ({"province": "\u3000浙江省 ", "city": " 宁波市\u3000"}, ("浙江省", "宁波市")),
        ({"province": "上海", "city": "上海"}, ("上海市", "上海市")),
        ({"province": "内蒙古"}, ("内蒙古自治区", None)),
        ({"province": "广西", "city": "南宁"}, ("广西壮族自治区", "南宁市")),
        ({"province": "新疆", "city": "伊犁"}, ("新疆维吾尔自治区", "伊犁哈萨克自治州")),
        ({"province": "香港"}, ("香港特别行政区", None)),
        ({"city": "宁波"}, ("浙江省", "宁波市")),  # a city alone gets its province
        ({"country": "中国", "province": "西藏", "city": "拉萨"}, ("西藏自治区", "拉萨市")),
        ({"country": "美国", "province": "California", "city": "LA"}, ("California", "LA")),  # abroad: as typed
    ]
    for fields, official in cases:
        assert _region(_read(api, api.create_customer(**fields))) == official, fields


def test_a_patch_stores_the_official_form_and_an_equal_short_form_changes_nothing(api: Api) -> None:
    created = api.create_customer(province="浙江省", city="宁波市")
    moved = api.patch(f"/customers/{created['id']}", json={"province": "江苏", "city": "苏州"})
    assert moved.status_code == 200, moved.text
    assert _region(_read(api, moved.json())) == ("江苏省", "苏州市")
    city_only = api.patch(f"/customers/{created['id']}", json={"city": "无锡"})
    assert city_only.status_code == 200, city_only.text
    assert _region(_read(api, city_only.json())) == ("江苏省", "无锡市")
    same = api.patch(f"/customers/{created['id']}", json={"province": "江苏", "city": "无锡"})
    assert same.status_code == 200, same.text
    assert same.json()["version"] == city_only.json()["version"]  # the same values: no event
    alone = api.create_customer(name=api.unique("只有城市公司"))
    filled = api.patch(f"/customers/{alone['id']}", json={"city": "宁波"})
    assert filled.status_code == 200, filled.text
    assert _region(_read(api, filled.json())) == ("浙江省", "宁波市")  # the province comes with the city


def test_unknown_and_ambiguous_regions_are_refused_with_suggestions(api: Api) -> None:
    def refused(fields: dict[str, Any], field: str) -> dict[str, Any]:
        return _problem(api.post("/customers", json={"name": api.unique("地区测试公司"), "kind": "customer", **fields}),
                        422, field)  # fmt: skip

    body = refused({"province": "浙紅"}, "province")
    assert body["suggestions"] == [{"province": "浙江省", "city": None}]
    assert "did you mean 浙江省?" in body["errors"][0]["message"]
    body = refused({"province": "江苏", "city": "苏洲"}, "city")
    assert body["suggestions"] == [{"province": "江苏省", "city": "苏州市"}]
    body = refused({"province": "江苏", "city": "宁波"}, "city")
    assert "'宁波' is a city of 浙江省, not 江苏省" in body["detail"]
    body = refused({"city": "海南"}, "city")  # 海南藏族自治州 of 青海省, or the province 海南省
    assert body["suggestions"] == [{"province": "青海省", "city": "海南藏族自治州"}, {"province": "海南省", "city": None}]
    body = refused({"province": "宁波"}, "province")
    assert body["suggestions"] == [{"province": "浙江省", "city": "宁波市"}]
    created = api.create_customer(province="浙江", city="宁波")
    body = _problem(api.patch(f"/customers/{created['id']}", json={"city": "苏洲"}), 422, "city")
    assert "did you mean" not in body["detail"] and "its cities: 杭州市" in body["detail"]


def test_a_record_keeps_a_retired_district_written_in_short_form(api: Api) -> None:
    district = f"老城{uuid.uuid4().hex[:6]}区"  # a district of a municipality, as an administrator adds it
    added = api.post("/reference/regions/items", json={"key": district, "parent_key": "上海市"})
    assert added.status_code == 201, added.text
    customer = api.create_customer(province="上海", city=district.removesuffix("区"))
    assert _region(_read(api, customer)) == ("上海市", district)
    retired = api.post(f"/reference/regions/items/{district}/retire", params={"parent_key": "上海市"})
    assert retired.status_code == 200, retired.text
    kept = api.patch(f"/customers/{customer['id']}", json={"province": "上海", "city": district.removesuffix("区")})
    assert kept.status_code == 200, kept.text
    assert kept.json()["version"] == customer["version"]  # the same place: nothing changes
    for fields in ({"province": "上海", "city": district}, {"city": district.removesuffix("区")}):
        body = _problem(api.post("/customers", json={"name": api.unique("退役城区公司"), "kind": "customer", **fields}),
                        422, "city")  # fmt: skip
        assert "retired" in body["detail"], body
