"""Stock read model: the stock list, each item's movement ledger, what is on its way, and the
reports built on them (alerts, valuation, ABC classification).

Tables:
- ``items``: one row per stock item as it is now: on hand, reserved, available (on hand −
  reserved), in transit, average cost, value (on hand × average cost) and the alert, with the
  search columns of ``projections/search.py`` (name and SKU). ``alert`` is computed by
  PostgreSQL from the row itself (a generated column), so no handler can forget it:
  ``low`` when the reorder level is set and available is at or below it, else ``over`` when the
  maximum level is set and on hand is above it, else null. ``alert_since`` is when the current
  alert began.
- ``movements``: the ledger, one row per event of an item that changes a quantity: what changed
  (on hand, reserved, in transit), the balances after it, its unit cost and value, and, for
  consumption (issues and shipments, less restocked returns), the quantity and value the ABC
  classification sums.
- ``reservations``: what each order holds reserved on each item.
- ``inbound``: inbound shipments (stock on its way, R-I5), open or closed.
- ``categories`` (with each one's ancestors and path of names) and ``warehouses``.

Stock items have no owner: every query here is company-wide (docs/stock.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor

from crm_es.aggregates.stock import StockItem, normalise_sku
from crm_es.aggregates.stock_catalogue import StockCatalogue
from crm_es.projections import search
from crm_es.projections.base import Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

SCHEMA = live_schema("stock")

ITEM_COLUMNS = (
    "id", "sku", "name", "category_id", "unit", "decimals", "warehouse_id", "reorder_level", "max_level",
    "on_hand", "reserved", "available", "in_transit", "average_cost", "value", "alert", "alert_since",
    "created_at", "updated_at", "version",
)  # fmt: skip
MOVEMENT_COLUMNS = (
    "version", "position", "at", "kind", "on_hand_change", "reserved_change", "in_transit_change", "on_hand",
    "reserved", "in_transit", "unit_cost", "value_change", "average_cost", "consumption_quantity",
    "consumption_value", "order_id", "inbound_id", "reference", "reason", "counted_by", "actor",
)  # fmt: skip
KINDS = (
    "receipt", "issue", "reservation", "release", "shipment", "return", "scrap", "stocktake", "inbound", "arrival",
    "inbound_cancelled",
)  # fmt: skip
"""Kinds of ledger rows: a receipt (入库), an issue (出库), a reservation and its release, a
shipment of an order (出货), a restocked return (退货入库) or a scrapped one, a stocktake
adjustment (盘点), an inbound shipment announced, arrived or cancelled (在途)."""

_ALERT = """CASE
    WHEN reorder_level IS NOT NULL AND on_hand - reserved <= reorder_level THEN 'low'
    WHEN max_level IS NOT NULL AND on_hand > max_level THEN 'over'
END"""

_MOVE = """
WITH changed AS (
    UPDATE {s}.items SET on_hand = on_hand + %(on_hand)s, reserved = reserved + %(reserved)s,
        in_transit = in_transit + %(in_transit)s, average_cost = coalesce(%(average_cost)s::numeric, average_cost),
        updated_at = %(at)s, version = %(version)s
    WHERE id = %(id)s AND version < %(version)s
    RETURNING on_hand, reserved, in_transit, average_cost
)
INSERT INTO {s}.movements (item_id, version, position, at, kind, on_hand_change, reserved_change, in_transit_change,
    on_hand, reserved, in_transit, unit_cost, value_change, average_cost, consumption_quantity, consumption_value,
    order_id, inbound_id, reference, reason, counted_by, actor)
SELECT %(id)s, %(version)s, %(position)s, %(at)s, %(kind)s, %(on_hand)s, %(reserved)s, %(in_transit)s,
    c.on_hand, c.reserved, c.in_transit, %(unit_cost)s::numeric, %(value_change)s, c.average_cost,
    %(consumption_quantity)s::numeric, %(consumption_value)s::numeric, %(order_id)s::uuid, %(inbound_id)s::uuid,
    %(reference)s::text, %(reason)s::text, %(counted_by)s::uuid, %(actor)s::text
