"""Schemas of orders, their deliveries, returns, price adjustments, instalments, payments and
invoices, and of the receivables reports (aging, dunning, upcoming dues, expected collections)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_es.api.schemas.common import Money, Strict, Text

Status = Literal["draft", "confirmed", "partially_delivered", "delivered", "completed", "cancelled"]
Method = Literal["bank_transfer", "cash", "cheque", "acceptance_bill", "card", "alipay", "wechat", "offset", "other"]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]
Quantity = Annotated[Decimal, Field(gt=0, lt=Decimal("1e12"), decimal_places=3, examples=["10"])]
UnitPrice = Annotated[Decimal, Field(ge=0, lt=Decimal("1e15"), decimal_places=4, examples=["1200.00"])]
DiscountRate = Annotated[Decimal, Field(ge=0, lt=1, decimal_places=4, examples=["0.05"],
                                        description='The share taken off the price: "0.10" is 10% off (九折).')]  # fmt: skip
PositiveMoney = Annotated[Decimal, Field(gt=0, lt=Decimal("1e15"), decimal_places=2, examples=["5000.00"])]


class OrderLineIn(Strict):
    """A line: a stock item, or a free-text description for what has none (a service)."""

    stock_item_id: UUID | None = Field(None, description="The stock item sold; confirmation reserves it.")
    description: Text | None = Field(None, max_length=500, examples=["安装调试服务"],
                                     description="Required when there is no stock item (a service, free text).")  # fmt: skip
    quantity: Quantity
    unit_price: UnitPrice
    discount_rate: DiscountRate | None = None

    @model_validator(mode="after")
    def _item_or_description(self) -> OrderLineIn:
        if self.stock_item_id is None and not (self.description and self.description.strip()):
            raise ValueError("give a stock_item_id, or a description for a line without one")
        return self


Lines = Annotated[list[OrderLineIn], Field(min_length=1, max_length=200)]


class OrderCreate(Strict):
    customer_id: UUID
    opportunity_id: UUID | None = Field(None, description="The opportunity this order closes (the customer's).")
    lines: Lines
    currency: Currency = "CNY"
    payment_terms_days: int = Field(30, ge=0, le=3650, description="Days from confirmation to the due date.")
    owner_id: UUID | None = Field(None, description="Who owns the order; the customer's owner by default.")
    note: Text | None = Field(None, max_length=2000)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": "6f1c2b1e-8d1a-4c55-9a43-0c1f1d5c2b10", "payment_terms_days": 30,
        "lines": [{"stock_item_id": "0d7f5a52-3b43-4a4f-8e7e-3f5b8b8c9a01", "quantity": "10", "unit_price": "1200.00",
                   "discount_rate": "0.05"},
                  {"description": "安装调试服务", "quantity": "1", "unit_price": "3000.00"}],
    }]})  # fmt: skip


class OrderUpdate(Strict):
    """A draft's lines or payment terms; omitted fields stay as they are."""

    lines: Lines | None = None
    payment_terms_days: int | None = Field(None, ge=0, le=3650)


class FromOpportunity(Strict):
    lines: Lines | None = Field(None, description="The lines; one line of the opportunity's title at its won amount by default.")
    payment_terms_days: int = Field(30, ge=0, le=3650)
    note: Text | None = Field(None, max_length=2000)


class QuantityLine(Strict):
    """An order line named by its number or its stock item, and a quantity."""

    line: int | None = Field(None, ge=1, le=200, description="The line number (1 for the first line).")
    stock_item_id: UUID | None = None
    quantity: Quantity


QuantityLines = Annotated[list[QuantityLine], Field(min_length=1, max_length=200)]


class Delivery(Strict):
    lines: QuantityLines
    note: Text | None = Field(None, max_length=1000)


class Return(Strict):
    lines: QuantityLines
    reason: Text = Field(min_length=1, max_length=500, examples=["外壳破损"])
    restock: bool = Field(True, description="Back into stock (true), or scrapped and recorded (false).")


