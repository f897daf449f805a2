"""Opportunities (商机), the pipeline's stages (销售流程) and the sales funnel (销售漏斗)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Response

from crm_es.api.deps import (
    ContextDep, ExpectedVersionDep, JSONAnswer, LimitDep, PrincipalDep, Reader, RuntimeDep, reads, require, require_any,
)  # fmt: skip
from crm_es.api.export import FILE_RESPONSES, table_file
from crm_es.api.routes import answer
from crm_es.api.schemas.common import Text, WriteResult, problems
from crm_es.api.schemas.opportunities import (
    StrandedReport,
    TargetsChange,
    TargetsReport,
    WinRates,
    QuoteCreate,
    QuoteWritten,
    Competitors,
    Forecast,
    Funnel,
    LostReasons,
    Lose,
    OpportunityCreate,
    OpportunityDetail,
    OpportunityPage,
    OpportunityReassign,
    OpportunityUpdate,
    Reopen,
    Stage,
    StageKey,
    StageMove,
    StagesChange,
    StagesWritten,
    Status,
    Win,
)
from crm_es.api.security import Principal
from crm_es.errors import InvalidInput, NotFound
from crm_es.projections import customers, opportunities, staff

router = APIRouter(tags=["opportunities"])

WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)
READ_ERRORS = problems(401, 403, 404, 422, 503)

CanRead = Annotated[Principal, require("opportunities:read")]
CanWrite = Annotated[Principal, require("opportunities:write")]
CanReadFunnel = Annotated[Principal, require_any("opportunities:read", "reports:read")]
CanSetTargets = Annotated[Principal, require("targets:write")]
CENT = Decimal("0.01")
Admin = Annotated[Principal, require("reference:admin")]
Read = Annotated[Reader, reads("opportunities")]


# Opportunities ---------------------------------------------------------------------------------


@router.post(
    "/opportunities", status_code=201, response_model=WriteResult, operation_id="opportunities-create",
    summary="Open an opportunity on a customer", responses=problems(401, 403, 409, 415, 422),
)  # fmt: skip
def create_opportunity(body: OpportunityCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    written = runtime.app.opportunities.open(ctx=ctx, **body.model_dump(exclude_unset=True))
    return answer(response, written, "/api/v1/opportunities/{id}")


@router.get(
    "/opportunities", response_model=OpportunityPage, operation_id="opportunities-list",
    summary="List opportunities, newest first (best match first with q)", responses=problems(401, 403, 422, 503),
)  # fmt: skip
def list_opportunities(  # noqa: PLR0913 - one parameter per filter
    principal: CanRead,
    reader: Read,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    owner_id: UUID | None = None,
    department_id: Annotated[UUID | None, Query(description="Owned by someone in this department or one below it.")] = None,
    customer_id: UUID | None = None,
    stage: Annotated[Text | None, Query(max_length=32)] = None,
    status: Status | None = None,
    close_from: Annotated[date | None, Query(description="Expected close date on or after this day.")] = None,
    close_to: Annotated[date | None, Query(description="Expected close date on or before this day.")] = None,
    q: Annotated[Text | None, Query(
        max_length=100, description="Search the customer's name and the title (and their pinyin initials): best match first.",
    )] = None,
) -> Any:
    if close_from is not None and close_to is not None and close_from > close_to:
        raise InvalidInput.on("close_from", "must not be after close_to")
    with reader.cursor() as cur:
        page = opportunities.list_opportunities(
            cur, limit=limit, cursor=cursor, owner_id=owner_id, customer_id=customer_id, stage=stage,
            status=status, close_from=close_from, close_to=close_to, q_text=q.strip() if q and q.strip() else None,
            owners=principal.access.owners("opportunities"), members=_members(cur, department_id),
        )  # fmt: skip
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/opportunities/{opportunity_id}", response_model=OpportunityDetail, operation_id="opportunities-get",
    summary="Read an opportunity with its stage history, quotes and activities", responses=READ_ERRORS,
)  # fmt: skip
def get_opportunity(
    opportunity_id: UUID, principal: CanRead, reader: Annotated[Reader, reads("opportunities", "customers")]
) -> Any:
    with reader.cursor() as cur:
        row = opportunities.get_opportunity(cur, opportunity_id)
        if row is None:
            raise NotFound(f"no opportunity with id {opportunity_id}")
        principal.access.ensure_sees("opportunities", row["owner_id"], "opportunity", opportunity_id)
        row["activities"] = customers.opportunity_activities(cur, opportunity_id)
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


@router.post(
    "/opportunities/{opportunity_id}/quotes", status_code=201, response_model=QuoteWritten,
    operation_id="opportunities-issue-quote", summary="Issue a new version of the quote (报价)",
    responses=WRITE_ERRORS,
)  # fmt: skip
def issue_quote(
    opportunity_id: UUID, body: QuoteCreate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written, number = runtime.app.opportunities.issue_quote(
        ctx=ctx, opportunity_id=opportunity_id, lines=[line.model_dump() for line in body.lines],
        valid_until=body.valid_until, note=body.note, expected_version=expected_version,
    )  # fmt: skip
    return answer(response, written, status=201, number=number)


@router.post(
    "/opportunities/{opportunity_id}/quotes/{number}/accept", response_model=WriteResult,
    operation_id="opportunities-accept-quote", responses=WRITE_ERRORS,
    summary="The customer accepts this quote: the one accepted quote, and the opportunity's amount",
)  # fmt: skip
def accept_quote(
    opportunity_id: UUID, number: Annotated[int, Path(ge=1, le=1000)], _: CanWrite, ctx: ContextDep,
    runtime: RuntimeDep, expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.accept_quote(
        ctx=ctx, opportunity_id=opportunity_id, number=number, expected_version=expected_version
    )
    return answer(response, written)


@router.patch(
    "/opportunities/{opportunity_id}", response_model=WriteResult, operation_id="opportunities-update",
    summary="Change the amount, expected close date or title", responses=WRITE_ERRORS,
)  # fmt: skip
def update_opportunity(
    opportunity_id: UUID, body: OpportunityUpdate, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput.on(field, "cannot be cleared")
    written = runtime.app.opportunities.update(
        ctx=ctx, opportunity_id=opportunity_id, expected_version=expected_version, **changes
    )
    return answer(response, written)


@router.post(
    "/opportunities/{opportunity_id}/stage", response_model=WriteResult, operation_id="opportunities-move-stage",
    summary="Move to another stage of the pipeline", responses=WRITE_ERRORS,
)  # fmt: skip
def move_stage(
    opportunity_id: UUID, body: StageMove, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.move_stage(
        ctx=ctx, opportunity_id=opportunity_id, stage=body.stage, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/opportunities/{opportunity_id}/win", response_model=WriteResult, operation_id="opportunities-win",
    summary="Record the opportunity as won (赢单), at its final amount", responses=WRITE_ERRORS,
)  # fmt: skip
def win(
    opportunity_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response, body: Win | None = None,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.win(
        ctx=ctx, opportunity_id=opportunity_id, amount=body.amount if body else None, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/opportunities/{opportunity_id}/lose", response_model=WriteResult, operation_id="opportunities-lose",
    summary="Record the opportunity as lost (失单), with a reason and the competitor that won", responses=WRITE_ERRORS,
)  # fmt: skip
def lose(
    opportunity_id: UUID, body: Lose, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.lose(
        ctx=ctx, opportunity_id=opportunity_id, expected_version=expected_version, **body.model_dump(exclude_unset=True)
    )
    return answer(response, written)


@router.post(
    "/opportunities/{opportunity_id}/reopen", response_model=WriteResult, operation_id="opportunities-reopen",
    summary="Open a won or lost opportunity again", responses=WRITE_ERRORS,
)  # fmt: skip
def reopen(
    opportunity_id: UUID, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response, body: Reopen | None = None,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.reopen(
        ctx=ctx, opportunity_id=opportunity_id, stage=body.stage if body else None, expected_version=expected_version
    )
    return answer(response, written)


@router.post(
    "/opportunities/{opportunity_id}/reassign", response_model=WriteResult, operation_id="opportunities-reassign",
    summary="Hand the opportunity to another owner", responses=WRITE_ERRORS,
)  # fmt: skip
def reassign(
    opportunity_id: UUID, body: OpportunityReassign, _: CanWrite, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.reassign(
        ctx=ctx, opportunity_id=opportunity_id, owner_id=body.owner_id, reason=body.reason,
        expected_version=expected_version,
    )  # fmt: skip
    return answer(response, written)


# The pipeline ----------------------------------------------------------------------------------


@router.get(
    "/pipeline/stages", response_model=list[Stage], operation_id="pipeline-stages", tags=["pipeline"],
    summary="The pipeline's stages in order (won and lost follow implicitly)", responses=problems(401),
)  # fmt: skip
def get_stages(_: PrincipalDep, runtime: RuntimeDep) -> Any:
    pipeline = runtime.app.opportunities.pipeline()
    return JSONAnswer(list(pipeline.stages), headers={"ETag": f'"{pipeline.version}"'})


@router.put(
    "/pipeline/stages", response_model=StagesWritten, operation_id="pipeline-change-stages", tags=["pipeline"],
    summary="Replace the pipeline's stages; lists the open opportunities left on removed stages",
    responses=problems(401, 403, 409, 412, 415, 422),
)  # fmt: skip
def change_stages(
    body: Annotated[list[Stage] | StagesChange, Body(description="The stages in order, as a list or as {stages}.")],
    principal: Admin, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    stages = body.stages if isinstance(body, StagesChange) else body
    if not 1 <= len(stages) <= 20:
        raise InvalidInput.on("stages", "must list 1 to 20 stages")
    written, removed = runtime.app.opportunities.change_stages(
        ctx=ctx, stages=[s.model_dump() for s in stages], expected_version=expected_version
    )
    stranded: list[dict[str, Any]] = []
    if removed:
        runtime.caught_up("opportunities")
        with runtime.app.connection() as conn, conn.cursor() as cur:
            stranded = opportunities.open_on_stages(cur, list(removed), owners=principal.access.owners("opportunities"))
    return answer(response, written, removed=list(removed), stranded=stranded)


@router.get(
    "/reports/stranded", response_model=StrandedReport, operation_id="reports-stranded", tags=["reports"],
    summary="Open opportunities on a stage the pipeline no longer has (never moved silently); CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def stranded_report(
    principal: CanReadFunnel, reader: Read, runtime: RuntimeDep,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:  # fmt: skip
    keys = list(runtime.app.opportunities.pipeline().keys)
    with reader.cursor() as cur:
        rows = opportunities.open_on_stages(cur, keys, owners=principal.access.owners("reports"), off_pipeline=True)
    if format != "json":
        columns = ("id", "title", "stage", "owner_id", "customer_id", "amount")
        return table_file(format, "stranded", columns, [[r[c] for c in columns] for r in rows], position=reader.position)
    return reader.answer({"stages": keys, "items": rows})


# The funnel ------------------------------------------------------------------------------------

FUNNEL_COLUMNS = (
    "stage", "name", "probability", "count", "amount", "weighted_amount", "reached", "conversion_rate",
    "avg_days_in_stage",
)  # fmt: skip


@router.get(
    "/reports/funnel", response_model=Funnel, operation_id="reports-funnel", tags=["reports"],
    summary="The sales funnel, now or as it stood at any moment (as_of); CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def funnel(  # noqa: PLR0913 - one parameter per filter
    principal: CanReadFunnel,
    reader: Read,
    runtime: RuntimeDep,
    period_from: Annotated[date | None, Query(alias="from", description="Opportunities opened on or after this day.")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="Opportunities opened on or before this day.")] = None,
    owner_id: UUID | None = None,
    department_id: UUID | None = None,
    as_of: Annotated[datetime | None, Query(description="The funnel as it stood at this moment (RFC 3339 with offset).")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput.on("as_of", "must include a time zone offset")
    opened_from, opened_before = _period(runtime, period_from, period_to)
    stages = list(runtime.app.opportunities.pipeline().stages)
    with reader.cursor() as cur:
        data = opportunities.funnel(
            cur, stages=stages, as_of=as_of or datetime.now(timezone.utc), opened_from=opened_from,
            opened_before=opened_before, **_scope(cur, principal, owner_id, department_id),
        )  # fmt: skip
    if format != "json":
        return table_file(format, "funnel", FUNNEL_COLUMNS, _funnel_rows(data), position=reader.position)
    return reader.answer(data)


def _funnel_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [[stage[c] for c in FUNNEL_COLUMNS] for stage in data["stages"]]
    for outcome in ("won", "lost"):
        rows.append([outcome, outcome, None, data[outcome]["count"], data[outcome]["amount"], None, None, None, None])
    rows.append(["win_rate", None, None, None, None, None, None, data["win_rate"], None])
    rows.append(["as_of", data["as_of"].isoformat()])
    return rows


def _period(runtime: Any, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Days ``first`` (``from``) to ``last`` (``to``), inclusive, as [start, end) moments in
    crm-es's time zone."""
    if first is not None and last is not None and first > last:
        raise InvalidInput.on("from", "must not be after to")
    zone = ZoneInfo(runtime.settings.timezone)
    start = None if first is None else datetime.combine(first, time(), zone)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time(), zone)
    return start, end