FROM changed c
"""
_ALERT_SINCE = (
    "UPDATE {s}.items SET alert_since = CASE WHEN alert IS NULL THEN NULL ELSE %s END, alert_seen = alert "
    "WHERE id = %s AND alert IS DISTINCT FROM alert_seen"
)
_HOLD = """
INSERT INTO {s}.reservations AS r (item_id, order_id, quantity, updated_at) VALUES (%(id)s, %(order_id)s, %(change)s, %(at)s)
ON CONFLICT (item_id, order_id) DO UPDATE SET quantity = r.quantity + excluded.quantity, updated_at = excluded.updated_at
"""
_PATHS = """
WITH RECURSIVE tree AS (
    SELECT c.id, CASE WHEN p.id IS NULL THEN ARRAY[c.id] ELSE p.ancestors || c.id END AS ancestors,
           CASE WHEN p.id IS NULL THEN c.name ELSE p.path || '/' || c.name END AS path
    FROM {s}.categories c LEFT JOIN {s}.categories p ON p.id = c.parent_id
    WHERE c.id = %s
    UNION ALL
    SELECT c.id, t.ancestors || c.id, t.path || '/' || c.name FROM {s}.categories c JOIN tree t ON c.parent_id = t.id
)
UPDATE {s}.categories c SET ancestors = tree.ancestors, path = tree.path FROM tree WHERE c.id = tree.id
"""


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


class StockProjection(Projection):
    name = "stock"
    version = 1
    ddl = """
    CREATE TABLE {s}.items (
        id uuid PRIMARY KEY,
        sku text NOT NULL,
        sku_key text COLLATE "C" NOT NULL,      -- normalised: the list's order and cursor
        name text NOT NULL,
        category_id uuid,
        unit text NOT NULL,
        decimals integer NOT NULL,
        warehouse_id uuid NOT NULL,
        reorder_level numeric,
        max_level numeric,
        on_hand numeric NOT NULL,
        reserved numeric NOT NULL,
        available numeric GENERATED ALWAYS AS (on_hand - reserved) STORED,
        in_transit numeric NOT NULL,
        average_cost numeric(20, 4) NOT NULL,
        value numeric GENERATED ALWAYS AS (round(on_hand * average_cost, 2)) STORED,
        alert text GENERATED ALWAYS AS (""" + _ALERT + """) STORED,
        alert_seen text,                         -- the alert alert_since belongs to
        alert_since timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL,
    """ + search.DDL + """
    );
    CREATE TABLE {s}.movements (
        item_id uuid NOT NULL,
        version integer NOT NULL,
        position bigint NOT NULL,
        at timestamptz NOT NULL,
        kind text NOT NULL,
        on_hand_change numeric NOT NULL,
        reserved_change numeric NOT NULL,
        in_transit_change numeric NOT NULL,
        on_hand numeric NOT NULL,
        reserved numeric NOT NULL,
        in_transit numeric NOT NULL,
        unit_cost numeric(20, 4),
        value_change numeric(20, 2) NOT NULL,   -- of what is on hand, at cost
        average_cost numeric(20, 4) NOT NULL,   -- after
        consumption_quantity numeric,           -- issues and shipments; less restocked returns
        consumption_value numeric(20, 2),
        order_id uuid,
        inbound_id uuid,
        reference text,
        reason text,
        counted_by uuid,
        actor text,
        PRIMARY KEY (item_id, version)
    );
    CREATE TABLE {s}.reservations (
        item_id uuid NOT NULL,
        order_id uuid NOT NULL,
        quantity numeric NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (item_id, order_id)
    );
    CREATE TABLE {s}.inbound (
        id uuid PRIMARY KEY,
        item_id uuid NOT NULL,
        kind text NOT NULL,
        quantity numeric NOT NULL,              -- announced
        arrived numeric NOT NULL DEFAULT 0,
        remaining numeric NOT NULL,
        unit_cost numeric(20, 4) NOT NULL,
        expected_on date,
        reference text,
        status text NOT NULL,                   -- open, arrived, cancelled
        cancel_reason text,
        announced_at timestamptz NOT NULL,
        closed_at timestamptz
    );
    CREATE TABLE {s}.categories (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        parent_id uuid,
        ancestors uuid[] NOT NULL,              -- root first, itself last
        path text NOT NULL,                     -- 五金/紧固件
        created_at timestamptz NOT NULL
    );
    CREATE TABLE {s}.warehouses (
        id uuid PRIMARY KEY,
        code text NOT NULL,
        name text NOT NULL,
        address text,
        created_at timestamptz NOT NULL
    );
    """
    indexes = search.indexes("{s}", "items") + """
    CREATE UNIQUE INDEX items_sku ON {s}.items (sku_key);
    CREATE INDEX items_category ON {s}.items (category_id, sku_key);
    CREATE INDEX items_warehouse ON {s}.items (warehouse_id, sku_key);
    CREATE INDEX items_alert ON {s}.items (alert, sku_key) WHERE alert IS NOT NULL;
    CREATE INDEX items_recent ON {s}.items (created_at DESC, id DESC);
    CREATE INDEX movements_consumption ON {s}.movements (at, item_id) WHERE consumption_value IS NOT NULL;
    CREATE INDEX movements_order ON {s}.movements (order_id) WHERE order_id IS NOT NULL;
    CREATE INDEX reservations_order ON {s}.reservations (order_id);
    CREATE INDEX inbound_open ON {s}.inbound (expected_on, id) WHERE status = 'open';
    CREATE INDEX inbound_item ON {s}.inbound (item_id, announced_at);
    CREATE INDEX categories_ancestors ON {s}.categories USING gin (ancestors);
    """

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    # The catalogue -----------------------------------------------------------------------------

    @apply.register
    def _catalogue_created(self, e: StockCatalogue.Created, cur: Cursor[Any], schema: str, position: int) -> None:
        for warehouse in e.warehouses:
            self._warehouse(cur, schema, e, warehouse["id"], warehouse)

    @staticmethod
    def _warehouse(cur: Cursor[Any], schema: str, e: Any, warehouse_id: UUID, fields: dict[str, Any]) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.warehouses (id, code, name, address, created_at) VALUES (%s, %s, %s, %s, %s) "
                      "ON CONFLICT (id) DO NOTHING"),
            (warehouse_id, fields["code"], fields["name"], fields["address"], e.timestamp),
        )  # fmt: skip

    @apply.register
    def _warehouse_added(self, e: StockCatalogue.WarehouseAdded, cur: Cursor[Any], schema: str, position: int) -> None:
        self._warehouse(cur, schema, e, e.warehouse_id, {"code": e.code, "name": e.name, "address": e.address})

    @apply.register
    def _warehouse_updated(self, e: StockCatalogue.WarehouseUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        for column in ("name", "address"):
            if column in e.changes:
                cur.execute(q(schema, f"UPDATE {{s}}.warehouses SET {column} = %s WHERE id = %s"), (e.changes[column], e.warehouse_id))

    @apply.register
    def _category_added(self, e: StockCatalogue.CategoryAdded, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.categories (id, name, parent_id, ancestors, path, created_at) "
                      "VALUES (%s, %s, %s, '{}', '', %s) ON CONFLICT (id) DO NOTHING"),
            (e.category_id, e.name, e.parent_id, e.timestamp),
        )  # fmt: skip
        cur.execute(q(schema, _PATHS), (e.category_id,))

    @apply.register
    def _category_renamed(self, e: StockCatalogue.CategoryRenamed, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, "UPDATE {s}.categories SET name = %s WHERE id = %s"), (e.name, e.category_id))
        cur.execute(q(schema, _PATHS), (e.category_id,))

    @apply.register
    def _category_moved(self, e: StockCatalogue.CategoryMoved, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, "UPDATE {s}.categories SET parent_id = %s WHERE id = %s"), (e.parent_id, e.category_id))
        cur.execute(q(schema, _PATHS), (e.category_id,))

    # Items -------------------------------------------------------------------------------------

    @apply.register
    def _created(self, e: StockItem.Created, cur: Cursor[Any], schema: str, position: int) -> None:
        row = {
            "id": e.originator_id, "sku": e.sku, "sku_key": normalise_sku(e.sku), "name": e.name,
            "category_id": e.category_id, "unit": e.unit, "decimals": e.decimals, "warehouse_id": e.warehouse_id,
            "reorder_level": e.reorder_level, "max_level": e.max_level, "on_hand": 0, "reserved": 0, "in_transit": 0,
            "average_cost": e.unit_cost, "created_at": e.timestamp, "updated_at": e.timestamp,
            "version": e.originator_version, **search.columns(e.name, short_name=e.sku),
        }  # fmt: skip
        columns = ", ".join(row)
        cur.execute(
            q(schema, f"INSERT INTO {{s}}.items ({columns}) VALUES ({', '.join(['%s'] * len(row))}) ON CONFLICT (id) DO NOTHING"),
            list(row.values()),
        )
        cur.execute(q(schema, _ALERT_SINCE), (e.timestamp, e.originator_id))

    def _describe(self, cur: Cursor[Any], schema: str, e: Any, **values: Any) -> None:
        sets = ", ".join(f"{c} = %s" for c in values)
        cur.execute(
            q(schema, f"UPDATE {{s}}.items SET {sets}, updated_at = %s, version = %s WHERE id = %s AND version < %s"),
            (*values.values(), e.timestamp, e.originator_version, e.originator_id, e.originator_version),
        )
        cur.execute(q(schema, _ALERT_SINCE), (e.timestamp, e.originator_id))

    @apply.register
    def _renamed(self, e: StockItem.Renamed, cur: Cursor[Any], schema: str, position: int) -> None:
        # The search columns hold the SKU too (the runner's cursors give tuples, others dicts).
        row = cur.execute(q(schema, "SELECT sku FROM {s}.items WHERE id = %s"), (e.originator_id,)).fetchone()
        sku = None if row is None else row["sku"] if isinstance(row, dict) else row[0]
        self._describe(cur, schema, e, name=e.name, **search.columns(e.name, short_name=sku))

    @apply.register
    def _recategorised(self, e: StockItem.Recategorised, cur: Cursor[Any], schema: str, position: int) -> None:
        self._describe(cur, schema, e, category_id=e.category_id)

    @apply.register
    def _levels_changed(self, e: StockItem.LevelsChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._describe(cur, schema, e, reorder_level=e.reorder_level, max_level=e.max_level)

    def _move(  # noqa: PLR0913 - one parameter per column of the ledger
        self, cur: Cursor[Any], schema: str, e: Any, position: int, kind: str, *, on_hand: Decimal = Decimal(0),
        reserved: Decimal = Decimal(0), in_transit: Decimal = Decimal(0), unit_cost: Decimal | None = None,
        average_cost: Decimal | None = None, consumption: Decimal | None = None, **refs: Any,
    ) -> None:  # fmt: skip
        """One ledger row and the item's new balances (each event applied once: ``version``)."""
        cost = unit_cost if unit_cost is not None else Decimal(0)
        cur.execute(q(schema, _MOVE), {
            "id": e.originator_id, "version": e.originator_version, "position": position, "at": e.timestamp,
            "kind": kind, "on_hand": on_hand, "reserved": reserved, "in_transit": in_transit, "unit_cost": unit_cost,
            "value_change": _cents(on_hand * cost), "average_cost": average_cost,
            "consumption_quantity": consumption, "consumption_value": None if consumption is None else _cents(consumption * cost),
            "order_id": refs.get("order_id"), "inbound_id": refs.get("inbound_id"), "reference": refs.get("reference"),
            "reason": refs.get("reason"), "counted_by": refs.get("counted_by"), "actor": getattr(e, "actor", None),
        })  # fmt: skip
        cur.execute(q(schema, _ALERT_SINCE), (e.timestamp, e.originator_id))

    def _hold(self, cur: Cursor[Any], schema: str, e: Any, change: Decimal) -> None:
        """What the event's order holds reserved changes by ``change`` (rows at zero go)."""
        if not change:
            return
        cur.execute(q(schema, _HOLD), {"id": e.originator_id, "order_id": e.order_id, "change": change, "at": e.timestamp})
        cur.execute(q(schema, "DELETE FROM {s}.reservations WHERE item_id = %s AND order_id = %s AND quantity <= 0"),
                    (e.originator_id, e.order_id))  # fmt: skip

    @apply.register
    def _received(self, e: StockItem.Received, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "receipt", on_hand=e.quantity, unit_cost=e.unit_cost,
                   average_cost=e.average_cost, reference=e.reference)  # fmt: skip

    @apply.register
    def _issued(self, e: StockItem.Issued, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "issue", on_hand=-e.quantity, unit_cost=e.unit_cost, consumption=e.quantity,
                   reason=e.reason)  # fmt: skip

    @apply.register
    def _reserved(self, e: StockItem.Reserved, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "reservation", reserved=e.quantity, order_id=e.order_id)
        self._hold(cur, schema, e, e.quantity)

    @apply.register
    def _released(self, e: StockItem.ReservationReleased, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "release", reserved=-e.quantity, order_id=e.order_id)
        self._hold(cur, schema, e, -e.quantity)

    @apply.register
    def _shipped(self, e: StockItem.Shipped, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "shipment", on_hand=-e.quantity, reserved=-e.from_reservation,
                   unit_cost=e.unit_cost, consumption=e.quantity, order_id=e.order_id)  # fmt: skip
        self._hold(cur, schema, e, -e.from_reservation)

    @apply.register
    def _returned(self, e: StockItem.Returned, cur: Cursor[Any], schema: str, position: int) -> None:
        if e.restocked:
            self._move(cur, schema, e, position, "return", on_hand=e.quantity, unit_cost=e.unit_cost,
                       consumption=-e.quantity, order_id=e.order_id, reason=e.reason)  # fmt: skip
        else:
            self._move(cur, schema, e, position, "scrap", unit_cost=e.unit_cost, order_id=e.order_id,
                       reason=e.reason, reference=f"{e.quantity} scrapped")  # fmt: skip

    @apply.register
    def _counted(self, e: StockItem.Counted, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "stocktake", on_hand=e.adjustment, unit_cost=e.unit_cost,
                   counted_by=e.counted_by, reason=e.note)  # fmt: skip

    @apply.register
    def _inbound_announced(self, e: StockItem.InboundAnnounced, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "inbound", in_transit=e.quantity, unit_cost=e.unit_cost,
                   inbound_id=e.inbound_id, reference=e.reference)  # fmt: skip
        cur.execute(
            q(schema, "INSERT INTO {s}.inbound (id, item_id, kind, quantity, remaining, unit_cost, expected_on, reference, "
                      "status, announced_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s) ON CONFLICT (id) DO NOTHING"),
            (e.inbound_id, e.originator_id, e.kind, e.quantity, e.quantity, e.unit_cost, e.expected_on, e.reference, e.timestamp),
        )  # fmt: skip

    @apply.register
    def _inbound_arrived(self, e: StockItem.InboundArrived, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "arrival", on_hand=e.quantity, in_transit=-e.quantity, unit_cost=e.unit_cost,
                   average_cost=e.average_cost, inbound_id=e.inbound_id)  # fmt: skip
        cur.execute(
            q(schema, "UPDATE {s}.inbound SET arrived = quantity - %s, remaining = %s, "
                      "status = CASE WHEN %s = 0 THEN 'arrived' ELSE 'open' END, "
                      "closed_at = CASE WHEN %s = 0 THEN %s::timestamptz END WHERE id = %s"),
            (e.remaining, e.remaining, e.remaining, e.remaining, e.timestamp, e.inbound_id),
        )  # fmt: skip

    @apply.register
    def _inbound_cancelled(self, e: StockItem.InboundCancelled, cur: Cursor[Any], schema: str, position: int) -> None:
        self._move(cur, schema, e, position, "inbound_cancelled", in_transit=-e.quantity, inbound_id=e.inbound_id,
                   reason=e.reason)  # fmt: skip
        cur.execute(
            q(schema, "UPDATE {s}.inbound SET remaining = 0, status = 'cancelled', cancel_reason = %s, closed_at = %s "
                      "WHERE id = %s"),
            (e.reason, e.timestamp, e.inbound_id),
        )  # fmt: skip


