"""Receivables aging on a scripted set of orders, on real PostgreSQL, to the cent.

The orders are written by the application with its clock set to chosen company days, so every
fact is a real event; the receivables read model is built from them and the aging, dunning,
upcoming-dues and expected-collections queries are asked on several dates: before confirmation,
not yet due, and at each bucket edge (0, 1, 30, 31, 60, 61, 90, 91, 180, 181 days overdue), with
instalments, partial payments, a return, a price reduction and a price increase, an overpayment
and a cancelled order's payment (the customer's credit)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from crm_es.app import Context
from crm_es.errors import Conflict
from crm_es.projections import orders as orders_model
from crm_es.projections import receivables
from crm_es.runtime import Runtime

RATE = Decimal("0.0005")
C = date(2026, 1, 5)  # the day order X is confirmed
D1 = C + timedelta(days=30)  # X's first instalment falls due
ZONE = ZoneInfo("Asia/Shanghai")
Z = Decimal("0.00")


def at(rt: Runtime, day: date) -> None:
    """Set the application's clock to 23:59 of ``day`` in the company's zone (late in the day:
    the company date, not the UTC one, must count)."""
    rt.app.orders.clock = lambda: datetime.combine(day, time(23, 59), ZONE)


def money(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture
def story(fresh: Runtime) -> dict[str, Any]:
    """Customers A and B and their orders, written day by day."""
    rt = fresh
    admin, _ = rt.app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    orders = rt.app.orders
    a = rt.app.customers.register(ctx=ctx, name="宁波慈穗贸业有限公司", kind="customer").id
    b = rt.app.customers.register(ctx=ctx, name="Hangzhou Qiantang Software", kind="customer").id

    # Order X (A): 10 × 800 of equipment and 2000 of service; two instalments.
    at(rt, C - timedelta(days=3))
    x = orders.draft(ctx=ctx, customer_id=a, payment_terms_days=30, lines=[
        {"description": "注塑机配件", "quantity": Decimal("10"), "unit_price": Decimal("800.00")},
        {"description": "安装调试服务", "quantity": Decimal("1"), "unit_price": Decimal("2000.00")},
    ]).id  # fmt: skip
    at(rt, C)
    orders.confirm(ctx=ctx, order_id=x)
    orders.plan_instalments(ctx=ctx, order_id=x, instalments=[
        {"due_date": D1, "amount": Decimal("4000.00")}, {"due_date": D1 + timedelta(days=90), "amount": Decimal("6000.00")},
    ])  # fmt: skip
    at(rt, C + timedelta(days=2))
    orders.deliver(ctx=ctx, order_id=x, lines=[{"line": 1, "quantity": Decimal("10")}, {"line": 2, "quantity": Decimal("1")}])
    at(rt, C + timedelta(days=10))
    orders.record_payment(ctx=ctx, order_id=x, amount=Decimal("1500.00"), received_on=C + timedelta(days=10), method="bank_transfer")
    at(rt, C + timedelta(days=20))
    orders.return_goods(ctx=ctx, order_id=x, lines=[{"line": 1, "quantity": Decimal("1")}], reason="外壳破损")  # 800.00
    at(rt, C + timedelta(days=25))
    orders.adjust_price(ctx=ctx, order_id=x, line=2, unit_price=Decimal("1700.00"), reason="收款时价格下浮")  # 300.00
    at(rt, D1 + timedelta(days=45))
    orders.record_payment(ctx=ctx, order_id=x, amount=Decimal("1000.00"), received_on=D1 + timedelta(days=45))

    # Order Y (B): due on confirmation; a price increase after delivery; then an overpayment.
    at(rt, C + timedelta(days=1))
    y = orders.draft(ctx=ctx, customer_id=b, payment_terms_days=0, lines=[
        {"description": "软件许可", "quantity": Decimal("1"), "unit_price": Decimal("3333.33")}]).id  # fmt: skip
    orders.confirm(ctx=ctx, order_id=y)
    orders.deliver(ctx=ctx, order_id=y, lines=[{"line": 1, "quantity": Decimal("1")}])
    at(rt, C + timedelta(days=3))
    orders.adjust_price(ctx=ctx, order_id=y, line=1, unit_price=Decimal("3500.00"), reason="补差价")  # +166.67, due C+3
    at(rt, C + timedelta(days=5))
    orders.record_payment(ctx=ctx, order_id=y, amount=Decimal("4000.00"), received_on=C + timedelta(days=5))

    # Order Z (B): confirmed, partly paid, cancelled: the payment is B's credit.
    at(rt, C)
    z = orders.draft(ctx=ctx, customer_id=b, lines=[{"description": "培训", "quantity": Decimal("1"), "unit_price": Decimal("1000.00")}]).id
    orders.confirm(ctx=ctx, order_id=z)
    orders.record_payment(ctx=ctx, order_id=z, amount=Decimal("100.00"), received_on=C)
    at(rt, C + timedelta(days=1))
    orders.cancel(ctx=ctx, order_id=z, reason="客户取消培训")

    rt.read_side.catch_up("receivables")
    rt.read_side.catch_up("orders")
    return {"rt": rt, "ctx": ctx, "a": a, "b": b, "x": x, "y": y, "z": z}


def _aging(rt: Runtime, as_of: date, **filters: Any) -> dict[UUID, dict[str, Any]]:
    with rt.app.connection() as conn, conn.cursor() as cur:
        data = receivables.aging(cur, as_of=as_of, rate=RATE, **filters)
    return {c["customer_id"]: c for c in data["customers"]}


def _buckets(line: dict[str, Any] | None) -> tuple[Decimal, ...]:
    if line is None:
        return ()
    return tuple(line[b] for b in (*receivables.BUCKETS, "total", "credit", "late_fee"))


# (days after D1, current, 1-30, 31-60, 61-90, 91-180, 180+, late fee) for customer A
EDGES = [
    (0, "7400.00", "0", "0", "0", "0", "0", "0.00"),
    (1, "6000.00", "1400.00", "0", "0", "0", "0", "0.70"),  # 1400 × 1 × 0.0005
    (30, "6000.00", "1400.00", "0", "0", "0", "0", "21.00"),  # 1400 × 30
    (31, "6000.00", "0", "1400.00", "0", "0", "0", "21.70"),
    (60, "6000.00", "0", "400.00", "0", "0", "0", "12.00"),  # paid 1000 on day 45: 400 × 60
    (61, "6000.00", "0", "0", "400.00", "0", "0", "12.20"),
    (90, "6000.00", "0", "0", "400.00", "0", "0", "18.00"),  # the second instalment falls due: 0 days
    (91, "0", "6000.00", "0", "0", "400.00", "0", "21.20"),  # 400 × 91 + 6000 × 1
    (180, "0", "0", "0", "6000.00", "400.00", "0", "306.00"),  # 400 × 180 + 6000 × 90
    (181, "0", "0", "0", "0", "6000.00", "400.00", "309.20"),  # 400 × 181 + 6000 × 91
]


def test_aging_before_confirmation_and_while_not_yet_due(story: dict[str, Any]) -> None:
    rt, a, b = story["rt"], story["a"], story["b"]
    assert _aging(rt, C - timedelta(days=1)) == {}, "nothing is owed before the orders are confirmed"
    on_c = _aging(rt, C)
    # X: the new plan replaced the first instalment the same day: 4000 + 6000, not yet due.
    assert _buckets(on_c[a]) == (money("10000.00"), Z, Z, Z, Z, Z, money("10000.00"), Z, Z)
    # Z (B): 1000 due in 30 days less the 100 paid; Y is confirmed only the next day.
    assert _buckets(on_c[b]) == (money("900.00"), Z, Z, Z, Z, Z, money("900.00"), Z, Z)
    on_10 = _aging(rt, C + timedelta(days=10))
    assert on_10[a]["current"] == money("8500.00") and on_10[a]["total"] == money("8500.00")


@pytest.mark.parametrize("edge", EDGES, ids=[f"{e[0]}-days" for e in EDGES])
def test_aging_at_each_bucket_edge_is_exact(story: dict[str, Any], edge: tuple[Any, ...]) -> None:
    days, *amounts, fee = edge
    line = _aging(story["rt"], D1 + timedelta(days=days))[story["a"]]
    expected = tuple(money(v) for v in amounts)
    assert _buckets(line)[:6] == expected
    assert line["total"] == sum(expected, Z)
    assert line["late_fee"] == money(fee) and line["credit"] == Z


def test_a_price_increase_is_billed_and_an_overpayment_and_a_cancelled_orders_payment_are_credit(story: dict[str, Any]) -> None:
    rt, b = story["rt"], story["b"]
    # C+2: Y (3333.33, due C+1) is 1 day overdue; Z was cancelled on C+1 and left 100 of credit.
    line = _aging(rt, C + timedelta(days=2))[b]
    assert _buckets(line) == (Z, money("3333.33"), Z, Z, Z, Z, money("3333.33"), money("100.00"), money("1.67"))
    # C+4: the increase (166.67, due C+3) is 1 day overdue, Y's instalment 3 days:
    # (3333.33 × 3 + 166.67 × 1) × 0.0005 = 5.08333 → 5.08
    line = _aging(rt, C + timedelta(days=4))[b]
    assert (line["1-30"], line["late_fee"]) == (money("3500.00"), money("5.08"))
    # C+5: 4000 paid against 3500 owed: 500 of credit on Y, 100 on Z; nothing open.
    line = _aging(rt, C + timedelta(days=5))[b]
    assert _buckets(line) == (Z, Z, Z, Z, Z, Z, Z, money("600.00"), Z)
    # A report as of a day the data scope excludes nothing from is the sum of its lines.
    with rt.app.connection() as conn, conn.cursor() as cur:
        data = receivables.aging(cur, as_of=D1 + timedelta(days=91), rate=RATE)
    assert data["totals"]["total"] == sum((c["total"] for c in data["customers"]), Z)
    assert data["totals"]["late_fee"] == money("21.20") and data["totals"]["credit"] == money("600.00")


def test_the_read_model_agrees_with_the_write_side_today(story: dict[str, Any]) -> None:
    rt, x = story["rt"], story["x"]
    order = rt.app.orders.order(x)
    with rt.app.connection() as conn, conn.cursor() as cur:
        row = orders_model.get_order(cur, x)
    assert row is not None
    assert (row["status"], row["receivable"], row["amount_paid"], row["amount_due"]) == (
        "delivered", order.receivable, order.paid, order.amount_due)
    assert (row["total"], row["returned_amount"], row["adjusted_amount"]) == (money("10000.00"), money("800.00"), money("-300.00"))
    assert [(i["seq"], i["open"]) for i in row["instalments"]] == [
        (i["seq"], i["open"]) for i in order.settled_instalments()] == [(1, money("400.00")), (2, money("6000.00"))]
    assert rt.app.orders.outstanding(story["a"]) == money("6400.00")
    assert rt.app.orders.outstanding(story["b"]) == money("-600.00")
    assert [p["amount"] for p in row["payments"]] == [money("1500.00"), money("1000.00")]
    assert len(row["deliveries"]) == 1 and len(row["returns"]) == 1 and len(row["adjustments"]) == 1


def test_dunning_upcoming_dues_and_expected_collections(story: dict[str, Any]) -> None:
    rt, a = story["rt"], story["a"]
    with rt.app.connection() as conn, conn.cursor() as cur:
        dun = receivables.dunning(cur, as_of=D1 + timedelta(days=31), rate=RATE)
        soon = receivables.upcoming(cur, as_of=D1 + timedelta(days=60), days=30)
        none_soon = receivables.upcoming(cur, as_of=D1 + timedelta(days=60), days=29)
        weekly = receivables.expected(cur, as_of=D1, until=D1 + timedelta(days=120), period="week")
        monthly = receivables.expected(cur, as_of=D1 + timedelta(days=1), until=D1 + timedelta(days=120), period="month")
    assert [(c["customer_id"], c["overdue"], c["late_fee"], c["orders"], c["max_days_overdue"]) for c in dun["customers"]] == [
        (a, money("1400.00"), money("21.70"), 1, 31)]
    assert dun["customers"][0]["owner_id"] is not None and dun["customers"][0]["items"][0]["number"].startswith("SO-2026-")
    assert [(c["customer_id"], c["due"]) for c in soon["customers"]] == [(a, money("6000.00"))]
    assert none_soon["customers"] == []
    # On D1: 1400 falls due that day (week of Monday 2026-02-02), 6000 on 2026-05-05 (Monday 2026-05-04).
    assert [(p["period_start"], p["amount"]) for p in weekly["periods"]] == [
        (date(2026, 2, 2), money("1400.00")), (date(2026, 5, 4), money("6000.00"))]
    assert weekly["overdue"]["amount"] == Z
    assert [(p["period_start"], p["amount"]) for p in monthly["periods"]] == [(date(2026, 5, 1), money("6000.00"))]
    assert monthly["overdue"] == {"amount": money("1400.00"), "items": 1}


def test_confirmation_beyond_the_credit_limit_counts_what_is_outstanding(story: dict[str, Any]) -> None:
    rt, ctx = story["rt"], story["ctx"]
    limited = Context(actor=ctx.actor, user_id=ctx.user_id, access=_access(ctx.user_id, override=False))
    customer = rt.app.customers.register(ctx=ctx, name="限额测试客户", kind="customer", credit_limit=Decimal("1000.00")).id
    at(rt, C)
    first = rt.app.orders.draft(ctx=ctx, customer_id=customer, lines=[{"description": "a", "quantity": 1, "unit_price": Decimal("600.00")}]).id
    second = rt.app.orders.draft(ctx=ctx, customer_id=customer, lines=[{"description": "b", "quantity": 1, "unit_price": Decimal("500.00")}]).id
    rt.app.orders.confirm(ctx=limited, order_id=first)
    with pytest.raises(Conflict) as refused:
        rt.app.orders.confirm(ctx=limited, order_id=second)
    assert refused.value.extra == {"credit_limit": "1000.00", "outstanding": "600.00", "order_amount": "500.00", "excess": "100.00"}
    rt.app.orders.record_payment(ctx=limited, order_id=first, amount=Decimal("100.00"), received_on=C)
    rt.app.orders.confirm(ctx=limited, order_id=second)  # 500 outstanding + 500 = the limit: allowed
    assert rt.app.orders.outstanding(customer) == money("1000.00")


def _access(user_id: Any, *, override: bool) -> Any:
    from crm_es.access import PERMISSIONS, Access

    permissions = frozenset(p for p in PERMISSIONS if override or p != "orders:override_credit")
    return Access(user_id=user_id, permissions=permissions, visible_owners={r: None for r in ("customers", "orders", "opportunities")})


def test_late_fee_rounds_half_up_per_customer() -> None:
    assert receivables._fee(Decimal("330"), RATE) == money("0.17")  # 0.165: half up, not to even
    assert receivables._fee(Decimal("10"), RATE) == money("0.01")  # 0.005
    assert receivables._fee(Decimal("9"), RATE) == money("0.00")  # 0.0045
