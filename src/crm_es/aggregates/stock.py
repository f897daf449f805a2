"""The stock item (库存商品, R-I1..R-I6): what is on hand in one warehouse, what confirmed orders
hold reserved, what is on the way, and what it is worth at its moving weighted-average cost.

Quantities are Decimals with the unit's number of decimal places (a count of pieces has none,
kilograms have three); more places are refused, never rounded. Costs are Decimals with at most
four places (a screw costs 0.0035). Invariants, checked before every event:

- on hand is never negative;
- reserved never exceeds on hand, i.e. available (on hand − reserved) is never negative: an
  issue, a shipment beyond the order's reservation or a stocktake that would take on hand below
  what orders hold reserved is refused (409), naming the orders;
- a reservation, a shipment and a return name their order (``order_id``), so the customer
  history can show the stock movements of a customer's orders.

The item's id derives from its SKU (``StockItem.create_id``), so two items can never share a SKU:
the event store refuses a second ``Created`` for the same id, even from concurrent requests.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput, NotFound

SKU_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:stock-item:sku")
MAX_QUANTITY = Decimal("1e12")
MAX_COST = Decimal("1e12")
COST_PLACES = 4
COST_STEP = Decimal("0.0001")
CENT = Decimal("0.01")

UNIT_DECIMALS: Mapping[str, int] = {
    # Units counted in whole pieces.
    **dict.fromkeys(("件", "个", "台", "套", "箱", "包", "盒", "只", "支", "张", "卷", "袋", "瓶", "桶", "把", "双",
                     "块", "条", "根", "片", "本", "组", "对", "副", "顶", "辆", "pcs", "pc", "ea", "set", "box"), 0),  # fmt: skip
    # Units measured.
    **dict.fromkeys(("kg", "千克", "公斤", "吨", "t", "l", "升"), 3),
    **dict.fromkeys(("g", "克", "ml", "毫升"), 1),
    **dict.fromkeys(("m", "米", "m2", "㎡", "平方米", "m3", "立方米", "码", "yd"), 2),
}
"""Decimal places of quantities for the usual units (lower case); other units count whole
pieces unless the item names its ``decimals``."""

INBOUND_KINDS = ("purchase", "transfer", "return", "exchange")
"""Stock outside the warehouse (库外库存, R-I5): bought and on its way (在途采购), moved from another
warehouse (调拨在途), coming back from a customer (待退回), or due in exchange (待换货)."""

_SKU_CHARS = frozenset("-_./#+")


# Checks ------------------------------------------------------------------------------------------


def normalise_sku(sku: str) -> str:
    """The SKU as it identifies an item: NFKC (full-width letters become ASCII), trimmed, upper case."""
    return unicodedata.normalize("NFKC", sku).strip().upper()


def check_sku(value: Any) -> str:
    """A SKU as given (trimmed): 1 to 64 letters, digits and ``- _ . / # +``, no spaces."""
    sku = check_text("sku", value, 64, required=True)
    assert sku is not None
    sku = unicodedata.normalize("NFKC", sku)
    if not all(c.isalnum() or c in _SKU_CHARS for c in sku):
        raise InvalidInput.on("sku", "may hold only letters, digits and - _ . / # + (no spaces)")
    return sku


