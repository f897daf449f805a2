"""Receivables read model (应收账款): the ledger of every movement of what customers owe, and
the reports computed from it in SQL: aging as of any date (帐龄分析), the dunning list
(催交欠款), dues in the coming days (通知交款), expected collections (预计收款).

The ledger (``entries``) has one row per movement, each with the business date it takes effect:

- debits: the instalments of an order's payment plan (``due_on``: when each falls due), and
  the instalment of a price increase. A debit is in force from ``effective_on`` until
  ``ended_on`` (null: still): a new payment plan ends the instalments it replaces and starts
  its own on the day it is made; a cancellation ends them all.
- credits: payments (effective the day received), return credits and price reductions
  (effective the day recorded).

What was owed on a date D is then a question to the ledger alone: the debits in force on D,
settled by the order's credits effective on or before D, oldest due date first (the order's
``settle`` in aggregates/order.py is the same rule). What the credits exceed the debits by is
the customer's credit. D may be in the past or the future; a payment received on D counts on D.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from psycopg import Cursor

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.order import Order
from crm_es.projections.base import Projection, live_schema, q

if TYPE_CHECKING:
    from crm_es.access import Access

SCHEMA = live_schema("receivables")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "180+")
BUCKET_LIMITS = ((None, 0), (1, 30), (31, 60), (61, 90), (91, 180), (181, None))
"""Days overdue of each bucket (inclusive); ``current`` is not yet due (0 days or fewer)."""

_END_DEBITS = "UPDATE {s}.entries SET ended_on = %s WHERE order_id = %s AND side = 'debit' AND ended_on IS NULL"
_ADD = (
    "INSERT INTO {s}.entries (order_id, entry, kind, side, amount, effective_on, due_on, seq, position) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


class ReceivablesProjection(Projection):
    name = "receivables"
    version = 1
    ddl = """
    CREATE TABLE {s}.entries (
        order_id uuid NOT NULL,
        entry text NOT NULL,             -- i:<order version>:<seq>, p:<payment>, r:<return>, a:<order version>
        kind text NOT NULL,              -- instalment, payment, return, adjustment
        side text NOT NULL CHECK (side IN ('debit', 'credit')),
        amount numeric(17, 2) NOT NULL CHECK (amount >= 0),
        effective_on date NOT NULL,
        due_on date,                     -- debits: when it falls due
        ended_on date,                   -- debits: replaced or cancelled on this day
        seq integer,                     -- debits: the instalment's number
        position bigint NOT NULL,
        PRIMARY KEY (order_id, entry)
    );
    CREATE TABLE {s}.orders (
        id uuid PRIMARY KEY,
        number text NOT NULL,
        customer_id uuid NOT NULL,
        owner_id uuid NOT NULL,
        currency text NOT NULL,
        confirmed boolean NOT NULL DEFAULT false
    );
    CREATE TABLE {s}.customers (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        owner_id uuid NOT NULL
    );
    """
    indexes = """
    CREATE INDEX entries_debits ON {s}.entries (due_on) WHERE side = 'debit';
    CREATE INDEX orders_customer ON {s}.orders (customer_id) WHERE confirmed;
    CREATE INDEX orders_owner ON {s}.orders (owner_id) WHERE confirmed;
    """

    zone = ZoneInfo("Asia/Shanghai")
    late_fee_daily_rate = Decimal("0.0005")
    """Set from the settings when crm-es starts (runtime.connect): the 360° view's receivables
    are as of today in the company's zone."""

    def overview(self, cur: Cursor[Any], customer_id: UUID, access: Access) -> dict[str, Any]:
        """The customer's receivables today (its aging line) within the caller's ``orders`` scope."""
        if not access.allows("orders:read"):
            return {}
        today = datetime.now(self.zone).date()
        return {"receivables": customer_receivables(
            cur, customer_id, as_of=today, rate=self.late_fee_daily_rate, owners=access.owners("orders"))}  # fmt: skip

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    @apply.register
    def _customer_registered(self, e: Customer.Registered, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.customers (id, name, owner_id) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.name, e.owner_id),
        )

    @apply.register
    def _customer_updated(self, e: Customer.ProfileUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        if "name" in e.changes:
            cur.execute(q(schema, "UPDATE {s}.customers SET name = %s WHERE id = %s"), (e.changes["name"], e.originator_id))

    @apply.register
    def _customer_reassigned(self, e: Customer.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, "UPDATE {s}.customers SET owner_id = %s WHERE id = %s"), (e.owner_id, e.originator_id))

    @apply.register
    def _drafted(self, e: Order.Drafted, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.orders (id, number, customer_id, owner_id, currency) VALUES (%s, %s, %s, %s, %s) "
                      "ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.number, e.customer_id, e.owner_id, e.currency),
        )  # fmt: skip

    @apply.register
    def _reassigned(self, e: Order.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, "UPDATE {s}.orders SET owner_id = %s WHERE id = %s"), (e.owner_id, e.originator_id))

    @staticmethod
    def _instalments(cur: Cursor[Any], schema: str, e: Any, instalments: Any, on: date, position: int) -> None:
        for i in instalments:
            cur.execute(
                q(schema, _ADD),
                (e.originator_id, f"i:{e.originator_version}:{i['seq']}", "instalment", "debit", i["amount"], on,
                 i["due_date"], i["seq"], position),
            )  # fmt: skip

    @apply.register
    def _confirmed(self, e: Order.Confirmed, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, "UPDATE {s}.orders SET confirmed = true WHERE id = %s"), (e.originator_id,))
        self._instalments(cur, schema, e, e.instalments, e.confirmed_on, position)

    @apply.register
    def _planned(self, e: Order.InstalmentsPlanned, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, _END_DEBITS), (e.planned_on, e.originator_id))
        self._instalments(cur, schema, e, e.instalments, e.planned_on, position)

    @apply.register
    def _returned(self, e: Order.ReturnRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        if e.credit > 0:
            cur.execute(
                q(schema, _ADD),
                (e.originator_id, f"r:{e.return_id}", "return", "credit", e.credit, e.returned_on, None, None, position),
            )

    @apply.register
    def _adjusted(self, e: Order.PriceAdjusted, cur: Cursor[Any], schema: str, position: int) -> None:
        if e.instalment is not None:
            i = e.instalment
            cur.execute(
                q(schema, _ADD),
                (e.originator_id, f"i:{e.originator_version}:{i['seq']}", "adjustment", "debit", i["amount"],
                 e.adjusted_on, i["due_date"], i["seq"], position),
            )  # fmt: skip
        elif e.amount < 0:
            cur.execute(
                q(schema, _ADD),
                (e.originator_id, f"a:{e.originator_version}", "adjustment", "credit", -e.amount, e.adjusted_on, None,
                 None, position),
            )  # fmt: skip

    @apply.register
    def _paid(self, e: Order.PaymentRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, _ADD),
            (e.originator_id, f"p:{e.payment_id}", "payment", "credit", e.amount, e.received_on, None, None, position),
        )
        # A payment on a draft cannot happen; on a cancelled order neither: the order is in the
        # reports once confirmed, and stays there for the credit its payments left.

    @apply.register
    def _cancelled(self, e: Order.Cancelled, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, _END_DEBITS), (e.cancelled_on, e.originator_id))


