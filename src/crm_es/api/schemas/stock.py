"""Schemas of stock: items, receipts, issues, stocktakes, stock on its way, reservations for
orders, categories, warehouses, and the stock reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_es.api.schemas.common import Strict, Text

Quantity = Annotated[Decimal, Field(
    gt=0, lt=Decimal("1e12"), allow_inf_nan=False, examples=["12"],
    description="A decimal string (or a whole number) in the item's unit, with at most its decimal places.",
)]  # fmt: skip
Level = Annotated[Decimal, Field(
    ge=0, lt=Decimal("1e12"), allow_inf_nan=False, examples=["20"], description="A quantity in the item's unit.",
)]  # fmt: skip
Cost = Annotated[Decimal, Field(
    ge=0, lt=Decimal("1e12"), decimal_places=4, allow_inf_nan=False, examples=["12.5000"],
    description="A unit cost: a decimal string with at most four places.",
)]  # fmt: skip
Alert = Literal["low", "over"]
AlertFilter = Literal["low", "over", "any", "none"]
InboundKind = Literal["purchase", "transfer", "return", "exchange"]
MovementKind = Literal[
    "receipt", "issue", "reservation", "release", "shipment", "return", "scrap", "stocktake", "inbound", "arrival",
    "inbound_cancelled",
]  # fmt: skip
CategoryRef = Annotated[Text, Field(
    min_length=1, max_length=400, examples=["五金/紧固件"],
    description="A stock category: its id, or its path of names from the top (五金/紧固件).",
)]  # fmt: skip


# Items ---------------------------------------------------------------------------------------------


class StockItemCreate(Strict):
    sku: Text = Field(min_length=1, max_length=64, examples=["BOLT-M6-20"],
                      description="Unique across items (case and width ignored): letters, digits, - _ . / # +.")  # fmt: skip
    name: Text = Field(min_length=1, max_length=200, examples=["六角螺栓 M6×20 镀锌"])
    category: CategoryRef | None = None
    warehouse_id: UUID | None = Field(None, description="The warehouse keeping it; the main warehouse (MAIN) by default.")
    unit: Text = Field("件", min_length=1, max_length=16, examples=["件"])
    decimals: int | None = Field(None, ge=0, le=4, description="Decimal places of its quantities; by default from the "
                                 "unit (kg 3, m 2, pieces 0; 0 for units crm-es does not know).")  # fmt: skip
    reorder_level: Level | None = Field(None, description="At or below this many available, the item is short (alert low).")
    max_level: Level | None = Field(None, description="Above this many on hand, the item is overstocked (alert over).")
    unit_cost: Cost | None = Field(None, description="Its cost until the first receipt (0 if not given).")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "sku": "BOLT-M6-20", "name": "六角螺栓 M6×20 镀锌", "category": "五金/紧固件", "unit": "件",
        "reorder_level": "500", "max_level": "5000", "unit_cost": "0.1200",
    }]})  # fmt: skip


class StockItemUpdate(Strict):
    """Fields to change; omitted fields stay as they are. ``reorder_level``, ``max_level`` and
    ``category`` may be null to clear them."""

    name: Text | None = Field(None, min_length=1, max_length=200)
    category: CategoryRef | None = None
    reorder_level: Level | None = None
    max_level: Level | None = None


class Receipt(Strict):
    quantity: Quantity
    unit_cost: Cost | None = Field(None, description="The cost of these units; the current average cost if not given.")
    reference: Text | None = Field(None, max_length=100, examples=["PO-2027-0042"], description="Purchase order, delivery note.")


class Issue(Strict):
    quantity: Quantity
    reason: Text = Field(min_length=1, max_length=200, examples=["生产领料"])


class Stocktake(Strict):
    counted_quantity: Level = Field(description="What the count found; the adjustment is the difference from on hand.")
    counted_by: UUID | None = Field(None, description="Who counted (a user); the caller if not given.")
    note: Text | None = Field(None, max_length=500, examples=["2027 年一季度盘点"])


class InboundCreate(Strict):
    quantity: Quantity
    kind: InboundKind = Field("purchase", description="purchase (在途采购), transfer (调拨在途), return (待退回), exchange (待换货).")
    unit_cost: Cost | None = Field(None, description="What the units will cost on arrival; the current average cost if not given.")
    expected_on: date | None = Field(None, examples=["2027-04-15"])
    reference: Text | None = Field(None, max_length=100, examples=["PO-2027-0043"])


class Arrival(Strict):
    quantity: Quantity | None = Field(None, description="How many arrived; all that is still to come if not given.")
    unit_cost: Cost | None = Field(None, description="Their cost, if not the one announced.")


class InboundCancel(Strict):
    reason: Text = Field(min_length=1, max_length=200, examples=["供应商取消发货"])


class StockLine(Strict):
    stock_item_id: UUID
    quantity: Quantity


class OrderReservation(Strict):
    order_id: UUID = Field(description="The order the stock is for (an order taken by phone, say).")
    lines: list[StockLine] = Field(min_length=1, max_length=200)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "order_id": "5b0e7d5c-2a47-4f8e-9a3c-1c2d3e4f5a6b",
        "lines": [{"stock_item_id": "0b6f3e2a-7a7c-5d62-9c1e-1f2e3d4c5b6a", "quantity": "12"}],
    }]})  # fmt: skip


class OrderRelease(Strict):
    order_id: UUID
    stock_item_ids: list[UUID] = Field(min_length=1, max_length=200, description="Items whose reservation for the order to release.")


class OrderShipment(Strict):
    order_id: UUID
    lines: list[StockLine] = Field(min_length=1, max_length=200)


class OrderReturn(Strict):
    order_id: UUID
    lines: list[StockLine] = Field(min_length=1, max_length=200)
    restock: bool = Field(description="true: back on the shelf at the average cost; false: scrapped (recorded only).")
    reason: Text | None = Field(None, max_length=200, examples=["包装破损"])


class ItemVersion(BaseModel):
    id: UUID
    version: int


class OrderStockWritten(BaseModel):
    """A command on every stock item of an order's lines, saved in one transaction."""

    id: UUID = Field(description="The order id.")
    position: int = Field(description="Global event position of the last event written; pass as min_position to read your write.")
    items: list[ItemVersion] = Field(description="Each stock item touched with its new version.")