class PriceAdjustment(Strict):
    line: int = Field(ge=1, le=200)
    unit_price: UnitPrice
    reason: Text = Field(min_length=1, max_length=500, examples=["收款时价格下浮"])


class InstalmentIn(Strict):
    due_date: date = Field(examples=["2026-06-30"])
    amount: PositiveMoney


class InstalmentPlan(Strict):
    instalments: list[InstalmentIn] = Field(min_length=1, max_length=60)


class Payment(Strict):
    amount: PositiveMoney
    received_on: date = Field(examples=["2026-05-20"], description="The day the money arrived (not in the future).")
    method: Method | None = None
    reference: Text | None = Field(None, max_length=200, examples=["工行回单 20260520-0031"])


class Invoice(Strict):
    number: Text = Field(min_length=1, max_length=50, examples=["No.04471234"])
    title: Text = Field(min_length=1, max_length=200, examples=["宁波慈穗贸业有限公司"], description="The invoice title (抬头).")
    taxpayer_id: Text | None = Field(None, max_length=20, examples=["91330200MA2XXXXXX1"], description="纳税人识别号.")
    amount: PositiveMoney
    issued_on: date
    kind: Literal["special", "ordinary", "electronic"] | None = Field(None, description="专票, 普票 or 电子发票.")


class Cancel(Strict):
    reason: Text = Field(min_length=1, max_length=500, examples=["客户取消采购"])


class OrderReassign(Strict):
    owner_id: UUID
    reason: Text | None = Field(None, max_length=500)


# Answers ---------------------------------------------------------------------------------------


class OrderLine(BaseModel):
    line: int
    stock_item_id: UUID | None = None
    description: str | None = None
    quantity: Decimal
    unit_price: Decimal
    discount_rate: Decimal
    delivered: Decimal
    returned: Decimal


class OrderOut(BaseModel):
    id: UUID
    number: str = Field(examples=["SO-2026-000123"])
    customer_id: UUID
    customer_name: str
    owner_id: UUID
    opportunity_id: UUID | None = None
    status: Status
    currency: str
    payment_terms_days: int
    subtotal: Decimal = Field(description="The lines at list price.")
    discount: Decimal = Field(description="Taken off by the lines' discounts.")
    total: Decimal = Field(description="The lines as first sold (subtotal − discount).")
    receivable: Decimal = Field(description="What the order bills now: total − returns ± price adjustments.")
    amount_paid: Decimal
    amount_due: Decimal = Field(description="Receivable not yet paid.")
    credit: Decimal = Field(description="Paid beyond the receivable: the customer's credit.")
    returned_amount: Decimal
    adjusted_amount: Decimal
    invoiced_amount: Decimal
    confirmed_on: date | None = None
    due_date: date | None = Field(None, description="Confirmation date + payment terms (company days).")
    credit_override: bool = Field(description="Confirmed beyond the customer's credit limit by a holder of orders:override_credit.")
    cancel_reason: str | None = None
    cancelled_on: date | None = None
    completed_on: date | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class InstalmentOut(BaseModel):
    seq: int
    due_date: date
    amount: Decimal
    paid: Decimal = Field(description="Settled by payments and credits, oldest due date first.")
    open: Decimal


class DeliveryOut(BaseModel):
    id: UUID
    delivered_on: date
    lines: list[dict[str, Any]]
    note: str | None = None
    recorded_at: datetime
    actor: str | None = None


class ReturnOut(BaseModel):
    id: UUID
    returned_on: date
    lines: list[dict[str, Any]]
    reason: str
    restock: bool
    credit: Decimal
    recorded_at: datetime
    actor: str | None = None


class AdjustmentOut(BaseModel):
    version: int
    line: int
    unit_price: Decimal
    previous_unit_price: Decimal
    amount: Decimal = Field(description="The change of the receivable (negative: a reduction).")
    reason: str
    adjusted_on: date
    recorded_at: datetime
    actor: str | None = None


