"""Stock (库存管理): items, receipts, issues, stocktakes, stock on its way, reservations for
orders, categories, warehouses, and the stock reports (alerts, valuation, ABC).

Stock items have no owner: everyone with ``stock:read`` sees every item, company-wide, and
everyone with ``stock:write`` changes them (docs/stock.md). The stock reports are open to
``stock:read`` or ``reports:read``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response

from crm_es.api.deps import ContextDep, ExpectedVersionDep, JSONAnswer, LimitDep, Reader, RuntimeDep, reads, require, require_any
from crm_es.api.export import FILE_RESPONSES, table_file
from crm_es.api.routes import answer
from crm_es.api.schemas.common import Text, WriteResult, problems
from crm_es.api.schemas.stock import (
    AbcReport,
    AlertFilter,
    AlertReport,
    Arrival,
    CategoryCreate,
    CategoryList,
    CategoryOut,
    CategoryUpdate,
    InboundCancel,
    InboundCreate,
    InboundKind,
    InboundOut,
    InboundPage,
    Issue,
    MovementKind,
    MovementPage,
    OrderHoldings,
    OrderRelease,
    OrderReservation,
    OrderReturn,
    OrderShipment,
    OrderStockWritten,
    Receipt,
    StockItemCreate,
    StockItemDetail,
    StockItemPage,
    StockItemUpdate,
    Stocktake,
    Valuation,
    WarehouseCreate,
    WarehouseList,
    WarehouseOut,
    WarehouseUpdate,
)
from crm_es.api.security import Principal
from crm_es.app.stock import Touched
from crm_es.errors import InvalidInput, NotFound
from crm_es.projections import stock
from crm_es.projections.paging import Page

router = APIRouter(tags=["stock"])

WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)
CREATE_ERRORS = problems(401, 403, 409, 415, 422)
READ_ERRORS = problems(401, 403, 404, 422, 503)
LIST_ERRORS = {**problems(401, 403, 422, 503), **FILE_RESPONSES}

CanRead = Annotated[Principal, require("stock:read")]
CanWrite = Annotated[Principal, require("stock:write")]
CanReport = Annotated[Principal, require_any("stock:read", "reports:read")]
Read = Annotated[Reader, reads("stock")]
Format = Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file (every matching row).")]
CategoryParam = Annotated[
    Text | None, Query(max_length=400, description="A category id or path (五金/紧固件): it and every category below it.")
]

EXPORT_MAX = 100_000
"""Rows a list exports at most (its pages, one after the other)."""

ITEM_EXPORT = (
    "sku", "name", "category", "warehouse_code", "unit", "on_hand", "reserved", "available", "in_transit",
    "reorder_level", "max_level", "alert", "average_cost", "value", "id",
)  # fmt: skip


def _categories(runtime: Any, cur: Any, category: str | None) -> list[UUID] | None:
    """The category named (by id or path) and every one below it; 422 for an unknown one."""
    return stock.category_filter(cur, runtime.app.stock.resolve_category(category)) if category else None


def _all_pages(fetch: Callable[[str | None], Page]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while len(rows) < EXPORT_MAX:
        page = fetch(cursor)
        rows += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return rows[:EXPORT_MAX]


def _file(fmt: str, name: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], reader: Reader) -> Response:
    return table_file(fmt, name, columns, [[_cell(row.get(c)) for c in columns] for row in rows], position=reader.position)


def _cell(value: Any) -> Any:
    if isinstance(value, (UUID, date)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    return value


# Stock items -----------------------------------------------------------------------------------------


@router.post(
    "/stock-items", status_code=201, response_model=WriteResult, operation_id="stock-create-item",
    summary="Create a stock item (SKU unique across items)", responses=CREATE_ERRORS,
)  # fmt: skip
def create_item(body: StockItemCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    written = runtime.app.stock.create_item(ctx=ctx, **body.model_dump(exclude_unset=True))
    return answer(response, written, "/api/v1/stock-items/{id}")


@router.get(
    "/stock-items", response_model=StockItemPage, operation_id="stock-list-items", responses=LIST_ERRORS,
    summary="The stock list: on hand, reserved, available, in transit, value and alert; by SKU, or best match for q",
)  # fmt: skip
def list_items(  # noqa: PLR0913 - one parameter per filter
    _: CanRead,
    reader: Read,
    runtime: RuntimeDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    category: CategoryParam = None,
    warehouse_id: UUID | None = None,
    alert: Annotated[AlertFilter | None, Query(description="low, over, any (either) or none.")] = None,
    q: Annotated[Text | None, Query(max_length=100, description="SKU or name: exact, prefix, contains (中文 too), pinyin initials.")] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    text = q.strip() if q and q.strip() else None
    with reader.cursor() as cur:
        categories = _categories(runtime, cur, category)

        def fetch(page_cursor: str | None, size: int = limit) -> Page:
            return stock.list_items(cur, limit=size, cursor=page_cursor, categories=categories, warehouse_id=warehouse_id,
                                    alert=alert, q_text=text)  # fmt: skip

        if format != "json":
            return _file(format, "stock", ITEM_EXPORT, _all_pages(lambda c: fetch(c, 500)), reader)
        page = fetch(cursor)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/stock-items/in-transit", response_model=InboundPage, operation_id="stock-in-transit", responses=LIST_ERRORS,
    summary="Stock outside the warehouse (库外库存): inbound shipments on their way, soonest expected first",
)  # fmt: skip
def in_transit(  # noqa: PLR0913
    _: CanRead,
    reader: Read,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    stock_item_id: UUID | None = None,
    warehouse_id: UUID | None = None,
    kind: InboundKind | None = None,
    status: Annotated[Literal["open", "arrived", "cancelled"], Query(description="open (on its way) by default.")] = "open",
    format: Format = "json",  # noqa: A002
) -> Any:
    with reader.cursor() as cur:

        def fetch(page_cursor: str | None, size: int = limit) -> Page:
            return stock.list_inbound(cur, limit=size, cursor=page_cursor, item_id=stock_item_id,
                                      warehouse_id=warehouse_id, kind=kind, status=status)  # fmt: skip

        if format != "json":
            columns = ("sku", "name", "warehouse_code", "kind", "quantity", "arrived", "remaining", "unit", "unit_cost",
                       "remaining_value", "expected_on", "reference", "status", "id", "item_id")  # fmt: skip
            return _file(format, "in-transit", columns, _all_pages(lambda c: fetch(c, 500)), reader)
        page = fetch(cursor)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


def _touched(touched: Touched) -> JSONAnswer:
    return JSONAnswer({"id": str(touched.written.id), "position": touched.written.position,
                       "items": [{"id": str(i), "version": v} for i, v in touched.items]})  # fmt: skip


def _lines(lines: Sequence[Any]) -> list[tuple[UUID, Decimal]]:
    return [(line.stock_item_id, line.quantity) for line in lines]


@router.post(
    "/stock-items/reservations", response_model=OrderStockWritten, operation_id="stock-reserve",
    summary="Reserve stock for an order (all lines or none; 409 names each short item), e.g. an order taken by phone",
    responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def reserve(body: OrderReservation, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep) -> Any:
    return _touched(runtime.app.stock.reserve_for_order(ctx=ctx, order_id=body.order_id, lines=_lines(body.lines)))


@router.get(
    "/stock-items/reservations", response_model=OrderHoldings, operation_id="stock-order-reservations",
    summary="What an order holds reserved, item by item", responses=problems(401, 403, 422, 503),
)  # fmt: skip
def order_reservations(order_id: UUID, _: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        return reader.answer({"order_id": order_id, "items": stock.reservations_of_order(cur, order_id)})


@router.post(
    "/stock-items/releases", response_model=OrderStockWritten, operation_id="stock-release",
    summary="Release what an order holds reserved on these items", responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def release(body: OrderRelease, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep) -> Any:
    return _touched(runtime.app.stock.release_for_order(ctx=ctx, order_id=body.order_id, stock_item_ids=body.stock_item_ids))


@router.post(
    "/stock-items/shipments", response_model=OrderStockWritten, operation_id="stock-ship",
    summary="Ship an order's lines (出货): from its reservation first, beyond it from what is available",
    responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def ship(body: OrderShipment, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep) -> Any:
    return _touched(runtime.app.stock.ship_for_order(ctx=ctx, order_id=body.order_id, lines=_lines(body.lines)))


@router.post(
    "/stock-items/returns", response_model=OrderStockWritten, operation_id="stock-return",
    summary="Goods of an order come back (退货): restocked at the average cost, or scrapped",
    responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def take_back(body: OrderReturn, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep) -> Any:
    return _touched(runtime.app.stock.return_for_order(
        ctx=ctx, order_id=body.order_id, lines=_lines(body.lines), restock=body.restock, reason=body.reason))  # fmt: skip


@router.get(
    "/stock-items/{item_id}", response_model=StockItemDetail, operation_id="stock-get-item", responses=READ_ERRORS,
    summary="A stock item with the orders holding reservations on it and its inbound shipments",
)  # fmt: skip
def get_item(item_id: UUID, _: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = stock.get_item(cur, item_id)
    if row is None:
        raise NotFound(f"no stock item with id {item_id}")
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


@router.patch(
    "/stock-items/{item_id}", response_model=WriteResult, operation_id="stock-update-item", responses=WRITE_ERRORS,
    summary="Rename, recategorise, or change the reorder and maximum levels",
)  # fmt: skip
def update_item(
    item_id: UUID, body: StockItemUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise InvalidInput.on("name", "cannot be cleared")
    written = runtime.app.stock.update_item(ctx=ctx, item_id=item_id, expected_version=expected_version, **changes)
    return answer(response, written)


@router.post(
    "/stock-items/{item_id}/receipts", response_model=WriteResult, operation_id="stock-receive", responses=WRITE_ERRORS,
    summary="Receive stock (入库) at a unit cost: a new moving weighted-average cost",
)  # fmt: skip
def receive(
    item_id: UUID, body: Receipt, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.stock.receive(ctx=ctx, item_id=item_id, expected_version=expected_version,
                                        **body.model_dump(exclude_unset=True))  # fmt: skip
    return answer(response, written)


@router.post(
    "/stock-items/{item_id}/issues", response_model=WriteResult, operation_id="stock-issue", responses=WRITE_ERRORS,
    summary="Issue stock (出库) for a reason, from what is available (409 beyond it)",
)  # fmt: skip
def issue(
    item_id: UUID, body: Issue, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.stock.issue(ctx=ctx, item_id=item_id, quantity=body.quantity, reason=body.reason,
                                      expected_version=expected_version)  # fmt: skip
    return answer(response, written)


@router.post(
    "/stock-items/{item_id}/stocktakes", response_model=WriteResult, operation_id="stock-count", responses=WRITE_ERRORS,
    summary="Record a stocktake (盘点): the adjustment is the difference from on hand",
)  # fmt: skip
def count(
    item_id: UUID, body: Stocktake, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.stock.count(ctx=ctx, item_id=item_id, expected_version=expected_version,
                                      **body.model_dump(exclude_unset=True))  # fmt: skip
    return answer(response, written)


@router.get(
    "/stock-items/{item_id}/movements", response_model=MovementPage, operation_id="stock-movements", responses=LIST_ERRORS,
    summary="The item's movement ledger, newest first: every change of on hand, reserved and in transit",
)  # fmt: skip
def list_movements(  # noqa: PLR0913
    item_id: UUID,
    _: CanRead,
    reader: Read,
    runtime: RuntimeDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    kind: MovementKind | None = None,
    period_from: Annotated[date | None, Query(alias="from", description="On or after this day.")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="On or before this day.")] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    since, before = _period(runtime, period_from, period_to)
    with reader.cursor() as cur:
        if stock.get_item(cur, item_id) is None:
            raise NotFound(f"no stock item with id {item_id}")

        def fetch(page_cursor: str | None, size: int = limit) -> Page:
            return stock.movements(cur, item_id, limit=size, cursor=page_cursor, kind=kind, since=since, before=before)

        if format != "json":
            columns = ("at", "kind", "on_hand_change", "reserved_change", "in_transit_change", "on_hand", "reserved",
                       "in_transit", "unit_cost", "value_change", "average_cost", "order_id", "reference", "reason",
                       "actor", "version", "position")  # fmt: skip
            rows = [{**r, "at": r["at"].isoformat()} for r in _all_pages(lambda c: fetch(c, 500))]
            return _file(format, "movements", columns, rows, reader)
        page = fetch(cursor)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


@router.post(
    "/stock-items/{item_id}/inbound", status_code=201, response_model=WriteResult, operation_id="stock-announce-inbound",
    summary="Announce goods on their way here (in transit until they arrive)", responses=WRITE_ERRORS,
)  # fmt: skip
def announce_inbound(
    item_id: UUID, body: InboundCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.stock.announce_inbound(ctx=ctx, item_id=item_id, expected_version=expected_version,
                                                 **body.model_dump(exclude_unset=True))  # fmt: skip
    return answer(response, written, f"/api/v1/stock-items/{item_id}/inbound/{{id}}")


@router.get(
    "/stock-items/{item_id}/inbound/{inbound_id}", response_model=InboundOut, operation_id="stock-get-inbound",
    summary="An inbound shipment", responses=READ_ERRORS,
)  # fmt: skip
def get_inbound(item_id: UUID, inbound_id: UUID, _: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = stock.get_inbound(cur, item_id, inbound_id)
    if row is None:
        raise NotFound(f"stock item {item_id} has no inbound shipment {inbound_id}")
    return reader.answer(row)


@router.post(
    "/stock-items/{item_id}/inbound/{inbound_id}/arrivals", response_model=WriteResult, operation_id="stock-arrive",
    summary="Goods of an inbound shipment arrive (all that is still to come unless a quantity is given)",
    responses=WRITE_ERRORS,
)  # fmt: skip
def arrive(
    item_id: UUID, inbound_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response, body: Arrival | None = None,
) -> Any:  # fmt: skip
    written = runtime.app.stock.arrive(ctx=ctx, item_id=item_id, inbound_id=inbound_id, expected_version=expected_version,
                                       **(body.model_dump(exclude_unset=True) if body else {}))  # fmt: skip
    return answer(response, written)


@router.post(
    "/stock-items/{item_id}/inbound/{inbound_id}/cancel", response_model=WriteResult, operation_id="stock-cancel-inbound",
    summary="What is still to come of an inbound shipment will not come", responses=WRITE_ERRORS,
)  # fmt: skip
def cancel_inbound(
    item_id: UUID, inbound_id: UUID, body: InboundCancel, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.stock.cancel_inbound(ctx=ctx, item_id=item_id, inbound_id=inbound_id, reason=body.reason,
                                               expected_version=expected_version)  # fmt: skip
    return answer(response, written)


# Categories and warehouses ------------------------------------------------------------------------


@router.get(
    "/stock-categories", response_model=CategoryList, operation_id="stock-list-categories",
    summary="The stock category tree, in tree order (by path)", responses=problems(401, 403, 422, 503),
)  # fmt: skip
def list_categories(_: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        return reader.answer({"items": stock.list_categories(cur)})


@router.post(
    "/stock-categories", status_code=201, response_model=WriteResult, operation_id="stock-create-category",
    summary="Add a stock category (under a parent, or at the top level)", responses=CREATE_ERRORS,
)  # fmt: skip
def create_category(body: CategoryCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    written = runtime.app.stock.add_category(ctx=ctx, name=body.name, parent_id=body.parent_id)
    return answer(response, written, "/api/v1/stock-categories/{id}")


@router.get(
    "/stock-categories/{category_id}", response_model=CategoryOut, operation_id="stock-get-category",
    summary="A stock category", responses=READ_ERRORS,
)  # fmt: skip
def get_category(category_id: UUID, _: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = stock.get_category(cur, category_id)
    if row is None:
        raise NotFound(f"no stock category with id {category_id}")
    return reader.answer(row)


@router.patch(
    "/stock-categories/{category_id}", response_model=WriteResult, operation_id="stock-update-category",
    summary="Rename a stock category, or move it (with everything below it) under another parent",
    responses=WRITE_ERRORS,
)  # fmt: skip
def update_category(
    category_id: UUID, body: CategoryUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidInput.on("name", "cannot be cleared")
    return answer(response, runtime.app.stock.update_category(ctx=ctx, category_id=category_id, **changes))


@router.get(
    "/warehouses", response_model=WarehouseList, operation_id="stock-list-warehouses",
    summary="The warehouses, with how many items each keeps and their value", responses=problems(401, 403, 422, 503),
)  # fmt: skip
def list_warehouses(_: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        return reader.answer({"items": stock.list_warehouses(cur)})


@router.post(
    "/warehouses", status_code=201, response_model=WriteResult, operation_id="stock-create-warehouse",
    summary="Add a warehouse (its code is unique)", responses=CREATE_ERRORS,
)  # fmt: skip
def create_warehouse(body: WarehouseCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    written = runtime.app.stock.add_warehouse(ctx=ctx, **body.model_dump(exclude_unset=True))
    return answer(response, written, "/api/v1/warehouses/{id}")


@router.get(
    "/warehouses/{warehouse_id}", response_model=WarehouseOut, operation_id="stock-get-warehouse",
    summary="A warehouse", responses=READ_ERRORS,
)  # fmt: skip
def get_warehouse(warehouse_id: UUID, _: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = next((w for w in stock.list_warehouses(cur) if w["id"] == warehouse_id), None)
    if row is None:
        raise NotFound(f"no warehouse with id {warehouse_id}")
    return reader.answer(row)


@router.patch(
    "/warehouses/{warehouse_id}", response_model=WriteResult, operation_id="stock-update-warehouse",
    summary="Change a warehouse's name or address", responses=WRITE_ERRORS,
)  # fmt: skip
def update_warehouse(
    warehouse_id: UUID, body: WarehouseUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidInput.on("name", "cannot be cleared")
    return answer(response, runtime.app.stock.update_warehouse(ctx=ctx, warehouse_id=warehouse_id, **changes))


# Reports -----------------------------------------------------------------------------------------------


def _period(runtime: Any, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Days ``first`` to ``last``, inclusive, as [start, end) moments in crm-es's time zone."""
    if first is not None and last is not None and first > last:
        raise InvalidInput.on("from", "must not be after to")
    zone = ZoneInfo(runtime.settings.timezone)
    start = None if first is None else datetime.combine(first, time(), zone)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time(), zone)
    return start, end