# Queries: the catalogue ----------------------------------------------------------------------------


def list_categories(cur: Cursor[Any]) -> list[dict[str, Any]]:
    """Every category with its path, depth and the number of items filed directly under it,
    in tree order (by path)."""
    return cur.execute(q(SCHEMA, """
        SELECT c.id, c.name, c.parent_id, c.path, cardinality(c.ancestors) AS depth,
               (SELECT count(*) FROM {s}.items i WHERE i.category_id = c.id) AS items
        FROM {s}.categories c ORDER BY c.path COLLATE "C", c.id
    """)).fetchall()  # fmt: skip


def get_category(cur: Cursor[Any], category_id: UUID) -> dict[str, Any] | None:
    return cur.execute(
        q(SCHEMA, "SELECT id, name, parent_id, path, cardinality(ancestors) AS depth FROM {s}.categories WHERE id = %s"),
        (category_id,),
    ).fetchone()


def list_warehouses(cur: Cursor[Any]) -> list[dict[str, Any]]:
    """Every warehouse, with how many items it keeps and their value."""
    return cur.execute(q(SCHEMA, """
        SELECT w.id, w.code, w.name, w.address, count(i.id) AS items, coalesce(sum(i.value), 0)::numeric(20, 2) AS value
        FROM {s}.warehouses w LEFT JOIN {s}.items i ON i.warehouse_id = w.id
        GROUP BY w.id ORDER BY w.code
    """)).fetchall()  # fmt: skip


