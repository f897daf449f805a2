"""Orders (合同/订单), deliveries (出货), returns (退货), price adjustments, payment plans
(回款计划), payments (收款登记), invoices (发票), and the receivables reports: aging (帐龄分析),
dunning (催交欠款), upcoming dues (通知交款), expected collections (预计收款)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response

from crm_es.api.deps import ContextDep, ExpectedVersionDep, LimitDep, Reader, RuntimeDep, reads, require, require_any
from crm_es.api.export import FILE_RESPONSES, table_file
from crm_es.api.routes import answer
from crm_es.api.schemas.common import Text, WriteResult, problems
from crm_es.api.schemas.orders import (
    Aging,
    Cancel,
    Delivery,
    Dunning,
    ExpectedCollections,
    FromOpportunity,
    InstalmentPlan,
    Invoice,
    OrderCreate,
    OrderDetail,
    OrderPage,
    OrderReassign,
    OrderUpdate,
    Payment,
    PriceAdjustment,
    Return,
    Status,
    UpcomingDues,
)
from crm_es.api.security import Principal
from crm_es.errors import InvalidInput, NotFound
from crm_es.projections import orders, receivables

router = APIRouter(tags=["orders"])

WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)
READ_ERRORS = problems(401, 403, 404, 422, 503)
REPORT_ERRORS = {**problems(401, 403, 422, 503), **FILE_RESPONSES}

CanRead = Annotated[Principal, require("orders:read")]
CanWrite = Annotated[Principal, require("orders:write")]
CanPay = Annotated[Principal, require("payments:write")]
CanReport = Annotated[Principal, require_any("orders:read", "reports:read")]
Read = Annotated[Reader, reads("orders")]
ReadLedger = Annotated[Reader, reads("receivables")]
Format = Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")]


def _body(model: Any) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)


def _lines(lines: list[Any]) -> list[dict[str, Any]]:
    return [line.model_dump(exclude_none=True) for line in lines]


# Orders ----------------------------------------------------------------------------------------


@router.post(
    "/orders", status_code=201, response_model=WriteResult, operation_id="orders-create",
    summary="Draft an order (合同/订单) for a customer", responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def create_order(body: OrderCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    fields = _body(body)
    fields["lines"] = _lines(body.lines)
    written = runtime.app.orders.draft(ctx=ctx, **fields)
    return answer(response, written, "/api/v1/orders/{id}")


@router.post(
    "/opportunities/{opportunity_id}/order", status_code=201, response_model=WriteResult,
    operation_id="orders-create-from-opportunity", responses=WRITE_ERRORS,
    summary="Turn a won opportunity into a draft order (赢单转合同)",
)  # fmt: skip
def order_from_opportunity(
    opportunity_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response,
    body: FromOpportunity | None = None,
) -> Any:  # fmt: skip
    fields = _body(body) if body is not None else {}
    if body is not None and body.lines is not None:
        fields["lines"] = _lines(body.lines)
    written = runtime.app.orders.draft_from_opportunity(ctx=ctx, opportunity_id=opportunity_id, **fields)
    return answer(response, written, "/api/v1/orders/{id}")


@router.get(
    "/orders", response_model=OrderPage, operation_id="orders-list", responses=problems(401, 403, 422, 503),
    summary="List orders, newest first; q finds an order number or a customer name",
)  # fmt: skip
def list_orders(  # noqa: PLR0913 - one parameter per filter
    principal: CanRead,
    reader: Read,
    runtime: RuntimeDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    customer_id: UUID | None = None,
    owner_id: UUID | None = None,
    status: Status | None = None,
    created_from: Annotated[date | None, Query(alias="from", description="Drafted on or after this day.")] = None,
    created_to: Annotated[date | None, Query(alias="to", description="Drafted on or before this day.")] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Order number or customer name (拼音首字母 too).")] = None,
) -> Any:
    start, end = _days(runtime, created_from, created_to)
    with reader.cursor() as cur:
        page = orders.list_orders(
            cur, limit=limit, cursor=cursor, owner_id=owner_id, customer_id=customer_id, status=status,
            created_from=start, created_before=end, q_text=q.strip() if q and q.strip() else None,
            owners=principal.access.owners("orders"),
        )  # fmt: skip
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


def _days(runtime: Any, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Days ``first`` to ``last``, inclusive, as [start, end) moments in the company's zone."""
    if first is not None and last is not None and first > last:
        raise InvalidInput.on("from", "must not be after to")
    zone = ZoneInfo(runtime.settings.timezone)
    start = None if first is None else datetime.combine(first, time(), zone)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time(), zone)
    return start, end