# Queries ---------------------------------------------------------------------------------------

_OPEN_ITEMS = """
WITH o AS (
    SELECT o.id, o.number, o.customer_id, o.owner_id FROM {s}.orders o WHERE o.confirmed {filters}
), d AS (
    SELECT e.order_id, e.entry, e.kind, e.seq, e.due_on, e.amount,
           sum(e.amount) OVER (PARTITION BY e.order_id ORDER BY e.due_on, e.seq, e.entry
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto
    FROM {s}.entries e JOIN o ON o.id = e.order_id
    WHERE e.side = 'debit' AND e.effective_on <= %(as_of)s AND (e.ended_on IS NULL OR e.ended_on > %(as_of)s)
), c AS (
    SELECT e.order_id, sum(e.amount) AS credits
    FROM {s}.entries e JOIN o ON o.id = e.order_id
    WHERE e.side = 'credit' AND e.effective_on <= %(as_of)s
    GROUP BY e.order_id
), items AS (
    SELECT d.order_id, d.seq, d.kind, d.due_on, d.amount,
           GREATEST(LEAST(d.upto - coalesce(c.credits, 0), d.amount), 0) AS open,
           %(as_of)s::date - d.due_on AS days
    FROM d LEFT JOIN c USING (order_id)
), debits AS (
    SELECT order_id, sum(amount) AS debits FROM d GROUP BY order_id
), excess AS (
    SELECT c.order_id, c.credits - coalesce(debits.debits, 0) AS credit FROM c LEFT JOIN debits USING (order_id)
)
"""


