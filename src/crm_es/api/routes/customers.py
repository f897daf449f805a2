"""Customers, their contacts, activities and history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from crm_es.aggregates.base import describe_event
from crm_es.api.deps import JSONAnswer, ContextDep, ExpectedVersionDep, LimitDep, Reader, RuntimeDep, reads, require
from crm_es.api.routes import answer
from crm_es.api.security import Principal
from crm_es.api.schemas.common import EventPage, Text, WriteResult, problems
from crm_es.api.schemas.customers import (
    ActivityCreate,
    ActivityPage,
    ContactCreate,
    ContactList,
    ContactOut,
    ContactUpdate,
    CustomerCreate,
    CustomerOverview,
    CustomerOut,
    CustomerPage,
    CustomerReassign,
    CustomerUpdate,
    Kind,
)
from crm_es.errors import NotFound
from crm_es.projections import customers, tickets

router = APIRouter(prefix="/customers", tags=["customers"])

WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)

CanRead = Annotated[Principal, require("customers:read")]
CanWrite = Annotated[Principal, require("customers:write")]
CanReassign = Annotated[Principal, require("customers:reassign")]
Read = Annotated[Reader, reads("customers")]


def _visible(cur: Any, principal: Principal, customer_id: UUID) -> Any:
    """The customer's row if it exists within the caller's data scope (else 404: a record
    outside the scope does not exist for them)."""
    row = customers.get_customer(cur, customer_id)
    if row is None:
        raise NotFound(f"no customer with id {customer_id}")
    principal.access.ensure_sees("customers", row["owner_id"], "customer", customer_id)
    return row


@router.post(
    "", status_code=201, response_model=WriteResult, operation_id="customers-create",
    summary="Register a customer", responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def create_customer(body: CustomerCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> WriteResult:
    written = runtime.app.customers.register(ctx=ctx, **body.model_dump(exclude_unset=True))
    return answer(response, written, "/api/v1/customers/{id}")


@router.get(
    "", response_model=CustomerPage, operation_id="customers-list", summary="List and search customers",
    responses=problems(401, 403, 422, 503),
)  # fmt: skip
def list_customers(
    principal: CanRead,
    reader: Read,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    owner_id: UUID | None = None,
    kind: Kind | None = None,
    province: Annotated[Text | None, Query(max_length=100)] = None,
    city: Annotated[Text | None, Query(max_length=100)] = None,
    industry: Annotated[Text | None, Query(max_length=100)] = None,
    q: Annotated[
        Text | None,
        Query(
            max_length=100,
            description="Search name, short name, pinyin initials (nbcs), phone numbers, contact names and "
            "phones: exact matches first, then prefix, contains, similar (Latin typos); newest first within "
            "each. Latin or digit queries of one or two characters match exact and prefix only.",
        ),
    ] = None,
) -> Any:
    with reader.cursor() as cur:
        page = customers.list_customers(
            cur, limit=limit, cursor=cursor, owner_id=owner_id, kind=kind, province=province,
            city=city, industry=industry, q_text=q.strip() if q and q.strip() else None,
            owners=principal.access.owners("customers"),
        )  # fmt: skip
        _with_service(cur, principal, page.items)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


def _with_service(cur: Any, principal: Principal, rows: list[dict[str, Any]]) -> None:
    """Each customer's open tickets and average satisfaction, from the tickets read model: one
    statement for the whole page (two index lookups per customer), joined at query time. Left
    out (null) for a caller who may not read tickets."""
    if not principal.access.allows("tickets:read"):
        for row in rows:
            row.update(open_tickets=None, satisfaction=None)
        return
    summaries = tickets.customer_summaries(cur, [row["id"] for row in rows])
    for row in rows:
        row.update(summaries.get(row["id"]) or {"open_tickets": 0, "satisfaction": None})


@router.get(
    "/{customer_id}", response_model=CustomerOut, operation_id="customers-get", summary="Read a customer",
    responses=problems(401, 403, 404, 422, 503),
)  # fmt: skip
def get_customer(
    customer_id: UUID,
    principal: CanRead,
    reader: Read,
    runtime: RuntimeDep,
    response: Response,
    as_of: Annotated[AwareDatetime | None, Query(description="Show the customer as it was at this moment.")] = None,
) -> Any:
    if as_of is not None:
        customer = runtime.app.customers.as_of(principal.context(), customer_id, as_of)
        return reader.answer({
            "id": customer.id, "kind": customer.kind, "owner_id": customer.owner_id,
            **{k: (list(v) if k == "tags" else v) for k, v in customer.profile.items()},
            "contact_count": len(customer.contacts), "activity_count": customer.activity_count,
            "created_at": customer.created_on, "updated_at": customer.modified_on, "version": customer.version,
        }, headers={"ETag": f'"{customer.version}"'})  # fmt: skip
    with reader.cursor() as cur:
        row = _visible(cur, principal, customer_id)
        _with_service(cur, principal, [row])
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


@router.patch(
    "/{customer_id}", response_model=WriteResult, operation_id="customers-update",
    summary="Change a customer's profile or kind", responses=WRITE_ERRORS,
)  # fmt: skip
def update_customer(
    customer_id: UUID, body: CustomerUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> WriteResult:  # fmt: skip
    written = runtime.app.customers.update(
        ctx=ctx, customer_id=customer_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written)


@router.post(
    "/{customer_id}/reassign", response_model=WriteResult, operation_id="customers-reassign",
    summary="Hand the customer to another owner", responses=WRITE_ERRORS,
)  # fmt: skip
def reassign_customer(
    customer_id: UUID, body: CustomerReassign, _: CanReassign, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> WriteResult:  # fmt: skip
    written = runtime.app.customers.reassign(
        ctx=ctx, customer_id=customer_id, owner_id=body.owner_id, reason=body.reason, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/{customer_id}/contacts", status_code=201, response_model=WriteResult, operation_id="customers-add-contact",
    summary="Add a contact", responses=WRITE_ERRORS,
)  # fmt: skip
def add_contact(
    customer_id: UUID, body: ContactCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> WriteResult:  # fmt: skip
    written = runtime.app.customers.add_contact(
        ctx=ctx, customer_id=customer_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written, f"/api/v1/customers/{customer_id}/contacts/{{id}}")


@router.get(
    "/{customer_id}/contacts", response_model=ContactList, operation_id="customers-list-contacts",
    summary="List a customer's contacts", responses=problems(401, 403, 404, 422, 503),
)  # fmt: skip
def list_contacts(customer_id: UUID, principal: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        _visible(cur, principal, customer_id)
        rows = customers.list_contacts(cur, customer_id)
    return reader.answer({"items": [_contact(r) for r in rows], "next_cursor": None})


@router.get(
    "/{customer_id}/contacts/{contact_id}", response_model=ContactOut, operation_id="customers-get-contact",
    summary="Read a contact", responses=problems(401, 403, 404, 422, 503),
)  # fmt: skip
def get_contact(customer_id: UUID, contact_id: UUID, principal: CanRead, reader: Read) -> Any:
    """The contact as the read model shows it; ``ETag`` is the customer's version (contacts are
    part of the customer record, so ``If-Match`` on a contact names the customer's version)."""
    with reader.cursor() as cur:
        customer = _visible(cur, principal, customer_id)
        row = customers.get_contact(cur, customer_id, contact_id)
    if row is None:
        raise NotFound(f"customer {customer_id} has no contact with id {contact_id}")
    return reader.answer(_contact(row), headers={"ETag": f'"{customer["version"]}"'})


