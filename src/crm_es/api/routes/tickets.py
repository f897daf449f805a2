"""Service tickets (客户服务), their service levels (SLA) and the service report (服务趋势分析)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_es import workdays
from crm_es.api.deps import ContextDep, ExpectedVersionDep, JSONAnswer, LimitDep, Reader, RuntimeDep, reads, require, require_any
from crm_es.api.export import FILE_RESPONSES, sheets_file, table_file
from crm_es.api.routes import answer
from crm_es.api.schemas.common import Text, WriteResult, problems
from crm_es.api.schemas.tickets import (
    Assign,
    Charge,
    Close,
    Escalate,
    Kind,
    Priority,
    Progress,
    Reopen,
    Resolve,
    ReturnVisit,
    ServiceLevelsChange,
    ServiceLevelsOut,
    ServiceReport,
    Status,
    TicketCreate,
    TicketDetail,
    TicketPage,
    TicketWritten,
    Transfer,
)
from crm_es.api.security import Principal
from crm_es.app import Written
from crm_es.errors import InvalidInput, NotFound
from crm_es.projections import staff, tickets

router = APIRouter(tags=["tickets"])

WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)
READ_ERRORS = problems(401, 403, 404, 422, 503)

CanRead = Annotated[Principal, require("tickets:read")]
CanWrite = Annotated[Principal, require("tickets:write")]
CanReadReport = Annotated[Principal, require_any("tickets:read", "reports:read")]
Admin = Annotated[Principal, require("reference:admin")]
Read = Annotated[Reader, reads("tickets")]
Format = Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")]

EXPORT_LIMIT = 10_000
"""A list exported as a file holds at most this many tickets (newest or best first)."""


def _sla(sla: dict[str, Any]) -> dict[str, Any]:
    return {**sla, "note": workdays.coverage_note(sla.get("calendar") != "weekends_only")}


def _out(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A ticket row as the API shows it."""
    row = dict(row)
    row["resolution_working_days"] = None if row["resolution_days"] is None else float(row.pop("resolution_days"))
    row.pop("resolution_days", None)
    row["sla"] = _sla(row["sla"])
    row["overdue"] = row["status"] in ("open", "in_progress") and row["due_at"] < now
    for column in ("created_at", *(c for c in list(row) if c.startswith("search_"))):
        row.pop(column, None)
    return row


def _written(response: Response, runtime: Any, written: Written, location: str | None = None) -> JSONAnswer:
    """The write's answer with the ticket's due time and service level (opening and reopening)."""
    ticket = runtime.app.tickets.ticket(written.id)
    return answer(response, written, location, due_at=ticket.due_at.isoformat(), sla=_sla(ticket.sla))


# Service levels ----------------------------------------------------------------------------------


def _levels(runtime: Any) -> dict[str, Any]:
    levels = runtime.app.tickets.service_levels()
    return {
        "rules": [dict(r) for r in levels.rules],
        "calendar": {
            "name": "chinesecalendar", "first_year": workdays.FIRST_YEAR, "last_year": workdays.LAST_YEAR,
            "beyond": "days outside these years count by weekends only; such tickets say so in sla.calendar and sla.note",
            "time_zone": runtime.app.zone.key,
        },
        "version": levels.version,
    }  # fmt: skip


@router.get(
    "/tickets/sla", response_model=ServiceLevelsOut, operation_id="tickets-service-levels",
    summary="The service levels: how soon tickets are due per kind and priority, and the calendar they count on",
    responses=problems(401, 403),
)  # fmt: skip
def get_service_levels(_: CanRead, runtime: RuntimeDep) -> Any:
    data = _levels(runtime)
    return JSONAnswer(data, headers={"ETag": f'"{data["version"]}"'})


