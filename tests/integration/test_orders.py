"""Orders on real PostgreSQL: stock reserved, shipped, taken back and released in the order's
own transaction; numbers and credit limits under concurrency; the customer's history."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from crm_es.app import Context
from crm_es.errors import Conflict, DomainError, InvalidInput
from crm_es.runtime import Runtime


@pytest.fixture
def shop(fresh: Runtime) -> dict[str, Any]:
    rt = fresh
    rt.app.stock.ensure_catalogue()
    admin, _ = rt.app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    customer = rt.app.customers.register(ctx=ctx, name="宁波慈穗贸业有限公司", kind="customer").id
    item = rt.app.stock.create_item(ctx=ctx, sku=f"PUMP-{uuid4().hex[:6]}", name="离心泵", unit_cost="800").id
    rt.app.stock.receive(ctx=ctx, item_id=item, quantity="10")
    return {"rt": rt, "ctx": ctx, "customer": customer, "item": item}


def _draft(shop: dict[str, Any], quantity: str, **extra: Any) -> Any:
    lines = [{"stock_item_id": shop["item"], "quantity": Decimal(quantity), "unit_price": Decimal("1200.00")},
             {"description": "安装调试", "quantity": Decimal("1"), "unit_price": Decimal("300.00")}]  # fmt: skip
    return shop["rt"].app.orders.draft(ctx=shop["ctx"], customer_id=shop["customer"], lines=lines, **extra).id


def test_confirm_reserves_delivery_ships_return_restocks_in_one_transaction(shop: dict[str, Any]) -> None:
    rt, ctx, item_id = shop["rt"], shop["ctx"], shop["item"]
    order_id = _draft(shop, "4")
    rt.app.orders.confirm(ctx=ctx, order_id=order_id)
    item = rt.app.stock.item(item_id)
    assert (item.on_hand, item.reserved) == (Decimal("10"), Decimal("4"))
    rt.app.orders.deliver(ctx=ctx, order_id=order_id, lines=[{"stock_item_id": item_id, "quantity": Decimal("3")}])
    item = rt.app.stock.item(item_id)
    assert (item.on_hand, item.reserved) == (Decimal("7"), Decimal("1"))
    rt.app.orders.return_goods(ctx=ctx, order_id=order_id, lines=[{"line": 1, "quantity": Decimal("1")}], reason="漏水")
    item = rt.app.stock.item(item_id)
    assert (item.on_hand, item.reserved) == (Decimal("8"), Decimal("1"))
    order = rt.app.orders.order(order_id)
    assert order.receivable == Decimal("3900.00")  # 3 × 1200 + 300
    with pytest.raises(Conflict):
        rt.app.orders.cancel(ctx=ctx, order_id=order_id, reason="too late: delivered")


def test_confirming_beyond_stock_is_refused_naming_the_short_items_and_changes_nothing(shop: dict[str, Any]) -> None:
    rt, ctx, item_id = shop["rt"], shop["ctx"], shop["item"]
    order_id = _draft(shop, "11")
    version = rt.app.orders.order(order_id).version
    with pytest.raises(Conflict) as refused:
        rt.app.orders.confirm(ctx=ctx, order_id=order_id)
    assert refused.value.extra["short_items"][0]["stock_item_id"] == str(item_id)
    assert rt.app.orders.order(order_id).version == version and rt.app.orders.order(order_id).status == "draft"
    assert rt.app.stock.item(item_id).reserved == 0
    assert rt.app.orders.outstanding(shop["customer"]) == 0


def test_cancelling_a_confirmed_order_releases_its_reservation(shop: dict[str, Any]) -> None:
    rt, ctx, item_id = shop["rt"], shop["ctx"], shop["item"]
    order_id = _draft(shop, "6")
    rt.app.orders.confirm(ctx=ctx, order_id=order_id)
    assert rt.app.stock.item(item_id).reserved == Decimal("6")
    rt.app.orders.record_payment(ctx=ctx, order_id=order_id, amount=Decimal("500.00"), received_on=rt.app.orders.today())
    rt.app.orders.cancel(ctx=ctx, order_id=order_id, reason="客户取消")
    assert rt.app.stock.item(item_id).reserved == 0
    assert rt.app.orders.outstanding(shop["customer"]) == Decimal("-500.00"), "the payment stays as the customer's credit"


def test_an_unknown_stock_item_is_refused_at_drafting(shop: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        shop["rt"].app.orders.draft(ctx=shop["ctx"], customer_id=shop["customer"],
                                    lines=[{"stock_item_id": uuid4(), "quantity": 1, "unit_price": 1}])  # fmt: skip
    assert refused.value.errors[0].field == "lines[0].stock_item_id"


def _together(n: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released at once; each result or the error it raised."""
    start, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except DomainError as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_drafts_get_unique_gapless_numbers(shop: dict[str, Any]) -> None:
    rt = shop["rt"]
    written = _together(8, lambda i: rt.app.orders.draft(
        ctx=shop["ctx"], customer_id=shop["customer"], lines=[{"description": f"服务 {i}", "quantity": 1, "unit_price": 10}]))
    numbers = sorted(rt.app.orders.order(w.id).number for w in written)
    year = rt.app.orders.today().year
    assert numbers == [f"SO-{year}-{n:06d}" for n in range(1, 9)]


