"""Stock over HTTP: the story of an item (categories, a warehouse, receipts, a reservation for an
order, a shipment, a return, a stocktake, goods in transit), the stock list with its filters and
search, the ledger, the reports with CSV and XLSX, permissions, and bad input."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from tests.api.conftest import Api

PASSWORD = "stock-password-1"


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def _user(api: Api, role: str) -> Api:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    name = f"s-{uuid.uuid4().hex[:8]}"
    _ok(api.post("/users", json={"username": name, "password": PASSWORD, "display_name": name, "role_ids": [roles[role]]}), 201)
    login = _ok(api.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD}))
    return Api(api.client, login["access_token"])


@pytest.fixture(scope="module")
def keeper(api: Api) -> Api:
    """A warehouse keeper (role warehouse: stock read and write)."""
    return _user(api, "warehouse")


@pytest.fixture(scope="module")
def place(keeper: Api) -> dict[str, Any]:
    """A warehouse and a category tree of this module's own, so lists and reports filtered by
    them show exactly what the tests made."""
    tag = uuid.uuid4().hex[:6].upper()
    warehouse = _ok(keeper.post("/warehouses", json={"code": f"T-{tag}", "name": f"测试仓 {tag}", "address": "宁波市北仑区"}), 201)
    top = _ok(keeper.post("/stock-categories", json={"name": f"五金{tag}"}), 201)
    bolts = _ok(keeper.post("/stock-categories", json={"name": "紧固件", "parent_id": top["id"]}), 201)
    return {"tag": tag, "warehouse": warehouse["id"], "top": top["id"], "top_name": f"五金{tag}", "bolts": bolts["id"],
            "position": bolts["position"]}  # fmt: skip


def _item(who: Api, place: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"sku": f"{place['tag']}-{uuid.uuid4().hex[:6]}", "name": "六角螺栓 M6×20", "warehouse_id": place["warehouse"],
            **fields}  # fmt: skip
    return _ok(who.post("/stock-items", json=body), 201)


# The story ---------------------------------------------------------------------------------------


def test_an_item_moves_through_receipts_an_order_a_return_a_count_and_transit(keeper: Api, place: dict[str, Any]) -> None:
    created = keeper.post("/stock-items", json={
        "sku": f"bolt-{place['tag']}", "name": "六角螺栓 M6×20 镀锌", "category": f"{place['top_name']}/紧固件",
        "warehouse_id": place["warehouse"], "reorder_level": "20", "max_level": "200", "unit_cost": "1.5"})  # fmt: skip
    item = _ok(created, 201)
    assert created.headers["Location"] == f"/api/v1/stock-items/{item['id']}"
    path = f"/stock-items/{item['id']}"
    order = str(uuid.uuid4())
    _ok(keeper.post(f"{path}/receipts", json={"quantity": "100", "unit_cost": "2.00", "reference": "PO-1"}))
    _ok(keeper.post(f"{path}/receipts", json={"quantity": 50, "unit_cost": "2.6"}))
    reserved = _ok(keeper.post("/stock-items/reservations", json={"order_id": order, "lines": [{"stock_item_id": item["id"], "quantity": "30"}]}))
    assert reserved["id"] == order and reserved["items"] == [{"id": item["id"], "version": 4}]
    holdings = _ok(keeper.get("/stock-items/reservations", params={"order_id": order, "min_position": reserved["position"]}))
    assert [(h["stock_item_id"], h["quantity"]) for h in holdings["items"]] == [(item["id"], "30")]
    _ok(keeper.post("/stock-items/shipments", json={"order_id": order, "lines": [{"stock_item_id": item["id"], "quantity": "30"}]}))
    inbound = keeper.post(f"{path}/inbound", json={"quantity": "30", "unit_cost": "3.10", "expected_on": "2027-04-15", "kind": "purchase"})
    inbound_id = _ok(inbound, 201)["id"]
    assert inbound.headers["Location"] == f"/api/v1{path}/inbound/{inbound_id}"
    transit = _ok(keeper.get("/stock-items/in-transit", params={"stock_item_id": item["id"], "min_position": inbound.json()["position"]}))
    assert [(i["id"], i["remaining"], i["remaining_value"], i["expected_on"]) for i in transit["items"]] == [
        (inbound_id, "30", "93.00", "2027-04-15")]  # fmt: skip
    _ok(keeper.post(f"{path}/inbound/{inbound_id}/arrivals"))
    _ok(keeper.post(f"{path}/issues", json={"quantity": "10", "reason": "样品"}))
    _ok(keeper.post("/stock-items/returns", json={"order_id": order, "lines": [{"stock_item_id": item["id"], "quantity": "5"}],
                                                  "restock": True, "reason": "换货"}))  # fmt: skip
    _ok(keeper.post(f"{path}/stocktakes", json={"counted_quantity": "143", "note": "季度盘点"}))
    last = _ok(keeper.post(f"{path}/receipts", json={"quantity": "7", "unit_cost": "1"}))

    detail = keeper.get(path, params={"min_position": last["position"]})
    got = _ok(detail)
    assert detail.headers["ETag"] == f'"{last["version"]}"'
    assert {k: got[k] for k in ("sku", "category", "warehouse", "on_hand", "reserved", "available", "in_transit",
                                "average_cost", "value", "alert", "unit", "decimals")} == {  # fmt: skip
        "sku": f"bolt-{place['tag']}", "category": f"{place['top_name']}/紧固件", "warehouse": f"测试仓 {place['tag']}",
        "on_hand": "150", "reserved": "0", "available": "150", "in_transit": "0", "average_cost": "2.3156",
        "value": "347.34", "alert": None, "unit": "件", "decimals": 0,
    }  # fmt: skip
    ledger = _ok(keeper.get(f"{path}/movements", params={"limit": 4}))
    assert [m["kind"] for m in ledger["items"]] == ["receipt", "stocktake", "return", "issue"]
    assert ledger["items"][1]["on_hand_change"] == "-2" and ledger["items"][2]["order_id"] == order
    rest = _ok(keeper.get(f"{path}/movements", params={"cursor": ledger["next_cursor"], "limit": 100}))
    assert [m["version"] for m in ledger["items"] + rest["items"]] == list(range(last["version"], 1, -1))
    exported = keeper.get(f"{path}/movements", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-disposition"] == 'attachment; filename="movements.csv"'
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["at", "kind", "on_hand_change"] and len(lines) == 1 + last["version"] - 1

    # If-Match: a stale version is refused, the current one goes through.
    _problem(keeper.post(f"{path}/issues", json={"quantity": "1", "reason": "样品"}, headers={"If-Match": '"3"'}), 412)
    _ok(keeper.post(f"{path}/issues", json={"quantity": "1", "reason": "样品"}, headers={"If-Match": f'"{last["version"]}"'}))


def test_the_stock_list_filters_by_category_tree_warehouse_alert_and_searches_sku_and_name(
    keeper: Api, place: dict[str, Any]
) -> None:  # fmt: skip
    tag = place["tag"]
    bolt = _item(keeper, place, sku=f"LS-{tag}-M8", name="螺栓 M8 高强度", category=place["bolts"], reorder_level="5")
    paint = _item(keeper, place, sku=f"YQ-{tag}-01", name="防锈油漆 Rust Guard", category=place["top"], max_level="10")
    other = _item(keeper, {**place, "warehouse": None}, sku=f"ZZ-{tag}-9", name="螺丝刀")
    last = _ok(keeper.post(f"/stock-items/{paint['id']}/receipts", json={"quantity": "11", "unit_cost": "30"}))

    def skus(**params: Any) -> list[str]:
        page = _ok(keeper.get("/stock-items", params={"min_position": last["position"], "limit": 500, **params}))
        return [i["sku"] for i in page["items"] if tag in i["sku"]]

    assert set(skus(category=place["top"])) >= {f"LS-{tag}-M8", f"YQ-{tag}-01"}
    assert f"LS-{tag}-M8" in skus(category=f"{place['top_name']}/紧固件")
    assert f"YQ-{tag}-01" not in skus(category=place["bolts"])
    assert f"ZZ-{tag}-9" not in skus(warehouse_id=place["warehouse"]) and f"ZZ-{tag}-9" in skus()
    assert skus(alert="low", warehouse_id=place["warehouse"]).count(f"LS-{tag}-M8") == 1  # nothing on hand, level 5
    assert f"YQ-{tag}-01" in skus(alert="over") and f"YQ-{tag}-01" in skus(alert="any") and f"YQ-{tag}-01" not in skus(alert="none")
    # Search: the SKU (any case), a part of the Chinese name, a Latin word of it, pinyin initials.
    assert skus(q=f"ls-{tag}-m8")[:1] == [f"LS-{tag}-M8"]
    assert f"YQ-{tag}-01" in skus(q="防锈", warehouse_id=place["warehouse"])
    assert f"YQ-{tag}-01" in skus(q="rust guard", warehouse_id=place["warehouse"])
    assert f"ZZ-{tag}-9" in skus(q="lsd")
    assert skus(q=f"nothing-like-{tag}") == []
    # Paging by SKU.
    first = _ok(keeper.get("/stock-items", params={"limit": 1, "warehouse_id": place["warehouse"]}))
    second = _ok(keeper.get("/stock-items", params={"limit": 1, "warehouse_id": place["warehouse"], "cursor": first["next_cursor"]}))
    assert first["items"][0]["sku"].upper() < second["items"][0]["sku"].upper()
    # The whole list as a file.
    xlsx = keeper.get("/stock-items", params={"warehouse_id": place["warehouse"], "format": "xlsx"})
    from openpyxl import load_workbook

    sheet = [[c.value for c in row] for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows()]
    assert sheet[0][:3] == ["sku", "name", "category"] and any(r[0] == f"YQ-{tag}-01" and r[5] == 11 for r in sheet[1:])
    assert bolt["id"] and other["id"]


def test_an_order_reservation_is_all_or_nothing_and_names_the_short_items(keeper: Api, place: dict[str, Any]) -> None:
    plenty = _item(keeper, place)
    scarce = _item(keeper, place, unit="kg")
    _ok(keeper.post(f"/stock-items/{plenty['id']}/receipts", json={"quantity": "10"}))
    _ok(keeper.post(f"/stock-items/{scarce['id']}/receipts", json={"quantity": "2.5"}))
    order = str(uuid.uuid4())
    lines = [{"stock_item_id": plenty["id"], "quantity": "4"}, {"stock_item_id": scarce["id"], "quantity": "2.501"}]
    refused = _problem(keeper.post("/stock-items/reservations", json={"order_id": order, "lines": lines}), 409)
    assert refused["short_items"] == [{"stock_item_id": scarce["id"], "sku": scarce_sku(keeper, scarce), "requested": "2.501",
                                       "available": "2.500"}]  # fmt: skip
    body = {"order_id": order, "lines": [lines[0], {**lines[1], "quantity": "2.5"}]}
    key = {"Idempotency-Key": f"phone-order-{order}"}
    first = _ok(keeper.post("/stock-items/reservations", json=body, headers=key))
    again = _ok(keeper.post("/stock-items/reservations", json=body, headers=key))
    assert again["position"] == first["position"] and again["id"] == order
    item = _ok(keeper.get(f"/stock-items/{plenty['id']}", params={"min_position": first["position"]}))
    assert (item["reserved"], item["available"]) == ("4", "6")
    released = _ok(keeper.post("/stock-items/releases", json={"order_id": order, "stock_item_ids": [plenty["id"], scarce["id"]]}))
    item = _ok(keeper.get(f"/stock-items/{scarce['id']}", params={"min_position": released["position"]}))
    assert (item["reserved"], item["available"]) == ("0.000", "2.500")


def scarce_sku(who: Api, item: dict[str, Any]) -> str:
    return _ok(who.get(f"/stock-items/{item['id']}", params={"min_position": item["position"]}))["sku"]


# Reports -------------------------------------------------------------------------------------------


def test_the_reports_cover_the_items_of_a_warehouse_with_csv_and_xlsx(api: Api, keeper: Api) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    warehouse = _ok(keeper.post("/warehouses", json={"code": f"R-{tag}", "name": f"报表仓 {tag}"}), 201)["id"]
    top = _ok(keeper.post("/stock-categories", json={"name": f"报表{tag}"}), 201)["id"]
    place = {"tag": tag, "warehouse": warehouse}
    a, b, c = (_item(keeper, place, category=top, reorder_level="25") for _ in range(3))
    for item, quantity, issued in ((a, "100", "80"), (b, "100", "15"), (c, "100", "5")):
        _ok(keeper.post(f"/stock-items/{item['id']}/receipts", json={"quantity": quantity, "unit_cost": "2"}))
        last = _ok(keeper.post(f"/stock-items/{item['id']}/issues", json={"quantity": issued, "reason": "生产"}))
    finance = _user(api, "finance")  # reports:read without stock:read
    params = {"warehouse_id": warehouse, "min_position": last["position"]}
    abc = _ok(finance.get("/reports/stock-abc", params=params))
    assert [(i["stock_item_id"], i["consumption_value"], i["class"]) for i in abc["items"]] == [
        (a["id"], "160.00", "A"), (b["id"], "30.00", "B"), (c["id"], "10.00", "C")]  # fmt: skip
    assert abc["cutoffs"] == {"a": "80", "b": "15", "c": "5"} and abc["total_value"] == "200.00"
    tight = _ok(finance.get("/reports/stock-abc", params={**params, "a": "50", "b": "46"}))  # c has 95% above it
    assert [i["class"] for i in tight["items"]] == ["A", "B", "B"]
    value = _ok(finance.get("/reports/stock-valuation", params=params))
    assert value["total"] == {"items": 3, "value": "400.00", "in_transit_value": "0.00"}  # (20 + 85 + 95) × 2
    assert [(r["category"], r["value"]) for r in value["by_category"]] == [(f"报表{tag}", "400.00")]
    alerts = _ok(finance.get("/reports/stock-alerts", params=params))
    assert [(i["id"], i["available"], i["shortfall"]) for i in alerts["items"]] == [(a["id"], "20", "5")]
    for report in ("stock-abc", "stock-valuation", "stock-alerts"):
        as_csv = finance.get(f"/reports/{report}", params={**params, "format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv"), as_csv.text
        rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert len(rows) >= 2, report
        as_xlsx = finance.get(f"/reports/{report}", params={**params, "format": "xlsx"})
        assert as_xlsx.content[:2] == b"PK" and as_xlsx.headers["content-disposition"] == f'attachment; filename="{report}.xlsx"'
    _problem(finance.get("/stock-items"), 403)
    _problem(finance.get("/reports/stock-abc", params={"a": "90", "b": "20"}), 422, "b")
    _problem(finance.get("/reports/stock-abc", params={"from": "2027-02-01", "to": "2027-01-01"}), 422, "from")


def test_alerts_of_a_shortage_show_the_shortfall_and_what_to_order(keeper: Api, place: dict[str, Any]) -> None:
    item = _item(keeper, place, reorder_level="10", max_level="50")
    _ok(keeper.post(f"/stock-items/{item['id']}/receipts", json={"quantity": "8"}))
    last = _ok(keeper.post(f"/stock-items/{item['id']}/inbound", json={"quantity": "12"}), 201)
    alerts = _ok(keeper.get("/reports/stock-alerts", params={"warehouse_id": place["warehouse"], "alert": "low",
                                                             "min_position": last["position"]}))  # fmt: skip
    mine = [i for i in alerts["items"] if i["id"] == item["id"]]
    assert [(i["alert"], i["shortfall"], i["suggested_order"], i["in_transit"]) for i in mine] == [("low", "2", "30", "12")]
    cleared = _ok(keeper.post(f"/stock-items/{item['id']}/inbound/{last['id']}/arrivals"))
    alerts = _ok(keeper.get("/reports/stock-alerts", params={"warehouse_id": place["warehouse"], "min_position": cleared["position"]}))
    assert item["id"] not in [i["id"] for i in alerts["items"]]


# Permissions -------------------------------------------------------------------------------------


def test_stock_needs_its_permissions(api: Api, keeper: Api, place: dict[str, Any]) -> None:
    made = _item(keeper, place)
    service = _user(api, "service")  # no stock permission
    seller = _user(api, "salesperson")  # stock:read, scope own
    auditor = _user(api, "auditor")
    _problem(service.get("/stock-items"), 403)
    _problem(service.get("/reports/stock-valuation"), 403)
    _problem(service.get("/stock-categories"), 403)
    _problem(seller.post("/stock-items", json={"sku": "X-1", "name": "x"}), 403)
    _problem(seller.post("/stock-items/reservations", json={"order_id": str(uuid.uuid4()), "lines": []}), 403)
    # Stock is company-wide: a salesperson whose scope is their own records sees every item.
    listed = _ok(seller.get("/stock-items", params={"warehouse_id": place["warehouse"], "min_position": made["position"]}))
    everyone = _ok(auditor.get("/stock-items", params={"warehouse_id": place["warehouse"]}))
    assert [i["id"] for i in listed["items"]] == [i["id"] for i in everyone["items"]]
    assert made["id"] in [i["id"] for i in listed["items"]]
    _problem(auditor.post("/warehouses", json={"code": "NOPE", "name": "不许"}), 403)


# Bad input -----------------------------------------------------------------------------------------


def test_bad_input_is_refused_clearly_and_changes_nothing(keeper: Api, place: dict[str, Any]) -> None:
    item = _item(keeper, place, unit="m")
    path = f"/stock-items/{item['id']}"
    _ok(keeper.post(f"{path}/receipts", json={"quantity": "5.25", "unit_cost": "10"}))
    for body, field in (
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": "1.001"}, "quantity"),  # metres have two places
        ({"quantity": "1", "unit_cost": "1.00001"}, "unit_cost"),
        ({"quantity": "1", "unit_cost": "-2"}, "unit_cost"),
        ({"quantity": "1", "colour": "red"}, "colour"),
        ({"quantity": True}, "quantity"),
        ({}, "quantity"),
    ):
        _problem(keeper.post(f"{path}/receipts", json=body), 422, field)
    short = _problem(keeper.post(f"{path}/issues", json={"quantity": "6", "reason": "生产"}), 409)
    assert "5.25 available" in short["detail"]
    _problem(keeper.post(f"{path}/stocktakes", json={"counted_quantity": "-1"}), 422, "counted_quantity")
    _problem(keeper.post(f"{path}/stocktakes", json={"counted_quantity": "1", "counted_by": str(uuid.uuid4())}), 422, "counted_by")
    _problem(keeper.post(f"/stock-items/{uuid.uuid4()}/receipts", json={"quantity": "1"}), 404)
    _problem(keeper.get(f"/stock-items/{uuid.uuid4()}"), 404)
    _problem(keeper.get("/stock-items/not-a-uuid"), 422)
    _problem(keeper.post(f"{path}/inbound/{uuid.uuid4()}/arrivals"), 404)
    _problem(keeper.post(f"{path}/inbound", json={"quantity": "1", "kind": "gift"}), 422, "kind")
    _problem(keeper.post("/stock-items", json={"sku": item_sku(keeper, item).lower(), "name": "重复"}), 409)
    _problem(keeper.post("/stock-items", json={"sku": "A B", "name": "空格"}), 422, "sku")
    _problem(keeper.post("/stock-items", json={"sku": f"C-{uuid.uuid4().hex[:6]}", "name": "x", "category": "没有/这个"}), 422, "category")
    _problem(keeper.post("/stock-items", json={"sku": f"C-{uuid.uuid4().hex[:6]}", "name": "x", "warehouse_id": str(uuid.uuid4())}),
             422, "warehouse_id")  # fmt: skip
    _problem(keeper.post("/stock-items", json={"sku": f"C-{uuid.uuid4().hex[:6]}", "name": "x", "reorder_level": "9",
                                               "max_level": "3"}), 422, "max_level")  # fmt: skip
    _problem(keeper.patch(path, json={"name": None}), 422, "name")
    _problem(keeper.post("/stock-items/reservations", json={"order_id": str(uuid.uuid4()), "lines": []}), 422, "lines")
    _problem(keeper.post("/stock-items/reservations", json={"order_id": "x", "lines": [{"stock_item_id": item["id"], "quantity": "1"}]}),
             422, "order_id")  # fmt: skip
    _problem(keeper.post("/stock-items/reservations", json={"order_id": str(uuid.uuid4()),
                                                            "lines": [{"stock_item_id": str(uuid.uuid4()), "quantity": "1"}]}), 422, "lines")  # fmt: skip
    _problem(keeper.post("/stock-items/reservations", json={"order_id": str(uuid.uuid4()),
                                                            "lines": [{"stock_item_id": item["id"], "quantity": "0.001"}]}),
             422, "lines[0].quantity")  # fmt: skip
    nothing_held = _ok(keeper.post("/stock-items/releases", json={"order_id": str(uuid.uuid4()), "stock_item_ids": [item["id"]]}))
    assert nothing_held["items"] == [{"id": item["id"], "version": 2}]  # nothing to release: nothing written
    _problem(keeper.post("/stock-categories", json={"name": "a/b"}), 422, "name")
    _problem(keeper.post("/stock-categories", json={"name": "紧固件", "parent_id": place["top"]}), 409)
    _problem(keeper.patch(f"/stock-categories/{place['top']}", json={"parent_id": place["bolts"]}), 409)
    _problem(keeper.patch(f"/stock-categories/{uuid.uuid4()}", json={"name": "x"}), 404)
    _problem(keeper.post("/warehouses", json={"code": f"T-{place['tag']}", "name": "又一个"}), 409)
    _problem(keeper.get("/stock-items", params={"category": str(uuid.uuid4())}), 422, "category")
    _problem(keeper.get("/stock-items", params={"alert": "red"}), 422, "alert")
    _problem(keeper.get("/stock-items", params={"cursor": "bm9wZQ"}), 422, "cursor")
    after = _ok(keeper.get(path, params={"min_position": item["position"]}))
    assert (after["on_hand"], after["version"]) == ("5.25", 2)


def item_sku(who: Api, item: dict[str, Any]) -> str:
    return _ok(who.get(f"/stock-items/{item['id']}", params={"min_position": item["position"]}))["sku"]


def test_a_repeated_warehouse_or_category_request_with_its_key_answers_the_first_result(keeper: Api) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    for path, body in (("/warehouses", {"code": f" w-{tag} ", "name": f"重复仓 {tag}"}), ("/stock-categories", {"name": f"重复{tag}"})):
        key = {"Idempotency-Key": f"once-{path}-{tag}"}
        first, again = keeper.post(path, json=body, headers=key), keeper.post(path, json=body, headers=key)
        assert first.status_code == again.status_code == 201, again.text
        assert first.json() == again.json() and first.headers["Location"] == again.headers["Location"]
        listed = _ok(keeper.get(path, params={"min_position": again.json()["position"]}))
        assert [i["id"] for i in listed["items"]].count(first.json()["id"]) == 1
