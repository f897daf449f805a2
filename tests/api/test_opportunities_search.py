"""Opportunity search ``q`` over HTTP: the title and the customer's name, through the search
columns every list shares (``projections/search.py``): Chinese of one, two and three
characters, pinyin initials, Latin words, the ranking, paging and the data scope.

The test database is shared by every API test, so each test searches for a token of its own
(Chinese characters from a uuid) and checks what other records could match too (the similar
tier finds any record with all of a query's characters) only within its own customer.
"""

from __future__ import annotations

import uuid
from typing import Any

from crm_es.projections.search import pinyin_initials
from tests.api.conftest import Api
from tests.api.test_customers_search import hanzi
from tests.api.test_opportunities import _seller


def _open(who: Api, customer_id: str, title: str) -> dict[str, Any]:
    response = who.post("/opportunities", json={
        "customer_id": customer_id, "title": title, "amount": "50000.00", "expected_close_date": "2027-06-30",
    })  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def search(api: Api, q: str, position: int, **params: Any) -> dict[str, Any]:
    response = api.get("/opportunities", params={"q": q, "min_position": position, "limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_one_two_and_three_chinese_characters_of_the_title_find_the_opportunity(api: Api) -> None:
    token = hanzi()
    made = _open(api, api.create_customer()["id"], f"数控机床{token}采购项目")
    for q in (token[3], token[3:5], token[3:6], f"机床{token[:2]}"):
        page = search(api, q, made["position"])
        assert made["id"] in ids(page), q
        assert page["items"][ids(page).index(made["id"])]["title"] == f"数控机床{token}采购项目"


def test_the_customers_name_finds_its_opportunities_and_the_whole_name_ranks_them_first(api: Api) -> None:
    token = hanzi()
    customer = api.create_customer(name=f"杭州{token}电子有限公司")
    first = _open(api, customer["id"], "传感器年度集采")
    second = _open(api, customer["id"], "小家电试单")
    assert ids(search(api, f"杭州{token}电子有限公司", second["position"]))[:2] == [second["id"], first["id"]]
    for q in (token[2], token[2:4], token[1:4]):
        found = ids(search(api, q, second["position"]))
        assert first["id"] in found and second["id"] in found, q
    page = search(api, token[:3], second["position"])
    assert page["items"][0]["customer_name"] == f"杭州{token}电子有限公司"


def test_pinyin_initials_of_the_customers_name_or_the_title_find_the_opportunity(api: Api) -> None:
    token = hanzi()
    customer = api.create_customer(name=f"宁波慈穗{token}有限公司")
    made = _open(api, customer["id"], f"冷链配送{token}项目")
    initials = pinyin_initials(f"宁波慈穗{token}有限公司")
    assert ids(search(api, initials[:9], made["position"]))[0] == made["id"]  # the customer's: a prefix
    assert made["id"] in ids(search(api, pinyin_initials(f"冷链配送{token}")[:7], made["position"]))  # the title's


def test_latin_words_find_the_opportunity_and_a_typo_still_does(api: Api) -> None:
    token = uuid.uuid4().hex[:6]
    made = _open(api, api.create_customer()["id"], f"ERP系统 Machinery Upgrade {token}")
    for q in (token, token.upper(), f"upgrade {token}", f"erp系统 {token}"):
        assert made["id"] in ids(search(api, q, made["position"])), q
    assert made["id"] in ids(search(api, f"machinrey {token}", made["position"]))  # two letters swapped


def test_a_renamed_customer_is_found_by_its_new_name(api: Api) -> None:
    token, renamed = hanzi(), hanzi()
    customer = api.create_customer(name=f"上海{token}物流有限公司")
    made = _open(api, customer["id"], "集装箱运输框架合同")
    changed = api.patch(f"/customers/{customer['id']}", json={"name": f"上海{renamed}物流有限公司"})
    assert changed.status_code == 200, changed.text
    position = changed.json()["position"]
    assert made["id"] in ids(search(api, renamed[1:7], position))
    mine = {"customer_id": customer["id"]}
    assert ids(search(api, renamed[1:7], position, **mine)) == [made["id"]]
    assert ids(search(api, token[1:7], position, **mine)) == []
    assert search(api, renamed[1:7], position, **mine)["items"][0]["customer_name"] == f"上海{renamed}物流有限公司"


def test_search_pages_with_a_cursor_and_keeps_the_other_filters(api: Api) -> None:
    token = hanzi()
    customer = api.create_customer()["id"]
    made = [_open(api, customer, f"{token}项目{n}") for n in range(5)]
    position = made[-1]["position"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = api.get("/opportunities", params={"q": token[:2], "customer_id": customer, "min_position": position,
                                                     **params})  # fmt: skip
        assert response.status_code == 200, response.text
        seen += ids(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["id"] for m in reversed(made)]
    won = api.post(f"/opportunities/{made[0]['id']}/win")
    assert ids(search(api, token[:2], won.json()["position"], status="won", customer_id=customer)) == [made[0]["id"]]


def test_a_salesperson_finds_only_their_own_opportunities(api: Api) -> None:
    token = hanzi()
    _, seller = _seller(api)
    mine = _open(seller, seller.create_customer()["id"], f"{token}项目")
    theirs = _open(api, api.create_customer()["id"], f"{token}项目")
    assert ids(search(seller, token[:3], theirs["position"])) == [mine["id"]]
    assert {mine["id"], theirs["id"]} <= set(ids(search(api, token[:3], theirs["position"])))
