"""Schemas of customers, contacts and activities."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_es.api.schemas.common import Money, Strict, Text

Kind = Literal["customer", "target", "potential", "partner", "competitor", "blacklist"]
ActivityKind = Literal["visit", "call", "email", "meeting", "other"]


class CustomerFields(Strict):
    short_name: Text | None = Field(
        None, max_length=50, examples=["慈穗"], description="简称: the name staff use day to day; searchable."
    )
    industry: Text | None = Field(None, max_length=100, examples=["纺织服装"])
    source: Text | None = Field(None, max_length=100, examples=["展会"])
    level: Text | None = Field(None, max_length=50, examples=["A"])
    country: Text | None = Field(None, max_length=100, examples=["中国"])
    province: Text | None = Field(None, max_length=100, examples=["浙江省"])
    city: Text | None = Field(None, max_length=100, examples=["宁波市"])
    address: Text | None = Field(None, max_length=300, examples=["宁波市慈溪市浒山街道青少年宫路 88 号"])
    phone: Text | None = Field(None, max_length=40, examples=["0574-63012345"])
    fax: Text | None = Field(None, max_length=40)
    email: Text | None = Field(None, max_length=254, examples=["sales@cisui.example.cn"])
    website: Text | None = Field(None, max_length=300, examples=["www.cisui.example.cn"])
    notes: Text | None = Field(None, max_length=4000)
    annual_revenue: Money | None = None
    credit_limit: Money | None = None
    employees: int | None = Field(None, ge=0, le=10_000_000)
    tags: list[Annotated[Text, Field(max_length=30)]] | None = Field(None, max_length=30, examples=[["外贸", "重点客户"]])


class CustomerCreate(CustomerFields):
    name: Text = Field(max_length=200, examples=["宁波慈穗贸业有限公司"])
    kind: Kind = Field(examples=["customer"])
    owner_id: UUID | None = Field(None, description="Responsible salesperson; defaults to the caller.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "宁波慈穗贸业有限公司",
                    "short_name": "慈穗",
                    "kind": "customer",
                    "industry": "纺织服装",
                    "province": "浙江省",
                    "city": "宁波市",
                    "phone": "0574-63012345",
                    "email": "sales@cisui.example.cn",
                    "tags": ["外贸"],
                    "credit_limit": "500000.00",
                }
            ]
        }
    )


class CustomerUpdate(CustomerFields):
    """Fields to change; omitted fields stay as they are, ``null`` clears a field."""

    name: Text | None = Field(None, max_length=200)
    kind: Kind | None = None


class CustomerReassign(Strict):
    owner_id: UUID
    reason: Text | None = Field(None, max_length=500, examples=["区域调整"])


class CustomerOut(BaseModel):
    id: UUID
    name: str
    kind: Kind
    owner_id: UUID
    short_name: str | None = None
    industry: str | None = None
    source: str | None = None
    level: str | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    address: str | None = None
    phone: str | None = None
    fax: str | None = None
    email: str | None = None
    website: str | None = None
    notes: str | None = None
    annual_revenue: Decimal | None = None
    credit_limit: Decimal | None = None
    employees: int | None = None
    tags: list[str] = []
    contact_count: int = 0
    activity_count: int = 0
    last_activity_at: datetime | None = None
    open_tickets: int | None = Field(
        None, description="Service tickets open or in progress (null without tickets:read, and with as_of)."
    )
    satisfaction: float | None = Field(
        None, description="Average satisfaction (1..5) of the customer's return visits (null without any, or without tickets:read)."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class ContactFields(Strict):
    title: Text | None = Field(None, max_length=100, examples=["采购经理"])
    department: Text | None = Field(None, max_length=100, examples=["采购部"])
    phone: Text | None = Field(None, max_length=40)
    mobile: Text | None = Field(None, max_length=40, examples=["13805741234"])
    email: Text | None = Field(None, max_length=254)
    address: Text | None = Field(None, max_length=300)
    hobbies: Text | None = Field(None, max_length=500, examples=["钓鱼"])
    birthday: date | None = Field(None, examples=["1982-05-17"])


class ContactCreate(ContactFields):
    name: Text = Field(max_length=100, examples=["王丽"])
    primary: bool | None = Field(None, description="Make this the primary contact; the first contact is primary by default.")


class ContactUpdate(ContactFields):
    name: Text | None = Field(None, max_length=100)
    primary: bool | None = None


class ContactOut(BaseModel):
    id: UUID
    customer_id: UUID
    name: str
    title: str | None = None
    department: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    address: str | None = None
    hobbies: str | None = None
    birthday: date | None = None
    primary: bool
    created_at: datetime
    updated_at: datetime


class ContactList(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None


class ActivityCreate(Strict):
    kind: ActivityKind
    occurred_at: AwareDatetime = Field(examples=["2026-11-20T10:30:00+08:00"])
    summary: Text = Field(min_length=1, max_length=4000, examples=["拜访采购部，确认明年框架协议需求"])
    contact_id: UUID | None = None
    opportunity_id: UUID | None = None
    next_step: Text | None = Field(None, max_length=1000, examples=["下周发送报价单"])


class ActivityOut(BaseModel):
    id: UUID
    customer_id: UUID
    kind: ActivityKind
    occurred_at: datetime
    summary: str
    contact_id: UUID | None = None
    opportunity_id: UUID | None = None
    next_step: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


class OverviewSection(BaseModel):
    """One kind of record of the customer: how many, and the latest few (other figures vary by kind)."""

    model_config = ConfigDict(extra="allow")
    count: int
    latest: list[dict[str, object]]


class CustomerOverview(BaseModel):
    """The customer's 360° view. A section appears when the caller may read that kind of record;
    it counts only the records within the caller's data scope."""

    model_config = ConfigDict(extra="allow")
    customer: CustomerOut
    contacts: OverviewSection
    activities: OverviewSection
    opportunities: OverviewSection | None = None
    tickets: OverviewSection | None = None
