"""Orders and receivables over HTTP: the story, aging at every bucket edge, exports, credit
limits, stock, bad input, and data scope."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.api.conftest import Api

PASSWORD = "orders-password-1"


def _user(api: Api, role: str) -> tuple[str, Api]:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    name = f"o-{uuid.uuid4().hex[:8]}"
    created = api.post("/users", json={"username": name, "password": PASSWORD, "display_name": name,
                                       "role_ids": [roles[role]]})  # fmt: skip
    assert created.status_code == 201, created.text
    login = api.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return created.json()["id"], Api(api.client, login.json()["access_token"])


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors") or []], body
    return body


LINES = [
    {"description": "注塑机配件", "quantity": "10", "unit_price": "800.00"},
    {"description": "安装调试服务", "quantity": "1", "unit_price": "2000.00"},
]


def _today(api: Api) -> date:
    return api.client.app.state.runtime.app.today()


@pytest.fixture(scope="module")
def story(api: Api) -> dict[str, Any]:
    """One order through its whole life, all of it today: confirmed, two instalments, delivered,
    paid in part, one unit returned, the service's price reduced, invoiced."""
    customer = api.create_customer()
    order = _ok(api.post("/orders", json={"customer_id": customer["id"], "lines": LINES, "payment_terms_days": 30}), 201)
    oid = order["id"]
    today = _today(api)
    _ok(api.post(f"/orders/{oid}/confirm"))
    _ok(api.post(f"/orders/{oid}/instalments", json={"instalments": [
        {"due_date": str(today + timedelta(days=30)), "amount": "4000.00"},
        {"due_date": str(today + timedelta(days=120)), "amount": "6000.00"}]}))  # fmt: skip
    _ok(api.post(f"/orders/{oid}/deliveries", json={"lines": [{"line": 1, "quantity": "10"}, {"line": 2, "quantity": "1"}]}))
    paid = _ok(api.post(f"/orders/{oid}/payments", json={"amount": "1500.00", "received_on": str(today),
                                                          "method": "bank_transfer", "reference": "回单 0031"}), 201)  # fmt: skip
    _ok(api.post(f"/orders/{oid}/returns", json={"lines": [{"line": 1, "quantity": "1"}], "reason": "外壳破损"}))
    _ok(api.post(f"/orders/{oid}/price-adjustments", json={"line": 2, "unit_price": "1700.00", "reason": "收款时价格下浮"}))
    last = _ok(api.post(f"/orders/{oid}/invoices", json={"number": "No.04471234", "title": customer["id"],
                                                          "amount": "8900.00", "issued_on": str(today)}), 201)  # fmt: skip
    return {"customer": customer["id"], "order": oid, "today": today, "payment": paid["id"], "position": last["position"]}


def test_the_order_detail_shows_totals_paid_due_and_everything_that_happened(api: Api, story: dict[str, Any]) -> None:
    response = api.get(f"/orders/{story['order']}", params={"min_position": story["position"]})
    body = _ok(response)
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert body["number"].startswith(f"SO-{story['today'].year}-") and len(body["number"]) == 14
    assert (body["status"], body["subtotal"], body["discount"], body["total"]) == ("delivered", "10000.00", "0.00", "10000.00")
    assert (body["receivable"], body["amount_paid"], body["amount_due"], body["credit"]) == (
        "8900.00", "1500.00", "7400.00", "0.00")
    assert (body["returned_amount"], body["adjusted_amount"], body["invoiced_amount"]) == ("800.00", "-300.00", "8900.00")
    assert body["due_date"] == str(story["today"] + timedelta(days=30))
    assert [(i["seq"], i["amount"], i["paid"], i["open"]) for i in body["instalments"]] == [
        (1, "4000.00", "2600.00", "1400.00"), (2, "6000.00", "0.00", "6000.00")]
    assert [(x["line"], x["delivered"], x["returned"], x["unit_price"]) for x in body["lines"]] == [
        (1, "10", "1", "800.00"), (2, "1", "0", "1700.00")]
    assert [p["id"] for p in body["payments"]] == [story["payment"]]
    assert body["payments"][0]["method"] == "bank_transfer"
    assert len(body["deliveries"]) == 1 and body["returns"][0]["credit"] == "800.00"
    assert body["adjustments"][0]["amount"] == "-300.00" and body["invoices"][0]["number"] == "No.04471234"