def _filters(owners: frozenset[UUID] | None, owner_id: UUID | None, customer_id: UUID | None) -> tuple[str, dict[str, Any]]:
    filters, params = "", {}
    for name, clause, value in (
        ("owners", "o.owner_id = ANY(%(owners)s)", None if owners is None else list(owners)),
        ("owner", "o.owner_id = %(owner)s", owner_id),
        ("customer", "o.customer_id = %(customer)s", customer_id),
    ):
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    return filters, params


def _fee(base: Decimal, rate: Decimal) -> Decimal:
    return (base * rate).quantize(CENT, ROUND_HALF_UP) + ZERO


_AGING = _OPEN_ITEMS + """
, buckets AS (
    SELECT o.customer_id,
           sum(i.open) FILTER (WHERE i.days <= 0) AS "current",
           sum(i.open) FILTER (WHERE i.days BETWEEN 1 AND 30) AS "1-30",
           sum(i.open) FILTER (WHERE i.days BETWEEN 31 AND 60) AS "31-60",
           sum(i.open) FILTER (WHERE i.days BETWEEN 61 AND 90) AS "61-90",
           sum(i.open) FILTER (WHERE i.days BETWEEN 91 AND 180) AS "91-180",
           sum(i.open) FILTER (WHERE i.days > 180) AS "180+",
           sum(i.open * i.days) FILTER (WHERE i.days > 0) AS fee_base
    FROM items i JOIN o ON o.id = i.order_id
    WHERE i.open > 0
    GROUP BY o.customer_id
), credit AS (
    SELECT o.customer_id, sum(x.credit) AS credit
    FROM excess x JOIN o ON o.id = x.order_id
    WHERE x.credit > 0
    GROUP BY o.customer_id
)
SELECT customer_id, cu.name,
       coalesce(b."current", 0) AS "current", coalesce(b."1-30", 0) AS "1-30", coalesce(b."31-60", 0) AS "31-60",
       coalesce(b."61-90", 0) AS "61-90", coalesce(b."91-180", 0) AS "91-180", coalesce(b."180+", 0) AS "180+",
       coalesce(b.fee_base, 0) AS fee_base, coalesce(cr.credit, 0) AS credit
FROM buckets b FULL JOIN credit cr USING (customer_id) LEFT JOIN {s}.customers cu ON cu.id = customer_id
"""


