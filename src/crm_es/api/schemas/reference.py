"""Schemas of reference data (基础信息)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from crm_es.api.schemas.common import Strict, Text


class ReferenceItemCreate(Strict):
    key: Text = Field(max_length=50, description="What records store; for Chinese lists the value itself.", examples=["五金工具"])
    label: Text | None = Field(None, max_length=100, description="What screens show; default: the key.")
    parent_key: Text | None = Field(
        None, max_length=50, description="regions only: the province a new city belongs to (without it, a new province).",
        examples=["浙江省"],
    )


class ReferenceItemUpdate(Strict):
    label: Text = Field(max_length=100, examples=["纺织/服装"])


class ReferenceItemOut(BaseModel):
    key: str
    label: str
    retired: bool
    children: list[ReferenceItemOut] = Field(description="regions: the province's cities; empty for other lists.")


class ReferenceListOut(BaseModel):
    key: str = Field(examples=["industries"])
    title: str = Field(examples=["行业"])
    fixed_keys: bool = Field(description="The keys come from the API contract: items can only be relabelled.")
    nested: bool = Field(description="Items have sub-items (regions: provinces with their cities).")
    created_at: datetime
    updated_at: datetime
    version: int
    items: list[ReferenceItemOut]


class ReferenceLists(BaseModel):
    items: list[ReferenceListOut]
    next_cursor: str | None = None
