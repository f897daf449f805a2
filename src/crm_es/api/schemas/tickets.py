"""Schemas of service tickets, their service levels and the service report."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_es.api.schemas.common import Money, Strict, Text

Kind = Literal["complaint", "request", "consultation", "repair"]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["phone", "email", "web", "wechat", "visit", "other"]
Status = Literal["open", "in_progress", "resolved", "closed"]
Unit = Literal["working_days", "working_hours"]


class TicketCreate(Strict):
    customer_id: UUID
    kind: Kind = Field(description="complaint (投诉), request (请求), consultation (咨询) or repair (维修).")
    subject: Text = Field(min_length=1, max_length=200, examples=["注塑机液压缸漏油"])
    description: Text | None = Field(None, max_length=5000, examples=["客户反映 3 号机液压缸漏油, 影响生产"])
    priority: Priority = "normal"
    channel: Channel = Field("phone", description="How the customer reached the company.")
    contact_id: UUID | None = Field(None, description="A contact of the customer who reported it.")
    assignee_id: UUID | None = Field(None, description="Who handles it (an active user); nobody yet by default.")
    opened_at: AwareDatetime | None = Field(
        None, description="When the customer reported it (RFC 3339 with offset), if earlier than now; the due time counts from it."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "6f1c2b1e-8d1a-4c55-9a43-0c1f1d5c2b10",
                    "kind": "repair",
                    "subject": "注塑机液压缸漏油",
                    "priority": "high",
                    "channel": "phone",
                }
            ]
        }
    )


class SlaOut(BaseModel):
    unit: Unit
    amount: int
    calendar: Literal["chinese", "weekends_only"] = Field(
        description="chinese: every day counted is in the years the Chinese holiday calendar covers; weekends_only: "
        "some day was beyond them and counted by weekends alone (see note)."
    )
    note: str | None = Field(None, description="Set when the calendar fell back to weekends only.")


class TicketWritten(BaseModel):
    id: UUID
    version: int
    position: int
    due_at: datetime | None = Field(None, description="When the ticket is due (opening and reopening answer it).")
    sla: SlaOut | None = None


class Assign(Strict):
    assignee_id: UUID
    reason: Text | None = Field(None, max_length=500)


class Transfer(Strict):
    department_id: UUID | None = Field(None, description="The responsible department; alone, the ticket goes to its manager.")
    assignee_id: UUID | None = Field(None, description="The responsible person.")
    note: Text = Field(min_length=1, max_length=2000, examples=["属液压件质量问题, 转售后技术部处理"])


class Progress(Strict):
    note: Text = Field(min_length=1, max_length=5000, examples=["已电话联系客户, 明天上门检修"])


class Resolve(Strict):
    resolution: Text = Field(min_length=1, max_length=5000, examples=["更换液压缸密封圈, 试机正常"])
    resolved_by: UUID | None = Field(None, description="Who resolved it; the caller by default.")
    resolved_at: AwareDatetime | None = Field(None, description="When it was resolved; now by default.")


class Reopen(Strict):
    reason: Text | None = Field(None, max_length=2000, examples=["客户反映仍有漏油"])


class Close(Strict):
    note: Text | None = Field(None, max_length=2000)


class ReturnVisit(Strict):
    satisfaction: int = Field(
        ge=1, le=5, strict=True, description="1 不满意, 2 基本满意, 3 满意, 4 新奇, 5 惊喜 (the satisfaction_levels list)."
    )
    note: Text | None = Field(None, max_length=2000, examples=["客户对上门速度满意"])


class Charge(Strict):
    amount: Money
    note: Text | None = Field(None, max_length=500, examples=["上门服务费"])
    incurred_on: date | None = Field(None, description="The day of the fee or cost; today (company time zone) by default.")


class Escalate(Strict):
    reason: Text = Field(min_length=1, max_length=500, examples=["客户第三次来电催促"])
    to_user_id: UUID | None = Field(None, description="Whom to escalate to; the manager above the assignee by default.")


class TimelineEntry(BaseModel):
    version: int
    event_type: str = Field(examples=["Ticket.Transferred"])
    at: datetime = Field(description="When it happened.")
    recorded_at: datetime = Field(description="When crm-es recorded it.")
    actor: str | None
    data: dict[str, Any] = Field(description="The event's own fields.")


class TicketOut(BaseModel):
    id: UUID
    customer_id: UUID
    customer_name: str | None = None
    customer_owner_id: UUID
    contact_id: UUID | None = None
    kind: Kind
    channel: Channel
    subject: str
    description: str | None = None
    priority: Priority
    status: Status
    assignee_id: UUID | None = None
    department_id: UUID | None = None
    opened_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Open or in progress and past due now.")
    sla: SlaOut
    resolution: str | None = None
    resolved_by: UUID | None = None
    resolved_at: datetime | None = None
    resolution_working_days: float | None = Field(None, description="Working days from opening to resolution.")
    resolved_within_sla: bool | None = None
    closed_at: datetime | None = None
    reopened: int = Field(description="How often it was reopened.")
    satisfaction: int | None = Field(None, description="Of the latest return visit, 1..5.")
    visited_at: datetime | None = None
    fees: Decimal
    costs: Decimal
    escalation_level: int
    escalated_at: datetime | None = None
    escalated_to: UUID | None = None
    updated_at: datetime
    version: int


class TicketDetail(TicketOut):
    timeline: list[TimelineEntry]


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class SlaRule(Strict):
    kind: Kind | None = Field(None, description="The kind it applies to; null: any.")
    priority: Priority | None = Field(None, description="The priority it applies to; null: any.")
    unit: Unit = Field(description="working_days, or working_hours (hours of working days; days off stop the clock).")
    amount: int = Field(ge=1, le=2000, examples=[3])


class ServiceLevelsChange(Strict):
    rules: list[SlaRule] = Field(min_length=1, max_length=25)


class ServiceLevelsOut(BaseModel):
    rules: list[SlaRule]
    calendar: dict[str, Any] = Field(description="The years the Chinese holiday calendar covers, and what happens beyond.")
    version: int


class WeeklyLine(BaseModel):
    week: date = Field(description="The Monday of the week (company time zone).")
    kind: Kind
    opened: int
    resolved: int


class ResolutionLine(BaseModel):
    kind: Kind
    resolved: int
    avg_working_days: float | None
    p90_working_days: float | None = Field(description="90th percentile (continuous) of the working days to resolution.")
    within_sla_rate: float | None


class CustomerSatisfaction(BaseModel):
    customer_id: UUID
    name: str | None
    visits: int
    satisfaction: float | None


class AssigneeSatisfaction(BaseModel):
    assignee_id: UUID | None
    display_name: str | None = None
    visits: int
    satisfaction: float | None


class ChargesLine(BaseModel):
    month: str = Field(examples=["2026-11"])
    fees: Decimal
    costs: Decimal
    net: Decimal
    tickets: int


class ServiceTotals(BaseModel):
    opened: int
    resolved: int
    avg_working_days: float | None
    p90_working_days: float | None
    within_sla_rate: float | None
    visits: int
    satisfaction: float | None
    fees: Decimal
    costs: Decimal


class ServiceReport(BaseModel):
    weekly: list[WeeklyLine]
    resolution: list[ResolutionLine]
    satisfaction_by_customer: list[CustomerSatisfaction]
    satisfaction_by_assignee: list[AssigneeSatisfaction]
    charges: list[ChargesLine]
    totals: ServiceTotals