def _members(cur: Any, department_id: UUID | None) -> list[UUID] | None:
    """The people of the department and of those below it (None: no department named)."""
    if department_id is None:
        return None
    if staff.get_department(cur, department_id) is None:
        raise InvalidInput.on("department_id", f"no department with id {department_id}")
    return staff.department_members(cur, department_id)


def _scope(cur: Any, principal: Principal, owner_id: UUID | None, department_id: UUID | None) -> dict[str, Any]:
    """A report's owner filters: the caller's ``reports`` scope, an owner, a department's people."""
    return {"owner_id": owner_id, "members": _members(cur, department_id), "owners": principal.access.owners("reports")}


# Forecast and lost reasons -----------------------------------------------------------------------


@router.get(
    "/reports/forecast", response_model=Forecast, operation_id="reports-forecast", tags=["reports"],
    summary="Open opportunities by expected close month, weighted by stage probability; CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def forecast(  # noqa: PLR0913
    principal: CanReadFunnel,
    reader: Read,
    runtime: RuntimeDep,
    close_from: Annotated[date | None, Query(description="Expected close on or after this day.")] = None,
    close_to: Annotated[date | None, Query(description="Expected close on or before this day.")] = None,
    owner_id: UUID | None = None,
    department_id: UUID | None = None,
    as_of: Annotated[datetime | None, Query(description="The forecast as it stood at this moment (RFC 3339 with offset).")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:
    if close_from is not None and close_to is not None and close_from > close_to:
        raise InvalidInput.on("close_from", "must not be after close_to")
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput.on("as_of", "must include a time zone offset")
    stages = list(runtime.app.opportunities.pipeline().stages)
    with reader.cursor() as cur:
        data = opportunities.forecast(
            cur, stages=stages, close_from=close_from, close_to=close_to, as_of=as_of,
            **_scope(cur, principal, owner_id, department_id),
        )  # fmt: skip
    if format != "json":
        columns = ("month", "count", "amount", "weighted_amount")
        rows = [[m[c] for c in columns] for m in data["months"]] + [["total", *(data["total"][c] for c in columns[1:])]]
        return table_file(format, "forecast", columns, rows, position=reader.position)
    return reader.answer(data)


@router.get(
    "/reports/lost-reasons", response_model=LostReasons, operation_id="reports-lost-reasons", tags=["reports"],
    summary="Lost opportunities by reason (失单分析); CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def lost_reasons(  # noqa: PLR0913
    principal: CanReadFunnel,
    reader: Read,
    runtime: RuntimeDep,
    period_from: Annotated[date | None, Query(alias="from", description="Lost on or after this day.")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="Lost on or before this day.")] = None,
    owner_id: UUID | None = None,
    department_id: UUID | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:
    closed_from, closed_before = _period(runtime, period_from, period_to)
    with reader.cursor() as cur:
        data = opportunities.lost_reasons(
            cur, closed_from=closed_from, closed_before=closed_before, **_scope(cur, principal, owner_id, department_id)
        )
    if format != "json":
        columns = ("reason", "count", "amount", "share")
        rows = [[r[c] for c in columns] for r in data["reasons"]] + [["total", data["total"]["count"], data["total"]["amount"]]]
        return table_file(format, "lost-reasons", columns, rows, position=reader.position)
    return reader.answer(data)


@router.get(
    "/reports/competitors", response_model=Competitors, operation_id="reports-competitors", tags=["reports"],
    summary="Deals won and lost against each competitor (竞争对手), with amounts; CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def competitors(  # noqa: PLR0913
    principal: CanReadFunnel,
    reader: Read,
    runtime: RuntimeDep,
    period_from: Annotated[date | None, Query(alias="from", description="Opportunities opened on or after this day.")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="Opportunities opened on or before this day.")] = None,
    owner_id: UUID | None = None,
    department_id: UUID | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:
    opened_from, opened_before = _period(runtime, period_from, period_to)
    with reader.cursor() as cur:
        items = opportunities.competitors(
            cur, opened_from=opened_from, opened_before=opened_before, **_scope(cur, principal, owner_id, department_id)
        )
    if format != "json":
        columns = ("competitor_id", "name", "opportunities", "open", "won_count", "won_amount", "lost_count",
                   "lost_amount", "lost_to_them_count", "lost_to_them_amount", "win_rate")  # fmt: skip
        rows = [[str(i["competitor_id"]), i["name"], i["opportunities"], i["open"], i["won"]["count"], i["won"]["amount"],
                 i["lost"]["count"], i["lost"]["amount"], i["lost_to_them"]["count"], i["lost_to_them"]["amount"],
                 i["win_rate"]] for i in items]  # fmt: skip
        return table_file(format, "competitors", columns, rows, position=reader.position)
    return reader.answer({"items": items})


# Win rates and sales targets ---------------------------------------------------------------------


@router.get(
    "/reports/win-rates", response_model=WinRates, operation_id="reports-win-rates", tags=["reports"],
    summary="Win rate per owner: won and lost in the period, with amounts; CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def win_rates(  # noqa: PLR0913
    principal: CanReadFunnel,
    reader: Read,
    runtime: RuntimeDep,
    period_from: Annotated[date | None, Query(alias="from", description="Closed on or after this day.")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="Closed on or before this day.")] = None,
    owner_id: UUID | None = None,
    department_id: UUID | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:
    closed_from, closed_before = _period(runtime, period_from, period_to)
    with reader.cursor() as cur:
        rows = opportunities.win_rates(
            cur, closed_from=closed_from, closed_before=closed_before, **_scope(cur, principal, owner_id, department_id)
        )
        names = staff.display_names(cur, [r["owner_id"] for r in rows])
    for row in rows:
        row["owner_name"] = names.get(row["owner_id"])
    if format != "json":
        columns = ("owner_id", "owner_name", "won", "won_amount", "lost", "lost_amount", "win_rate")
        return table_file(format, "win-rates", columns, [[r[c] for c in columns] for r in rows], position=reader.position)
    return reader.answer({"owners": rows})


@router.put(
    "/sales-targets/{year}/users/{user_id}", response_model=WriteResult, operation_id="targets-set-user",
    tags=["targets"], summary="Set a salesperson's monthly targets (业绩目标) for the year", responses=WRITE_ERRORS,
)  # fmt: skip
def set_user_targets(
    year: Annotated[int, Path(ge=2000, le=2100)], user_id: UUID, body: TargetsChange, _: CanSetTargets,
    ctx: ContextDep, runtime: RuntimeDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.set_targets(
        ctx=ctx, subject_type="user", subject_id=user_id, year=year, months=body.months
    )
    return answer(response, written, f"/api/v1/reports/targets?year={year}&owner_id={user_id}")


@router.put(
    "/sales-targets/{year}/departments/{department_id}", response_model=WriteResult, operation_id="targets-set-department",
    tags=["targets"], summary="Set a department's monthly targets for the year", responses=WRITE_ERRORS,
)  # fmt: skip
def set_department_targets(
    year: Annotated[int, Path(ge=2000, le=2100)], department_id: UUID, body: TargetsChange, _: CanSetTargets,
    ctx: ContextDep, runtime: RuntimeDep, response: Response,
) -> Any:  # fmt: skip
    written = runtime.app.opportunities.set_targets(
        ctx=ctx, subject_type="department", subject_id=department_id, year=year, months=body.months
    )
    return answer(response, written, f"/api/v1/reports/targets?year={year}&department_id={department_id}")


TARGET_COLUMNS = ("subject_type", "subject_id", "name", "month", "target", "won_amount", "completion_rate")


@router.get(
    "/reports/targets", response_model=TargetsReport, operation_id="reports-targets", tags=["reports"],
    summary="Targets against amounts won, per month, for salespeople and departments; CSV or XLSX with format",
    responses={**problems(401, 403, 422, 503), **FILE_RESPONSES},
)  # fmt: skip
def targets_report(  # noqa: PLR0913
    principal: CanReadFunnel,
    reader: Read,
    runtime: RuntimeDep,
    year: Annotated[int, Query(ge=2000, le=2100)],
    owner_id: UUID | None = None,
    department_id: UUID | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx file.")] = "json",  # noqa: A002
) -> Any:
    """Salespeople within the caller's ``reports`` scope; a department only when the scope
    reaches every member of it (a partial department total would mislead). Won amounts are of
    opportunities won (and not reopened) in the month, in crm-es's time zone, by the
    salesperson or by anyone now in the department or below it."""
    zone = ZoneInfo(runtime.settings.timezone)
    span = {"start": datetime(year, 1, 1, tzinfo=zone), "end": datetime(year + 1, 1, 1, tzinfo=zone), "zone": runtime.settings.timezone}
    owners = principal.access.owners("reports")
    subjects: list[dict[str, Any]] = []
    with reader.cursor() as cur:
        scope = _scope(cur, principal, owner_id, department_id)
        people: list[UUID] | None = None if owners is None else list(owners)
        if owner_id is not None:
            people = [owner_id] if people is None or owner_id in people else []
        if scope["members"] is not None:
            people = [m for m in scope["members"] if people is None or m in people]
        set_for = opportunities.targets(cur, year=year, subject_type="user", subject_ids=people)
        won = opportunities.won_by_month(cur, owners=list(set_for), per_owner=True, **span)
        names = staff.display_names(cur, list(set_for))
        for user, months in set_for.items():
            subjects.append(_target_subject("user", user, names.get(user), months, {m: won.get((user, m)) for m in range(1, 13)}))
        if owner_id is None:
            for department, months in opportunities.targets(
                cur, year=year, subject_type="department", subject_ids=None if department_id is None else [department_id]
            ).items():  # fmt: skip
                members = staff.department_members(cur, department)
                if owners is not None and not set(members) <= owners:
                    continue
                won = opportunities.won_by_month(cur, owners=members, per_owner=False, **span)
                name = (staff.get_department(cur, department) or {}).get("name")
                subjects.append(_target_subject("department", department, name, months, {m: won.get((None, m)) for m in range(1, 13)}))
    subjects.sort(key=lambda s: (s["subject_type"] != "department", s["name"] or "", str(s["subject_id"])))
    data = {"year": year, "subjects": subjects}
    if format != "json":
        rows = [[s["subject_type"], s["subject_id"], s["name"], m["month"], m["target"], m["won_amount"], m["completion_rate"]]
                for s in subjects for m in [*s["months"], s["total"]]]  # fmt: skip
        return table_file(format, f"targets-{year}", TARGET_COLUMNS, rows, position=reader.position)
    return reader.answer(data)


def _target_subject(
    kind: str, subject_id: UUID, name: str | None, targets: dict[int, Decimal], won: dict[int, Decimal | None]
) -> dict[str, Any]:
    def line(month: int, target: Decimal | None, amount: Decimal) -> dict[str, Any]:
        rate = None if not target else round(float(amount / target), 4)
        return {"month": month, "target": target, "won_amount": amount.quantize(CENT), "completion_rate": rate}

    months = [line(m, targets.get(m), won.get(m) or Decimal(0)) for m in range(1, 13)]
    total_target = sum(targets.values(), Decimal("0.00"))
    total = line(0, total_target if targets else None, sum((m["won_amount"] for m in months), Decimal(0)))
    return {"subject_type": kind, "subject_id": subject_id, "name": name, "months": months, "total": total}