def _names(cur: Cursor[Any], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their category's path and their warehouse's code and name."""
    categories = {r.get("category_id") for r in rows} - {None}
    paths = {}
    if categories:
        paths = {r["id"]: r["path"] for r in cur.execute(
            q(SCHEMA, "SELECT id, path FROM {s}.categories WHERE id = ANY(%s)"), (list(categories),))}  # fmt: skip
    warehouses = {r["id"]: r for r in cur.execute(q(SCHEMA, "SELECT id, code, name FROM {s}.warehouses"))}
    for row in rows:
        row["category"] = paths.get(row.get("category_id"))
        warehouse = warehouses.get(row.get("warehouse_id"))
        row["warehouse_code"] = warehouse["code"] if warehouse else None
        row["warehouse"] = warehouse["name"] if warehouse else None
    return list(rows)


def category_filter(cur: Cursor[Any], category_id: UUID | None) -> list[UUID] | None:
    """The category and every category below it (an item filed under 螺丝 is in 五金 too)."""
    if category_id is None:
        return None
    rows = cur.execute(q(SCHEMA, "SELECT id FROM {s}.categories WHERE ancestors @> ARRAY[%s::uuid]"), (category_id,))
    return [r["id"] for r in rows]


# Queries: items ------------------------------------------------------------------------------------

_SELECT_ITEM = "SELECT " + ", ".join(ITEM_COLUMNS) + " FROM {s}.items"


def get_item(cur: Cursor[Any], item_id: UUID) -> dict[str, Any] | None:
    """The item with its names, the orders holding reservations on it, and its open inbound shipments."""
    row = cur.execute(q(SCHEMA, _SELECT_ITEM + " WHERE id = %s"), (item_id,)).fetchone()
    if row is None:
        return None
    _names(cur, [row])
    row["reservations"] = cur.execute(
        q(SCHEMA, "SELECT order_id, quantity, updated_at FROM {s}.reservations WHERE item_id = %s ORDER BY updated_at, order_id"),
        (item_id,),
    ).fetchall()
    row["inbound"] = list_inbound(cur, item_id=item_id, status="open", limit=500).items
    return row


def _item_filters(
    categories: list[UUID] | None, warehouse_id: UUID | None, alert: str | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if categories is not None:
        where.append("category_id = ANY(%s)")
        params.append(categories)
    if warehouse_id is not None:
        where.append("warehouse_id = %s")
        params.append(warehouse_id)
    if alert == "any":
        where.append("alert IS NOT NULL")
    elif alert == "none":
        where.append("alert IS NULL")
    elif alert is not None:
        where.append("alert = %s")
        params.append(alert)
    return where, params


def list_items(  # noqa: PLR0913 - one parameter per filter
    cur: Cursor[Any],
    *,
    limit: int,
    cursor: str | None = None,
    categories: list[UUID] | None = None,
    warehouse_id: UUID | None = None,
    alert: str | None = None,
    q_text: str | None = None,
) -> Page:
    """Stock items by SKU; with ``q_text``, best match first (SKU or name exact, prefix,
    contains, fuzzy; see projections/search.py), newest first within each tier. Company-wide."""
    where, params = _item_filters(categories, warehouse_id, alert)
    if q_text:
        page = search.page(
            cur, table=f'"{SCHEMA}".items', columns=ITEM_COLUMNS, filters=where, params=params, q=q_text,
            limit=limit, cursor=cursor,
        )  # fmt: skip
        return Page(_names(cur, page.items), page.next_cursor)
    if cursor:
        where.append("sku_key > %s")  # unique: the SKU alone orders the list
        params += decode_cursor(cursor, "sku", str)
    statement = _SELECT_ITEM + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY sku_key LIMIT %s"
    rows = cur.execute(q(SCHEMA, statement), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("sku", [normalise_sku(rows[-1]["sku"])])
    return Page(_names(cur, rows), next_cursor)


def movements(
    cur: Cursor[Any], item_id: UUID, *, limit: int, cursor: str | None = None, kind: str | None = None,
    since: datetime | None = None, before: datetime | None = None,
) -> Page:  # fmt: skip
    """The item's ledger, newest first."""
    where, params = ["item_id = %s"], [item_id]
    for clause, value in (("kind = %s", kind), ("at >= %s", since), ("at < %s", before)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if cursor:
        where.append("version < %s")
        params += decode_cursor(cursor, "ledger", _version)
    rows = cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(MOVEMENT_COLUMNS) + " FROM {s}.movements WHERE " + " AND ".join(where)
                  + " ORDER BY version DESC LIMIT %s"),
        [*params, limit + 1],
    ).fetchall()  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("ledger", [rows[-1]["version"]])
    return Page(rows, next_cursor)