class Reservation(BaseModel):
    order_id: UUID
    quantity: Decimal
    updated_at: datetime


class OrderHolding(BaseModel):
    stock_item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: Decimal
    updated_at: datetime


class OrderHoldings(BaseModel):
    order_id: UUID
    items: list[OrderHolding]


class InboundOut(BaseModel):
    id: UUID
    item_id: UUID
    sku: str | None = None
    name: str | None = None
    unit: str | None = None
    warehouse_id: UUID | None = None
    warehouse: str | None = None
    kind: InboundKind
    quantity: Decimal = Field(description="Announced.")
    arrived: Decimal
    remaining: Decimal = Field(description="Still on its way (in transit).")
    remaining_value: Decimal | None = Field(None, description="remaining × unit_cost.")
    unit_cost: Decimal
    expected_on: date | None = None
    reference: str | None = None
    status: Literal["open", "arrived", "cancelled"]
    cancel_reason: str | None = None
    announced_at: datetime
    closed_at: datetime | None = None


class InboundPage(BaseModel):
    items: list[InboundOut]
    next_cursor: str | None


class StockItemOut(BaseModel):
    id: UUID
    sku: str
    name: str
    category_id: UUID | None = None
    category: str | None = Field(None, description="The category's path of names.")
    unit: str
    decimals: int
    warehouse_id: UUID
    warehouse_code: str | None = None
    warehouse: str | None = None
    reorder_level: Decimal | None = None
    max_level: Decimal | None = None
    on_hand: Decimal
    reserved: Decimal = Field(description="Held for confirmed orders.")
    available: Decimal = Field(description="on_hand − reserved.")
    in_transit: Decimal = Field(description="On its way here (inbound shipments not yet arrived).")
    average_cost: Decimal = Field(description="Moving weighted-average unit cost (four places).")
    value: Decimal = Field(description="on_hand × average_cost, in cents.")
    alert: Alert | None = Field(None, description="low: available at or below the reorder level; over: on hand above the "
                                "maximum level (low wins when both hold); null otherwise.")  # fmt: skip
    alert_since: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class StockItemDetail(StockItemOut):
    reservations: list[Reservation]
    inbound: list[InboundOut] = Field(description="Inbound shipments still on their way.")


class StockItemPage(BaseModel):
    items: list[StockItemOut]
    next_cursor: str | None