class PaymentOut(BaseModel):
    id: UUID
    amount: Decimal
    received_on: date
    method: str | None = None
    reference: str | None = None
    recorded_at: datetime
    actor: str | None = None


class InvoiceOut(BaseModel):
    id: UUID
    number: str
    title: str
    taxpayer_id: str | None = None
    amount: Decimal
    issued_on: date
    kind: str | None = None
    recorded_at: datetime
    actor: str | None = None


class OrderDetail(OrderOut):
    note: str | None = None
    lines: list[OrderLine]
    instalments: list[InstalmentOut]
    deliveries: list[DeliveryOut]
    returns: list[ReturnOut]
    adjustments: list[AdjustmentOut]
    payments: list[PaymentOut]
    invoices: list[InvoiceOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class AgingLine(BaseModel):
    customer_id: UUID
    name: str | None = None
    current: Decimal = Field(description="Not yet due (0 days overdue or fewer).")
    d1_30: Decimal = Field(alias="1-30")
    d31_60: Decimal = Field(alias="31-60")
    d61_90: Decimal = Field(alias="61-90")
    d91_180: Decimal = Field(alias="91-180")
    d180_: Decimal = Field(alias="180+")
    total: Decimal = Field(description="Sum of the buckets: what is open.")
    credit: Decimal = Field(description="Paid beyond what is owed on some orders: the customer's credit (not in total).")
    late_fee: Decimal = Field(description="Σ open × days overdue × daily rate, rounded half up to the cent.")

    model_config = ConfigDict(populate_by_name=True)


class AgingTotals(BaseModel):
    current: Decimal
    d1_30: Decimal = Field(alias="1-30")
    d31_60: Decimal = Field(alias="31-60")
    d61_90: Decimal = Field(alias="61-90")
    d91_180: Decimal = Field(alias="91-180")
    d180_: Decimal = Field(alias="180+")
    total: Decimal
    credit: Decimal
    late_fee: Decimal

    model_config = ConfigDict(populate_by_name=True)


class Aging(BaseModel):
    as_of: date
    buckets: list[str] = Field(examples=[["current", "1-30", "31-60", "61-90", "91-180", "180+"]])
    late_fee_daily_rate: Decimal = Field(examples=["0.0005"])
    customers: list[AgingLine]
    totals: AgingTotals


class DunningItem(BaseModel):
    order_id: UUID
    number: str
    order_owner_id: UUID
    instalment: int
    kind: str
    due_on: date
    amount: Decimal
    open: Decimal
    days_overdue: int
    late_fee: Decimal


class DunningCustomer(BaseModel):
    customer_id: UUID
    name: str | None = None
    owner_id: UUID | None = Field(None, description="The customer's owner: who chases the money.")
    overdue: Decimal
    late_fee: Decimal
    oldest_due_on: date
    max_days_overdue: int
    orders: int
    items: list[DunningItem]


class Dunning(BaseModel):
    as_of: date
    late_fee_daily_rate: Decimal
    customers: list[DunningCustomer]
    totals: dict[str, Any] = Field(examples=[{"customers": 3, "overdue": "52000.00", "late_fee": "415.20"}])


class DueItem(BaseModel):
    order_id: UUID
    number: str
    order_owner_id: UUID
    instalment: int
    kind: str
    due_on: date
    open: Decimal


class DueCustomer(BaseModel):
    customer_id: UUID
    name: str | None = None
    owner_id: UUID | None = None
    due: Decimal
    first_due_on: date
    items: list[DueItem]


class UpcomingDues(BaseModel):
    as_of: date
    until: date
    customers: list[DueCustomer]
    totals: dict[str, Any] = Field(examples=[{"customers": 2, "due": "18000.00"}])


class CollectionPeriod(BaseModel):
    period_start: date
    period_end: date
    amount: Decimal
    items: int
    customers: int


class ExpectedCollections(BaseModel):
    as_of: date
    until: date
    period: Literal["week", "month"]
    periods: list[CollectionPeriod]
    overdue: dict[str, Any] = Field(description="Open and overdue on as_of (not in the periods).")
    total: Decimal