def _version(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("not a version")
    return value


INBOUND_COLUMNS = (
    "id", "item_id", "kind", "quantity", "arrived", "remaining", "unit_cost", "expected_on", "reference", "status",
    "cancel_reason", "announced_at", "closed_at",
)  # fmt: skip


def get_inbound(cur: Cursor[Any], item_id: UUID, inbound_id: UUID) -> dict[str, Any] | None:
    return cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(INBOUND_COLUMNS) + " FROM {s}.inbound WHERE id = %s AND item_id = %s"),
        (inbound_id, item_id),
    ).fetchone()


def list_inbound(  # noqa: PLR0913
    cur: Cursor[Any], *, limit: int, cursor: str | None = None, item_id: UUID | None = None,
    warehouse_id: UUID | None = None, kind: str | None = None, status: str | None = "open",
) -> Page:  # fmt: skip
    """Inbound shipments (stock on its way), soonest expected first (unknown dates last), with
    their item's SKU, name, unit and warehouse, and the value still to come at their cost."""
    where, params = ["true"], []
    for clause, value in (("b.item_id = %s", item_id), ("i.warehouse_id = %s", warehouse_id), ("b.kind = %s", kind),
                          ("b.status = %s", status)):  # fmt: skip
        if value is not None:
            where.append(clause)
            params.append(value)
    if cursor:
        expected, announced, inbound_id = decode_cursor(cursor, "inbound", _optional_date, datetime.fromisoformat, UUID)
        where.append("(coalesce(b.expected_on, 'infinity'::date), b.announced_at, b.id) > (coalesce(%s::date, 'infinity'::date), %s, %s)")
        params += [expected, announced, inbound_id]
    rows = cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(f"b.{c}" for c in INBOUND_COLUMNS) + ", i.sku, i.name, i.unit, i.warehouse_id, "
                  "round(b.remaining * b.unit_cost, 2) AS remaining_value "
                  "FROM {s}.inbound b JOIN {s}.items i ON i.id = b.item_id WHERE " + " AND ".join(where)
                  + " ORDER BY coalesce(b.expected_on, 'infinity'::date), b.announced_at, b.id LIMIT %s"),
        [*params, limit + 1],
    ).fetchall()  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("inbound", [
            last["expected_on"].isoformat() if last["expected_on"] else None, last["announced_at"].isoformat(), str(last["id"]),
        ])  # fmt: skip
    return Page(_names(cur, rows), next_cursor)


