"""Schemas of users, departments and roles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from crm_es.api.schemas.common import Password, Strict, Text, WriteResult

Scope = Literal["own", "department", "department_tree", "all"]
PermissionName = Annotated[Text, Field(max_length=64, examples=["customers:read"])]
ResourceName = Annotated[Text, Field(max_length=64, examples=["tickets"])]


class DepartmentCreate(Strict):
    name: Text = Field(max_length=100, examples=["宁波销售部"])
    parent_id: UUID | None = None


class DepartmentUpdate(Strict):
    name: Text | None = Field(None, max_length=100)
    parent_id: UUID | None = Field(None, description="Move under another department; null makes it a top department.")
    manager_id: UUID | None = Field(None, description="The department's manager (上级); null clears it.")


class DepartmentOut(BaseModel):
    id: UUID
    name: str
    parent_id: UUID | None
    manager_id: UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


class DepartmentList(BaseModel):
    items: list[DepartmentOut]
    next_cursor: str | None = None


class RoleCreate(Strict):
    name: Text = Field(max_length=64, examples=["华东销售经理"])
    description: Text | None = Field(None, max_length=500)
    permissions: list[PermissionName] = Field(max_length=100, examples=[["customers:read", "customers:write", "reports:read"]])
    data_scope: Scope = Field(examples=["department_tree"])
    scopes: dict[ResourceName, Scope] | None = Field(
        None, max_length=50, description="A different scope for some resources, e.g. {\"tickets\": \"all\"}.", examples=[{"tickets": "all"}]
    )


class RoleUpdate(Strict):
    permissions: list[PermissionName] | None = Field(None, max_length=100)
    data_scope: Scope | None = None
    scopes: dict[ResourceName, Scope] | None = Field(None, max_length=50)


class RoleOut(BaseModel):
    id: UUID
    name: str
    description: str | None
    permissions: list[str]
    data_scope: Scope
    scopes: dict[str, Scope]
    created_at: datetime
    updated_at: datetime
    version: int


class RoleList(BaseModel):
    items: list[RoleOut]
    next_cursor: str | None = None


class PermissionOut(BaseModel):
    name: str
    description: str


class UserCreate(Strict):
    username: Text = Field(max_length=64, examples=["wangli"])
    password: Password = Field(min_length=8, max_length=256, examples=["initial-password-1"])
    display_name: Text = Field(max_length=100, examples=["王丽"])
    department_id: UUID | None = None
    role_ids: list[UUID] = Field(default_factory=list, max_length=20)


class UserUpdate(Strict):
    display_name: Text | None = Field(None, max_length=100)
    department_id: UUID | None = None
    role_ids: list[UUID] | None = Field(None, max_length=20)


class PasswordReset(Strict):
    password: Password = Field(min_length=8, max_length=256)


class Departure(Strict):
    successor_id: UUID | None = Field(
        None, description="Who takes over the departing user's customers and open business; default: their manager."
    )


class UserOut(BaseModel):
    id: UUID
    username: str
    display_name: str
    department_id: UUID | None
    role_ids: list[UUID]
    status: Literal["active", "disabled", "departed"]
    created_at: datetime
    updated_at: datetime
    version: int


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class DepartureResult(WriteResult):
    handover_id: UUID = Field(description="GET /api/v1/handovers/{handover_id} shows what moves to whom.")
