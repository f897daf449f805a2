"""Schemas of opportunities, the pipeline's stages and the funnel."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_es.api.schemas.common import Money, Strict, Text

Status = Literal["open", "won", "lost"]
StageKey = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$", examples=["proposal"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


class OpportunityCreate(Strict):
    customer_id: UUID
    title: Text = Field(min_length=1, max_length=200, examples=["慈溪工厂 2027 年度面料采购"])
    amount: Money
    currency: Currency = "CNY"
    expected_close_date: date = Field(examples=["2027-03-31"])
    owner_id: UUID | None = Field(None, description="Responsible salesperson; defaults to the caller.")
    stage: StageKey | None = Field(None, description="A stage of the pipeline; the first one by default.")
    source: Text | None = Field(None, max_length=100, examples=["展会"], description="A key of the sources list.")
    competitor_ids: list[UUID] | None = Field(None, max_length=20, description="Customers of kind competitor in the running.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "6f1c2b1e-8d1a-4c55-9a43-0c1f1d5c2b10",
                    "title": "慈溪工厂 2027 年度面料采购",
                    "amount": "120000.00",
                    "expected_close_date": "2027-03-31",
                    "stage": "qualified",
                }
            ]
        }
    )


class OpportunityUpdate(Strict):
    """Fields to change; omitted fields stay as they are."""

    title: Text | None = Field(None, min_length=1, max_length=200)
    amount: Money | None = None
    expected_close_date: date | None = None


class StageMove(Strict):
    stage: StageKey


class Win(Strict):
    amount: Money | None = Field(None, description="The final amount; the current amount if not given.")


class Lose(Strict):
    reason: Text = Field(min_length=1, max_length=100, examples=["价格过高"], description="A key of the lost_reasons list.")
    competitor_id: UUID | None = Field(None, description="The competitor (a customer of kind competitor) that won.")
    note: Text | None = Field(None, max_length=2000, examples=["对方报价低 8%"])


class Reopen(Strict):
    stage: StageKey | None = Field(None, description="Where to reopen; the stage it was closed from by default.")


class OpportunityReassign(Strict):
    owner_id: UUID
    reason: Text | None = Field(None, max_length=500, examples=["区域调整"])


class StageStay(BaseModel):
    stage: str
    entered_at: datetime
    left_at: datetime | None = None
    amount: Decimal = Field(description="The amount when the stage was entered (for won: the final amount).")


class OpportunityOut(BaseModel):
    id: UUID
    customer_id: UUID
    customer_name: str | None = None
    title: str
    amount: Decimal
    currency: str
    expected_close_date: date
    owner_id: UUID
    source: str | None = None
    stage: str
    status: Status
    competitor_ids: list[UUID] = []
    lost_reason: str | None = None
    lost_competitor_id: UUID | None = None
    lost_note: str | None = None
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class QuoteLine(Strict):
    stock_item_id: UUID | None = Field(None, description="The stock item sold; or describe the line instead.")
    description: Text | None = Field(None, max_length=500, examples=["安装调试服务"])
    quantity: Decimal = Field(gt=0, lt=Decimal("1e9"), decimal_places=4, examples=["120"])
    unit_price: Money
    discount_rate: Decimal = Field(
        Decimal(0), ge=0, le=1, decimal_places=4, examples=["0.1"],
        description="The share taken off the price: 0.1 is 10% off (九折).",
    )  # fmt: skip


class QuoteCreate(Strict):
    lines: list[QuoteLine] = Field(min_length=1, max_length=200)
    valid_until: date = Field(examples=["2027-01-31"], description="The last day the quote holds (today or later).")
    note: Text | None = Field(None, max_length=2000)


class QuoteWritten(BaseModel):
    id: UUID
    version: int
    position: int
    number: int = Field(description="The quote's number on the opportunity: 1, 2, …")


class QuoteLineOut(BaseModel):
    stock_item_id: UUID | None = None
    description: str | None = None
    quantity: Decimal
    unit_price: Decimal
    discount_rate: Decimal
    total: Decimal = Field(description="quantity × unit_price × (1 − discount_rate), rounded half up to the cent.")


class QuoteOut(BaseModel):
    number: int
    lines: list[QuoteLineOut]
    total: Decimal
    valid_until: date
    note: str | None = None
    issued_at: datetime
    accepted: bool
    accepted_at: datetime | None = None


class TimelineActivity(BaseModel):
    id: UUID
    customer_id: UUID
    kind: str
    occurred_at: datetime
    summary: str
    contact_id: UUID | None = None
    next_step: str | None = None
    recorded_by: str | None = None


class OpportunityDetail(OpportunityOut):
    stage_history: list[StageStay]
    quotes: list[QuoteOut]
    activities: list[TimelineActivity] = Field(description="Activities logged on the opportunity, newest first.")


class OpportunityPage(BaseModel):
    items: list[OpportunityOut]
    next_cursor: str | None


class Stage(Strict):
    key: StageKey
    name: Text = Field(min_length=1, max_length=50, examples=["方案报价"])
    probability: int = Field(ge=0, le=100, examples=[60], description="Chance of a sale at this stage, in percent.")


class StagesChange(Strict):
    stages: list[Stage] = Field(min_length=1, max_length=20)


class Stranded(BaseModel):
    id: UUID
    title: str
    stage: str
    owner_id: UUID
    customer_id: UUID


class StrandedOut(Stranded):
    amount: Decimal


class StrandedReport(BaseModel):
    stages: list[str] = Field(description="The pipeline's stages now.")
    items: list[StrandedOut] = Field(description="Open opportunities on any other stage, oldest first.")


class StagesWritten(BaseModel):
    id: UUID
    version: int
    position: int
    removed: list[str] = Field(description="Keys of the stages the change removed.")
    stranded: list[Stranded] = Field(
        description="Open opportunities (within the caller's scope) still on a removed stage; they are never moved silently."
    )


class FunnelStage(BaseModel):
    stage: str
    name: str
    probability: int
    count: int = Field(description="Open opportunities in the stage at as_of.")
    amount: Decimal = Field(description="Their amounts at as_of.")
    weighted_amount: Decimal = Field(description="amount × probability / 100.")
    reached: int = Field(description="Opportunities that had reached this stage or a later one (or won) by as_of.")
    conversion_rate: float | None = Field(description="Share of those that went on to a later stage or won; null when none reached it.")
    avg_days_in_stage: float | None = Field(description="Average days an opportunity spent in the stage (until as_of); null when none did.")


class Totals(BaseModel):
    count: int
    amount: Decimal


class Funnel(BaseModel):
    as_of: datetime
    stages: list[FunnelStage]
    won: Totals
    lost: Totals
    win_rate: float | None = Field(description="won / (won + lost); null when none closed.")


class ForecastMonth(BaseModel):
    month: str = Field(examples=["2027-03"], description="Expected close month.")
    count: int
    amount: Decimal
    weighted_amount: Decimal = Field(description="Sum of amount × the probability of each one's stage / 100.")


class ForecastTotal(BaseModel):
    count: int
    amount: Decimal
    weighted_amount: Decimal


class Forecast(BaseModel):
    months: list[ForecastMonth]
    total: ForecastTotal


class LostReason(BaseModel):
    reason: str = Field(examples=["价格过高"], description="A key of the lost_reasons list.")
    count: int
    amount: Decimal
    share: float | None = Field(description="Share of the lost opportunities.")


class LostReasons(BaseModel):
    reasons: list[LostReason]
    total: Totals


class CompetitorLine(BaseModel):
    competitor_id: UUID
    name: str | None
    opportunities: int = Field(description="Opportunities it was named on, or lost to it.")
    open: int
    won: Totals = Field(description="Won against it.")
    lost: Totals = Field(description="Lost, to anyone, with it in the running.")
    lost_to_them: Totals = Field(description="Lost to it (it won the deal).")
    win_rate: float | None = Field(description="won / (won + lost); null when none closed.")


class Competitors(BaseModel):
    items: list[CompetitorLine]


class WinRate(BaseModel):
    owner_id: UUID
    owner_name: str | None
    won: int
    won_amount: Decimal
    lost: int
    lost_amount: Decimal
    win_rate: float | None = Field(description="won / (won + lost); null when none closed.")


class WinRates(BaseModel):
    owners: list[WinRate]


class TargetsChange(Strict):
    months: dict[str, Money] = Field(
        min_length=1, max_length=12, examples=[{"1": "500000.00", "2": "300000.00"}],
        description="Month (1 to 12) → the amount to win that month; months not named keep their target.",
    )  # fmt: skip


class TargetMonth(BaseModel):
    month: int
    target: Decimal | None = Field(description="null: no target set for the month.")
    won_amount: Decimal
    completion_rate: float | None = Field(description="won_amount / target; null without a target (or a zero one).")


class TargetSubject(BaseModel):
    subject_type: Literal["user", "department"]
    subject_id: UUID
    name: str | None
    months: list[TargetMonth]
    total: TargetMonth = Field(description="The year: targets and amounts won summed (month is 0).")


class TargetsReport(BaseModel):
    year: int
    subjects: list[TargetSubject]