def _optional_date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


# Reports ---------------------------------------------------------------------------------------------


def alerts(cur: Cursor[Any], *, categories: list[UUID] | None = None, warehouse_id: UUID | None = None,
           alert: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Items with an alert (预警), shortages first, then by how long the alert has lasted: for a
    shortage how far available is below the reorder level and what to order to reach the
    maximum level (or the reorder level, without one) counting what is on its way; for an
    overstock how far on hand is above the maximum."""
    where, params = _item_filters(categories, warehouse_id, alert if alert in ("low", "over") else "any")
    rows = cur.execute(
        q(SCHEMA, _SELECT_ITEM + " WHERE " + " AND ".join(where) + " ORDER BY alert, alert_since, sku_key"), params
    ).fetchall()
    for row in rows:
        if row["alert"] == "low":
            row["shortfall"] = row["reorder_level"] - row["available"]
            target = row["max_level"] if row["max_level"] is not None else row["reorder_level"]
            row["suggested_order"] = max(target - row["available"] - row["in_transit"], row["available"] * 0)
            row["excess"] = None
        else:
            row["shortfall"] = row["suggested_order"] = None
            row["excess"] = row["on_hand"] - row["max_level"]
    return _names(cur, rows)


_VALUATION = """
SELECT i.warehouse_id, c.ancestors[least(%(level)s, cardinality(c.ancestors))] AS category_id,
       count(*) AS items, sum(i.value) AS value,
       coalesce(sum((SELECT sum(round(b.remaining * b.unit_cost, 2)) FROM {s}.inbound b
                     WHERE b.item_id = i.id AND b.status = 'open')), 0) AS in_transit_value
FROM {s}.items i LEFT JOIN {s}.categories c ON c.id = i.category_id
WHERE true {filters}
GROUP BY 1, 2
"""


def valuation(cur: Cursor[Any], *, level: int = 1, warehouse_id: UUID | None = None,
              categories: list[UUID] | None = None) -> dict[str, Any]:  # fmt: skip
    """The value of stock at average cost (资金流, R-I6) by warehouse and category: categories
    rolled up to ``level`` (1: the top level), with what is on its way valued at its cost."""
    filters, params = "", {"level": level}
    if warehouse_id is not None:
        filters += " AND i.warehouse_id = %(warehouse)s"
        params["warehouse"] = warehouse_id
    if categories is not None:
        filters += " AND i.category_id = ANY(%(categories)s)"
        params["categories"] = categories
    cells = cur.execute(q(SCHEMA, _VALUATION.replace("{filters}", filters)), params).fetchall()
    paths = {r["id"]: r["path"] for r in cur.execute(q(SCHEMA, "SELECT id, path FROM {s}.categories"))}
    warehouses = {r["id"]: r for r in cur.execute(q(SCHEMA, "SELECT id, code, name FROM {s}.warehouses"))}

    def totals(key: str) -> list[dict[str, Any]]:
        grouped: dict[Any, dict[str, Any]] = {}
        for cell in cells:
            total = grouped.setdefault(cell[key], {key: cell[key], "items": 0, "value": Decimal("0.00"),
                                                   "in_transit_value": Decimal("0.00")})  # fmt: skip
            total["items"] += cell["items"]
            total["value"] += cell["value"]
            total["in_transit_value"] += cell["in_transit_value"]
        return list(grouped.values())

    def named(row: dict[str, Any]) -> dict[str, Any]:
        if "warehouse_id" in row:
            warehouse = warehouses.get(row["warehouse_id"], {})
            row["warehouse_code"], row["warehouse"] = warehouse.get("code"), warehouse.get("name")
        if "category_id" in row:
            row["category"] = paths.get(row["category_id"])
        for money in ("value", "in_transit_value"):
            row[money] = _cents(Decimal(row[money]))
        return row

    rows = sorted((named(dict(c)) for c in cells), key=lambda r: (r["warehouse_code"] or "", r["category"] or "\uffff"))
    return {
        "level": level,
        "rows": rows,
        "by_warehouse": sorted((named(t) for t in totals("warehouse_id")), key=lambda r: r["warehouse_code"] or ""),
        "by_category": sorted((named(t) for t in totals("category_id")), key=lambda r: r["category"] or "\uffff"),
        "total": {
            "items": sum(c["items"] for c in cells),
            "value": _cents(sum((Decimal(c["value"]) for c in cells), Decimal(0))),
            "in_transit_value": _cents(sum((Decimal(c["in_transit_value"]) for c in cells), Decimal(0))),
        },
    }


_CONSUMPTION = """
WITH used AS (
    SELECT item_id, sum(consumption_quantity) AS quantity, sum(consumption_value) AS value
    FROM {s}.movements WHERE consumption_value IS NOT NULL AND at >= %(since)s AND at < %(before)s
    GROUP BY item_id
)
SELECT i.id AS stock_item_id, i.sku, i.name, i.unit, i.category_id, i.warehouse_id,
       coalesce(u.quantity, 0) AS consumption_quantity, coalesce(u.value, 0) AS consumption_value
FROM {s}.items i LEFT JOIN used u ON u.item_id = i.id
WHERE true {filters}
ORDER BY coalesce(u.value, 0) DESC, i.sku_key
"""

CLASSES = ("A", "B", "C")


def abc(  # noqa: PLR0913
    cur: Cursor[Any], *, since: datetime, before: datetime, a: Decimal = Decimal(80), b: Decimal = Decimal(15),
    warehouse_id: UUID | None = None, categories: list[UUID] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """ABC classification (ABC 分类汇总, R-I4) of the items by consumption value in [since,
    before): issues and shipments at the cost they left at, less restocked returns. Items are
    ranked by that value; an item is A while the items ranked above it make less than ``a``
    percent of the total, B while they make less than ``a + b``, else C (and C whatever its
    rank when it consumed nothing). So the item that crosses a cut-off belongs to the class it
    completes, and a single item worth most of the total is A."""
    filters, params = "", {"since": since, "before": before}
    if warehouse_id is not None:
        filters += " AND i.warehouse_id = %(warehouse)s"
        params["warehouse"] = warehouse_id
    if categories is not None:
        filters += " AND i.category_id = ANY(%(categories)s)"
        params["categories"] = categories
    rows = cur.execute(q(SCHEMA, _CONSUMPTION.replace("{filters}", filters)), params).fetchall()
    total = sum((r["consumption_value"] for r in rows if r["consumption_value"] > 0), Decimal(0))
    above = Decimal(0)
    summary = {c: {"class": c, "items": 0, "value": Decimal("0.00")} for c in CLASSES}
    for row in rows:
        value = row["consumption_value"]
        before_share = above / total * 100 if total else Decimal(100)
        if value <= 0:
            row["class"] = "C"
        elif before_share < a:
            row["class"] = "A"
        elif before_share < a + b:
            row["class"] = "B"
        else:
            row["class"] = "C"
        if value > 0:
            above += value
        row["share"] = float(round(value / total, 4)) if total else None
        row["cumulative_share"] = float(round(above / total, 4)) if total else None
        summary[row["class"]]["items"] += 1
        summary[row["class"]]["value"] += value
    count = len(rows)
    for line in summary.values():
        line["share_of_items"] = round(line["items"] / count, 4) if count else None
        line["share_of_value"] = float(round(line["value"] / total, 4)) if total else None
    return {
        "from": since, "to": before, "cutoffs": {"a": a, "b": b, "c": Decimal(100) - a - b},
        "total_value": _cents(total), "classes": list(summary.values()), "items": _names(cur, rows),
    }  # fmt: skip


def reservations_of_order(cur: Cursor[Any], order_id: UUID) -> list[dict[str, Any]]:
    """What an order holds reserved, item by item."""
    return cur.execute(
        q(SCHEMA, "SELECT r.item_id AS stock_item_id, i.sku, i.name, i.unit, r.quantity, r.updated_at "
                  "FROM {s}.reservations r JOIN {s}.items i ON i.id = r.item_id WHERE r.order_id = %s ORDER BY i.sku_key"),
        (order_id,),
    ).fetchall()  # fmt: skip