# (days after the first due date, current, 1-30, 31-60, 61-90, 91-180, 180+, late fee at 0.0005 a day)
EDGES = [
    (0, "7400.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    (1, "6000.00", "1400.00", "0.00", "0.00", "0.00", "0.00", "0.70"),
    (30, "6000.00", "1400.00", "0.00", "0.00", "0.00", "0.00", "21.00"),
    (31, "6000.00", "0.00", "1400.00", "0.00", "0.00", "0.00", "21.70"),
    (60, "6000.00", "0.00", "1400.00", "0.00", "0.00", "0.00", "42.00"),
    (61, "6000.00", "0.00", "0.00", "1400.00", "0.00", "0.00", "42.70"),
    (90, "6000.00", "0.00", "0.00", "1400.00", "0.00", "0.00", "63.00"),
    (91, "0.00", "6000.00", "0.00", "0.00", "1400.00", "0.00", "66.70"),
    (180, "0.00", "0.00", "0.00", "6000.00", "1400.00", "0.00", "396.00"),
    (181, "0.00", "0.00", "0.00", "0.00", "6000.00", "1400.00", "399.70"),
]


def test_aging_over_http_before_confirmation_and_at_each_bucket_edge(api: Api, story: dict[str, Any]) -> None:
    wait = {"min_position": story["position"], "customer_id": story["customer"]}
    before = _ok(api.get("/reports/aging", params={**wait, "as_of": str(story["today"] - timedelta(days=1))}))
    assert before["customers"] == [] and before["buckets"] == ["current", "1-30", "31-60", "61-90", "91-180", "180+"]
    due = story["today"] + timedelta(days=30)
    for days, *buckets, fee in EDGES:
        body = _ok(api.get("/reports/aging", params={**wait, "as_of": str(due + timedelta(days=days))}))
        (line,) = body["customers"]
        assert [line[b] for b in body["buckets"]] == buckets, days
        assert line["late_fee"] == fee and line["customer_id"] == story["customer"], days
        assert line["total"] == str(sum((Decimal(b) for b in buckets), Decimal("0.00")))
        assert body["totals"]["late_fee"] == fee
    other = _ok(api.get("/reports/aging", params={**wait, "as_of": str(due + timedelta(days=1)), "late_fee_rate": "0.001"}))
    assert other["customers"][0]["late_fee"] == "1.40"


def test_aging_dunning_dues_and_collections_export_as_csv_and_xlsx(api: Api, story: dict[str, Any]) -> None:
    from openpyxl import load_workbook

    due = story["today"] + timedelta(days=30)
    params = {"min_position": story["position"], "customer_id": story["customer"], "as_of": str(due + timedelta(days=31))}
    response = api.get("/reports/aging", params={**params, "format": "csv"})
    assert response.status_code == 200 and response.headers["content-disposition"] == 'attachment; filename="aging.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["customer_id", "name", "current", "1-30", "31-60", "61-90", "91-180", "180+", "total", "credit", "late_fee"]
    assert rows[1][0] == story["customer"] and rows[1][2:] == ["6000.00", "0.00", "1400.00", "0.00", "0.00", "0.00",
                                                              "7400.00", "0.00", "21.70"]  # fmt: skip
    sheet = load_workbook(io.BytesIO(api.get("/reports/aging", params={**params, "format": "xlsx"}).content)).active
    assert sheet.cell(2, 5).value == 1400.0 and sheet.cell(2, 11).value == 21.7
    dunning = _ok(api.get("/reports/dunning", params=params))
    (customer,) = dunning["customers"]
    assert (customer["overdue"], customer["late_fee"], customer["max_days_overdue"]) == ("1400.00", "21.70", 31)
    assert customer["owner_id"] is not None and customer["items"][0]["days_overdue"] == 31
    assert api.get("/reports/dunning", params={**params, "format": "csv"}).status_code == 200
    soon = _ok(api.get("/reports/upcoming-dues", params={**params, "days": 60}))
    assert [(c["due"], c["items"][0]["due_on"]) for c in soon["customers"]] == [("6000.00", str(story["today"] + timedelta(days=120)))]
    assert _ok(api.get("/reports/upcoming-dues", params={**params, "days": 58}))["customers"] == []
    collections = _ok(api.get("/reports/expected-collections", params={**params, "to": str(due + timedelta(days=200)), "period": "month"}))
    assert collections["overdue"] == {"amount": "1400.00", "items": 1}
    assert [p["amount"] for p in collections["periods"]] == ["6000.00"] and collections["total"] == "6000.00"
    xlsx = api.get("/reports/expected-collections", params={**params, "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.headers["content-disposition"].endswith('expected-collections.xlsx"')


def test_the_list_filters_and_finds_orders_by_number_and_customer_name(api: Api, story: dict[str, Any]) -> None:
    wait = {"min_position": story["position"]}
    number = _ok(api.get(f"/orders/{story['order']}", params=wait))["number"]
    ids = lambda **p: [o["id"] for o in _ok(api.get("/orders", params={**wait, **p}))["items"]]  # noqa: E731
    assert ids(customer_id=story["customer"]) == [story["order"]]
    assert ids(customer_id=story["customer"], status="draft") == []
    assert ids(customer_id=story["customer"], status="delivered") == [story["order"]]
    assert story["order"] in ids(q=number) and ids(q=number)[0] == story["order"]
    assert story["order"] in ids(q=number.lower())
    assert story["order"] in ids(q=number[-6:])  # the sequence's digits
    name = _ok(api.get(f"/customers/{story['customer']}"))["name"]
    assert story["order"] in ids(q=name.split()[-1])  # the unique part of the name
    assert story["order"] in ids(q="慈溪" if "慈溪" in name else "测试贸易", customer_id=story["customer"])
    today = str(story["today"])
    assert ids(customer_id=story["customer"], **{"from": today, "to": today}) == [story["order"]]
    assert ids(customer_id=story["customer"], **{"from": str(story["today"] + timedelta(days=1))}) == []
    item = _ok(api.get("/orders", params={**wait, "customer_id": story["customer"]}))["items"][0]
    assert (item["amount_due"], item["receivable"], item["customer_name"]) == ("7400.00", "8900.00", name)


def test_the_overview_shows_orders_and_receivables(api: Api, story: dict[str, Any]) -> None:
    overview = _ok(api.get(f"/customers/{story['customer']}/overview", params={"min_position": story["position"]}))
    assert overview["orders"]["count"] == 1 and overview["orders"]["amount_due"] == "7400.00"
    assert overview["orders"]["latest"][0]["id"] == story["order"]
    assert overview["receivables"]["current"] == "7400.00" and overview["receivables"]["total"] == "7400.00"


# Credit limits, stock, opportunities ---------------------------------------------------------------


def test_credit_limit_refuses_with_the_figures_unless_the_user_may_override(api: Api) -> None:
    seller_id, seller = _user(api, "salesperson")
    customer = seller.create_customer(credit_limit="1000.00")["id"]
    first = _ok(seller.post("/orders", json={"customer_id": customer, "lines": [
        {"description": "咨询", "quantity": "1", "unit_price": "700.00"}]}), 201)["id"]  # fmt: skip
    second = _ok(seller.post("/orders", json={"customer_id": customer, "lines": [
        {"description": "培训", "quantity": "2", "unit_price": "200.00"}]}), 201)["id"]  # fmt: skip
    _ok(seller.post(f"/orders/{first}/confirm"))
    body = _problem(seller.post(f"/orders/{second}/confirm"), 409)
    assert (body["credit_limit"], body["outstanding"], body["order_amount"], body["excess"]) == (
        "1000.00", "700.00", "400.00", "100.00")
    _, manager = _user(api, "sales_manager")
    done = _ok(api.post(f"/orders/{second}/confirm"))  # admin holds orders:override_credit
    detail = _ok(api.get(f"/orders/{second}", params={"min_position": done["position"]}))
    assert detail["credit_override"] is True and detail["status"] == "confirmed"
    assert "orders:override_credit" in _ok(manager.get("/me"))["permissions"]
    assert seller_id


def test_stock_lines_reserve_ship_and_come_back_and_short_stock_is_409(api: Api) -> None:
    runtime = api.client.app.state.runtime
    from crm_es.app import Context

    me = _ok(api.get("/me"))
    ctx = Context(actor=me["id"], user_id=uuid.UUID(me["id"]))
    item = runtime.app.stock.create_item(ctx=ctx, sku=f"VALVE-{uuid.uuid4().hex[:6]}", name="球阀 DN50", unit_cost="90").id
    runtime.app.stock.receive(ctx=ctx, item_id=item, quantity="5")
    customer = api.create_customer()["id"]
    short = _ok(api.post("/orders", json={"customer_id": customer, "lines": [
        {"stock_item_id": str(item), "quantity": "6", "unit_price": "150"}]}), 201)["id"]  # fmt: skip
    body = _problem(api.post(f"/orders/{short}/confirm"), 409)
    assert body["short_items"][0]["stock_item_id"] == str(item) and body["short_items"][0]["available"] == "5"
    order = _ok(api.post("/orders", json={"customer_id": customer, "lines": [
        {"stock_item_id": str(item), "quantity": "4", "unit_price": "150", "discount_rate": "0.1"}]}), 201)["id"]  # fmt: skip
    _ok(api.post(f"/orders/{order}/confirm"))
    assert runtime.app.stock.item(item).reserved == 4
    _ok(api.post(f"/orders/{order}/deliveries", json={"lines": [{"stock_item_id": str(item), "quantity": "4"}]}))
    _ok(api.post(f"/orders/{order}/returns", json={"lines": [{"stock_item_id": str(item), "quantity": "1"}], "reason": "错发"}))
    stock = runtime.app.stock.item(item)
    assert (stock.on_hand, stock.reserved) == (Decimal("2"), Decimal("0"))
    paid = _ok(api.post(f"/orders/{order}/payments", json={"amount": "405.00", "received_on": str(_today(api))}), 201)
    detail = _ok(api.get(f"/orders/{order}", params={"min_position": paid["position"]}))
    assert (detail["status"], detail["receivable"], detail["amount_due"]) == ("completed", "405.00", "0.00")


def test_a_won_opportunity_becomes_a_draft_order(api: Api) -> None:
    customer = api.create_customer()["id"]
    opportunity = _ok(api.post("/opportunities", json={"customer_id": customer, "title": "年度维保合同", "amount": "36000.00",
                                                        "expected_close_date": "2027-03-31"}), 201)["id"]  # fmt: skip
    _problem(api.post(f"/opportunities/{opportunity}/order"), 409)  # still open
    _ok(api.post(f"/opportunities/{opportunity}/win", json={"amount": "35000.00"}))
    written = _ok(api.post(f"/opportunities/{opportunity}/order", json={"payment_terms_days": 15}), 201)
    detail = _ok(api.get(f"/orders/{written['id']}", params={"min_position": written["position"]}))
    assert (detail["customer_id"], detail["opportunity_id"], detail["status"], detail["total"]) == (
        customer, opportunity, "draft", "35000.00")
    assert detail["lines"][0]["description"] == "年度维保合同" and detail["payment_terms_days"] == 15
    _problem(api.post(f"/opportunities/{uuid.uuid4()}/order"), 422, "opportunity_id")


# Bad input and transitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"lines": LINES}, "customer_id"),
    ({"customer_id": "not-a-uuid", "lines": LINES}, "customer_id"),
    ({"customer_id": str(uuid.uuid4()), "lines": LINES}, "customer_id"),
    ({"lines": []}, "lines"),
    ({"lines": [{"description": "x", "quantity": "-1", "unit_price": "1"}]}, "lines.0.quantity"),
    ({"lines": [{"description": "x", "quantity": "1", "unit_price": "-1"}]}, "lines.0.unit_price"),
    ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1.123456"}]}, "lines.0.unit_price"),
    ({"lines": [{"description": "x", "quantity": "abc", "unit_price": "1"}]}, "lines.0.quantity"),
    ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1", "discount_rate": "1.5"}]}, "lines.0.discount_rate"),
    ({"lines": [{"quantity": "1", "unit_price": "1"}]}, "lines.0"),
    ({"lines": [{"stock_item_id": str(uuid.uuid4()), "quantity": "1", "unit_price": "1"}]}, "lines[0].stock_item_id"),
    ({"lines": LINES, "payment_terms_days": -1}, "payment_terms_days"),
    ({"lines": LINES, "currency": "rmb"}, "currency"),
    ({"lines": LINES, "colour": "red"}, "colour"),
])  # fmt: skip
def test_bad_drafts_are_422_on_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    if "customer_id" not in body and field != "customer_id":
        body = {"customer_id": api.create_customer()["id"], **body}
    _problem(api.post("/orders", json=body), 422, field)


def test_bad_commands_and_transitions_are_refused_and_change_nothing(api: Api) -> None:
    customer = api.create_customer()["id"]
    oid = _ok(api.post("/orders", json={"customer_id": customer, "lines": LINES}), 201)["id"]
    today = str(_today(api))
    _problem(api.post(f"/orders/{oid}/payments", json={"amount": "10.00", "received_on": today}), 409)  # a draft
    _problem(api.post(f"/orders/{oid}/deliveries", json={"lines": [{"line": 1, "quantity": "1"}]}), 409)
    _problem(api.post(f"/orders/{uuid.uuid4()}/confirm"), 404)
    _problem(api.post("/orders/not-a-uuid/confirm"), 422)
    _ok(api.patch(f"/orders/{oid}", json={"payment_terms_days": 45}))
    _problem(api.patch(f"/orders/{oid}", json={"lines": None}), 422, "lines")
    confirmed = _ok(api.post(f"/orders/{oid}/confirm"))
    _problem(api.post(f"/orders/{oid}/confirm"), 409)
    _problem(api.patch(f"/orders/{oid}", json={"payment_terms_days": 10}), 409)
    for body, field in (
        ({"amount": "-5", "received_on": today}, "amount"),
        ({"amount": "0", "received_on": today}, "amount"),
        ({"amount": 12.5, "received_on": today, "method": "bitcoin"}, "method"),
        ({"amount": "10.001", "received_on": today}, "amount"),
        ({"amount": "10", "received_on": "yesterday"}, "received_on"),
        ({"amount": "10", "received_on": str(_today(api) + timedelta(days=1))}, "received_on"),
    ):
        _problem(api.post(f"/orders/{oid}/payments", json=body), 422, field)
    _problem(api.post(f"/orders/{oid}/deliveries", json={"lines": [{"line": 1, "quantity": "11"}]}), 409)
    _problem(api.post(f"/orders/{oid}/deliveries", json={"lines": [{"line": 9, "quantity": "1"}]}), 422, "lines[0].line")
    _problem(api.post(f"/orders/{oid}/returns", json={"lines": [{"line": 1, "quantity": "1"}], "reason": "x"}), 409)
    _problem(api.post(f"/orders/{oid}/price-adjustments", json={"line": 1, "unit_price": "1", "reason": "x"}), 409)
    _problem(api.post(f"/orders/{oid}/instalments", json={"instalments": [{"due_date": today, "amount": "1.00"}]}),
             422, "instalments")  # fmt: skip
    _problem(api.post(f"/orders/{oid}/cancel", json={}), 422, "reason")
    _problem(api.post(f"/orders/{oid}/confirm", headers={"If-Match": '"1"'}), 412)
    detail = _ok(api.get(f"/orders/{oid}", params={"min_position": confirmed["position"]}))
    assert detail["version"] == confirmed["version"] and detail["amount_paid"] == "0.00"
    _ok(api.post(f"/orders/{oid}/cancel", json={"reason": "客户取消"}))
    _problem(api.post(f"/orders/{oid}/payments", json={"amount": "10.00", "received_on": today}), 409)
    _problem(api.get("/reports/aging", params={"as_of": "2026-13-01"}), 422, "as_of")
    _problem(api.get("/reports/aging", params={"late_fee_rate": "-1"}), 422, "late_fee_rate")
    _problem(api.get("/reports/upcoming-dues", params={"days": 0}), 422, "days")
    _problem(api.get("/reports/expected-collections", params={"as_of": today, "to": "2000-01-01"}), 422, "to")


def test_a_repeated_payment_with_the_same_idempotency_key_is_recorded_once(api: Api) -> None:
    customer = api.create_customer()["id"]
    oid = _ok(api.post("/orders", json={"customer_id": customer, "lines": LINES}), 201)["id"]
    _ok(api.post(f"/orders/{oid}/confirm"))
    body, key = {"amount": "100.00", "received_on": str(_today(api))}, {"Idempotency-Key": uuid.uuid4().hex}
    first = _ok(api.post(f"/orders/{oid}/payments", json=body, headers=key), 201)
    again = _ok(api.post(f"/orders/{oid}/payments", json=body, headers=key), 201)
    assert first == again
    detail = _ok(api.get(f"/orders/{oid}", params={"min_position": first["position"]}))
    assert detail["amount_paid"] == "100.00" and [p["id"] for p in detail["payments"]] == [first["id"]]


# Data scope -------------------------------------------------------------------------------------------


def test_salespeople_see_only_their_orders_and_receivables_and_finance_sees_all(api: Api) -> None:
    a_id, a = _user(api, "salesperson")
    _, b = _user(api, "salesperson")
    _, finance = _user(api, "finance")
    customer = a.create_customer()["id"]
    oid = _ok(a.post("/orders", json={"customer_id": customer, "lines": LINES, "payment_terms_days": 0}), 201)["id"]
    done = _ok(a.post(f"/orders/{oid}/confirm"))
    wait = {"min_position": done["position"]}
    detail = _ok(a.get(f"/orders/{oid}", params=wait))
    assert detail["owner_id"] == a_id, "the order is owned by the customer's owner"
    _problem(b.get(f"/orders/{oid}", params=wait), 404)
    _problem(b.post(f"/orders/{oid}/cancel", json={"reason": "x"}), 404)
    _problem(b.post("/orders", json={"customer_id": customer, "lines": LINES}), 422, "customer_id")
    assert oid not in [o["id"] for o in _ok(b.get("/orders", params=wait))["items"]]
    assert _ok(b.get("/reports/aging", params={**wait, "customer_id": customer}))["customers"] == []
    mine = _ok(a.get("/reports/aging", params={**wait, "customer_id": customer}))["customers"]
    assert [c["current"] for c in mine] == ["10000.00"]
    _problem(a.post(f"/orders/{oid}/payments", json={"amount": "1.00", "received_on": str(_today(api))}), 403)
    _ok(finance.post(f"/orders/{oid}/payments", json={"amount": "1.00", "received_on": str(_today(api))}), 201)
    _problem(finance.post(f"/orders/{oid}/confirm"), 403)
    assert oid in [o["id"] for o in _ok(finance.get("/orders", params=wait))["items"]]