class Movement(BaseModel):
    version: int = Field(description="The item's version after it.")
    position: int
    at: datetime
    kind: MovementKind
    on_hand_change: Decimal
    reserved_change: Decimal
    in_transit_change: Decimal
    on_hand: Decimal = Field(description="After the movement.")
    reserved: Decimal
    in_transit: Decimal
    unit_cost: Decimal | None = None
    value_change: Decimal = Field(description="Change of the value on hand, at unit_cost.")
    average_cost: Decimal = Field(description="After the movement.")
    consumption_quantity: Decimal | None = Field(None, description="What the ABC classification counts as used.")
    consumption_value: Decimal | None = None
    order_id: UUID | None = None
    inbound_id: UUID | None = None
    reference: str | None = None
    reason: str | None = None
    counted_by: UUID | None = None
    actor: str | None = None


class MovementPage(BaseModel):
    items: list[Movement]
    next_cursor: str | None


# Categories and warehouses -------------------------------------------------------------------------


class CategoryCreate(Strict):
    name: Text = Field(min_length=1, max_length=50, examples=["紧固件"], description="Unique among its siblings; no '/'.")
    parent_id: UUID | None = Field(None, description="The parent category; a top-level category if not given.")


class CategoryUpdate(Strict):
    """Rename and/or move (``parent_id`` null: to the top level)."""

    name: Text | None = Field(None, min_length=1, max_length=50)
    parent_id: UUID | None = None


class CategoryOut(BaseModel):
    id: UUID
    name: str
    parent_id: UUID | None = None
    path: str = Field(examples=["五金/紧固件"])
    depth: int
    items: int | None = Field(None, description="Items filed directly under it.")


class CategoryList(BaseModel):
    items: list[CategoryOut]


class WarehouseCreate(Strict):
    code: Text = Field(min_length=1, max_length=32, examples=["NB-2"], description="Unique; letters, digits, - and _ (kept in capitals).")
    name: Text = Field(min_length=1, max_length=100, examples=["宁波北仑仓"])
    address: Text | None = Field(None, max_length=300, examples=["宁波市北仑区新碶街道"])


class WarehouseUpdate(Strict):
    name: Text | None = Field(None, min_length=1, max_length=100)
    address: Text | None = Field(None, max_length=300)


class WarehouseOut(BaseModel):
    id: UUID
    code: str
    name: str
    address: str | None = None
    items: int
    value: Decimal


class WarehouseList(BaseModel):
    items: list[WarehouseOut]


# Reports -------------------------------------------------------------------------------------------


class AlertLine(StockItemOut):
    shortfall: Decimal | None = Field(None, description="low: reorder_level − available.")
    suggested_order: Decimal | None = Field(None, description="low: what brings available plus in transit up to the "
                                            "maximum level (the reorder level without one).")  # fmt: skip
    excess: Decimal | None = Field(None, description="over: on_hand − max_level.")


class AlertReport(BaseModel):
    items: list[AlertLine]


class ValuationLine(BaseModel):
    warehouse_id: UUID | None = None
    warehouse_code: str | None = None
    warehouse: str | None = None
    category_id: UUID | None = None
    category: str | None = Field(None, description="The category's path; null for items without one.")
    items: int
    value: Decimal = Field(description="On hand at average cost.")
    in_transit_value: Decimal = Field(description="Still on its way, at the cost announced.")


class ValuationTotal(BaseModel):
    items: int
    value: Decimal
    in_transit_value: Decimal


class Valuation(BaseModel):
    level: int = Field(description="Categories rolled up to this depth (1: the top level).")
    rows: list[ValuationLine] = Field(description="One per warehouse and category.")
    by_warehouse: list[ValuationLine]
    by_category: list[ValuationLine]
    total: ValuationTotal


class AbcLine(BaseModel):
    stock_item_id: UUID
    sku: str
    name: str
    unit: str
    category_id: UUID | None = None
    category: str | None = None
    warehouse_id: UUID
    warehouse: str | None = None
    consumption_quantity: Decimal
    consumption_value: Decimal
    share: float | None = Field(description="Of the total consumption value.")
    cumulative_share: float | None = Field(description="Of this item and those ranked above it.")
    abc_class: Literal["A", "B", "C"] = Field(alias="class")


class AbcClass(BaseModel):
    abc_class: Literal["A", "B", "C"] = Field(alias="class")
    items: int
    value: Decimal
    share_of_items: float | None
    share_of_value: float | None


class AbcCutoffs(BaseModel):
    a: Decimal
    b: Decimal
    c: Decimal


class AbcReport(BaseModel):
    period_from: datetime = Field(alias="from")
    period_to: datetime = Field(alias="to", description="Exclusive.")
    cutoffs: AbcCutoffs
    total_value: Decimal
    classes: list[AbcClass]
    items: list[AbcLine]