def test_concurrent_confirmations_cannot_both_slip_under_the_credit_limit(shop: dict[str, Any]) -> None:
    rt, ctx = shop["rt"], shop["ctx"]
    from crm_es.access import PERMISSIONS, Access

    limited = Context(actor=ctx.actor, user_id=ctx.user_id, access=Access(
        user_id=ctx.user_id, permissions=frozenset(p for p in PERMISSIONS if p != "orders:override_credit"),
        visible_owners={"customers": None, "orders": None}))  # type: ignore[arg-type]  # fmt: skip
    customer = rt.app.customers.register(ctx=ctx, name="限额客户", kind="customer", credit_limit=Decimal("1000.00")).id
    drafts = [rt.app.orders.draft(ctx=ctx, customer_id=customer,
                                  lines=[{"description": "x", "quantity": 1, "unit_price": Decimal("600.00")}]).id
              for _ in range(4)]  # fmt: skip
    results = _together(4, lambda i: rt.app.orders.confirm(ctx=limited, order_id=drafts[i]))
    assert sum(not isinstance(r, DomainError) for r in results) == 1
    assert all(isinstance(r, Conflict) and "credit limit" in r.detail for r in results if isinstance(r, DomainError))
    assert rt.app.orders.outstanding(customer) == Decimal("600.00")


def test_the_customers_history_holds_the_order_and_its_stock_movements(shop: dict[str, Any]) -> None:
    rt, ctx = shop["rt"], shop["ctx"]
    order_id = _draft(shop, "2")
    rt.app.orders.confirm(ctx=ctx, order_id=order_id)
    rt.app.orders.deliver(ctx=ctx, order_id=order_id, lines=[{"line": 1, "quantity": Decimal("2")}])
    kinds = [type(e).__qualname__ for _, e in rt.customer_history(ctx, shop["customer"])]
    assert "Order.Drafted" in kinds and "Order.Confirmed" in kinds and "Order.DeliveryRecorded" in kinds
    assert "StockItem.Reserved" in kinds and "StockItem.Shipped" in kinds
    assert "StockItem.Received" not in kinds, "a receipt belongs to no customer"


def test_concurrent_payments_on_one_customers_orders_all_land_on_its_account(shop: dict[str, Any]) -> None:
    rt, ctx = shop["rt"], shop["ctx"]
    line = [{"description": "服务", "quantity": 1, "unit_price": Decimal("100.00")}]
    ids = [rt.app.orders.draft(ctx=ctx, customer_id=shop["customer"], lines=line).id for _ in range(6)]
    for order_id in ids:
        rt.app.orders.confirm(ctx=ctx, order_id=order_id)
    today = rt.app.orders.today()
    results = _together(6, lambda i: rt.app.orders.record_payment(
        ctx=ctx, order_id=ids[i], amount=Decimal("30.00") + i, received_on=today))
    assert not [r for r in results if isinstance(r, DomainError)]
    assert [rt.app.orders.order(i).paid for i in ids] == [Decimal("30.00") + i for i in range(6)]
    assert rt.app.orders.outstanding(shop["customer"]) == Decimal("600.00") - sum(Decimal("30.00") + i for i in range(6))
