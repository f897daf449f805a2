"""The stock read model on real PostgreSQL: the list, the ledger and the alerts after a scripted
sequence of commands; the ABC classification and the valuation of a hand-built history whose
every event happens on a chosen day (applied to a scratch schema, rolled back after); a rebuild
gives the same rows as applying the events live."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from crm_es.aggregates.stock import StockItem
from crm_es.aggregates.stock_catalogue import StockCatalogue, warehouse_id
from crm_es.app import Context
from crm_es.projections import stock
from crm_es.projections.stock import StockProjection
from crm_es.runtime import Runtime

D = Decimal
WAREHOUSE = Context(actor="process:test-stock", user_id=uuid.UUID("00000000-0000-4000-8000-00000000000c"))
MAIN = warehouse_id("MAIN")


def _read(runtime: Runtime, query: Any, *args: Any, **kwargs: Any) -> Any:
    runtime.read_side.catch_up("stock")
    with runtime.app.connection() as conn, conn.cursor() as cur:
        return query(cur, *args, **kwargs)


def test_the_list_and_the_ledger_follow_a_scripted_sequence_exactly(fresh: Runtime) -> None:
    app = fresh.app
    item = app.stock.create_item(ctx=WAREHOUSE, sku="BOLT-M6", name="六角螺栓 M6×20", reorder_level="20", max_level="200").id
    order_a, order_b = uuid.uuid4(), uuid.uuid4()
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="100", unit_cost="2.00", reference="PO-1")
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="50", unit_cost="2.60")
    app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=order_a, lines=[(item, "30")])
    app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=order_b, lines=[(item, "100")])
    app.stock.ship_for_order(ctx=WAREHOUSE, order_id=order_a, lines=[(item, "30")])
    inbound = app.stock.announce_inbound(ctx=WAREHOUSE, item_id=item, quantity="30", unit_cost="3.10").id
    row = _read(fresh, stock.get_item, item)
    assert (row["on_hand"], row["reserved"], row["available"], row["in_transit"], row["alert"]) == (
        D("120"), D("100"), D("20"), D("30"), "low")  # fmt: skip
    assert [(r["order_id"], r["quantity"]) for r in row["reservations"]] == [(order_b, D("100"))]
    app.stock.arrive(ctx=WAREHOUSE, item_id=item, inbound_id=inbound)
    app.stock.issue(ctx=WAREHOUSE, item_id=item, quantity="10", reason="样品")
    app.stock.return_for_order(ctx=WAREHOUSE, order_id=order_a, lines=[(item, "5")], restock=True, reason="换货")
    app.stock.return_for_order(ctx=WAREHOUSE, order_id=order_a, lines=[(item, "2")], restock=False, reason="锈蚀")
    app.stock.release_for_order(ctx=WAREHOUSE, order_id=order_b, stock_item_ids=[item])
    app.stock.count(ctx=WAREHOUSE, item_id=item, counted_quantity="143")
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="7", unit_cost="1")

    row = _read(fresh, stock.get_item, item)
    assert {k: row[k] for k in ("sku", "on_hand", "reserved", "available", "in_transit", "average_cost", "value", "alert")} == {
        "sku": "BOLT-M6", "on_hand": D("150"), "reserved": D("0"), "available": D("150"), "in_transit": D("0"),
        "average_cost": D("2.3156"), "value": D("347.34"), "alert": None,
    }  # fmt: skip
    assert (row["warehouse_code"], row["warehouse"], row["reservations"], row["inbound"]) == ("MAIN", "主仓库", [], [])

    ledger = _read(fresh, stock.movements, item, limit=100).items[::-1]
    assert [(m["kind"], m["on_hand_change"], m["reserved_change"], m["in_transit_change"], m["on_hand"], m["reserved"],
             m["average_cost"]) for m in ledger] == [  # fmt: skip
        ("receipt", D("100"), 0, 0, D("100"), 0, D("2.0000")),
        ("receipt", D("50"), 0, 0, D("150"), 0, D("2.2000")),
        ("reservation", 0, D("30"), 0, D("150"), D("30"), D("2.2000")),
        ("reservation", 0, D("100"), 0, D("150"), D("130"), D("2.2000")),
        ("shipment", D("-30"), D("-30"), 0, D("120"), D("100"), D("2.2000")),
        ("inbound", 0, 0, D("30"), D("120"), D("100"), D("2.2000")),
        ("arrival", D("30"), 0, D("-30"), D("150"), D("100"), D("2.3800")),
        ("issue", D("-10"), 0, 0, D("140"), D("100"), D("2.3800")),
        ("return", D("5"), 0, 0, D("145"), D("100"), D("2.3800")),
        ("scrap", 0, 0, 0, D("145"), D("100"), D("2.3800")),
        ("release", 0, D("-100"), 0, D("145"), 0, D("2.3800")),
        ("stocktake", D("-2"), 0, 0, D("143"), 0, D("2.3800")),
        ("receipt", D("7"), 0, 0, D("150"), 0, D("2.3156")),
    ]
    assert [m["value_change"] for m in ledger if m["kind"] in ("receipt", "shipment", "issue", "stocktake")] == [
        D("200.00"), D("130.00"), D("-66.00"), D("-23.80"), D("-4.76"), D("7.00")]  # fmt: skip
    assert [(m["kind"], m["consumption_quantity"], m["consumption_value"]) for m in ledger if m["consumption_value"] is not None] == [
        ("shipment", D("30"), D("66.00")), ("issue", D("10"), D("23.80")), ("return", D("-5"), D("-11.90"))]  # fmt: skip
    assert {m["order_id"] for m in ledger if m["kind"] in ("reservation", "release", "shipment", "return", "scrap")} == {order_a, order_b}
    assert ledger[0]["reference"] == "PO-1" and ledger[-2]["counted_by"] == WAREHOUSE.user_id

    first = _read(fresh, stock.movements, item, limit=5)
    rest = _read(fresh, stock.movements, item, limit=100, cursor=first.next_cursor)
    assert [m["version"] for m in first.items + rest.items] == list(range(14, 1, -1))


def test_alerts_appear_and_clear_as_the_levels_are_crossed(fresh: Runtime) -> None:
    app = fresh.app
    item = app.stock.create_item(ctx=WAREHOUSE, sku=f"ALERT-{uuid.uuid4().hex[:6]}", name="报警测试", reorder_level="10",
                                 max_level="50").id  # fmt: skip

    def alert() -> tuple[str | None, Any]:
        row = _read(fresh, stock.get_item, item)
        return row["alert"], row["alert_since"]

    assert alert()[0] == "low"  # nothing on hand: at the reorder level or below
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="10")
    assert alert()[0] == "low"  # at the reorder level
    low_since = alert()[1]
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="1")
    assert alert() == (None, None)
    order = uuid.uuid4()
    app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=order, lines=[(item, "1")])
    assert alert()[0] == "low"  # available fell to the level again
    assert alert()[1] > low_since
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="40")
    over = alert()
    assert over[0] == "over" and over[1] is not None  # 51 on hand, above 50 (50 available is no shortage)
    listed = _read(fresh, stock.alerts, alert="over")
    assert [(r["id"], r["excess"], r["shortfall"]) for r in listed if r["id"] == item] == [(item, D("1"), None)]
    app.stock.update_item(ctx=WAREHOUSE, item_id=item, max_level="60")
    assert alert() == (None, None)
    app.stock.issue(ctx=WAREHOUSE, item_id=item, quantity="45", reason="生产领料")
    app.stock.announce_inbound(ctx=WAREHOUSE, item_id=item, quantity="20")
    low = [r for r in _read(fresh, stock.alerts, alert="low") if r["id"] == item]
    # 6 on hand, 1 reserved: 5 available, 5 short of 10; to reach 60 with 20 on the way: 35.
    assert [(r["alert"], r["available"], r["shortfall"], r["suggested_order"]) for r in low] == [("low", D("5"), D("5"), D("35"))]
    app.stock.release_for_order(ctx=WAREHOUSE, order_id=order, stock_item_ids=[item])
    low = [r for r in _read(fresh, stock.alerts) if r["id"] == item]
    assert [(r["alert"], r["available"], r["shortfall"], r["suggested_order"]) for r in low] == [("low", D("6"), D("4"), D("34"))]
    assert [r["id"] for r in _read(fresh, stock.list_items, limit=500, alert="low").items].count(item) == 1
    assert item not in [r["id"] for r in _read(fresh, stock.list_items, limit=500, alert="none").items]


# A hand-built history ----------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Story:
    """Stock items and a catalogue whose every event happens on a chosen day."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.catalogue = StockCatalogue.create()
        self._take(self.catalogue, -1)

    def category(self, name: str, parent: uuid.UUID | None = None) -> uuid.UUID:
        category_id = uuid.uuid4()
        self.catalogue.add_category(category_id=category_id, name=name, parent_id=parent)
        self._take(self.catalogue, -1)
        return category_id

    def warehouse(self, code: str, name: str) -> uuid.UUID:
        new_id = self.catalogue.add_warehouse(code=code, name=name)
        self._take(self.catalogue, -1)
        return new_id

    def item(self, sku: str, cost: str, received: str, category: uuid.UUID | None = None, warehouse: uuid.UUID = MAIN) -> StockItem:
        item = StockItem.create(sku=sku, name=f"商品 {sku}", category_id=category, warehouse_id=warehouse)
        item.receive(quantity=received, unit_cost=cost)
        self._take(item, 0)
        return item

    def then(self, item: Any, at: float, command: Any) -> None:
        command(item)
        self._take(item, at)

    def _take(self, aggregate: Any, at: float) -> None:
        self.events += [dataclasses.replace(e, timestamp=day(at)) for e in aggregate.collect_events()]


