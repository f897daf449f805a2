"""Many buyers of one stock item at once, over HTTP, against ``crm-es serve --workers 2``: the
item is never oversold, nobody is turned away while enough is available, every refusal is a
409 naming the short item, and the final on hand and reserved are exact."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
import httpx
import pytest

from tests.integration.test_workers import _call, _token, served  # noqa: F401 - the served fixture

BUYERS = 64


def _buy_at_once(base: str, headers: dict[str, str], item_id: str, quantities: list[int]) -> list[tuple[str, int, httpx.Response]]:
    """Every buyer sends its reservation at the same moment, each on a connection of its own
    (so the kernel spreads them over both workers)."""
    orders = [str(uuid.uuid4()) for _ in quantities]
    start = threading.Barrier(len(quantities))

    def buy(n: int) -> tuple[str, int, httpx.Response]:
        body = {"order_id": orders[n], "lines": [{"stock_item_id": item_id, "quantity": str(quantities[n])}]}
        with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=60) as client:
            start.wait()
            return orders[n], quantities[n], client.post("/stock-items/reservations", json=body)

    with ThreadPoolExecutor(len(quantities)) as pool:
        return list(pool.map(buy, range(len(quantities))))


def _item(base: str, headers: dict[str, str], on_hand: int) -> str:
    created = _call(base, "POST", "/stock-items", headers, json={"sku": f"HOT-{uuid.uuid4().hex[:8]}", "name": "爆款保温杯"})
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    received = _call(base, "POST", f"/stock-items/{item_id}/receipts", headers, json={"quantity": str(on_hand), "unit_cost": "35"})
    assert received.status_code == 200, received.text
    return item_id


def _check(base: str, headers: dict[str, str], item_id: str, on_hand: int, answers: list[tuple[str, int, httpx.Response]]) -> None:
    statuses = sorted({a.status_code for _, _, a in answers})
    assert set(statuses) <= {200, 409}, [a.text for _, _, a in answers if a.status_code not in (200, 409)][:3]
    sold = {order: quantity for order, quantity, a in answers if a.status_code == 200}
    refused = [(quantity, a.json()) for _, quantity, a in answers if a.status_code == 409]
    assert sum(sold.values()) <= on_hand
    for quantity, problem in refused:  # refused for want of stock, never because the item was busy
        assert problem["title"] == "Business rule conflict", problem
        assert [s["stock_item_id"] for s in problem["short_items"]] == [item_id]
        assert Decimal(problem["short_items"][0]["available"]) < quantity
    last = max([a.json()["position"] for _, _, a in answers if a.status_code == 200], default=0)
    item = _call(base, "GET", f"/stock-items/{item_id}", headers, params={"min_position": last})
    assert item.status_code == 200, item.text
    got = item.json()
    left = on_hand - sum(sold.values())
    assert (got["on_hand"], got["reserved"], got["available"]) == (str(on_hand), str(on_hand - left), str(left))
    assert {r["order_id"]: int(r["quantity"]) for r in got["reservations"]} == sold
    assert got["version"] == 2 + len(sold)
    # Nobody was turned away while their quantity was still available at the end.
    assert all(quantity > left for quantity, _ in refused)


@pytest.mark.slow
def test_more_buyers_than_units_over_two_workers_never_oversell_the_item(served: str) -> None:  # noqa: F811
    admin = _token(served, "boss", "boss-password-1")
    on_hand = 41
    item_id = _item(served, admin, on_hand)
    answers = _buy_at_once(served, admin, item_id, [1] * BUYERS)
    assert sum(1 for *_, a in answers if a.status_code == 200) == on_hand  # fewer units than buyers: all of them sold
    _check(served, admin, item_id, on_hand, answers)


@pytest.mark.slow
def test_buyers_of_different_quantities_at_once_get_exactly_what_there_is(served: str) -> None:  # noqa: F811
    admin = _token(served, "boss", "boss-password-1")
    on_hand = 60
    item_id = _item(served, admin, on_hand)
    quantities = [1 + n % 4 for n in range(BUYERS)]  # 160 wanted
    _check(served, admin, item_id, on_hand, _buy_at_once(served, admin, item_id, quantities))



@pytest.mark.slow
def test_more_orders_than_units_confirmed_at_once_over_two_workers_never_oversell(served: str) -> None:  # noqa: F811
    """The orders context's confirmation: the same reservation, in the order's own transaction."""
    admin = _token(served, "boss", "boss-password-1")
    on_hand, orders = 23, 40
    item_id = _item(served, admin, on_hand)
    drafts = []
    for n in range(orders):  # each of a customer of its own: their accounts do not queue them
        customer = _call(served, "POST", "/customers", admin, json={"name": f"抢购客户{uuid.uuid4().hex[:6]}", "kind": "customer"})
        assert customer.status_code == 201, customer.text
        draft = _call(served, "POST", "/orders", admin, json={"customer_id": customer.json()["id"], "lines": [
            {"stock_item_id": item_id, "quantity": "1", "unit_price": "59.00"}]})  # fmt: skip
        assert draft.status_code == 201, draft.text
        drafts.append(draft.json()["id"])
    start = threading.Barrier(orders)

    def confirm(order_id: str) -> httpx.Response:
        with httpx.Client(base_url=f"{served}/api/v1", headers=admin, timeout=60) as client:
            start.wait()
            return client.post(f"/orders/{order_id}/confirm")

    with ThreadPoolExecutor(orders) as pool:
        answers = list(pool.map(confirm, drafts))
    assert sorted({a.status_code for a in answers}) == [200, 409], [a.text for a in answers if a.status_code not in (200, 409)][:3]
    confirmed = [order for order, a in zip(drafts, answers) if a.status_code == 200]
    assert len(confirmed) == on_hand
    assert all(a.json()["short_items"][0]["available"] == "0" for a in answers if a.status_code == 409)
    last = max(a.json()["position"] for a in answers if a.status_code == 200)
    item = _call(served, "GET", f"/stock-items/{item_id}", admin, params={"min_position": last}).json()
    assert (item["on_hand"], item["reserved"], item["available"]) == (str(on_hand), str(on_hand), "0")
    assert sorted(r["order_id"] for r in item["reservations"]) == sorted(confirmed)
