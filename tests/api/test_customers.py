"""Customers over HTTP: the happy paths."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_created_customer_is_listed_and_found_by_a_chinese_substring(api: Api) -> None:
    name = api.unique("宁波慈穗贸业有限公司")
    created = api.post("/customers", json={"name": name, "kind": "customer", "city": "宁波市"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"/api/v1/customers/{body['id']}"
    assert body["version"] == 1 and body["position"] > 0

    page = api.get("/customers", params={"q": "慈穗", "min_position": body["position"], "limit": 500})
    assert page.status_code == 200, page.text
    assert int(page.headers["X-Position"]) >= body["position"]
    assert body["id"] in [c["id"] for c in page.json()["items"]]

    one = api.get(f"/customers/{body['id']}", params={"min_position": body["position"]})
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json()["name"] == name


def test_keyset_pages_cover_every_customer_once(api: Api) -> None:
    tag = api.unique("分页")
    made = [api.create_customer(tags=[tag[-8:]], city="杭州市") for _ in range(5)]
    last = max(m["position"] for m in made)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "min_position": last, **({"cursor": cursor} if cursor else {})}
        page = api.get("/customers", params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert {m["id"] for m in made} <= set(seen)


def test_search_pages_rank_exact_matches_first_and_cover_each_once(api: Api) -> None:
    token = api.unique("Zhejiang Hengda")[-8:]
    exact = [api.create_customer(name=f"Zhejiang Hengda Textile {token} {i}") for i in range(3)]
    last = max(m["position"] for m in exact)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, "q": token, "min_position": last, **({"cursor": cursor} if cursor else {})}
        page = api.get("/customers", params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(m["id"] for m in exact)


def test_a_small_typo_in_a_latin_name_still_finds_the_customer(api: Api) -> None:
    token = api.unique("x")[-6:]
    made = api.create_customer(name=f"Ningbo Sunrise Machinery {token}")
    page = api.get("/customers", params={"q": f"Sunrsie Machinery {token}", "min_position": made["position"]}).json()
    assert made["id"] in [c["id"] for c in page["items"]]


def test_contacts_activities_and_history_tell_the_whole_story(api: Api) -> None:
    created = api.create_customer()
    path = f"/customers/{created['id']}"
    first = api.post(f"{path}/contacts", json={"name": "王丽", "title": "采购经理", "mobile": "13805741234"})
    assert first.status_code == 201 and first.json()["version"] == 2
    second = api.post(f"{path}/contacts", json={"name": "陈刚", "primary": True}).json()
    visit = api.post(
        f"{path}/activities",
        json={"kind": "visit", "occurred_at": "2026-11-20T10:30:00+08:00", "summary": "拜访采购部",
              "contact_id": first.json()["id"], "next_step": "发送报价"},
        headers={"X-Request-ID": "tour-visit-1"},
    )  # fmt: skip
    assert visit.status_code == 201, visit.text
    contacts = api.get(f"{path}/contacts", params={"min_position": visit.json()["position"]}).json()["items"]
    assert {c["name"]: c["primary"] for c in contacts} == {"王丽": False, "陈刚": True}
    activities = api.get(f"{path}/activities").json()["items"]
    assert activities[0]["occurred_at"].startswith("2026-11-20T02:30:00")
    assert second["version"] == 3

    history = api.get(f"{path}/history").json()["items"]
    assert [h["event_type"] for h in history] == [
        "Customer.Registered", "Customer.ContactAdded", "Customer.ContactAdded", "Customer.ActivityLogged",
    ]  # fmt: skip
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["correlation_id"] == "tour-visit-1"
    assert history[-1]["data"]["summary"] == "拜访采购部"
    lines = api.get(f"{path}/history", params={"format": "jsonl"}).text.strip().splitlines()
    assert len(lines) == 4


def test_as_of_shows_the_customer_as_it_was(api: Api) -> None:
    created = api.create_customer(kind="potential")
    before = api.get(f"/customers/{created['id']}", params={"min_position": created["position"]}).json()
    api.patch(f"/customers/{created['id']}", json={"kind": "customer", "level": "A"})
    then = api.get(f"/customers/{created['id']}", params={"as_of": before["updated_at"]})
    assert then.status_code == 200, then.text
    assert then.json()["kind"] == "potential" and then.json()["level"] is None and then.headers["ETag"] == '"1"'


def test_crafted_cursors_are_refused(api: Api) -> None:
    import base64

    import orjson

    for payload in (["recent", "not a date", "x"], ["search", "NaN", "x"], ["recent", 1, 2], ["activities"]):
        cursor = base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")
        response = api.get("/customers", params={"cursor": cursor})
        assert response.status_code == 422, (payload, response.text)
