"""Handovers (客户移交): what a departing user's successor took over, and its progress."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from crm_es.api.deps import ContextDep, Reader, RuntimeDep, reads, require
from crm_es.api.routes import answer
from crm_es.api.schemas.common import Strict, WriteResult, problems
from crm_es.api.security import Principal
from crm_es.errors import NotFound
from crm_es.projections import handovers

router = APIRouter(prefix="/handovers", tags=["users"])

Admin = Annotated[Principal, require("users:admin")]
Read = Annotated[Reader, reads("handovers")]


class HandoverItem(BaseModel):
    kind: str = Field(examples=["customer"])
    record_id: UUID
    status: str = Field(description="pending, moved or skipped")
    note: str | None = Field(None, description="Why an item was skipped.")
    to_user_id: UUID | None = None
    at: Any = None


class HandoverOut(BaseModel):
    id: UUID
    user_id: UUID = Field(description="The departing user.")
    to_user_id: UUID | None = Field(description="Who takes over; null while blocked.")
    status: str = Field(description="blocked (nobody to hand over to yet), moving, done")
    blocked: str | None = None
    total: int
    moved: int
    skipped: int
    started_at: Any
    finished_at: Any = None
    version: int
    items: list[HandoverItem] = []


class HandoverList(BaseModel):
    items: list[HandoverOut]
    next_cursor: str | None = None


class SuccessorChoice(Strict):
    successor_id: UUID


@router.get("", response_model=HandoverList, operation_id="handovers-list", summary="Handovers, newest first",
            responses=problems(401, 403, 422, 503))  # fmt: skip
def list_handovers(_: Admin, reader: Read, user_id: UUID | None = None) -> Any:
    with reader.cursor() as cur:
        items = handovers.list_handovers(cur, user_id=user_id)
    return reader.answer({"items": items, "next_cursor": None})


@router.get("/{handover_id}", response_model=HandoverOut, operation_id="handovers-get",
            summary="A handover: who takes over, progress, and what moved", responses=problems(401, 403, 404, 422, 503))  # fmt: skip
def get_handover(handover_id: UUID, _: Admin, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = handovers.get_handover(cur, handover_id)
    if row is None:
        raise NotFound(f"no handover with id {handover_id} (it starts moments after the departure)")
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


@router.post("/{handover_id}/successor", response_model=WriteResult, operation_id="handovers-choose-successor",
             summary="Choose who takes over (a blocked handover then resumes)",
             responses=problems(401, 403, 404, 409, 415, 422))  # fmt: skip
def choose_successor(handover_id: UUID, body: SuccessorChoice, _: Admin, ctx: ContextDep, runtime: RuntimeDep,
                     response: Response) -> Any:  # fmt: skip
    written = runtime.app.handovers.choose_successor(ctx=ctx, handover_id=handover_id, successor_id=body.successor_id)
    return answer(response, written)