@router.put(
    "/tickets/sla", response_model=WriteResult, operation_id="tickets-change-service-levels",
    summary="Replace the service-level rules (tickets opened or reopened from now on follow them)",
    responses=problems(401, 403, 409, 412, 415, 422),
)  # fmt: skip
def change_service_levels(
    body: ServiceLevelsChange, _: Admin, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.change_service_levels(
        ctx=ctx, rules=[r.model_dump() for r in body.rules], expected_version=expected_version
    )
    return answer(response, written)


# Tickets -----------------------------------------------------------------------------------------


@router.post(
    "/tickets", status_code=201, response_model=TicketWritten, operation_id="tickets-create",
    summary="Open a ticket; it is due by the service level, counted on the Chinese working calendar",
    responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def create_ticket(body: TicketCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    written = runtime.app.tickets.open(ctx=ctx, **body.model_dump(exclude_unset=True))
    return _written(response, runtime, written, "/api/v1/tickets/{id}")


@router.get(
    "/tickets", response_model=TicketPage, operation_id="tickets-list",
    summary="List and search tickets, newest first; CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def list_tickets(  # noqa: PLR0913 - one parameter per filter
    principal: CanRead,
    reader: Read,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    status: Status | None = None,
    kind: Kind | None = None,
    priority: Priority | None = None,
    assignee_id: UUID | None = None,
    department_id: Annotated[UUID | None, Query(description="Tickets with this department or one below it.")] = None,
    customer_id: UUID | None = None,
    overdue: Annotated[bool | None, Query(description="true: open or in progress and past due now; false: the others.")] = None,
    q: Annotated[
        Text | None, Query(max_length=100, description="Words of the subject or the customer's name (or its pinyin initials).")
    ] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    now = datetime.now(timezone.utc)
    with reader.cursor() as cur:
        departments = None if department_id is None else _departments(cur, department_id)
        page = tickets.list_tickets(
            cur, limit=EXPORT_LIMIT if format != "json" else limit, cursor=cursor, status=status, kind=kind,
            priority=priority, assignee_id=assignee_id, departments=departments, customer_id=customer_id,
            overdue=overdue, now=now, q_text=q.strip() if q and q.strip() else None,
            owners=principal.access.owners("tickets"),
        )  # fmt: skip
    items = [_out(row, now) for row in page.items]
    if format != "json":
        columns = ("id", "customer_id", "customer_name", "kind", "priority", "status", "subject", "channel", "assignee_id",
                   "department_id", "opened_at", "due_at", "overdue", "resolved_at", "resolution_working_days",
                   "satisfaction", "fees", "costs", "escalation_level")  # fmt: skip
        rows = [[_cell(item[c]) for c in columns] for item in items]
        return table_file(format, "tickets", columns, rows, position=reader.position)
    return reader.answer({"items": items, "next_cursor": page.next_cursor})


def _cell(value: Any) -> Any:
    """A value as a file shows it: ids and times as text, yes/no for flags."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _departments(cur: Any, department_id: UUID) -> list[UUID]:
    if staff.get_department(cur, department_id) is None:
        raise InvalidInput.on("department_id", f"no department with id {department_id}")
    return staff.department_tree(cur, department_id)


@router.get(
    "/tickets/{ticket_id}", response_model=TicketDetail, operation_id="tickets-get",
    summary="Read a ticket with its timeline", responses=READ_ERRORS,
)  # fmt: skip
def get_ticket(ticket_id: UUID, principal: CanRead, reader: Read) -> Any:
    with reader.cursor() as cur:
        row = tickets.get_ticket(cur, ticket_id)
    if row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    access = principal.access
    if not (access.sees("tickets", row["customer_owner_id"]) or (row["assignee_id"] and access.sees("tickets", row["assignee_id"]))):
        raise NotFound(f"no ticket with id {ticket_id}")
    return reader.answer(_out(row, datetime.now(timezone.utc)), headers={"ETag": f'"{row["version"]}"'})


@router.post(
    "/tickets/{ticket_id}/assign", response_model=WriteResult, operation_id="tickets-assign",
    summary="Assign the ticket to someone (their department becomes the ticket's)", responses=WRITE_ERRORS,
)  # fmt: skip
def assign(
    ticket_id: UUID, body: Assign, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.assign(
        ctx=ctx, ticket_id=ticket_id, assignee_id=body.assignee_id, reason=body.reason, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/transfer", response_model=WriteResult, operation_id="tickets-transfer",
    summary="Transfer the ticket to the responsible department or person (转交), with a note", responses=WRITE_ERRORS,
)  # fmt: skip
def transfer(
    ticket_id: UUID, body: Transfer, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.transfer(
        ctx=ctx, ticket_id=ticket_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/progress", response_model=WriteResult, operation_id="tickets-note-progress",
    summary="Record how handling goes (受理情况)", responses=WRITE_ERRORS,
)  # fmt: skip
def note_progress(
    ticket_id: UUID, body: Progress, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.note_progress(ctx=ctx, ticket_id=ticket_id, note=body.note, expected_version=expected_version)
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/resolve", response_model=WriteResult, operation_id="tickets-resolve",
    summary="Record the resolution, who resolved it and when", responses=WRITE_ERRORS,
)  # fmt: skip
def resolve(
    ticket_id: UUID, body: Resolve, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.resolve(
        ctx=ctx, ticket_id=ticket_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/reopen", response_model=TicketWritten, operation_id="tickets-reopen",
    summary="Open a resolved or closed ticket again; it is due anew", responses=WRITE_ERRORS,
)  # fmt: skip
def reopen(
    ticket_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response, body: Reopen | None = None,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.reopen(
        ctx=ctx, ticket_id=ticket_id, reason=body.reason if body else None, expected_version=expected_version
    )
    return _written(response, runtime, written)


@router.post(
    "/tickets/{ticket_id}/close", response_model=WriteResult, operation_id="tickets-close",
    summary="Close a resolved ticket", responses=WRITE_ERRORS,
)  # fmt: skip
def close(
    ticket_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response, body: Close | None = None,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.close(
        ctx=ctx, ticket_id=ticket_id, note=body.note if body else None, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/return-visit", response_model=WriteResult, operation_id="tickets-return-visit",
    summary="Record a return visit (回访) with the customer's satisfaction, after the resolution", responses=WRITE_ERRORS,
)  # fmt: skip
def return_visit(
    ticket_id: UUID, body: ReturnVisit, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.record_return_visit(
        ctx=ctx, ticket_id=ticket_id, satisfaction=body.satisfaction, note=body.note, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/fees", response_model=WriteResult, operation_id="tickets-record-fee",
    summary="Record a service fee charged to the customer (服务收费)", responses=WRITE_ERRORS,
)  # fmt: skip
def record_fee(
    ticket_id: UUID, body: Charge, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.record_fee(
        ctx=ctx, ticket_id=ticket_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/costs", response_model=WriteResult, operation_id="tickets-record-cost",
    summary="Record a cost of the service (服务支出): parts, travel, subcontracting", responses=WRITE_ERRORS,
)  # fmt: skip
def record_cost(
    ticket_id: UUID, body: Charge, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.record_cost(
        ctx=ctx, ticket_id=ticket_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written)


@router.post(
    "/tickets/{ticket_id}/escalate", response_model=WriteResult, operation_id="tickets-escalate",
    summary="Escalate the ticket to a manager (by default the one above the assignee)", responses=WRITE_ERRORS,
)  # fmt: skip
def escalate(
    ticket_id: UUID, body: Escalate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.tickets.escalate(
        ctx=ctx, ticket_id=ticket_id, reason=body.reason, to_user_id=body.to_user_id, expected_version=expected_version
    )
    return answer(response, written)


# The service report ------------------------------------------------------------------------------


@router.get(
    "/reports/service", response_model=ServiceReport, operation_id="reports-service", tags=["reports"],
    summary="Service report: tickets per week and kind, resolution times in working days, satisfaction, fees and costs",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def service_report(  # noqa: PLR0913
    principal: CanReadReport,
    reader: Read,
    runtime: RuntimeDep,
    period_from: Annotated[date | None, Query(alias="from", description="On or after this day (company time zone).")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="On or before this day.")] = None,
    kind: Kind | None = None,
    owner_id: Annotated[UUID | None, Query(description="Tickets of this salesperson's customers.")] = None,
    assignee_id: UUID | None = None,
    department_id: Annotated[UUID | None, Query(description="Tickets with this department or one below it.")] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    if period_from is not None and period_to is not None and period_from > period_to:
        raise InvalidInput.on("from", "must not be after to")
    tz = runtime.app.zone
    zone = tz.key
    start = None if period_from is None else datetime.combine(period_from, time(), tz)
    end = None if period_to is None else datetime.combine(period_to + timedelta(days=1), time(), tz)
    with reader.cursor() as cur:
        departments = None if department_id is None else _departments(cur, department_id)
        data = tickets.service_report(
            cur, zone=zone, start=start, end=end, first_day=period_from, last_day=period_to, kind=kind,
            owner_id=owner_id, assignee_id=assignee_id, departments=departments, owners=_report_owners(principal),
        )  # fmt: skip
        names = staff.display_names(cur, [a["assignee_id"] for a in data["satisfaction_by_assignee"] if a["assignee_id"]])
    for line in data["satisfaction_by_assignee"]:
        line["display_name"] = names.get(line["assignee_id"])
    if format != "json":
        return sheets_file(format, "service", _report_sheets(data), position=reader.position)
    return reader.answer(data)


def _report_owners(principal: Principal) -> frozenset[UUID] | None:
    """The report covers the tickets the caller sees under the ``tickets`` scope or the
    ``reports`` scope, whichever of the permissions they hold (both: either scope)."""
    access = principal.access
    scopes = [access.owners(r) for r in ("tickets", "reports") if any(access.allows(f"{r}:{a}") for a in ("read", "write"))]
    if not scopes or any(s is None for s in scopes):
        return None if scopes else frozenset({principal.user_id})
    return frozenset().union(*scopes)  # type: ignore[arg-type]


def _report_sheets(data: dict[str, Any]) -> list[tuple[str, tuple[str, ...], list[list[Any]]]]:
    def table(name: str, columns: tuple[str, ...], lines: list[dict[str, Any]]) -> tuple[str, tuple[str, ...], list[list[Any]]]:
        return name, columns, [[_cell(line[c]) for c in columns] for line in lines]

    totals = data["totals"]
    return [
        table("weekly", ("week", "kind", "opened", "resolved"), data["weekly"]),
        table("resolution", ("kind", "resolved", "avg_working_days", "p90_working_days", "within_sla_rate"), data["resolution"]),
        table("satisfaction_by_customer", ("customer_id", "name", "visits", "satisfaction"), data["satisfaction_by_customer"]),
        table("satisfaction_by_assignee", ("assignee_id", "display_name", "visits", "satisfaction"),
              data["satisfaction_by_assignee"]),  # fmt: skip
        table("charges", ("month", "fees", "costs", "net", "tickets"), data["charges"]),
        ("totals", ("measure", "value"), [[k, _cell(v)] for k, v in totals.items()]),
    ]
