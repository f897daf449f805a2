"""Customer search ``q`` over HTTP: each shape of query, the ranking, paging and the data scope.

The test database is shared by every API test, so each test searches for a token of its own:
Chinese characters from a uuid, which no other customer's name holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from crm_es.projections.search import normalise, pinyin_initials
from tests.api.conftest import Api

DIGITS_TO_HANZI = "甲乙丙丁戊己庚辛壬癸鼋鼍鳌鳖鼹鼷"  # 16 characters, one per hex digit


def hanzi() -> str:
    """Eight Chinese characters no other test uses."""
    return "".join(DIGITS_TO_HANZI[int(h, 16)] for h in uuid.uuid4().hex[:8])


def digits(n: int) -> str:
    return str(uuid.uuid4().int)[:n]


def search(api: Api, q: str, position: int, **params: Any) -> dict[str, Any]:
    response = api.get("/customers", params={"q": q, "min_position": position, "limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_one_two_and_three_chinese_characters_find_the_customer(api: Api) -> None:
    token = hanzi()
    made = api.create_customer(name=f"宁波{token}贸业有限公司")
    for q in (token[3], token[3:5], token[3:6]):
        assert made["id"] in ids(search(api, q, made["position"])), q


def test_pinyin_initials_find_the_customer(api: Api) -> None:
    token = hanzi()
    made = api.create_customer(name=f"宁波慈穗{token}有限公司")
    page = search(api, "nbcs", made["position"])
    assert ids(page)[0] == made["id"]  # the newest of the prefix tier
    assert all(pinyin_initials(normalise(item["name"])).startswith("nbcs") for item in page["items"][:5])
    exact_initials = pinyin_initials(f"宁波慈穗{token}有限公司")
    assert ids(search(api, exact_initials[:8], made["position"]))[0] == made["id"]


def test_a_phone_fragment_finds_the_customer_with_or_without_separators(api: Api) -> None:
    local = "6" + digits(7)
    made = api.create_customer(phone=f"0574-{local}")
    for q in (f"0574-{local}", f"0574{local}", local[1:6], f"0574-{local[:4]}", f"(0574) {local[:4]} {local[4:]}"):
        assert made["id"] in ids(search(api, q, made["position"])), q


def test_the_whole_phone_number_ranks_first(api: Api) -> None:
    local = "6" + digits(7)
    made = api.create_customer(phone=f"0574-{local}")
    assert ids(search(api, f"0574 {local}", made["position"]))[0] == made["id"]


def test_a_contacts_name_and_mobile_find_the_customer(api: Api) -> None:
    token = hanzi()
    made = api.create_customer()
    mobile = "139" + digits(8)
    added = api.post(f"/customers/{made['id']}/contacts", json={"name": f"王{token[:2]}", "mobile": mobile})
    assert added.status_code == 201, added.text
    position = added.json()["position"]
    assert made["id"] in ids(search(api, f"王{token[:2]}", position))
    assert ids(search(api, mobile, position))[0] == made["id"]
    assert made["id"] in ids(search(api, mobile[3:9], position))


def test_a_latin_name_with_one_typo_is_found(api: Api) -> None:
    token = uuid.uuid4().hex[:6]
    made = api.create_customer(name=f"Ningbo Evergreen Machinery Co., Ltd. {token}")
    assert made["id"] in ids(search(api, f"Evegreen Machinery {token}", made["position"]))
    assert made["id"] in ids(search(api, f"evergreen machniery {token}", made["position"]))


def test_exact_matches_come_before_prefix_matches_before_contains(api: Api) -> None:
    token = hanzi()
    exact = api.create_customer(name=token)  # the oldest, still first
    prefix = api.create_customer(name=f"{token}贸易有限公司")
    contains = api.create_customer(name=f"宁波{token}有限公司")
    page = search(api, token, contains["position"])
    assert ids(page) == [exact["id"], prefix["id"], contains["id"]]


def test_the_short_name_finds_the_customer_first(api: Api) -> None:
    token = hanzi()
    made = api.create_customer(name=f"宁波{token}贸业有限公司", short_name=token[2:6])
    other = api.create_customer(name=f"杭州{token[2:6]}科技有限公司")
    page = search(api, token[2:6], other["position"])
    assert ids(page)[:2] == [made["id"], other["id"]]
    one = api.get(f"/customers/{made['id']}", params={"min_position": made["position"]}).json()
    assert one["short_name"] == token[2:6]


def test_cursor_pages_run_through_the_tiers_each_customer_once_in_order(api: Api) -> None:
    token = hanzi()
    names = [token, token, f"{token}贸易", f"{token}实业", f"宁波{token}", f"杭州{token}"]
    made = [api.create_customer(name=name) for name in names]
    expected = [made[1], made[0], made[3], made[2], made[5], made[4]]  # by tier, newest first in each
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = search(api, token, made[-1]["position"], **params)
        assert len(page["items"]) <= 2
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["id"] for m in expected]


def test_a_search_stays_within_the_callers_data_scope(api: Api) -> None:
    token = hanzi()
    tag = uuid.uuid4().hex[:6]
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    created = api.post("/users", json={
        "username": f"searcher-{tag}", "password": "search-password-1", "display_name": "王丽",
        "role_ids": [roles["salesperson"]]})  # fmt: skip
    assert created.status_code == 201, created.text
    login = api.client.post("/api/v1/auth/login", json={"username": f"searcher-{tag}", "password": "search-password-1"})
    seller = Api(api.client, login.json()["access_token"])
    theirs = seller.post("/customers", json={"name": f"宁波{token}有限公司", "kind": "customer"})
    assert theirs.status_code == 201, theirs.text
    others = api.create_customer(name=f"{token}贸易有限公司")  # the administrator's: a better match
    position = max(theirs.json()["position"], others["position"])
    for q in (token, token[:2], token[1:4]):
        assert ids(search(seller, q, position)) == [theirs.json()["id"]], q
    assert set(ids(search(api, token, position))) == {theirs.json()["id"], others["id"]}


def test_like_wildcards_in_the_query_are_literal(api: Api) -> None:
    token = hanzi()
    percent = api.create_customer(name=f"{token} 100%_纯棉")
    plain = api.create_customer(name=f"{token} 100ab纯棉")
    starts = api.create_customer(name=f"%{token}_")
    position = starts["position"]
    # The other customer has every character too, so it comes after, in the fuzzy tier.
    assert ids(search(api, f"{token} 100%_纯", position)) == [percent["id"], plain["id"]]
    assert ids(search(api, f"100%_纯棉 {token}", position))[0] == percent["id"]
    assert plain["id"] not in ids(search(api, "100%_", position))
    assert percent["id"] in ids(search(api, "100%_", position))
    assert starts["id"] in ids(search(api, "%", position))
    assert all(item["name"].startswith("%") for item in search(api, "%", position)["items"])
    assert all(item["name"].startswith("_") for item in search(api, "_", position)["items"])


def test_a_changed_name_short_name_or_contact_is_searched_as_it_is_now(api: Api) -> None:
    token, renamed = hanzi(), hanzi()
    made = api.create_customer(name=f"宁波{token}有限公司")
    path = f"/customers/{made['id']}"
    changed = api.patch(path, json={"name": f"重庆{renamed}有限公司", "short_name": renamed[:6]})
    assert changed.status_code == 200, changed.text
    contact = api.post(f"{path}/contacts", json={"name": f"李{token[:6]}"})
    assert contact.status_code == 201, contact.text
    position = contact.json()["position"]
    assert ids(search(api, f"宁波{token}", position)) == []
    # The short name, exactly, comes first; other tests' names drawn from the same sixteen
    # characters may follow in the fuzzy tier (every character of the query, in any order).
    assert ids(search(api, renamed[:6], position))[0] == made["id"]
    assert made["id"] in ids(search(api, "cq" + pinyin_initials(renamed)[:3], position))
    assert ids(search(api, f"李{token[:6]}", position))[0] == made["id"]