def aging(
    cur: Cursor[Any], *, as_of: date, rate: Decimal, owners: frozenset[UUID] | None = None,
    owner_id: UUID | None = None, customer_id: UUID | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Receivables aging as of ``as_of``: per customer, what is open in each bucket of days
    overdue, the total, the customer's credit (paid beyond what is owed), and the late fee
    (Σ open × days overdue × ``rate``, rounded half up to the cent per customer)."""
    filters, params = _filters(owners, owner_id, customer_id)
    params["as_of"] = as_of
    customers = []
    totals = {b: ZERO for b in BUCKETS} | {"total": ZERO, "credit": ZERO, "late_fee": ZERO}
    for row in cur.execute(q(SCHEMA, _AGING.replace("{filters}", filters)), params).fetchall():
        entry = {"customer_id": row["customer_id"], "name": row["name"]}
        entry.update({b: Decimal(row[b]) + ZERO for b in BUCKETS})
        entry["total"] = sum((entry[b] for b in BUCKETS), ZERO)
        entry["credit"] = Decimal(row["credit"]) + ZERO
        entry["late_fee"] = _fee(Decimal(row["fee_base"]), rate)
        if entry["total"] == 0 and entry["credit"] == 0:
            continue
        customers.append(entry)
        for key in (*BUCKETS, "total", "credit", "late_fee"):
            totals[key] += entry[key]
    customers.sort(key=lambda c: (-c["total"], c["name"] or "", str(c["customer_id"])))
    return {"as_of": as_of, "buckets": list(BUCKETS), "late_fee_daily_rate": rate, "customers": customers, "totals": totals}


_ITEMS = _OPEN_ITEMS + """
SELECT o.customer_id, cu.name AS customer_name, cu.owner_id AS customer_owner_id, o.id AS order_id, o.number,
       o.owner_id, i.seq, i.kind, i.due_on, i.amount, i.open, i.days
FROM items i JOIN o ON o.id = i.order_id LEFT JOIN {s}.customers cu ON cu.id = o.customer_id
WHERE i.open > 0 AND {where}
ORDER BY i.due_on, o.number, i.seq
"""


def _items(cur: Cursor[Any], where: str, params: dict[str, Any], filters: str) -> list[dict[str, Any]]:
    return cur.execute(q(SCHEMA, _ITEMS.replace("{filters}", filters).replace("{where}", where)), params).fetchall()


def dunning(
    cur: Cursor[Any], *, as_of: date, rate: Decimal, owners: frozenset[UUID] | None = None,
    owner_id: UUID | None = None, customer_id: UUID | None = None, min_days: int = 1,
) -> dict[str, Any]:  # fmt: skip
    """The dunning list (催交欠款): customers with amounts overdue (at least ``min_days``) on
    ``as_of``, most owed first, with their owner, the overdue items and late fees."""
    filters, params = _filters(owners, owner_id, customer_id)
    params.update(as_of=as_of, min_days=min_days)
    by_customer: dict[UUID, dict[str, Any]] = {}
    for row in _items(cur, "i.days >= %(min_days)s", params, filters):
        c = by_customer.setdefault(row["customer_id"], {
            "customer_id": row["customer_id"], "name": row["customer_name"], "owner_id": row["customer_owner_id"],
            "overdue": ZERO, "late_fee": ZERO, "oldest_due_on": row["due_on"], "max_days_overdue": 0, "items": [],
            "_base": ZERO,
        })  # fmt: skip
        c["overdue"] += row["open"]
        c["_base"] += row["open"] * row["days"]
        c["max_days_overdue"] = max(c["max_days_overdue"], row["days"])
        c["items"].append({
            "order_id": row["order_id"], "number": row["number"], "order_owner_id": row["owner_id"],
            "instalment": row["seq"], "kind": row["kind"], "due_on": row["due_on"], "amount": row["amount"],
            "open": row["open"], "days_overdue": row["days"], "late_fee": _fee(row["open"] * row["days"], rate),
        })  # fmt: skip
    customers = list(by_customer.values())
    for c in customers:
        c["late_fee"] = _fee(c.pop("_base"), rate)
        c["orders"] = len({i["order_id"] for i in c["items"]})
    customers.sort(key=lambda c: (-c["overdue"], str(c["customer_id"])))
    return {
        "as_of": as_of, "late_fee_daily_rate": rate, "customers": customers,
        "totals": {"customers": len(customers), "overdue": sum((c["overdue"] for c in customers), ZERO),
                   "late_fee": sum((c["late_fee"] for c in customers), ZERO)},
    }  # fmt: skip


def upcoming(
    cur: Cursor[Any], *, as_of: date, days: int, owners: frozenset[UUID] | None = None,
    owner_id: UUID | None = None, customer_id: UUID | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Dues in the next ``days`` days (通知交款): what falls due after ``as_of`` up to ``as_of``
    + ``days``, still open on ``as_of``, by customer, soonest first."""
    filters, params = _filters(owners, owner_id, customer_id)
    params.update(as_of=as_of, until=as_of + timedelta(days=days))
    by_customer: dict[UUID, dict[str, Any]] = {}
    for row in _items(cur, "i.due_on > %(as_of)s AND i.due_on <= %(until)s", params, filters):
        c = by_customer.setdefault(row["customer_id"], {
            "customer_id": row["customer_id"], "name": row["customer_name"], "owner_id": row["customer_owner_id"],
            "due": ZERO, "first_due_on": row["due_on"], "items": [],
        })  # fmt: skip
        c["due"] += row["open"]
        c["items"].append({
            "order_id": row["order_id"], "number": row["number"], "order_owner_id": row["owner_id"],
            "instalment": row["seq"], "kind": row["kind"], "due_on": row["due_on"], "open": row["open"],
        })  # fmt: skip
    customers = sorted(by_customer.values(), key=lambda c: (c["first_due_on"], str(c["customer_id"])))
    return {"as_of": as_of, "until": params["until"], "customers": customers,
            "totals": {"customers": len(customers), "due": sum((c["due"] for c in customers), ZERO)}}  # fmt: skip


def expected(
    cur: Cursor[Any], *, as_of: date, until: date, period: str, owners: frozenset[UUID] | None = None,
    owner_id: UUID | None = None, customer_id: UUID | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Expected collections (预计收款): what is open on ``as_of`` and falls due from ``as_of``
    to ``until``, by week (starting Monday) or month of the due date; what is overdue on
    ``as_of`` is reported apart."""
    filters, params = _filters(owners, owner_id, customer_id)
    params.update(as_of=as_of, until=until)
    periods: dict[date, dict[str, Any]] = {}
    overdue, overdue_count = ZERO, 0
    for row in _items(cur, "i.due_on <= %(until)s", params, filters):
        if row["days"] > 0:
            overdue += row["open"]
            overdue_count += 1
            continue
        due: date = row["due_on"]
        start = due - timedelta(days=due.weekday()) if period == "week" else due.replace(day=1)
        p = periods.setdefault(start, {"period_start": start, "amount": ZERO, "items": 0, "customers": set()})
        p["amount"] += row["open"]
        p["items"] += 1
        p["customers"].add(row["customer_id"])
    out = []
    for start in sorted(periods):
        p = periods[start]
        end = start + timedelta(days=6) if period == "week" else (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        out.append({"period_start": start, "period_end": end, "amount": p["amount"], "items": p["items"],
                    "customers": len(p["customers"])})  # fmt: skip
    return {
        "as_of": as_of, "until": until, "period": period, "periods": out,
        "overdue": {"amount": overdue, "items": overdue_count},
        "total": sum((p["amount"] for p in out), ZERO),
    }


def customer_receivables(cur: Cursor[Any], customer_id: UUID, *, as_of: date, rate: Decimal,
                         owners: frozenset[UUID] | None) -> dict[str, Any]:  # fmt: skip
    """A customer's receivables for the 360° view: the aging line of the customer on ``as_of``."""
    data = aging(cur, as_of=as_of, rate=rate, owners=owners, customer_id=customer_id)
    line = data["customers"][0] if data["customers"] else {b: ZERO for b in BUCKETS} | {
        "total": ZERO, "credit": ZERO, "late_fee": ZERO}
    return {"as_of": as_of, **{k: line[k] for k in (*BUCKETS, "total", "credit", "late_fee")}}
