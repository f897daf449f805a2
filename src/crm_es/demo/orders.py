"""Demo orders: contracts of the demo customers, so the order list, the 360° view and the
receivables reports (aging, dunning, upcoming dues, expected collections) have something to show.

One customer in four among the first ``LIMIT × 4`` gets one order, planned from its own
``random.Random`` (seeded with the seed, the size and the customer's number): one to three lines
of services and goods without stock items (the demo has no stock), payment terms of 0 to 90
days, confirmed on a day in the 200 days before ``today``; most are delivered, some in two
instalments, most partly or wholly paid, a few with a return or a price reduction, a few left
as drafts or cancelled. Every step goes through the application's commands, as its business
day (the orders context's clock is set to that day while it runs), each with an idempotency key
derived from the seed: seeding again writes nothing twice.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid5

from crm_es.app import Context, Idempotency
from crm_es.demo.data import CHINA_TIME, Size
from crm_es.demo.plan import ID_NAMESPACE, customer_id
from crm_es.errors import DomainError

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

ACTOR = "process:seed-demo"
LIMIT = 40
"""At most this many demo orders, whatever the size (orders are not what large sizes measure)."""

SERVICES = (
    ("年度维保服务", "12000"), ("安装调试服务", "3000"), ("操作培训", "1500"), ("注塑机配件", "850"),
    ("液压油 (桶)", "420"), ("数控系统升级", "26000"), ("模具保养", "2200"), ("远程技术支持 (月)", "800"),
)  # fmt: skip


def seed_orders(runtime: Runtime, *, size: Size, seed: int, today: date) -> int:
    """Write the demo orders of ``size`` (those not written yet); returns how many the data set has."""
    orders = runtime.app.orders
    real_clock = orders.clock
    count = 0
    try:
        for index in range(0, min(size.customers, LIMIT * 4), 4):
            count += _order(runtime, size, seed, index, today)
    finally:
        orders.clock = real_clock
    return count


def _order(runtime: Runtime, size: Size, seed: int, index: int, today: date) -> int:
    rng = random.Random(f"{seed}:{size.name}:order:{index}")  # noqa: S311 - demo data, not secrets
    orders = runtime.app.orders
    step = iter(range(100))

    def ctx() -> Context:
        key = str(uuid5(ID_NAMESPACE, f"{seed}:{size.name}:order:{index}:{next(step)}"))
        return Context(actor=ACTOR, idempotency=Idempotency(key, key))

    def on(day: date) -> None:
        orders.clock = lambda: datetime.combine(day, time(10), CHINA_TIME)

    confirmed_on = today - timedelta(days=rng.randint(0, 200))
    on(confirmed_on - timedelta(days=rng.randint(0, 5)))
    lines = [
        {"description": name, "quantity": Decimal(rng.choice((1, 1, 2, 3, 5, 10))),
         "unit_price": Decimal(price), "discount_rate": Decimal(rng.choice(("0", "0", "0.05", "0.1")))}
        for name, price in rng.sample(SERVICES, rng.randint(1, 3))
    ]  # fmt: skip
    terms = rng.choice((0, 15, 30, 30, 45, 60, 90))
    try:
        order_id = orders.draft(ctx=ctx(), customer_id=customer_id(size, seed, index), lines=lines, payment_terms_days=terms).id
        fate = rng.random()
        if fate < 0.08:
            return 1  # left as a draft
        on(confirmed_on)
        orders.confirm(ctx=ctx(), order_id=order_id)
        order = orders.order(order_id)
        total = order.receivable
        if fate < 0.13:
            orders.cancel(ctx=ctx(), order_id=order_id, reason="客户取消采购")
            return 1
        if rng.random() < 0.3 and total >= Decimal("2.00"):
            first = (total * Decimal(rng.choice(("0.3", "0.5")))).quantize(Decimal("0.01"))
            orders.plan_instalments(ctx=ctx(), order_id=order_id, instalments=[
                {"due_date": order.due_date, "amount": first},
                {"due_date": order.due_date + timedelta(days=60), "amount": total - first}])  # fmt: skip
        delivered_on = min(today, confirmed_on + timedelta(days=rng.randint(0, 10)))
        if rng.random() < 0.85:
            on(delivered_on)
            orders.deliver(ctx=ctx(), order_id=order_id, lines=[{"line": x["line"], "quantity": x["quantity"]}
                                                                 for x in order.lines])  # fmt: skip
            _after_delivery(orders, ctx, on, rng, order_id, delivered_on, today)
        paid_on = min(today, confirmed_on + timedelta(days=rng.randint(5, 120)))
        share = rng.choice(("0", "0.3", "0.5", "1", "1", "1"))
        due = orders.order(order_id).amount_due
        amount = (due * Decimal(share)).quantize(Decimal("0.01"))
        if amount > 0:
            on(paid_on)
            orders.record_payment(ctx=ctx(), order_id=order_id, amount=amount, received_on=paid_on,
                                  method=rng.choice(("bank_transfer", "bank_transfer", "acceptance_bill", "wechat")))  # fmt: skip
    except DomainError:
        # a competitor or blacklisted customer takes no orders (nothing was drafted); anything
        # refused later leaves the order as far as it got
        return 1 if "order_id" in locals() else 0
    return 1


def _after_delivery(orders: Any, ctx: Any, on: Any, rng: random.Random, order_id: Any, delivered_on: date, today: date) -> None:
    chance = rng.random()
    later = min(today, delivered_on + timedelta(days=rng.randint(1, 20)))
    order = orders.order(order_id)
    if chance < 0.1:
        on(later)
        line = order.lines[0]
        orders.return_goods(ctx=ctx(), order_id=order_id, lines=[{"line": line["line"], "quantity": line["quantity"]}],
                            reason="质量问题退货")  # fmt: skip
    elif chance < 0.2:
        on(later)
        line = order.lines[0]
        price = (line["unit_price"] * Decimal("0.9")).quantize(Decimal("0.01"))
        if price != line["unit_price"]:
            orders.adjust_price(ctx=ctx(), order_id=order_id, line=line["line"], unit_price=price, reason="收款时价格下浮")