def check_decimals(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 4:
        raise InvalidInput.on("decimals", "must be a whole number from 0 to 4")
    return value


def unit_decimals(unit: str) -> int:
    """Decimal places of quantities in ``unit`` (0 for a unit not in ``UNIT_DECIMALS``)."""
    return UNIT_DECIMALS.get(unit.lower(), 0)


def _decimal(field: str, value: Any, example: str) -> Decimal:
    if value is None:
        raise InvalidInput.on(field, "is required")
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput.on(field, f'must be a decimal string such as "{example}", not a {type(value).__name__}')
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (str, int, Decimal)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise InvalidInput.on(field, f'must be a decimal number such as "{example}"')
    return number


def check_quantity(field: str, value: Any, decimals: int, *, zero: bool = False) -> Decimal:
    """A positive quantity (or zero, if ``zero``) with at most ``decimals`` places, never rounded."""
    quantity = _decimal(field, value, "12" if decimals == 0 else "12." + "5".ljust(decimals, "0"))
    if quantity < 0 or (quantity == 0 and not zero):
        raise InvalidInput.on(field, "must not be negative" if zero else "must be greater than zero")
    if quantity.normalize().as_tuple().exponent < -decimals:  # type: ignore[operator] - "12.0" is whole
        places = "whole units" if decimals == 0 else f"at most {decimals} decimal place{'s' if decimals > 1 else ''}"
        raise InvalidInput.on(field, f"must be in {places} (the item's unit)")
    if quantity >= MAX_QUANTITY:
        raise InvalidInput.on(field, "is too large")
    return abs(quantity).quantize(Decimal(1).scaleb(-decimals))  # abs: "-0" is zero


def check_cost(field: str, value: Any) -> Decimal:
    """A non-negative unit cost with at most four decimal places, never rounded."""
    cost = _decimal(field, value, "12.50")
    if cost < 0:
        raise InvalidInput.on(field, "must not be negative")
    if cost.normalize().as_tuple().exponent < -COST_PLACES:  # type: ignore[operator] - trailing zeros are fine
        raise InvalidInput.on(field, f"must have at most {COST_PLACES} decimal places")
    if cost >= MAX_COST:
        raise InvalidInput.on(field, "is too large")
    return abs(cost).quantize(COST_STEP)


def check_levels(reorder_level: Decimal | None, max_level: Decimal | None) -> None:
    if reorder_level is not None and max_level is not None and max_level <= reorder_level:
        raise InvalidInput.on("max_level", f"must be above the reorder level ({reorder_level})")


def moving_average(on_hand: Decimal, average: Decimal, quantity: Decimal, cost: Decimal) -> Decimal:
    """The moving weighted-average cost (移动加权平均) after ``quantity`` arrives at ``cost``:
    (on hand × average + quantity × cost) / (on hand + quantity), to four places, half up."""
    total = on_hand + quantity
    if total <= 0:
        return average
    return ((on_hand * average + quantity * cost) / total).quantize(COST_STEP, ROUND_HALF_UP)


def value_of(quantity: Decimal, cost: Decimal) -> Decimal:
    """What ``quantity`` is worth at ``cost``, in cents (half up)."""
    return (quantity * cost).quantize(CENT, ROUND_HALF_UP)


def _plain(number: Decimal) -> str:
    return format(number, "f")


# The aggregate ----------------------------------------------------------------------------------


class StockItem(CrmAggregate):
    """One SKU in one warehouse: on hand, reserved per order, in transit per inbound shipment."""

    @staticmethod
    def create_id(sku: str, **_: Any) -> UUID:  # type: ignore[override]
        # The id derives from the normalised SKU: a second item with the same SKU cannot be stored.
        return uuid5(SKU_NAMESPACE, normalise_sku(sku))

    @classmethod
    def create(  # noqa: PLR0913 - one parameter per field of the fact
        cls,
        *,
        sku: Any,
        name: Any,
        warehouse_id: UUID,
        category_id: UUID | None = None,
        unit: Any = "件",
        decimals: Any = None,
        reorder_level: Any = None,
        max_level: Any = None,
        unit_cost: Any = None,
    ) -> StockItem:
        """A new item with nothing on hand; ``unit_cost`` is its cost until the first receipt."""
        unit = check_text("unit", unit, 16, required=True)
        assert unit is not None
        places = unit_decimals(unit) if decimals is None else check_decimals(decimals)
        reorder = None if reorder_level is None else check_quantity("reorder_level", reorder_level, places, zero=True)
        maximum = None if max_level is None else check_quantity("max_level", max_level, places)
        check_levels(reorder, maximum)
        return cls(
            sku=check_sku(sku),
            name=check_text("name", name, 200, required=True),
            category_id=category_id,
            unit=unit,
            decimals=places,
            warehouse_id=warehouse_id,
            reorder_level=reorder,
            max_level=maximum,
            unit_cost=Decimal("0.0000") if unit_cost is None else check_cost("unit_cost", unit_cost),
        )

    @event("Created")
    def __init__(  # noqa: PLR0913
        self,
        *,
        sku: str,
        name: str,
        category_id: UUID | None,
        unit: str,
        decimals: int,
        warehouse_id: UUID,
        reorder_level: Decimal | None,
        max_level: Decimal | None,
        unit_cost: Decimal,
    ) -> None:
        self.sku = sku
        self.name = name
        self.category_id = category_id
        self.unit = unit
        self.decimals = decimals
        self.warehouse_id = warehouse_id
        self.reorder_level = reorder_level
        self.max_level = max_level
        self.average_cost = unit_cost
        zero = Decimal(1).scaleb(-decimals) * 0
        self.on_hand: Decimal = zero
        self.reserved: Decimal = zero
        self.reservations: dict[UUID, Decimal] = {}
        """What each order still holds reserved (orders holding nothing are left out)."""
        self.inbound: dict[UUID, dict[str, Any]] = {}
        """Inbound shipments not yet fully arrived: quantity still to come, unit cost, kind."""

    def __deepcopy__(self, memo: dict[int, Any]) -> StockItem:
        # The repository copies cached aggregates for every command; keys and values here are
        # immutable (UUID, Decimal, str, date), so copying the containers is a deep copy, and a
        # hot item with many open reservations costs a dict copy, not a walk of every value.
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.reservations = dict(self.reservations)
        twin.inbound = {k: dict(v) for k, v in self.inbound.items()}
        twin._pending_events = list(self._pending_events)  # events are frozen
        return twin

    # Derived -----------------------------------------------------------------------------------

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved

    @property
    def in_transit(self) -> Decimal:
        return sum((i["quantity"] for i in self.inbound.values()), self.on_hand * 0)

    def quantity(self, field: str, value: Any, *, zero: bool = False) -> Decimal:
        """``value`` checked as a quantity of this item's unit."""
        return check_quantity(field, value, self.decimals, zero=zero)

    def _short(self, doing: str, wanted: Decimal) -> Conflict:
        holders = ", ".join(str(o) for o in list(self.reservations)[:5]) + ("…" if len(self.reservations) > 5 else "")
        held = f"; {_plain(self.reserved)} are reserved for orders {holders}" if self.reserved else ""
        return Conflict(
            f"{self.sku}: cannot {doing} {_plain(wanted)} {self.unit}: {_plain(self.available)} available "
            f"({_plain(self.on_hand)} on hand{held})",
            stock_item_id=str(self.id), sku=self.sku, requested=_plain(wanted), available=_plain(self.available),
        )  # fmt: skip

    # Describing the item ------------------------------------------------------------------------

    def rename(self, name: Any) -> None:
        name = check_text("name", name, 200, required=True)
        if name != self.name:
            self._renamed(name=name, previous_name=self.name)

    @event("Renamed")
    def _renamed(self, name: str, previous_name: str) -> None:
        self.name = name

    def recategorise(self, category_id: UUID | None) -> None:
        if category_id != self.category_id:
            self._recategorised(category_id=category_id, previous_category_id=self.category_id)

    @event("Recategorised")
    def _recategorised(self, category_id: UUID | None, previous_category_id: UUID | None) -> None:
        self.category_id = category_id

    def change_levels(self, **levels: Any) -> None:
        """Change the reorder level and/or the maximum level (``None`` clears one)."""
        reorder, maximum = self.reorder_level, self.max_level
        if "reorder_level" in levels:
            value = levels["reorder_level"]
            reorder = None if value is None else self.quantity("reorder_level", value, zero=True)
        if "max_level" in levels:
            value = levels["max_level"]
            maximum = None if value is None else self.quantity("max_level", value)
        check_levels(reorder, maximum)
        if (reorder, maximum) != (self.reorder_level, self.max_level):
            self._levels_changed(reorder_level=reorder, max_level=maximum)

    @event("LevelsChanged")
    def _levels_changed(self, reorder_level: Decimal | None, max_level: Decimal | None) -> None:
        self.reorder_level = reorder_level
        self.max_level = max_level

    # Goods in and out (物流) ---------------------------------------------------------------------

    def receive(self, *, quantity: Any, unit_cost: Any = None, reference: Any = None) -> None:
        """A receipt (入库) at ``unit_cost`` (the current average cost if not given)."""
        quantity = self.quantity("quantity", quantity)
        cost = self.average_cost if unit_cost is None else check_cost("unit_cost", unit_cost)
        self._check_capacity(quantity)
        self._received(
            quantity=quantity, unit_cost=cost, reference=check_text("reference", reference, 100),
            average_cost=moving_average(self.on_hand, self.average_cost, quantity, cost),
        )  # fmt: skip

    @event("Received")
    def _received(self, quantity: Decimal, unit_cost: Decimal, reference: str | None, average_cost: Decimal) -> None:
        self.on_hand += quantity
        self.average_cost = average_cost

    def issue(self, *, quantity: Any, reason: Any) -> None:
        """An issue (出库) that is not a shipment of an order (production, samples, damage),
        taken from what is available, at the average cost."""
        quantity = self.quantity("quantity", quantity)
        reason = check_text("reason", reason, 200, required=True)
        if quantity > self.available:
            raise self._short("issue", quantity)
        self._issued(quantity=quantity, reason=reason, unit_cost=self.average_cost)

    @event("Issued")
    def _issued(self, quantity: Decimal, reason: str, unit_cost: Decimal) -> None:
        self.on_hand -= quantity

    def count(self, *, counted_quantity: Any, counted_by: UUID, note: Any = None) -> None:
        """A stocktake (盘点): ``counted_quantity`` is what is there; the adjustment is the
        difference from on hand, valued at the average cost. Refused (409) if it would leave
        less on hand than orders hold reserved: release or ship those reservations first."""
        counted = self.quantity("counted_quantity", counted_quantity, zero=True)
        note = check_text("note", note, 500)
        if counted < self.reserved:
            raise Conflict(
                f"{self.sku}: counted {_plain(counted)} {self.unit}, but {_plain(self.reserved)} are reserved for "
                f"orders {', '.join(map(str, self.reservations))}; release or ship those reservations first, then record the count",
                stock_item_id=str(self.id), sku=self.sku, counted=_plain(counted), reserved=_plain(self.reserved),
            )  # fmt: skip
        self._check_capacity(counted - self.on_hand)
        self._counted(
            counted_quantity=counted, previous_on_hand=self.on_hand, adjustment=counted - self.on_hand,
            counted_by=counted_by, note=note, unit_cost=self.average_cost,
        )  # fmt: skip

    @event("Counted")
    def _counted(
        self, counted_quantity: Decimal, previous_on_hand: Decimal, adjustment: Decimal, counted_by: UUID,
        note: str | None, unit_cost: Decimal,
    ) -> None:  # fmt: skip
        self.on_hand = counted_quantity

    def _check_capacity(self, more: Decimal) -> None:
        if self.on_hand + more >= MAX_QUANTITY:
            raise InvalidInput.on("quantity", f"would take {self.sku} beyond what crm-es can count ({MAX_QUANTITY:,.0f})")

    # Orders (R-I2) -----------------------------------------------------------------------------

    def check_reserve(self, quantity: Decimal) -> Conflict | None:
        """Why ``quantity`` cannot be reserved now (a Conflict to raise or collect), or None."""
        return self._short("reserve", quantity) if quantity > self.available else None

    def reserve(self, *, order_id: UUID, quantity: Any) -> None:
        """Hold ``quantity`` for the order (a confirmed order); only what is available."""
        quantity = self.quantity("quantity", quantity)
        short = self.check_reserve(quantity)
        if short is not None:
            raise short
        self._reserved(order_id=order_id, quantity=quantity)

    @event("Reserved")
    def _reserved(self, order_id: UUID, quantity: Decimal) -> None:
        self.reserved += quantity
        self.reservations[order_id] = self.reservations.get(order_id, quantity * 0) + quantity

    def release(self, *, order_id: UUID, quantity: Any = None) -> None:
        """Give back what the order holds reserved (all of it unless ``quantity`` says how much);
        nothing happens if it holds nothing and no quantity is named."""
        held = self.reservations.get(order_id)
        if quantity is None:
            if held:
                self._reservation_released(order_id=order_id, quantity=held)
            return
        quantity = self.quantity("quantity", quantity)
        if held is None or quantity > held:
            raise Conflict(
                f"{self.sku}: order {order_id} holds {_plain(held or quantity * 0)} {self.unit} reserved, "
                f"not {_plain(quantity)}"
            )
        self._reservation_released(order_id=order_id, quantity=quantity)

    @event("ReservationReleased")
    def _reservation_released(self, order_id: UUID, quantity: Decimal) -> None:
        self._take_reserved(order_id, quantity)

    def _take_reserved(self, order_id: UUID, quantity: Decimal) -> None:
        if not quantity:
            return
        self.reserved -= quantity
        left = self.reservations.pop(order_id) - quantity
        if left:
            self.reservations[order_id] = left

    def ship(self, *, order_id: UUID, quantity: Any) -> None:
        """A shipment of the order (出货): from its reservation first; anything beyond the
        reservation (goods delivered before the order was confirmed) must be available."""
        quantity = self.quantity("quantity", quantity)
        held = self.reservations.get(order_id, quantity * 0)
        from_reservation = min(held, quantity)
        beyond = quantity - from_reservation
        if beyond > self.available:
            raise self._short("ship", quantity) if not held else Conflict(
                f"{self.sku}: order {order_id} holds {_plain(held)} {self.unit} reserved; shipping "
                f"{_plain(quantity)} needs {_plain(beyond)} more, and {_plain(self.available)} are available",
                stock_item_id=str(self.id), sku=self.sku, requested=_plain(quantity), available=_plain(self.available + held),
            )  # fmt: skip
        self._shipped(order_id=order_id, quantity=quantity, from_reservation=from_reservation, unit_cost=self.average_cost)

    @event("Shipped")
    def _shipped(self, order_id: UUID, quantity: Decimal, from_reservation: Decimal, unit_cost: Decimal) -> None:
        self._take_reserved(order_id, from_reservation)
        self.on_hand -= quantity

    def take_back(self, *, order_id: UUID, quantity: Any, restock: bool, reason: Any = None) -> None:
        """Goods of the order come back (退货): restocked at the current average cost (the average
        does not move), or scrapped (recorded, nothing added to stock). Whether the order received
        that many is the order's rule, not the item's."""
        quantity = self.quantity("quantity", quantity)
        if not isinstance(restock, bool):
            raise InvalidInput.on("restock", "must be true or false")
        if restock:
            self._check_capacity(quantity)
        self._returned(
            order_id=order_id, quantity=quantity, restocked=restock, reason=check_text("reason", reason, 200),
            unit_cost=self.average_cost,
        )  # fmt: skip

    @event("Returned")
    def _returned(self, order_id: UUID, quantity: Decimal, restocked: bool, reason: str | None, unit_cost: Decimal) -> None:
        if restocked:
            self.on_hand += quantity

    # Stock outside the warehouse (库外库存, R-I5) -------------------------------------------------

    def announce_inbound(
        self, *, inbound_id: UUID, quantity: Any, kind: Any = "purchase", unit_cost: Any = None,
        expected_on: date | None = None, reference: Any = None,
    ) -> None:  # fmt: skip
        """Goods on their way here: counted in transit until they arrive (or are cancelled)."""
        if inbound_id in self.inbound:
            raise Conflict(f"{self.sku}: inbound shipment {inbound_id} is announced already")
        if kind not in INBOUND_KINDS:
            raise InvalidInput.on("kind", f"must be one of {', '.join(INBOUND_KINDS)}")
        if expected_on is not None and not isinstance(expected_on, date):
            raise InvalidInput.on("expected_on", "must be a date (YYYY-MM-DD)")
        self._inbound_announced(
            inbound_id=inbound_id, quantity=self.quantity("quantity", quantity), kind=kind,
            unit_cost=self.average_cost if unit_cost is None else check_cost("unit_cost", unit_cost),
            expected_on=expected_on, reference=check_text("reference", reference, 100),
        )  # fmt: skip

    @event("InboundAnnounced")
    def _inbound_announced(
        self, inbound_id: UUID, quantity: Decimal, kind: str, unit_cost: Decimal, expected_on: date | None,
        reference: str | None,
    ) -> None:  # fmt: skip
        self.inbound[inbound_id] = {"quantity": quantity, "unit_cost": unit_cost, "kind": kind, "expected_on": expected_on}

    def _open_inbound(self, inbound_id: UUID) -> dict[str, Any]:
        shipment = self.inbound.get(inbound_id)
        if shipment is None:
            raise NotFound(f"{self.sku} has no inbound shipment {inbound_id} on its way")
        return shipment

    def arrive(self, *, inbound_id: UUID, quantity: Any = None, unit_cost: Any = None) -> None:
        """Goods of an inbound shipment arrive (all that is still to come unless ``quantity``
        says less): on hand at the shipment's cost (or ``unit_cost``), a new moving average."""
        shipment = self._open_inbound(inbound_id)
        quantity = shipment["quantity"] if quantity is None else self.quantity("quantity", quantity)
        if quantity > shipment["quantity"]:
            raise Conflict(f"{self.sku}: only {_plain(shipment['quantity'])} {self.unit} of shipment {inbound_id} are still to come")
        cost = shipment["unit_cost"] if unit_cost is None else check_cost("unit_cost", unit_cost)
        self._check_capacity(quantity)
        self._inbound_arrived(
            inbound_id=inbound_id, quantity=quantity, unit_cost=cost, remaining=shipment["quantity"] - quantity,
            average_cost=moving_average(self.on_hand, self.average_cost, quantity, cost),
        )  # fmt: skip

    @event("InboundArrived")
    def _inbound_arrived(
        self, inbound_id: UUID, quantity: Decimal, unit_cost: Decimal, remaining: Decimal, average_cost: Decimal
    ) -> None:
        self.on_hand += quantity
        self.average_cost = average_cost
        if remaining:
            self.inbound[inbound_id]["quantity"] = remaining
        else:
            del self.inbound[inbound_id]

    def cancel_inbound(self, *, inbound_id: UUID, reason: Any) -> None:
        """What is still to come of a shipment will not come (lost, refused, called off)."""
        shipment = self._open_inbound(inbound_id)
        self._inbound_cancelled(
            inbound_id=inbound_id, quantity=shipment["quantity"], reason=check_text("reason", reason, 200, required=True)
        )

    @event("InboundCancelled")
    def _inbound_cancelled(self, inbound_id: UUID, quantity: Decimal, reason: str) -> None:
        del self.inbound[inbound_id]