@router.get(
    "/reports/stock-alerts", response_model=AlertReport, operation_id="reports-stock-alerts", tags=["reports"],
    summary="Stock alerts (预警): shortages and overstock, with what to order; CSV or XLSX with format",
    responses=LIST_ERRORS,
)  # fmt: skip
def stock_alerts(  # noqa: PLR0913
    _: CanReport,
    reader: Read,
    runtime: RuntimeDep,
    category: CategoryParam = None,
    warehouse_id: UUID | None = None,
    alert: Annotated[Literal["low", "over"] | None, Query(description="Only shortages, or only overstock.")] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    with reader.cursor() as cur:
        items = stock.alerts(cur, categories=_categories(runtime, cur, category), warehouse_id=warehouse_id, alert=alert)
    if format != "json":
        columns = ("alert", "sku", "name", "category", "warehouse_code", "unit", "on_hand", "reserved", "available",
                   "in_transit", "reorder_level", "max_level", "shortfall", "suggested_order", "excess", "alert_since", "id")  # fmt: skip
        rows = [{**r, "alert_since": r["alert_since"].isoformat() if r["alert_since"] else None} for r in items]
        return _file(format, "stock-alerts", columns, rows, reader)
    return reader.answer({"items": items})


@router.get(
    "/reports/stock-valuation", response_model=Valuation, operation_id="reports-stock-valuation", tags=["reports"],
    summary="Stock value at average cost (资金流) by warehouse and category; CSV or XLSX with format",
    responses=LIST_ERRORS,
)  # fmt: skip
def stock_valuation(  # noqa: PLR0913
    _: CanReport,
    reader: Read,
    runtime: RuntimeDep,
    level: Annotated[int, Query(ge=1, le=8, description="Roll categories up to this depth (1: the top level).")] = 1,
    category: CategoryParam = None,
    warehouse_id: UUID | None = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    with reader.cursor() as cur:
        data = stock.valuation(cur, level=level, warehouse_id=warehouse_id, categories=_categories(runtime, cur, category))
    if format != "json":
        columns = ("warehouse_code", "warehouse", "category", "items", "value", "in_transit_value")
        total = {"warehouse_code": "total", **data["total"]}
        return _file(format, "stock-valuation", columns, [*data["rows"], total], reader)
    return reader.answer(data)


@router.get(
    "/reports/stock-abc", response_model=AbcReport, operation_id="reports-stock-abc", tags=["reports"],
    summary="ABC classification (ABC 分类汇总) of items by consumption value in a period; CSV or XLSX with format",
    responses=LIST_ERRORS,
)  # fmt: skip
def stock_abc(  # noqa: PLR0913
    _: CanReport,
    reader: Read,
    runtime: RuntimeDep,
    period_from: Annotated[date | None, Query(alias="from", description="First day; 364 days before to by default.")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="Last day; today by default.")] = None,
    a: Annotated[Decimal, Query(gt=0, le=100, description="Percent of the consumption value class A makes (default 80).")] = Decimal(80),
    b: Annotated[Decimal, Query(ge=0, le=100, description="Percent class B adds (default 15); C is the rest.")] = Decimal(15),
    category: CategoryParam = None,
    warehouse_id: UUID | None = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    if a + b > 100:
        raise InvalidInput.on("b", f"a + b must not exceed 100 (they are {a + b})")
    today = datetime.now(ZoneInfo(runtime.settings.timezone)).date()
    last = period_to or today
    first = period_from or (last - timedelta(days=364))
    since, before = _period(runtime, first, last)
    assert since is not None and before is not None
    with reader.cursor() as cur:
        data = stock.abc(cur, since=since, before=before, a=a, b=b, warehouse_id=warehouse_id,
                         categories=_categories(runtime, cur, category))  # fmt: skip
    if format != "json":
        columns = ("class", "sku", "name", "category", "warehouse", "unit", "consumption_quantity", "consumption_value",
                   "share", "cumulative_share", "stock_item_id")  # fmt: skip
        return _file(format, "stock-abc", columns, data["items"], reader)
    return reader.answer(data)