@router.get(
    "/orders/{order_id}", response_model=OrderDetail, operation_id="orders-get", responses=READ_ERRORS,
    summary="Read an order: totals, amount paid and due, lines, instalments, deliveries, returns, payments, invoices",
)  # fmt: skip
def get_order(order_id: UUID, principal: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = orders.get_order(cur, order_id)
    if row is None:
        raise NotFound(f"no order with id {order_id}")
    principal.access.ensure_sees("orders", row["owner_id"], "order", order_id)
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


@router.patch(
    "/orders/{order_id}", response_model=WriteResult, operation_id="orders-update", responses=WRITE_ERRORS,
    summary="Change a draft's lines or payment terms",
)  # fmt: skip
def update_order(
    order_id: UUID, body: OrderUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    changes = _body(body)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput.on(field, "cannot be cleared")
    if body.lines is not None:
        changes["lines"] = _lines(body.lines)
    written = runtime.app.orders.update(ctx=ctx, order_id=order_id, expected_version=expected_version, **changes)
    return answer(response, written)


@router.post(
    "/orders/{order_id}/confirm", response_model=WriteResult, operation_id="orders-confirm", responses=WRITE_ERRORS,
    summary="Confirm: reserve the stock, start the receivable (due = today + payment terms); 409 beyond "
            "stock (short_items) or the customer's credit limit (credit_limit, outstanding, order_amount)",
)  # fmt: skip
def confirm(order_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
            response: Response) -> Any:  # fmt: skip
    return answer(response, runtime.app.orders.confirm(ctx=ctx, order_id=order_id, expected_version=expected_version))


@router.post(
    "/orders/{order_id}/instalments", response_model=WriteResult, operation_id="orders-plan-instalments",
    responses=WRITE_ERRORS, summary="Split what the order bills into instalments with their own due dates (回款计划)",
)  # fmt: skip
def plan_instalments(
    order_id: UUID, body: InstalmentPlan, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.plan_instalments(
        ctx=ctx, order_id=order_id, instalments=[i.model_dump() for i in body.instalments], expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/orders/{order_id}/deliveries", response_model=WriteResult, operation_id="orders-deliver", responses=WRITE_ERRORS,
    summary="Record a delivery (出货), partial or full: ships the reserved stock",
)  # fmt: skip
def deliver(
    order_id: UUID, body: Delivery, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.deliver(
        ctx=ctx, order_id=order_id, lines=_lines(body.lines), note=body.note, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/orders/{order_id}/returns", response_model=WriteResult, operation_id="orders-return", responses=WRITE_ERRORS,
    summary="Record a return (退货): stock back, a credit on the receivable",
)  # fmt: skip
def return_goods(
    order_id: UUID, body: Return, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.return_goods(
        ctx=ctx, order_id=order_id, lines=_lines(body.lines), reason=body.reason, restock=body.restock,
        expected_version=expected_version,
    )  # fmt: skip
    return answer(response, written)


@router.post(
    "/orders/{order_id}/price-adjustments", response_model=WriteResult, operation_id="orders-adjust-price",
    responses=WRITE_ERRORS,
    summary="Adjust a delivered line's price (the reverse flow): the difference flows back to the receivable",
)  # fmt: skip
def adjust_price(
    order_id: UUID, body: PriceAdjustment, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.adjust_price(ctx=ctx, order_id=order_id, expected_version=expected_version, **_body(body))
    return answer(response, written)


@router.post(
    "/orders/{order_id}/payments", status_code=201, response_model=WriteResult, operation_id="orders-record-payment",
    responses=WRITE_ERRORS,
    summary="Record a payment (收款登记): settles instalments oldest first; beyond what is owed it is the customer's credit",
)  # fmt: skip
def record_payment(
    order_id: UUID, body: Payment, _: CanPay, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.record_payment(ctx=ctx, order_id=order_id, expected_version=expected_version, **_body(body))
    return answer(response, written, f"/api/v1/orders/{order_id}")


@router.post(
    "/orders/{order_id}/invoices", status_code=201, response_model=WriteResult, operation_id="orders-record-invoice",
    responses=WRITE_ERRORS, summary="Record an invoice (发票) issued against the order",
)  # fmt: skip
def record_invoice(
    order_id: UUID, body: Invoice, _: CanPay, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.record_invoice(ctx=ctx, order_id=order_id, expected_version=expected_version, **_body(body))
    return answer(response, written, f"/api/v1/orders/{order_id}")


@router.post(
    "/orders/{order_id}/cancel", response_model=WriteResult, operation_id="orders-cancel", responses=WRITE_ERRORS,
    summary="Cancel before delivery: releases reservations; payments stay as the customer's credit",
)  # fmt: skip
def cancel(
    order_id: UUID, body: Cancel, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.cancel(ctx=ctx, order_id=order_id, reason=body.reason, expected_version=expected_version)
    return answer(response, written)


@router.post(
    "/orders/{order_id}/reassign", response_model=WriteResult, operation_id="orders-reassign", responses=WRITE_ERRORS,
    summary="Hand the order to another owner",
)  # fmt: skip
def reassign(
    order_id: UUID, body: OrderReassign, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.orders.reassign(
        ctx=ctx, order_id=order_id, owner_id=body.owner_id, reason=body.reason, expected_version=expected_version
    )
    return answer(response, written)


# Receivables reports -----------------------------------------------------------------------------

AsOf = Annotated[date | None, Query(description="The business day (company time zone); today by default. "
                                               "Past or future; a payment received on it counts.")]  # fmt: skip
Rate = Annotated[Decimal | None, Query(ge=0, lt=1, decimal_places=6,
                                       description="Late fee per day overdue (share of the overdue amount); "
                                                   "CRM_ES_LATE_FEE_DAILY_RATE by default.")]  # fmt: skip


def _filters(principal: Principal, owner_id: UUID | None, customer_id: UUID | None) -> dict[str, Any]:
    return {"owners": principal.access.owners("orders"), "owner_id": owner_id, "customer_id": customer_id}


def _today(runtime: Any, as_of: date | None) -> date:
    return as_of if as_of is not None else runtime.app.today()


def _rate(runtime: Any, rate: Decimal | None) -> Decimal:
    return runtime.settings.late_fee_daily_rate if rate is None else rate


AGING_COLUMNS = ("customer_id", "name", *receivables.BUCKETS, "total", "credit", "late_fee")


@router.get(
    "/reports/aging", response_model=Aging, operation_id="reports-aging", tags=["reports"], responses=REPORT_ERRORS,
    summary="Receivables aging (帐龄分析) as of any day, with late fees (滞纳金); CSV or XLSX with format",
)  # fmt: skip
def aging(  # noqa: PLR0913
    principal: CanReport, reader: ReadLedger, runtime: RuntimeDep, as_of: AsOf = None, owner_id: UUID | None = None,
    customer_id: UUID | None = None, late_fee_rate: Rate = None, format: Format = "json",  # noqa: A002
) -> Any:  # fmt: skip
    with reader.cursor() as cur:
        data = receivables.aging(cur, as_of=_today(runtime, as_of), rate=_rate(runtime, late_fee_rate),
                                 **_filters(principal, owner_id, customer_id))  # fmt: skip
    if format != "json":
        rows = [[c[k] for k in AGING_COLUMNS] for c in data["customers"]]
        rows.append([None, "total", *(data["totals"][k] for k in AGING_COLUMNS[2:])])
        rows.append(["as_of", data["as_of"].isoformat()])
        return table_file(format, "aging", AGING_COLUMNS, rows, position=reader.position)
    return reader.answer(data)


DUNNING_COLUMNS = ("customer_id", "name", "owner_id", "number", "instalment", "due_on", "days_overdue", "open", "late_fee")


@router.get(
    "/reports/dunning", response_model=Dunning, operation_id="reports-dunning", tags=["reports"],
    responses=REPORT_ERRORS,
    summary="The dunning list (催交欠款): customers with overdue amounts, their owner, items and late fees",
)  # fmt: skip
def dunning(  # noqa: PLR0913
    principal: CanReport, reader: ReadLedger, runtime: RuntimeDep, as_of: AsOf = None, owner_id: UUID | None = None,
    customer_id: UUID | None = None, min_days: Annotated[int, Query(ge=1, le=36500)] = 1, late_fee_rate: Rate = None,
    format: Format = "json",  # noqa: A002
) -> Any:  # fmt: skip
    with reader.cursor() as cur:
        data = receivables.dunning(cur, as_of=_today(runtime, as_of), rate=_rate(runtime, late_fee_rate),
                                   min_days=min_days, **_filters(principal, owner_id, customer_id))  # fmt: skip
    if format != "json":
        rows = [[c["customer_id"], c["name"], c["owner_id"], i["number"], i["instalment"], i["due_on"].isoformat(),
                 i["days_overdue"], i["open"], i["late_fee"]] for c in data["customers"] for i in c["items"]]  # fmt: skip
        rows.append([None, "total", None, None, None, None, None, data["totals"]["overdue"], data["totals"]["late_fee"]])
        return table_file(format, "dunning", DUNNING_COLUMNS, rows, position=reader.position)
    return reader.answer(data)


DUE_COLUMNS = ("customer_id", "name", "owner_id", "number", "instalment", "due_on", "open")


@router.get(
    "/reports/upcoming-dues", response_model=UpcomingDues, operation_id="reports-upcoming-dues", tags=["reports"],
    responses=REPORT_ERRORS, summary="What falls due in the next days (通知交款), by customer, to notify them in time",
)  # fmt: skip
def upcoming_dues(  # noqa: PLR0913
    principal: CanReport, reader: ReadLedger, runtime: RuntimeDep, as_of: AsOf = None,
    days: Annotated[int, Query(ge=1, le=366, description="The window after as_of.")] = 30,
    owner_id: UUID | None = None, customer_id: UUID | None = None, format: Format = "json",  # noqa: A002
) -> Any:  # fmt: skip
    with reader.cursor() as cur:
        data = receivables.upcoming(cur, as_of=_today(runtime, as_of), days=days, **_filters(principal, owner_id, customer_id))
    if format != "json":
        rows = [[c["customer_id"], c["name"], c["owner_id"], i["number"], i["instalment"], i["due_on"].isoformat(),
                 i["open"]] for c in data["customers"] for i in c["items"]]  # fmt: skip
        rows.append([None, "total", None, None, None, None, data["totals"]["due"]])
        return table_file(format, "upcoming-dues", DUE_COLUMNS, rows, position=reader.position)
    return reader.answer(data)


EXPECTED_COLUMNS = ("period_start", "period_end", "amount", "items", "customers")


@router.get(
    "/reports/expected-collections", response_model=ExpectedCollections, operation_id="reports-expected-collections",
    tags=["reports"], responses=REPORT_ERRORS,
    summary="Expected collections (预计收款) per week or month of the due dates; overdue apart",
)  # fmt: skip
def expected_collections(  # noqa: PLR0913
    principal: CanReport, reader: ReadLedger, runtime: RuntimeDep, as_of: AsOf = None,
    to: Annotated[date | None, Query(description="Due on or before this day; 90 days after as_of by default.")] = None,
    period: Literal["week", "month"] = "month", owner_id: UUID | None = None, customer_id: UUID | None = None,
    format: Format = "json",  # noqa: A002
) -> Any:  # fmt: skip
    start = _today(runtime, as_of)
    until = to if to is not None else start + timedelta(days=90)
    if until < start:
        raise InvalidInput.on("to", "must not be before as_of")
    if (until - start).days > 3660:
        raise InvalidInput.on("to", "must be within ten years of as_of")
    with reader.cursor() as cur:
        data = receivables.expected(cur, as_of=start, until=until, period=period, **_filters(principal, owner_id, customer_id))
    if format != "json":
        rows = [[p[k].isoformat() if isinstance(p[k], date) else p[k] for k in EXPECTED_COLUMNS] for p in data["periods"]]
        rows.append(["overdue", None, data["overdue"]["amount"], data["overdue"]["items"], None])
        rows.append(["total", None, data["total"], None, None])
        return table_file(format, "expected-collections", EXPECTED_COLUMNS, rows, position=reader.position)
    return reader.answer(data)