@pytest.fixture
def story(runtime) -> Iterator[tuple[psycopg.Cursor[Any], str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """A cursor and a scratch schema holding the read model of the story (rolled back after).
    Consumption by value in January (days 1-30): A 600, B 250, C 100, D 50, E 0 (F: all of its
    issues were in February); everything costs 1.00 a unit, so value = quantity."""
    schema = f"stock_{uuid.uuid4().hex[:8]}"
    s = Story()
    tools = s.category("五金")
    bolts = s.category("紧固件", tools)
    paint = s.category("涂料")
    ningbo = s.warehouse("NB", "宁波仓")
    items = {
        "A": s.item("A-1", "1.00", "1000", bolts), "B": s.item("B-1", "1.00", "1000", bolts),
        "C": s.item("C-1", "1.00", "1000", tools), "D": s.item("D-1", "1.00", "1000", paint, ningbo),
        "E": s.item("E-1", "1.00", "1000", paint, ningbo), "F": s.item("F-1", "1.00", "1000"),
    }  # fmt: skip
    order = uuid.uuid4()
    s.then(items["A"], 2, lambda i: i.issue(quantity="400", reason="生产"))
    s.then(items["A"], 3, lambda i: i.reserve(order_id=order, quantity="250"))
    s.then(items["A"], 5, lambda i: i.ship(order_id=order, quantity="250"))
    s.then(items["A"], 6, lambda i: i.take_back(order_id=order, quantity="50", restock=True))  # 400 + 250 - 50
    s.then(items["B"], 10, lambda i: i.issue(quantity="250", reason="生产"))
    s.then(items["C"], 12, lambda i: i.issue(quantity="100", reason="生产"))
    s.then(items["D"], 20, lambda i: i.issue(quantity="60", reason="生产"))
    s.then(items["D"], 21, lambda i: i.take_back(order_id=order, quantity="10", restock=True))
    s.then(items["E"], 22, lambda i: i.count(counted_quantity="900", counted_by=order))  # a loss is not consumption
    s.then(items["F"], 40, lambda i: i.issue(quantity="999", reason="生产"))
    s.events.sort(key=lambda e: e.timestamp)
    with psycopg.connect(runtime.database.conninfo, row_factory=dict_row) as conn:
        with conn.cursor() as cur:
            StockProjection().create_tables(cur, schema)
            StockProjection().apply_batch(list(enumerate(s.events, 1)), cur, schema)
            yield cur, schema, {"items": items, "tools": tools, "bolts": bolts, "paint": paint, "ningbo": ningbo}
        conn.rollback()


@pytest.fixture
def scratch(story, monkeypatch):  # type: ignore[no-untyped-def]
    """The queries pointed at the story's schema."""
    cur, schema, names = story
    monkeypatch.setattr(stock, "SCHEMA", schema)
    return cur, names


def test_abc_classes_a_hand_built_consumption_history_with_the_default_cut_offs(scratch) -> None:  # type: ignore[no-untyped-def]
    cur, names = scratch
    result = stock.abc(cur, since=day(1), before=day(31))
    got = {r["sku"]: (r["consumption_quantity"], r["consumption_value"], r["class"], r["cumulative_share"]) for r in result["items"]}
    # Total 1,000: A makes 60% (nothing above it: A), B 25% (60% above it, < 80: A), C 10% (85%
    # above: B), D 5% (95% above: C); E and F consumed nothing in January (C).
    assert got == {
        "A-1": (D("600"), D("600.00"), "A", 0.6), "B-1": (D("250"), D("250.00"), "A", 0.85),
        "C-1": (D("100"), D("100.00"), "B", 0.95), "D-1": (D("50"), D("50.00"), "C", 1.0),
        "E-1": (0, 0, "C", 1.0), "F-1": (0, 0, "C", 1.0),
    }  # fmt: skip
    assert [r["sku"] for r in result["items"]] == ["A-1", "B-1", "C-1", "D-1", "E-1", "F-1"]
    assert result["total_value"] == D("1000.00")
    assert {c["class"]: (c["items"], c["value"], c["share_of_value"]) for c in result["classes"]} == {
        "A": (2, D("850.00"), 0.85), "B": (1, D("100.00"), 0.1), "C": (3, D("50.00"), 0.05)}  # fmt: skip


def test_abc_cut_offs_and_filters_change_the_classes(scratch) -> None:  # type: ignore[no-untyped-def]
    cur, names = scratch
    classes = lambda **kw: {r["sku"]: r["class"] for r in stock.abc(cur, since=day(1), before=day(31), **kw)["items"]}  # noqa: E731
    assert classes(a=D(50), b=D(40)) == {"A-1": "A", "B-1": "B", "C-1": "B", "D-1": "C", "E-1": "C", "F-1": "C"}
    assert classes(a=D(70), b=D(28)) == {"A-1": "A", "B-1": "A", "C-1": "B", "D-1": "B", "E-1": "C", "F-1": "C"}
    # Within the 宁波仓 warehouse D is everything.
    assert classes(warehouse_id=names["ningbo"]) == {"D-1": "A", "E-1": "C"}
    # February: only F consumed.
    feb = stock.abc(cur, since=day(31), before=day(59))
    assert [(r["sku"], r["class"]) for r in feb["items"][:2]] == [("F-1", "A"), ("A-1", "C")]
    assert stock.abc(cur, since=day(100), before=day(200))["total_value"] == 0


def test_valuation_by_warehouse_and_category_rolls_categories_up(scratch) -> None:  # type: ignore[no-untyped-def]
    cur, names = scratch
    # On hand: A 400 (1000-400-250+50), B 750, C 900, D 950, E 900, F 1 — all at 1.00.
    result = stock.valuation(cur)
    assert result["total"] == {"items": 6, "value": D("3901.00"), "in_transit_value": D("0.00")}
    assert {(r["warehouse_code"], r["category"]): (r["items"], r["value"]) for r in result["rows"]} == {
        ("MAIN", "五金"): (3, D("2050.00")), ("MAIN", None): (1, D("1.00")), ("NB", "涂料"): (2, D("1850.00"))}  # fmt: skip
    assert {r["warehouse_code"]: r["value"] for r in result["by_warehouse"]} == {"MAIN": D("2051.00"), "NB": D("1850.00")}
    deeper = stock.valuation(cur, level=2)
    assert {r["category"]: r["value"] for r in deeper["by_category"]} == {
        "五金/紧固件": D("1150.00"), "五金": D("900.00"), "涂料": D("1850.00"), None: D("1.00")}  # fmt: skip
    only_tools = stock.valuation(cur, categories=stock.category_filter(cur, names["tools"]))
    assert only_tools["total"]["value"] == D("2050.00")


def test_a_rebuild_gives_the_rows_applying_the_events_live_gave(fresh: Runtime) -> None:
    app = fresh.app
    shelf = app.stock.add_category(ctx=WAREHOUSE, name="货架").id
    app.stock.add_category(ctx=WAREHOUSE, name="层板", parent_id=shelf)
    item = app.stock.create_item(ctx=WAREHOUSE, sku="SHELF-1", name="轻型货架", category="货架", reorder_level="2").id
    app.stock.receive(ctx=WAREHOUSE, item_id=item, quantity="9", unit_cost="120.5")
    app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=uuid.uuid4(), lines=[(item, "4")])
    app.stock.announce_inbound(ctx=WAREHOUSE, item_id=item, quantity="3", kind="transfer")
    app.stock.update_category(ctx=WAREHOUSE, category_id=shelf, name="仓储货架")
    app.stock.update_item(ctx=WAREHOUSE, item_id=item, name="重型货架", max_level="8")
    fresh.read_side.catch_up("stock")

    def rows() -> dict[str, list[Any]]:
        with fresh.app.connection() as conn:
            return {t: conn.execute(f'SELECT * FROM "{stock.SCHEMA}".{t} ORDER BY 1, 2').fetchall()
                    for t in ("items", "movements", "reservations", "inbound", "categories", "warehouses")}  # fmt: skip

    live = rows()
    assert [c["path"] for c in live["categories"] if c["parent_id"] == shelf] == ["仓储货架/层板"]
    assert [(i["name"], i["search_name"], i["search_short"], i["alert"]) for i in live["items"]] == [
        ("重型货架", "重型货架", "shelf-1", "over")]  # fmt: skip
    fresh.read_side.rebuild("stock")
    assert rows() == live


def test_a_stock_items_events_for_an_order_link_to_the_orders_customer(runtime) -> None:  # type: ignore[no-untyped-def]
    from crm_es.projections.links import LinksProjection

    customer, order, phone_order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    item = StockItem.create(sku="LINK-1", name="链接测试", warehouse_id=MAIN)
    item.receive(quantity="10", unit_cost="1")
    item.reserve(order_id=order, quantity="3")
    item.reserve(order_id=phone_order, quantity="2")
    item.ship(order_id=order, quantity="2")
    item.release(order_id=order)
    item.take_back(order_id=order, quantity="1", restock=False)
    events = list(enumerate(item.collect_events(), 100))
    schema = f"links_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(runtime.database.conninfo, row_factory=dict_row) as conn, conn.cursor() as cur:
        LinksProjection().create_tables(cur, schema)
        LinksProjection.link_stream(cur, schema, order, customer, "order")  # as the order's creation will
        LinksProjection().apply_batch(events, cur, schema)
        linked = [r["position"] for r in cur.execute(f'SELECT position FROM "{schema}".events WHERE customer_id = %s ORDER BY 1', (customer,))]
        assert linked == [102, 104, 105, 106]  # reserved, shipped, released, returned for the order; not the phone order's
        conn.rollback()
