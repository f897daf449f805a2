"""The stock item and the stock catalogue, given events, when a command, then events (or an error)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from crm_es.aggregates.stock import StockItem, moving_average, normalise_sku, value_of
from crm_es.aggregates.stock_catalogue import CATALOGUE_ID, StockCatalogue, warehouse_id
from crm_es.errors import Conflict, DomainError, InvalidInput, NotFound

MAIN = warehouse_id("MAIN")
ORDER_A = UUID("00000000-0000-4000-8000-0000000000a1")
ORDER_B = UUID("00000000-0000-4000-8000-0000000000b2")
ORDER_C = UUID("00000000-0000-4000-8000-0000000000c3")
COUNTER = UUID("00000000-0000-4000-8000-00000000000c")
INBOUND = UUID("00000000-0000-4000-8000-0000000001b0")

Command = Callable[[Any], Any]


def created(**overrides: Any) -> list[Any]:
    args: dict[str, Any] = {"sku": "M6-20", "name": "六角螺栓 M6×20", "warehouse_id": MAIN}
    args.update(overrides)
    return StockItem.create(**args).collect_events()


def given(events: Sequence[Any]) -> Any:
    aggregate: Any = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    assert aggregate.version == len(events)
    return aggregate


def when(aggregate: Any, command: Command) -> list[Any]:
    aggregate.collect_events()  # what the test did before is not this command's
    command(aggregate)
    return aggregate.collect_events()


def then(events: Sequence[Any], *expected: tuple[type, dict[str, Any]]) -> None:
    assert [type(e) for e in events] == [cls for cls, _ in expected]
    for domain_event, (_, fields) in zip(events, expected):
        for name, value in fields.items():
            actual = getattr(domain_event, name)
            assert actual == value, f"{type(domain_event).__qualname__}.{name}: {actual!r} != {value!r}"
            assert type(actual) is type(value), f"{type(domain_event).__qualname__}.{name}: {actual!r}"


def then_refused(aggregate: Any, command: Command, error: type[DomainError], field: str | None = None) -> DomainError:
    aggregate.collect_events()  # what the test did before is not this command's
    version = aggregate.version
    state = copy.deepcopy(vars(aggregate))
    with pytest.raises(error) as raised:
        command(aggregate)
    assert aggregate.collect_events() == []
    assert aggregate.version == version
    assert vars(aggregate) == state, "a refused command changed the item"
    if field is not None:
        assert [e.field for e in raised.value.errors] == [field]
    return raised.value


def item(**overrides: Any) -> Any:
    return given(created(**overrides))


def stocked(quantity: str = "100", cost: str = "2.00", **overrides: Any) -> Any:
    events = created(**overrides)
    stock = given(events)
    stock.receive(quantity=quantity, unit_cost=cost)
    return given([*events, *stock.collect_events()])


def D(value: str) -> Decimal:  # noqa: N802 - reads like a literal
    return Decimal(value)


# Creating ----------------------------------------------------------------------------------------


def test_creating_records_the_item_with_nothing_on_hand_and_its_unit_precision() -> None:
    then(created(unit="kg", reorder_level="5.5", max_level="100", unit_cost="12.5", category_id=CATALOGUE_ID), (
        StockItem.Created, {"sku": "M6-20", "name": "六角螺栓 M6×20", "unit": "kg", "decimals": 3,
                            "reorder_level": D("5.500"), "max_level": D("100.000"), "unit_cost": D("12.5000"),
                            "warehouse_id": MAIN, "category_id": CATALOGUE_ID}),
    )  # fmt: skip
    stock = item()
    assert (stock.unit, stock.decimals, stock.on_hand, stock.reserved, stock.available) == ("件", 0, 0, 0, 0)
    assert stock.average_cost == D("0.0000") and stock.in_transit == 0
    assert item(unit="箱", decimals=2).decimals == 2


def test_the_id_derives_from_the_sku_whatever_its_case_or_width() -> None:
    assert item().id == StockItem.create_id("m6-20") == StockItem.create_id(" Ｍ６-２０ ")
    assert normalise_sku(" ｍ6-20 ") == "M6-20"
    assert item(sku="M6-21").id != item().id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": " "}, "sku"),
        ({"sku": "M6 20"}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"sku": 12}, "sku"),
        ({"name": ""}, "name"),
        ({"unit": ""}, "unit"),
        ({"decimals": 5}, "decimals"),
        ({"decimals": True}, "decimals"),
        ({"reorder_level": "-1"}, "reorder_level"),
        ({"reorder_level": "1.5"}, "reorder_level"),  # pieces are whole
        ({"max_level": "0"}, "max_level"),
        ({"reorder_level": "10", "max_level": "10"}, "max_level"),
        ({"unit_cost": "-0.01"}, "unit_cost"),
        ({"unit_cost": "0.00001"}, "unit_cost"),
        ({"unit_cost": 1.5}, "unit_cost"),
        ({"unit_cost": "NaN"}, "unit_cost"),
        ({"unit_cost": "1e13"}, "unit_cost"),
    ],
)
def test_creating_with_bad_fields_is_refused_on_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        created(**overrides)
    assert [e.field for e in raised.value.errors] == [field]


# Quantities and cost ----------------------------------------------------------------------------


def test_a_scripted_sequence_keeps_exact_quantities_and_the_moving_average_cost() -> None:
    """Receipts, reservations, a shipment, an issue, returns, a stocktake: every figure exact."""
    events = created()
    stock = given(events)
    steps: list[tuple[Command, tuple[str, str, str]]] = [  # (command, (on hand, reserved, average cost))
        (lambda s: s.receive(quantity="100", unit_cost="2.00"), ("100", "0", "2.0000")),
        (lambda s: s.receive(quantity="50", unit_cost="2.6"), ("150", "0", "2.2000")),  # (200 + 130) / 150
        (lambda s: s.reserve(order_id=ORDER_A, quantity="30"), ("150", "30", "2.2000")),
        (lambda s: s.reserve(order_id=ORDER_B, quantity=100), ("150", "130", "2.2000")),
        (lambda s: s.ship(order_id=ORDER_A, quantity="30"), ("120", "100", "2.2000")),
        (lambda s: s.receive(quantity="30", unit_cost="3.10"), ("150", "100", "2.3800")),  # (264 + 93) / 150
        (lambda s: s.issue(quantity="10", reason="样品"), ("140", "100", "2.3800")),
        (lambda s: s.take_back(order_id=ORDER_A, quantity="5", restock=True, reason="包装破损换货"), ("145", "100", "2.3800")),
        (lambda s: s.take_back(order_id=ORDER_A, quantity="2", restock=False, reason="锈蚀"), ("145", "100", "2.3800")),
        (lambda s: s.release(order_id=ORDER_B), ("145", "0", "2.3800")),
        (lambda s: s.count(counted_quantity="143", counted_by=COUNTER), ("143", "0", "2.3800")),
        (lambda s: s.receive(quantity="7", unit_cost="1"), ("150", "0", "2.3156")),  # (340.34 + 7) / 150
    ]
    for command, (on_hand, reserved, average) in steps:
        command(stock)
        assert (stock.on_hand, stock.reserved, stock.average_cost) == (D(on_hand), D(reserved), D(average))
        assert stock.available == D(on_hand) - D(reserved)
    recorded = [*events, *stock.collect_events()]
    replayed = given(recorded)
    assert (replayed.on_hand, replayed.reserved, replayed.average_cost, replayed.reservations) == (D("150"), 0, D("2.3156"), {})
    assert value_of(replayed.on_hand, replayed.average_cost) == D("347.34")
    counted = next(e for e in recorded if isinstance(e, StockItem.Counted))
    assert (counted.previous_on_hand, counted.adjustment, counted.counted_by, counted.unit_cost) == (
        D("145"), D("-2"), COUNTER, D("2.3800"))  # fmt: skip
    shipped = next(e for e in recorded if isinstance(e, StockItem.Shipped))
    assert (shipped.order_id, shipped.quantity, shipped.from_reservation, shipped.unit_cost) == (ORDER_A, D("30"), D("30"), D("2.2000"))
    returned = [e for e in recorded if isinstance(e, StockItem.Returned)]
    assert [(e.order_id, e.quantity, e.restocked) for e in returned] == [(ORDER_A, D("5"), True), (ORDER_A, D("2"), False)]
    for domain_event in recorded:
        if isinstance(domain_event, (StockItem.Reserved, StockItem.ReservationReleased, StockItem.Shipped, StockItem.Returned)):
            assert domain_event.order_id in (ORDER_A, ORDER_B)


def test_the_average_rounds_half_up_to_four_places() -> None:
    assert moving_average(D("3"), D("1.0000"), D("1"), D("1.0002")) == D("1.0001")  # 4.0002 / 4 = 1.00005
    assert moving_average(D("0"), D("9.9999"), D("5"), D("1.2345")) == D("1.2345")  # nothing on hand: the new cost
    assert moving_average(D("0"), D("9.9999"), D("0"), D("1")) == D("9.9999")


def test_a_receipt_without_cost_comes_in_at_the_average() -> None:
    stock = stocked("10", "4.00")
    then(when(stock, lambda s: s.receive(quantity="5", reference="PO-7")),
         (StockItem.Received, {"quantity": D("5"), "unit_cost": D("4.0000"), "reference": "PO-7", "average_cost": D("4.0000")}))  # fmt: skip


def test_quantities_keep_the_units_places_and_refuse_more() -> None:
    stock = stocked("1.25", "8", unit="kg")
    assert stock.on_hand == D("1.250")
    pieces = stocked("12.00", "0.120000")  # trailing zeros are no more places
    assert (pieces.on_hand, pieces.average_cost) == (D("12"), D("0.1200"))
    assert str(pieces.on_hand) == "12"
    then_refused(stock, lambda s: s.receive(quantity="0.0001"), InvalidInput, "quantity")
    then_refused(stocked(), lambda s: s.issue(quantity="0.5", reason="拆零"), InvalidInput, "quantity")


@pytest.mark.parametrize("bad", ["0", "-3", "abc", 2.5, None, True, "1e12", "Infinity"])
def test_receiving_a_bad_quantity_is_refused(bad: Any) -> None:
    then_refused(stocked(), lambda s: s.receive(quantity=bad), InvalidInput, "quantity")


# Never oversold --------------------------------------------------------------------------------


def test_reserving_more_than_available_is_refused_and_names_the_shortfall() -> None:
    stock = stocked("10")
    stock.reserve(order_id=ORDER_A, quantity="8")
    refused = then_refused(stock, lambda s: s.reserve(order_id=ORDER_B, quantity="3"), Conflict)
    assert refused.extra == {"stock_item_id": str(stock.id), "sku": "M6-20", "requested": "3", "available": "2"}
    assert "2 available" in refused.detail and str(ORDER_A) in refused.detail
    stock.reserve(order_id=ORDER_B, quantity="2")
    assert stock.available == 0


def test_an_issue_takes_only_what_is_available() -> None:
    stock = stocked("10")
    stock.reserve(order_id=ORDER_A, quantity="7")
    then_refused(stock, lambda s: s.issue(quantity="4", reason="样品"), Conflict)
    then_refused(stock, lambda s: s.issue(quantity="3", reason=" "), InvalidInput, "reason")
    then(when(stock, lambda s: s.issue(quantity="3", reason="样品")), (StockItem.Issued, {"quantity": D("3"), "unit_cost": D("2.0000")}))


def test_a_stocktake_below_what_orders_hold_is_refused() -> None:
    stock = stocked("10")
    stock.reserve(order_id=ORDER_A, quantity="6")
    refused = then_refused(stock, lambda s: s.count(counted_quantity="5", counted_by=COUNTER), Conflict)
    assert str(ORDER_A) in refused.detail
    then(when(stock, lambda s: s.count(counted_quantity="6", counted_by=COUNTER, note="季度盘点")),
         (StockItem.Counted, {"counted_quantity": D("6"), "previous_on_hand": D("10"), "adjustment": D("-4"), "note": "季度盘点"}))  # fmt: skip
    assert stock.available == 0
    then(when(stock, lambda s: s.count(counted_quantity="9", counted_by=COUNTER)), (StockItem.Counted, {"adjustment": D("3")}))


def test_a_shipment_comes_from_the_reservation_first_and_beyond_it_from_what_is_available() -> None:
    stock = stocked("10")
    stock.reserve(order_id=ORDER_A, quantity="4")
    stock.reserve(order_id=ORDER_B, quantity="5")
    then(when(stock, lambda s: s.ship(order_id=ORDER_A, quantity="5")),
         (StockItem.Shipped, {"quantity": D("5"), "from_reservation": D("4")}))  # fmt: skip
    assert (stock.on_hand, stock.reserved, stock.reservations) == (D("5"), D("5"), {ORDER_B: D("5")})
    then_refused(stock, lambda s: s.ship(order_id=ORDER_C, quantity="1"), Conflict)  # all 5 are B's
    then_refused(stock, lambda s: s.ship(order_id=ORDER_B, quantity="6"), Conflict)
    stock.ship(order_id=ORDER_B, quantity="2")
    assert (stock.reserved, stock.reservations) == (D("3"), {ORDER_B: D("3")})


def test_releasing_gives_back_what_the_order_holds() -> None:
    stock = stocked("10")
    stock.reserve(order_id=ORDER_A, quantity="3")
    stock.reserve(order_id=ORDER_A, quantity="2")
    assert stock.reservations == {ORDER_A: D("5")}
    then(when(stock, lambda s: s.release(order_id=ORDER_A, quantity="1")), (StockItem.ReservationReleased, {"quantity": D("1")}))
    then_refused(stock, lambda s: s.release(order_id=ORDER_A, quantity="5"), Conflict)
    then_refused(stock, lambda s: s.release(order_id=ORDER_B, quantity="1"), Conflict)
    then(when(stock, lambda s: s.release(order_id=ORDER_A)), (StockItem.ReservationReleased, {"order_id": ORDER_A, "quantity": D("4")}))
    assert when(stock, lambda s: s.release(order_id=ORDER_A)) == []  # nothing held: nothing to record
    assert (stock.reserved, stock.reservations) == (0, {})


# Stock on its way ------------------------------------------------------------------------------


def test_inbound_goods_are_in_transit_until_they_arrive_at_their_cost() -> None:
    stock = stocked("10", "2.00")
    then(when(stock, lambda s: s.announce_inbound(inbound_id=INBOUND, quantity="30", unit_cost="3", expected_on=date(2027, 1, 5))),
         (StockItem.InboundAnnounced, {"quantity": D("30"), "kind": "purchase", "unit_cost": D("3.0000")}))  # fmt: skip
    assert (stock.in_transit, stock.on_hand) == (D("30"), D("10"))
    then_refused(stock, lambda s: s.announce_inbound(inbound_id=INBOUND, quantity="1"), Conflict)
    then_refused(stock, lambda s: s.arrive(inbound_id=INBOUND, quantity="31"), Conflict)
    then(when(stock, lambda s: s.arrive(inbound_id=INBOUND, quantity="10")),
         (StockItem.InboundArrived, {"quantity": D("10"), "remaining": D("20"), "average_cost": D("2.5000")}))  # fmt: skip
    assert (stock.in_transit, stock.on_hand) == (D("20"), D("20"))
    then(when(stock, lambda s: s.arrive(inbound_id=INBOUND, unit_cost="2.5")),
         (StockItem.InboundArrived, {"quantity": D("20"), "remaining": D("0"), "average_cost": D("2.5000")}))  # fmt: skip
    assert (stock.in_transit, stock.on_hand, stock.inbound) == (0, D("40"), {})
    then_refused(stock, lambda s: s.arrive(inbound_id=INBOUND), NotFound)


def test_a_cancelled_inbound_shipment_leaves_transit_and_adds_nothing() -> None:
    stock = stocked("10")
    stock.announce_inbound(inbound_id=INBOUND, quantity="8", kind="return")
    then_refused(stock, lambda s: s.cancel_inbound(inbound_id=INBOUND, reason=""), InvalidInput, "reason")
    then(when(stock, lambda s: s.cancel_inbound(inbound_id=INBOUND, reason="客户不退了")),
         (StockItem.InboundCancelled, {"quantity": D("8")}))  # fmt: skip
    assert (stock.in_transit, stock.on_hand) == (0, D("10"))
    then_refused(stock, lambda s: s.announce_inbound(inbound_id=ORDER_A, quantity="1", kind="gift"), InvalidInput, "kind")


# Describing ------------------------------------------------------------------------------------


def test_levels_change_together_and_must_stay_apart() -> None:
    stock = item(reorder_level="10", max_level="100")
    then_refused(stock, lambda s: s.change_levels(max_level="10"), InvalidInput, "max_level")
    then(when(stock, lambda s: s.change_levels(reorder_level="20", max_level=None)),
         (StockItem.LevelsChanged, {"reorder_level": D("20"), "max_level": None}))  # fmt: skip
    assert when(stock, lambda s: s.change_levels(reorder_level="20")) == []
    then(when(stock, lambda s: s.rename("六角螺栓 M6×20 镀锌")), (StockItem.Renamed, {"previous_name": "六角螺栓 M6×20"}))
    then(when(stock, lambda s: s.recategorise(CATALOGUE_ID)), (StockItem.Recategorised, {"previous_category_id": None}))


def test_a_copy_shares_nothing_a_command_changes() -> None:
    stock = stocked("10")
    stock.reserve(order_id=ORDER_A, quantity="1")
    stock.announce_inbound(inbound_id=INBOUND, quantity="5")
    stock.collect_events()
    twin = copy.deepcopy(stock)
    twin.reserve(order_id=ORDER_A, quantity="1")
    twin.arrive(inbound_id=INBOUND, quantity="2")
    assert (stock.reservations, stock.inbound[INBOUND]["quantity"], stock.version) == ({ORDER_A: D("1")}, D("5"), 4)
    assert (twin.reservations, twin.inbound[INBOUND]["quantity"], twin.version) == ({ORDER_A: D("2")}, D("3"), 6)


# The catalogue -----------------------------------------------------------------------------------


def catalogue() -> Any:
    return given(StockCatalogue.create().collect_events())


TOOLS = UUID("00000000-0000-4000-8000-00000000c001")
BOLTS = UUID("00000000-0000-4000-8000-00000000c002")
NUTS = UUID("00000000-0000-4000-8000-00000000c003")


def test_the_catalogue_starts_with_the_main_warehouse() -> None:
    c = catalogue()
    assert c.id == CATALOGUE_ID
    assert c.warehouses == {MAIN: {"code": "MAIN", "name": "主仓库", "address": None}}


def test_categories_form_a_tree_with_paths_and_unique_sibling_names() -> None:
    c = catalogue()
    c.add_category(category_id=TOOLS, name="五金")
    c.add_category(category_id=BOLTS, name="紧固件", parent_id=TOOLS)
    assert c.path(BOLTS) == "五金/紧固件" and c.find_path(" 五金 / 紧固件 ") == BOLTS
    then_refused(c, lambda c: c.add_category(category_id=NUTS, name="紧固件", parent_id=TOOLS), Conflict)
    then_refused(c, lambda c: c.add_category(category_id=NUTS, name="a/b"), InvalidInput, "name")
    then_refused(c, lambda c: c.add_category(category_id=NUTS, name="螺母", parent_id=NUTS), InvalidInput, "parent_id")
    c.add_category(category_id=NUTS, name="紧固件")  # the same name at another level is fine
    then_refused(c, lambda c: c.move_category(TOOLS, BOLTS), Conflict)  # under its own child
    then_refused(c, lambda c: c.move_category(NUTS, TOOLS), Conflict)  # a sibling has that name
    c.rename_category(NUTS, "螺母")
    then(when(c, lambda c: c.move_category(NUTS, TOOLS)), (StockCatalogue.CategoryMoved, {"parent_id": TOOLS, "previous_parent_id": None}))
    assert c.path(NUTS) == "五金/螺母"
    with pytest.raises(InvalidInput) as raised:
        c.find_path("五金/螺丝")
    assert "螺丝" in raised.value.detail


def test_warehouses_have_unique_codes_and_names() -> None:
    c = catalogue()
    east = c.add_warehouse(code=" ningbo-2 ", name="宁波二号仓", address="宁波市北仑区")
    assert east == warehouse_id("NINGBO-2") and c.warehouses[east]["code"] == "NINGBO-2"
    then_refused(c, lambda c: c.add_warehouse(code="ningbo-2", name="别的"), Conflict)
    then_refused(c, lambda c: c.add_warehouse(code="X1", name="宁波二号仓"), Conflict)
    then_refused(c, lambda c: c.add_warehouse(code="宁波", name="x"), InvalidInput, "code")
    then(when(c, lambda c: c.update_warehouse(east, name="宁波北仑仓", address=None)),
         (StockCatalogue.WarehouseUpdated, {"changes": {"name": "宁波北仑仓", "address": None}}))  # fmt: skip
    then_refused(c, lambda c: c.update_warehouse(ORDER_A, name="x"), NotFound)