def _contact(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["primary"] = row.pop("is_primary")
    return row


@router.patch(
    "/{customer_id}/contacts/{contact_id}", response_model=WriteResult, operation_id="customers-update-contact",
    summary="Change a contact", responses=WRITE_ERRORS,
)  # fmt: skip
def update_contact(
    customer_id: UUID, contact_id: UUID, body: ContactUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> WriteResult:  # fmt: skip
    written = runtime.app.customers.update_contact(
        ctx=ctx, customer_id=customer_id, contact_id=contact_id, expected_version=expected_version,
        **body.model_dump(exclude_unset=True),
    )  # fmt: skip
    return answer(response, written)


@router.post(
    "/{customer_id}/activities", status_code=201, response_model=WriteResult, operation_id="customers-log-activity",
    summary="Log a visit, call, email or meeting", responses=WRITE_ERRORS,
)  # fmt: skip
def log_activity(
    customer_id: UUID, body: ActivityCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> WriteResult:  # fmt: skip
    written = runtime.app.customers.log_activity(
        ctx=ctx, customer_id=customer_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written, f"/api/v1/customers/{customer_id}/activities")


@router.get(
    "/{customer_id}/overview", response_model=CustomerOverview, operation_id="customers-overview",
    summary="The customer's 360° view: contacts, activities, opportunities, orders, receivables, tickets",
    responses=problems(401, 403, 404, 422, 503),
)  # fmt: skip
def customer_overview(
    customer_id: UUID, principal: CanRead, reader: Annotated[Reader, reads("*")], runtime: RuntimeDep
) -> Any:
    """Each read model adds its sections (``Projection.overview``), filtered by the caller's
    permissions and data scope."""
    with reader.cursor() as cur:
        overview: dict[str, Any] = {"customer": _visible(cur, principal, customer_id)}
        for projection in runtime.read_side.projections.values():
            overview.update(projection.overview(cur, customer_id, principal.access))
    return reader.answer(overview)


@router.get(
    "/{customer_id}/activities", response_model=ActivityPage, operation_id="customers-list-activities",
    summary="A customer's activity records, newest first", responses=problems(401, 403, 404, 422, 503),
)  # fmt: skip
def list_activities(
    customer_id: UUID, principal: CanRead, reader: Read, limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:  # fmt: skip
    with reader.cursor() as cur:
        _visible(cur, principal, customer_id)
        page = customers.list_activities(cur, customer_id, limit=limit, cursor=cursor)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/{customer_id}/history", response_model=EventPage, operation_id="customers-history",
    summary="Every event of the customer and what is linked to it, in order",
    responses={**problems(401, 403, 404, 422), 200: {"content": {"application/x-ndjson": {}}}},
)  # fmt: skip
def customer_history(
    customer_id: UUID, principal: CanRead, runtime: RuntimeDep,
    format: Annotated[Literal["json", "jsonl"], Query(description="jsonl streams one event per line.")] = "json",  # noqa: A002
) -> Any:  # fmt: skip
    items = (describe_event(n.id, e) for n, e in runtime.customer_history(principal.context(), customer_id))
    if format == "jsonl":
        return StreamingResponse(_jsonl(items), media_type="application/x-ndjson")
    return JSONAnswer({"items": list(items)})


def _jsonl(items: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for item in items:
        yield orjson.dumps(item, default=str) + b"\n"
