"""Orders read model: the order list and each order's detail (lines, deliveries, returns,
price adjustments, instalments, payments, invoices).

Tables:
- ``orders``: one row per order as it is now, with its money figures: ``debited`` (what its
  instalments add up to), ``credited`` (return credits and price reductions), ``paid``;
  ``receivable``, ``balance``, ``amount_due`` and ``credit`` are computed from them by
  PostgreSQL (generated columns), the same way the aggregate computes them. The customer's name
  is kept on the row (and its search columns, for ``q`` on the order number and customer name).
- ``deliveries``, ``returns``, ``adjustments``, ``payments``, ``invoices``: one row per fact.
- ``customers``: each customer's current name, from the customer events (this model never
  waits on another one).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from psycopg import Cursor
from psycopg.types.json import Jsonb

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.order import Order, settle
from crm_es.projections import search
from crm_es.projections.base import OVERVIEW_LATEST, Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from crm_es.access import Access

SCHEMA = live_schema("orders")

ORDER_COLUMNS = (
    "id", "number", "customer_id", "customer_name", "owner_id", "opportunity_id", "status", "currency",
    "payment_terms_days", "note", "lines", "subtotal", "discount", "total", "receivable", "amount_paid",
    "amount_due", "credit", "returned_amount", "adjusted_amount", "invoiced_amount", "confirmed_on", "due_date",
    "credit_override", "cancel_reason", "cancelled_on", "completed_on", "instalments", "created_at", "updated_at",
    "version",
)  # fmt: skip
LIST_COLUMNS = tuple(c for c in ORDER_COLUMNS if c not in ("lines", "instalments", "note"))
_SELECT = "SELECT " + ", ".join(ORDER_COLUMNS) + " FROM {s}.orders"


def _json(value: Any) -> Jsonb:
    """Event data (UUIDs, Decimals, dates) as JSON the detail answers as it is (amounts as strings)."""
    return Jsonb(value, dumps=lambda v: orjson.dumps(v, default=str).decode())


def _line_json(line: dict[str, Any]) -> dict[str, Any]:
    return {k: line[k] for k in ("line", "stock_item_id", "description", "quantity", "unit_price", "discount_rate",
                                 "delivered", "returned")}  # fmt: skip


class OrdersProjection(Projection):
    name = "orders"
    version = 1
    pipelined = False  # some handlers read the row they change
    ddl = f"""
    CREATE TABLE {{s}}.orders (
        id uuid PRIMARY KEY,
        number text NOT NULL,
        customer_id uuid NOT NULL,
        customer_name text NOT NULL DEFAULT '',
        owner_id uuid NOT NULL,
        opportunity_id uuid,
        status text NOT NULL,
        currency text NOT NULL,
        payment_terms_days integer NOT NULL,
        note text,
        lines jsonb NOT NULL,
        subtotal numeric(17, 2) NOT NULL,
        discount numeric(17, 2) NOT NULL,
        total numeric(17, 2) NOT NULL,         -- the lines as first sold
        debited numeric(17, 2) NOT NULL DEFAULT 0,
        credited numeric(17, 2) NOT NULL DEFAULT 0,
        amount_paid numeric(17, 2) NOT NULL DEFAULT 0,
        returned_amount numeric(17, 2) NOT NULL DEFAULT 0,
        adjusted_amount numeric(17, 2) NOT NULL DEFAULT 0,
        invoiced_amount numeric(17, 2) NOT NULL DEFAULT 0,
        receivable numeric(17, 2) GENERATED ALWAYS AS (
            CASE status WHEN 'draft' THEN total WHEN 'cancelled' THEN 0 ELSE debited - credited END) STORED,
        balance numeric(17, 2) GENERATED ALWAYS AS (
            CASE status WHEN 'draft' THEN 0 WHEN 'cancelled' THEN -amount_paid
                        ELSE debited - credited - amount_paid END) STORED,
        amount_due numeric(17, 2) GENERATED ALWAYS AS (GREATEST(
            CASE status WHEN 'draft' THEN 0 WHEN 'cancelled' THEN -amount_paid
                        ELSE debited - credited - amount_paid END, 0)) STORED,
        credit numeric(17, 2) GENERATED ALWAYS AS (GREATEST(-(
            CASE status WHEN 'draft' THEN 0 WHEN 'cancelled' THEN -amount_paid
                        ELSE debited - credited - amount_paid END), 0)) STORED,
        confirmed_on date,
        due_date date,
        credit_override boolean NOT NULL DEFAULT false,
        cancel_reason text,
        cancelled_on date,
        completed_on date,
        instalments jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL,
        {search.DDL}
    );
    CREATE INDEX orders_customer ON {{s}}.orders (customer_id, created_at DESC, id DESC);
    CREATE TABLE {{s}}.deliveries (
        id uuid PRIMARY KEY, order_id uuid NOT NULL, delivered_on date NOT NULL, lines jsonb NOT NULL,
        note text, recorded_at timestamptz NOT NULL, actor text
    );
    CREATE TABLE {{s}}.returns (
        id uuid PRIMARY KEY, order_id uuid NOT NULL, returned_on date NOT NULL, lines jsonb NOT NULL,
        reason text NOT NULL, restock boolean NOT NULL, credit numeric(17, 2) NOT NULL,
        recorded_at timestamptz NOT NULL, actor text
    );
    CREATE TABLE {{s}}.adjustments (
        order_id uuid NOT NULL, version integer NOT NULL, line integer NOT NULL, unit_price numeric NOT NULL,
        previous_unit_price numeric NOT NULL, amount numeric(17, 2) NOT NULL, reason text NOT NULL,
        adjusted_on date NOT NULL, recorded_at timestamptz NOT NULL, actor text, PRIMARY KEY (order_id, version)
    );
    CREATE TABLE {{s}}.payments (
        id uuid PRIMARY KEY, order_id uuid NOT NULL, amount numeric(17, 2) NOT NULL, received_on date NOT NULL,
        method text, reference text, recorded_at timestamptz NOT NULL, actor text
    );
    CREATE TABLE {{s}}.invoices (
        id uuid PRIMARY KEY, order_id uuid NOT NULL, number text NOT NULL, title text NOT NULL, taxpayer_id text,
        amount numeric(17, 2) NOT NULL, issued_on date NOT NULL, kind text, recorded_at timestamptz NOT NULL,
        actor text
    );
    CREATE INDEX deliveries_order ON {{s}}.deliveries (order_id);
    CREATE INDEX returns_order ON {{s}}.returns (order_id);
    CREATE INDEX payments_order ON {{s}}.payments (order_id);
    CREATE INDEX invoices_order ON {{s}}.invoices (order_id);
    CREATE TABLE {{s}}.customers (id uuid PRIMARY KEY, name text NOT NULL);
    """
    indexes = """
    CREATE UNIQUE INDEX orders_number ON {s}.orders (number);
    CREATE INDEX orders_recent ON {s}.orders (created_at DESC, id DESC);
    CREATE INDEX orders_owner ON {s}.orders (owner_id, created_at DESC, id DESC);
    CREATE INDEX orders_status ON {s}.orders (status, created_at DESC);
    """ + search.indexes("{s}", "orders")

    def overview(self, cur: Cursor[Any], customer_id: UUID, access: Access) -> dict[str, Any]:
        """The customer's orders within the caller's ``orders`` scope: counts, money, the latest."""
        if not access.allows("orders:read"):
            return {}
        return {"orders": customer_orders(cur, customer_id, owners=access.owners("orders"), latest=OVERVIEW_LATEST)}

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    # Customer names --------------------------------------------------------------------------

    @apply.register
    def _customer_registered(self, e: Customer.Registered, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.customers (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.name),
        )

    @apply.register
    def _customer_updated(self, e: Customer.ProfileUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        if "name" not in e.changes:
            return
        name = e.changes["name"]
        cur.execute(q(schema, "UPDATE {s}.customers SET name = %s WHERE id = %s"), (name, e.originator_id))
        rows = cur.execute(q(schema, "SELECT id, number FROM {s}.orders WHERE customer_id = %s"), (e.originator_id,)).fetchall()
        for row in [_dict(cur, r) for r in rows]:
            self._set(cur, schema, row["id"], customer_name=name, **_search(name, row["number"]))

    # Orders ----------------------------------------------------------------------------------

    @staticmethod
    def _set(cur: Cursor[Any], schema: str, order_id: UUID, **values: Any) -> None:
        sets = ", ".join(f"{c} = %s" for c in values)
        cur.execute(q(schema, f"UPDATE {{s}}.orders SET {sets} WHERE id = %s"), (*values.values(), order_id))

    def _update(self, cur: Cursor[Any], schema: str, e: Any, **values: Any) -> None:
        self._set(cur, schema, e.originator_id, **values, updated_at=e.timestamp, version=e.originator_version)

    @staticmethod
    def _row(cur: Cursor[Any], schema: str, order_id: UUID, columns: str) -> dict[str, Any]:
        return _dict(cur, cur.execute(q(schema, f"SELECT {columns} FROM {{s}}.orders WHERE id = %s"), (order_id,)).fetchone())

    @apply.register
    def _drafted(self, e: Order.Drafted, cur: Cursor[Any], schema: str, position: int) -> None:
        found = cur.execute(q(schema, "SELECT name FROM {s}.customers WHERE id = %s"), (e.customer_id,)).fetchone()
        name = _dict(cur, found)["name"] if found else ""
        values = {
            "id": e.originator_id, "number": e.number, "customer_id": e.customer_id, "customer_name": name,
            "owner_id": e.owner_id, "opportunity_id": e.opportunity_id, "status": "draft", "currency": e.currency,
            "payment_terms_days": e.payment_terms_days, "note": e.note, "lines": _json([_line_json(x) for x in e.lines]),
            "subtotal": e.subtotal, "discount": e.discount, "total": e.total, "created_at": e.timestamp,
            "updated_at": e.timestamp, "version": e.originator_version, **_search(name, e.number),
        }  # fmt: skip
        cur.execute(
            q(schema, f"INSERT INTO {{s}}.orders ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))}) "
                      "ON CONFLICT (id) DO NOTHING"),
            list(values.values()),
        )  # fmt: skip

    @apply.register
    def _lines_changed(self, e: Order.LinesChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, lines=_json([_line_json(x) for x in e.lines]), subtotal=e.subtotal,
                     discount=e.discount, total=e.total)  # fmt: skip

    @apply.register
    def _terms_changed(self, e: Order.PaymentTermsChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, payment_terms_days=e.payment_terms_days)

    @apply.register
    def _confirmed(self, e: Order.Confirmed, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, status="confirmed", confirmed_on=e.confirmed_on, due_date=e.due_date,
                     debited=e.total, instalments=_json(list(e.instalments)), credit_override=e.credit_override)  # fmt: skip

    @apply.register
    def _planned(self, e: Order.InstalmentsPlanned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, instalments=_json(list(e.instalments)))

    def _change_lines(self, cur: Cursor[Any], schema: str, order_id: UUID, field: str, changes: Any) -> list[Any]:
        lines = self._row(cur, schema, order_id, "lines")["lines"]
        for change in changes:
            for line in lines:
                if line["line"] == change["line"]:
                    line[field] = str(Decimal(line[field]) + change["quantity"])
        return lines

    @apply.register
    def _delivered(self, e: Order.DeliveryRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        lines = self._change_lines(cur, schema, e.originator_id, "delivered", e.lines)
        self._update(cur, schema, e, lines=_json(lines), status=e.status)
        cur.execute(
            q(schema, "INSERT INTO {s}.deliveries (id, order_id, delivered_on, lines, note, recorded_at, actor) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.delivery_id, e.originator_id, e.delivered_on, _json(list(e.lines)), e.note, e.timestamp, e.actor),
        )  # fmt: skip

    @apply.register
    def _returned(self, e: Order.ReturnRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        row = self._row(cur, schema, e.originator_id, "credited, returned_amount")
        lines = self._change_lines(cur, schema, e.originator_id, "returned", e.lines)
        self._update(cur, schema, e, lines=_json(lines), credited=row["credited"] + e.credit,
                     returned_amount=row["returned_amount"] + e.credit)  # fmt: skip
        cur.execute(
            q(schema, "INSERT INTO {s}.returns (id, order_id, returned_on, lines, reason, restock, credit, recorded_at, "
                      "actor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.return_id, e.originator_id, e.returned_on, _json(list(e.lines)), e.reason, e.restock, e.credit,
             e.timestamp, e.actor),
        )  # fmt: skip

    @apply.register
    def _adjusted(self, e: Order.PriceAdjusted, cur: Cursor[Any], schema: str, position: int) -> None:
        row = self._row(cur, schema, e.originator_id, "lines, debited, credited, adjusted_amount, instalments")
        lines = row["lines"]
        for line in lines:
            if line["line"] == e.line:
                line["unit_price"] = str(e.unit_price)
        values: dict[str, Any] = {"lines": _json(lines), "adjusted_amount": row["adjusted_amount"] + e.amount}
        if e.instalment is not None:
            values["debited"] = row["debited"] + e.amount
            values["instalments"] = _json([*row["instalments"], e.instalment])
        else:
            values["credited"] = row["credited"] - e.amount
        self._update(cur, schema, e, **values)
        cur.execute(
            q(schema, "INSERT INTO {s}.adjustments (order_id, version, line, unit_price, previous_unit_price, amount, "
                      "reason, adjusted_on, recorded_at, actor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                      "ON CONFLICT DO NOTHING"),
            (e.originator_id, e.originator_version, e.line, e.unit_price, e.previous_unit_price, e.amount, e.reason,
             e.adjusted_on, e.timestamp, e.actor),
        )  # fmt: skip

    @apply.register
    def _paid(self, e: Order.PaymentRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, amount_paid=e.paid)
        cur.execute(
            q(schema, "INSERT INTO {s}.payments (id, order_id, amount, received_on, method, reference, recorded_at, "
                      "actor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.payment_id, e.originator_id, e.amount, e.received_on, e.method, e.reference, e.timestamp, e.actor),
        )  # fmt: skip

    @apply.register
    def _invoiced(self, e: Order.InvoiceRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        row = self._row(cur, schema, e.originator_id, "invoiced_amount")
        self._update(cur, schema, e, invoiced_amount=row["invoiced_amount"] + e.amount)
        cur.execute(
            q(schema, "INSERT INTO {s}.invoices (id, order_id, number, title, taxpayer_id, amount, issued_on, kind, "
                      "recorded_at, actor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.invoice_id, e.originator_id, e.number, e.title, e.taxpayer_id, e.amount, e.issued_on, e.kind,
             e.timestamp, e.actor),
        )  # fmt: skip

    @apply.register
    def _cancelled(self, e: Order.Cancelled, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, status="cancelled", cancel_reason=e.reason, cancelled_on=e.cancelled_on)

    @apply.register
    def _completed(self, e: Order.Completed, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, status="completed", completed_on=e.completed_on)

    @apply.register
    def _reassigned(self, e: Order.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, owner_id=e.owner_id)


def _dict(cur: Cursor[Any], row: Any) -> dict[str, Any]:
    """A row as a dict, whatever the cursor's row factory (the runner's gives tuples)."""
    if isinstance(row, dict):
        return row
    return {column.name: value for column, value in zip(cur.description or (), row)}


def _search(customer_name: str, number: str) -> dict[str, Any]:
    """Search columns: found by its customer's name (Chinese grams, pinyin initials, Latin
    trigrams) and by its number (exact, prefix, and the digits of its sequence)."""
    return search.columns(customer_name or number, short_name=number, names=[number])


# Queries ---------------------------------------------------------------------------------------


def get_order(cur: Cursor[Any], order_id: UUID) -> dict[str, Any] | None:
    """The order with everything that happened to it: deliveries, returns, adjustments, payments,
    invoices, and its instalments with what the credits settle of each (oldest due first)."""
    row = cur.execute(q(SCHEMA, _SELECT + " WHERE id = %s"), (order_id,)).fetchone()
    if row is None:
        return None
    for table, order in (("deliveries", "recorded_at"), ("returns", "recorded_at"), ("adjustments", "version"),
                         ("payments", "received_on, recorded_at"), ("invoices", "issued_on, recorded_at")):  # fmt: skip
        row[table] = cur.execute(
            q(SCHEMA, f"SELECT * FROM {{s}}.{table} WHERE order_id = %s ORDER BY {order}"), (order_id,)
        ).fetchall()
        for item in row[table]:
            item.pop("order_id", None)
    credits = cur.execute(q(SCHEMA, "SELECT credited + amount_paid AS c FROM {s}.orders WHERE id = %s"), (order_id,)).fetchone()["c"]
    plan = [{"seq": i["seq"], "due_date": date.fromisoformat(i["due_date"]), "amount": Decimal(i["amount"])}
            for i in row["instalments"]]  # fmt: skip
    row["instalments"] = [] if row["status"] == "cancelled" else settle(plan, credits)
    return row


def list_orders(  # noqa: PLR0913 - one parameter per filter
    cur: Cursor[Any],
    *,
    limit: int,
    cursor: str | None = None,
    owner_id: UUID | None = None,
    customer_id: UUID | None = None,
    status: str | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    q_text: str | None = None,
    owners: frozenset[UUID] | None = None,
) -> Page:
    """Orders newest first (or best match first with ``q``), within ``owners`` (the data scope)."""
    where: list[str] = []
    params: list[Any] = []
    if owners is not None:
        where.append("owner_id = ANY(%s)")
        params.append(list(owners))
    for column, value in (("owner_id", owner_id), ("customer_id", customer_id), ("status", status)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if created_from is not None:
        where.append("created_at >= %s")
        params.append(created_from)
    if created_before is not None:
        where.append("created_at < %s")
        params.append(created_before)
    if q_text:
        return search.page(
            cur, table=f'"{SCHEMA}".orders', columns=LIST_COLUMNS, filters=where, params=params, q=q_text,
            limit=limit, cursor=cursor,
        )  # fmt: skip
    if cursor:
        where.append("(created_at, id) < (%s, %s)")
        params += decode_cursor(cursor, "recent", _aware, UUID)
    statement = (
        "SELECT " + ", ".join(LIST_COLUMNS) + " FROM {s}.orders" + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY created_at DESC, id DESC LIMIT %s"
    )
    rows = cur.execute(q(SCHEMA, statement), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("recent", [rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])])
    return Page(rows, next_cursor)


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment


def customer_orders(cur: Cursor[Any], customer_id: UUID, *, owners: frozenset[UUID] | None, latest: int = 5) -> dict[str, Any]:
    """A customer's orders for the 360° view: counts by status, money figures, the latest few."""
    scope, params = ("", [customer_id]) if owners is None else (" AND owner_id = ANY(%s)", [customer_id, list(owners)])
    totals = cur.execute(
        q(SCHEMA, "SELECT count(*) AS count, count(*) FILTER (WHERE status NOT IN ('draft', 'cancelled')) AS confirmed, "
                  "coalesce(sum(receivable), 0) AS receivable, coalesce(sum(amount_paid), 0) AS amount_paid, "
                  "coalesce(sum(amount_due), 0) AS amount_due, coalesce(sum(credit), 0) AS credit "
                  f"FROM {{s}}.orders WHERE customer_id = %s{scope}"),
        params,
    ).fetchone()  # fmt: skip
    latest_rows = cur.execute(
        q(SCHEMA, "SELECT id, number, status, total, receivable, amount_due, confirmed_on, due_date, created_at "
                  f"FROM {{s}}.orders WHERE customer_id = %s{scope} ORDER BY created_at DESC, id DESC LIMIT %s"),
        [*params, latest],
    ).fetchall()  # fmt: skip
    return {**totals, "latest": latest_rows}


def owned_by(cur: Cursor[Any], owner_id: UUID) -> list[UUID]:
    """Ids of the orders ``owner_id`` owns that are not finished (for a handover), oldest first."""
    rows = cur.execute(
        q(SCHEMA, "SELECT id FROM {s}.orders WHERE owner_id = %s AND status NOT IN ('cancelled') "
                  "AND (status <> 'completed' OR amount_due > 0 OR credit > 0) ORDER BY created_at, id"),
        (owner_id,),
    ).fetchall()  # fmt: skip
    return [row["id"] for row in rows]
