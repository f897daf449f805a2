"""Tickets read model: the ticket list (with search ``q``), each ticket's timeline, return visits,
fees and costs, and the service report.

Tables:
- ``tickets``: one row per ticket as it is now, with its customer's current owner
  (``customer_owner_id``) and name: a ticket's data scope is its customer's owner's and its
  assignee's, so the owner is kept current from ``Customer.Reassigned`` here.
- ``timeline``: every event of every ticket (its fields as JSON), for the ticket's detail.
- ``visits``: each return visit (回访) with its satisfaction and the assignee at the time.
- ``charges``: each service fee (收费) and cost (支出), for the service report.
- ``customers``: each customer's name and owner, from the customer events, by this model itself
  (it waits on no other read model and rebuilds alone).

Every update of a ticket row is guarded by the event's version (``version < %s``), so applying
an event twice changes nothing; inserts are ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import orjson
from psycopg import Cursor
from psycopg.types.json import Jsonb

from crm_es.access import Access
from crm_es.aggregates.base import describe_event
from crm_es.aggregates.customer import Customer
from crm_es.aggregates.ticket import Ticket
from crm_es.projections import search
from crm_es.projections.base import OVERVIEW_LATEST, Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

SCHEMA = live_schema("tickets")
SCHEMA_Q = f'"{SCHEMA}"'

TICKET_COLUMNS = (
    "id", "customer_id", "customer_owner_id", "contact_id", "kind", "channel", "subject", "description", "priority",
    "status", "assignee_id", "department_id", "opened_at", "due_at", "sla", "resolution", "resolved_by",
    "resolved_at", "resolution_days", "resolved_within_sla", "closed_at", "reopened", "satisfaction", "visited_at",
    "fees", "costs", "escalation_level", "escalated_at", "escalated_to", "created_at", "updated_at", "version",
)  # fmt: skip
_SELECT = (
    "SELECT " + ", ".join(f"t.{c}" for c in TICKET_COLUMNS)
    + ", c.name AS customer_name FROM {s}.tickets t LEFT JOIN {s}.customers c ON c.id = t.customer_id"
)
_ACTIVE = "t.status IN ('open', 'in_progress')"
_LATEST = ("id", "kind", "priority", "status", "subject", "assignee_id", "opened_at", "due_at", "satisfaction")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TicketsProjection(Projection):
    name = "tickets"
    version = 1
    ddl = """
    CREATE TABLE {s}.tickets (
        id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        customer_owner_id uuid NOT NULL,
        contact_id uuid,
        kind text NOT NULL,
        channel text NOT NULL,
        subject text NOT NULL,
        description text,
        priority text NOT NULL,
        status text NOT NULL,              -- open, in_progress, resolved, closed
        assignee_id uuid,
        department_id uuid,
        opened_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        sla jsonb NOT NULL,                -- {unit, amount, calendar}
        resolution text,
        resolved_by uuid,
        resolved_at timestamptz,
        resolution_days numeric(9, 2),     -- working days from opening to resolution
        resolved_within_sla boolean,
        closed_at timestamptz,
        reopened integer NOT NULL DEFAULT 0,
        satisfaction smallint,             -- of the latest return visit
        visited_at timestamptz,
        fees numeric(17, 2) NOT NULL DEFAULT 0,
        costs numeric(17, 2) NOT NULL DEFAULT 0,
        escalation_level integer NOT NULL DEFAULT 0,
        escalated_at timestamptz,
        escalated_to uuid,
        created_at timestamptz NOT NULL,   -- when it was opened: the list's order (and search's)
        updated_at timestamptz NOT NULL,
        version integer NOT NULL,
    """ + search.DDL + """
    );
    CREATE INDEX tickets_customer ON {s}.tickets (customer_id);
    CREATE TABLE {s}.timeline (
        ticket_id uuid NOT NULL,
        version integer NOT NULL,
        event_type text NOT NULL,
        at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        actor text,
        data jsonb NOT NULL,
        PRIMARY KEY (ticket_id, version)
    );
    CREATE TABLE {s}.visits (
        ticket_id uuid NOT NULL,
        version integer NOT NULL,
        customer_id uuid NOT NULL,
        assignee_id uuid,
        satisfaction smallint NOT NULL,
        note text,
        visited_at timestamptz NOT NULL,
        PRIMARY KEY (ticket_id, version)
    );
    CREATE TABLE {s}.charges (
        ticket_id uuid NOT NULL,
        version integer NOT NULL,
        kind text NOT NULL,                -- fee, cost
        amount numeric(17, 2) NOT NULL,
        incurred_on date NOT NULL,
        PRIMARY KEY (ticket_id, version)
    );
    CREATE TABLE {s}.customers (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        owner_id uuid NOT NULL
    );
    """
    indexes = search.indexes("{s}", "tickets") + """
    CREATE INDEX tickets_recent ON {s}.tickets (created_at DESC, id DESC);
    CREATE INDEX tickets_customer_owner ON {s}.tickets (customer_owner_id, created_at DESC, id DESC);
    CREATE INDEX tickets_assignee ON {s}.tickets (assignee_id, created_at DESC, id DESC);
    CREATE INDEX tickets_department ON {s}.tickets (department_id, created_at DESC);
    CREATE INDEX tickets_status ON {s}.tickets (status, created_at DESC);
    CREATE INDEX tickets_due ON {s}.tickets (due_at) WHERE status IN ('open', 'in_progress');
    CREATE INDEX tickets_resolved ON {s}.tickets (resolved_at) WHERE resolved_at IS NOT NULL;
    CREATE INDEX visits_customer ON {s}.visits (customer_id);
    CREATE INDEX visits_at ON {s}.visits (visited_at);
    CREATE INDEX charges_incurred ON {s}.charges (incurred_on);
    """

    def overview(self, cur: Cursor[Any], customer_id: UUID, access: Access) -> dict[str, Any]:
        """The customer's tickets within the caller's scope: how many, open, overdue now, the
        average satisfaction of their return visits, and the latest few."""
        if not access.allows("tickets:read"):
            return {}
        scope, params = _scope(access.owners("tickets"), "t.")
        where = " AND ".join(["t.customer_id = %s", *scope])
        params = [customer_id, *params]
        totals = cur.execute(
            q(SCHEMA, "SELECT count(*) AS count, count(*) FILTER (WHERE " + _ACTIVE + ") AS open, "
                      "count(*) FILTER (WHERE " + _ACTIVE + " AND t.due_at < now()) AS overdue, "
                      "(SELECT round(avg(v.satisfaction), 2) FROM {s}.visits v JOIN {s}.tickets t ON t.id = v.ticket_id "
                      f"WHERE {where}) AS satisfaction FROM {{s}}.tickets t WHERE {where}"),
            params + params,
        ).fetchone()  # fmt: skip
        latest = cur.execute(
            q(SCHEMA, _SELECT + f" WHERE {where} ORDER BY t.created_at DESC, t.id DESC LIMIT {OVERVIEW_LATEST}"), params
        ).fetchall()
        satisfaction = totals.pop("satisfaction")
        return {"tickets": {
            **totals, "satisfaction": None if satisfaction is None else float(satisfaction),
            "latest": [{c: row[c] for c in _LATEST} for row in latest],
        }}  # fmt: skip

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    # Customers: names and owners -------------------------------------------------------------

    @apply.register
    def _customer_registered(self, e: Customer.Registered, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.customers (id, name, owner_id) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.name, e.owner_id),
        )

    @apply.register
    def _customer_updated(self, e: Customer.ProfileUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        if "name" not in e.changes:
            return
        name = e.changes["name"]
        cur.execute(q(schema, "UPDATE {s}.customers SET name = %s WHERE id = %s"), (name, e.originator_id))
        rows = cur.execute(q(schema, "SELECT id, subject FROM {s}.tickets WHERE customer_id = %s"), (e.originator_id,)).fetchall()
        for ticket_id, subject in rows:  # the customer's name finds its tickets: their search columns follow it
            self._set_search(cur, schema, ticket_id, subject, name)

    @apply.register
    def _customer_reassigned(self, e: Customer.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(q(schema, "UPDATE {s}.customers SET owner_id = %s WHERE id = %s"), (e.owner_id, e.originator_id))
        cur.execute(
            q(schema, "UPDATE {s}.tickets SET customer_owner_id = %s WHERE customer_id = %s AND customer_owner_id <> %s"),
            (e.owner_id, e.originator_id, e.owner_id),
        )

    @staticmethod
    def _set_search(cur: Cursor[Any], schema: str, ticket_id: UUID, subject: str, customer_name: str | None) -> None:
        columns = search.columns(subject, names=[customer_name])
        cur.execute(
            q(schema, f"UPDATE {{s}}.tickets SET {', '.join(f'{c} = %s' for c in columns)} WHERE id = %s"),
            (*columns.values(), ticket_id),
        )

    # Tickets -------------------------------------------------------------------------------------

    @staticmethod
    def _timeline(cur: Cursor[Any], schema: str, e: Any, position: int) -> None:
        record = describe_event(position, e)
        data = {k: v for k, v in record["data"].items() if k != "at"}
        cur.execute(
            q(schema, "INSERT INTO {s}.timeline (ticket_id, version, event_type, at, recorded_at, actor, data) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
            (e.originator_id, e.originator_version, record["event_type"], e.at, e.timestamp, record["actor"],
             Jsonb(data, dumps=_dumps)),
        )  # fmt: skip

    def _update(self, cur: Cursor[Any], schema: str, e: Any, position: int, sql_set: str = "", params: tuple[Any, ...] = ()) -> None:
        """Set ``sql_set`` on the ticket (if this event is new to the row) and add the event to its timeline."""
        assignments = (sql_set + ", " if sql_set else "") + "updated_at = %s, version = %s"
        cur.execute(
            q(schema, f"UPDATE {{s}}.tickets SET {assignments} WHERE id = %s AND version < %s"),
            (*params, e.at, e.originator_version, e.originator_id, e.originator_version),
        )
        self._timeline(cur, schema, e, position)

    @apply.register
    def _opened(self, e: Ticket.Opened, cur: Cursor[Any], schema: str, position: int) -> None:
        customer = cur.execute(q(schema, "SELECT name, owner_id FROM {s}.customers WHERE id = %s"), (e.customer_id,)).fetchone()
        if customer is None:
            raise LookupError(f"ticket {e.originator_id} names customer {e.customer_id}, whose registration this model lacks")
        name, owner_id = customer
        columns = search.columns(e.subject, names=[name])
        names = ("id", "customer_id", "customer_owner_id", "contact_id", "kind", "channel", "subject", "description",
                 "priority", "status", "opened_at", "due_at", "sla", "created_at", "updated_at", "version", *columns)  # fmt: skip
        values = (
            e.originator_id, e.customer_id, owner_id, e.contact_id, e.kind, e.channel, e.subject,
            e.description, e.priority, "open", e.at, e.due_at, Jsonb(e.sla), e.at, e.at, e.originator_version,
            *columns.values(),
        )  # fmt: skip
        cur.execute(
            q(schema, f"INSERT INTO {{s}}.tickets ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) "
                      "ON CONFLICT (id) DO NOTHING"),
            values,
        )  # fmt: skip
        self._timeline(cur, schema, e, position)

    @apply.register
    def _assigned(self, e: Ticket.Assigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, position, "assignee_id = %s, department_id = %s, status = 'in_progress'",
                     (e.assignee_id, e.department_id))  # fmt: skip

    @apply.register
    def _transferred(self, e: Ticket.Transferred, cur: Cursor[Any], schema: str, position: int) -> None:
        status = "in_progress" if e.assignee_id is not None or e.department_id is not None else "open"
        self._update(cur, schema, e, position, "assignee_id = %s, department_id = %s, status = %s",
                     (e.assignee_id, e.department_id, status))  # fmt: skip

    @apply.register
    def _progress_noted(self, e: Ticket.ProgressNoted, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, position)

    @apply.register
    def _escalated(self, e: Ticket.Escalated, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, position, "escalation_level = %s, escalated_at = %s, escalated_to = %s",
                     (e.level, e.at, e.to_user_id))  # fmt: skip

    @apply.register
    def _resolved(self, e: Ticket.Resolved, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(
            cur, schema, e, position,
            "status = 'resolved', resolution = %s, resolved_by = %s, resolved_at = %s, resolution_days = %s, "
            "resolved_within_sla = %s",
            (e.resolution, e.resolved_by, e.at, e.working_days, e.within_sla),
        )  # fmt: skip

    @apply.register
    def _reopened(self, e: Ticket.Reopened, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(
            cur, schema, e, position,
            "status = CASE WHEN assignee_id IS NULL AND department_id IS NULL THEN 'open' ELSE 'in_progress' END, "
            "due_at = %s, sla = %s, resolution = NULL, resolved_by = NULL, resolved_at = NULL, resolution_days = NULL, "
            "resolved_within_sla = NULL, closed_at = NULL, reopened = reopened + 1",
            (e.due_at, Jsonb(e.sla)),
        )  # fmt: skip

    @apply.register
    def _closed(self, e: Ticket.Closed, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, position, "status = 'closed', closed_at = %s", (e.at,))

    @apply.register
    def _return_visit(self, e: Ticket.ReturnVisitRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.visits (ticket_id, version, customer_id, assignee_id, satisfaction, note, visited_at) "
                      "SELECT id, %s, customer_id, %s, %s, %s, %s FROM {s}.tickets WHERE id = %s ON CONFLICT DO NOTHING"),
            (e.originator_version, e.assignee_id, e.satisfaction, e.note, e.at, e.originator_id),
        )  # fmt: skip
        self._update(cur, schema, e, position, "satisfaction = %s, visited_at = %s", (e.satisfaction, e.at))

    def _charge(self, cur: Cursor[Any], schema: str, e: Any, position: int, kind: str) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.charges (ticket_id, version, kind, amount, incurred_on) VALUES (%s, %s, %s, %s, %s) "
                      "ON CONFLICT DO NOTHING"),
            (e.originator_id, e.originator_version, kind, e.amount, e.incurred_on),
        )  # fmt: skip
        column = "fees" if kind == "fee" else "costs"
        self._update(cur, schema, e, position, f"{column} = {column} + %s", (e.amount,))

    @apply.register
    def _fee(self, e: Ticket.FeeRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        self._charge(cur, schema, e, position, "fee")

    @apply.register
    def _cost(self, e: Ticket.CostRecorded, cur: Cursor[Any], schema: str, position: int) -> None:
        self._charge(cur, schema, e, position, "cost")


# Queries ---------------------------------------------------------------------------------------


def _scope(owners: frozenset[UUID] | None, alias: str = "") -> tuple[list[str], list[Any]]:
    """The data scope of tickets: the customer's owner or the assignee is one of ``owners``."""
    if owners is None:
        return [], []
    ids = list(owners)
    return [f"({alias}customer_owner_id = ANY(%s) OR {alias}assignee_id = ANY(%s))"], [ids, ids]


def get_ticket(cur: Cursor[Any], ticket_id: UUID) -> dict[str, Any] | None:
    """The ticket with its customer's name and its timeline, oldest first."""
    row = cur.execute(q(SCHEMA, _SELECT + " WHERE t.id = %s"), (ticket_id,)).fetchone()
    if row is not None:
        row["timeline"] = cur.execute(
            q(SCHEMA, "SELECT version, event_type, at, recorded_at, actor, data FROM {s}.timeline WHERE ticket_id = %s "
                      "ORDER BY version"),
            (ticket_id,),
        ).fetchall()  # fmt: skip
    return row


def list_tickets(  # noqa: PLR0913 - one parameter per filter
    cur: Cursor[Any],
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    priority: str | None = None,
    assignee_id: UUID | None = None,
    departments: list[UUID] | None = None,
    customer_id: UUID | None = None,
    overdue: bool | None = None,
    now: datetime | None = None,
    q_text: str | None = None,
    owners: frozenset[UUID] | None = None,
) -> Page:
    """Tickets newest first (by when they were opened), or best match first with ``q_text``;
    within the data scope ``owners``. ``overdue``: still open or in progress and past due at
    ``now`` (or not)."""
    where, params = _scope(owners)
    for column, value in (("status", status), ("kind", kind), ("priority", priority), ("assignee_id", assignee_id),
                          ("customer_id", customer_id)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if departments is not None:
        where.append("department_id = ANY(%s)")
        params.append(departments)
    if overdue is not None:
        moment = now or datetime.now(timezone.utc)
        if overdue:
            where.append("status IN ('open', 'in_progress') AND due_at < %s")
        else:
            where.append("NOT (status IN ('open', 'in_progress') AND due_at < %s)")
        params.append(moment)
    columns = (*TICKET_COLUMNS, f"(SELECT name FROM {SCHEMA_Q}.customers c WHERE c.id = customer_id) AS customer_name")
    if q_text:
        return search.page(
            cur, table=f"{SCHEMA_Q}.tickets", columns=columns, filters=where, params=params, q=q_text, limit=limit,
            cursor=cursor,
        )  # fmt: skip
    if cursor:
        where.append("(created_at, id) < (%s, %s)")
        params += decode_cursor(cursor, "tickets", _aware, UUID)
    statement = (
        f"SELECT {', '.join(columns)} FROM {SCHEMA_Q}.tickets" + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY created_at DESC, id DESC LIMIT %s"
    )
    rows = cur.execute(statement.encode(), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("tickets", [rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])])
    return Page(rows, next_cursor)



def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment


def open_assigned_to(cur: Cursor[Any], user_id: UUID) -> list[UUID]:
    """Ids of the open and in-progress tickets assigned to ``user_id``, oldest first (for a handover)."""
    rows = cur.execute(
        q(SCHEMA, "SELECT id FROM {s}.tickets WHERE assignee_id = %s AND status IN ('open', 'in_progress') "
                  "ORDER BY created_at, id"),
        (user_id,),
    ).fetchall()  # fmt: skip
    return [row["id"] for row in rows]


def overdue_unescalated(cur: Cursor[Any], now: datetime, *, limit: int = 500) -> list[dict[str, Any]]:
    """Open and in-progress tickets past due at ``now`` that were not escalated since they fell
    due (for the escalation process), those due longest ago first."""
    return cur.execute(
        q(SCHEMA, "SELECT id, due_at, version FROM {s}.tickets t WHERE " + _ACTIVE + " AND t.due_at < %s "
                  "AND (t.escalated_at IS NULL OR t.escalated_at < t.due_at) ORDER BY t.due_at LIMIT %s"),
        (now, limit),
    ).fetchall()  # fmt: skip


def customer_summaries(cur: Cursor[Any], customer_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    """Per customer: open tickets (open or in progress) and the average satisfaction of its
    return visits (null without any). One statement, through the customer indexes."""
    if not customer_ids:
        return {}
    rows = cur.execute(
        q(SCHEMA, """
        SELECT ids.id,
               (SELECT count(*) FROM {s}.tickets t WHERE t.customer_id = ids.id AND t.status IN ('open', 'in_progress'))
                   AS open_tickets,
               (SELECT round(avg(v.satisfaction), 2) FROM {s}.visits v WHERE v.customer_id = ids.id) AS satisfaction
        FROM unnest(%s::uuid[]) AS ids(id)
        """),
        (customer_ids,),
    ).fetchall()  # fmt: skip
    return {
        r["id"]: {"open_tickets": r["open_tickets"], "satisfaction": None if r["satisfaction"] is None else float(r["satisfaction"])}
        for r in rows
    }  # fmt: skip


# The service report ------------------------------------------------------------------------------


def _report_filters(
    owners: frozenset[UUID] | None, kind: str | None, owner_id: UUID | None, assignee_id: UUID | None,
    departments: list[UUID] | None,
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    filters, params = "", {}
    if owners is not None:
        filters += " AND (t.customer_owner_id = ANY(%(owners)s) OR t.assignee_id = ANY(%(owners)s))"
        params["owners"] = list(owners)
    for name, clause, value in (
        ("kind", "t.kind = %(kind)s", kind),
        ("owner", "t.customer_owner_id = %(owner)s", owner_id),
        ("assignee", "t.assignee_id = %(assignee)s", assignee_id),
        ("departments", "t.department_id = ANY(%(departments)s)", departments),
    ):
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    return filters, params


def _between(column: str, start: datetime | None, end: datetime | None, params: dict[str, Any]) -> str:
    clause = ""
    if start is not None:
        clause += f" AND {column} >= %(start)s"
        params["start"] = start
    if end is not None:
        clause += f" AND {column} < %(end)s"
        params["end"] = end
    return clause


_WEEKLY = """
WITH opened AS (
    SELECT date_trunc('week', t.opened_at AT TIME ZONE %(zone)s)::date AS week, t.kind, count(*) AS n
    FROM {s}.tickets t WHERE true {filters} {opened} GROUP BY 1, 2
), resolved AS (
    SELECT date_trunc('week', t.resolved_at AT TIME ZONE %(zone)s)::date AS week, t.kind, count(*) AS n
    FROM {s}.tickets t WHERE t.resolved_at IS NOT NULL {filters} {resolved} GROUP BY 1, 2
)
SELECT coalesce(o.week, r.week) AS week, coalesce(o.kind, r.kind) AS kind,
       coalesce(o.n, 0) AS opened, coalesce(r.n, 0) AS resolved
FROM opened o FULL JOIN resolved r ON r.week = o.week AND r.kind = o.kind
ORDER BY 1, 2
"""

_RESOLUTION = """
SELECT coalesce(t.kind, 'all') AS kind, count(*) AS resolved,
       round(avg(t.resolution_days), 2) AS avg_days,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.resolution_days)::numeric, 2) AS p90_days,
       round(avg(CASE WHEN t.resolved_within_sla THEN 1 ELSE 0 END), 4) AS within_sla
FROM {s}.tickets t WHERE t.resolved_at IS NOT NULL {filters} {resolved}
GROUP BY ROLLUP (t.kind) ORDER BY t.kind NULLS LAST
"""

_BY_CUSTOMER = """
SELECT v.customer_id, c.name, count(*) AS visits, round(avg(v.satisfaction), 2) AS satisfaction, sum(v.satisfaction) AS points
FROM {s}.visits v JOIN {s}.tickets t ON t.id = v.ticket_id LEFT JOIN {s}.customers c ON c.id = v.customer_id
WHERE true {filters} {visited}
GROUP BY v.customer_id, c.name ORDER BY avg(v.satisfaction), count(*) DESC, c.name, v.customer_id
"""

_BY_ASSIGNEE = """
SELECT v.assignee_id, count(*) AS visits, round(avg(v.satisfaction), 2) AS satisfaction
FROM {s}.visits v JOIN {s}.tickets t ON t.id = v.ticket_id
WHERE true {filters} {visited}
GROUP BY v.assignee_id ORDER BY avg(v.satisfaction), count(*) DESC, v.assignee_id
"""

_CHARGES = """
SELECT to_char(ch.incurred_on, 'YYYY-MM') AS month,
       coalesce(sum(ch.amount) FILTER (WHERE ch.kind = 'fee'), 0) AS fees,
       coalesce(sum(ch.amount) FILTER (WHERE ch.kind = 'cost'), 0) AS costs,
       count(DISTINCT ch.ticket_id) AS tickets
FROM {s}.charges ch JOIN {s}.tickets t ON t.id = ch.ticket_id
WHERE true {filters} {incurred}
GROUP BY 1 ORDER BY 1
"""

CENT = Decimal("0.01")


def service_report(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    zone: str,
    start: datetime | None = None,
    end: datetime | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    kind: str | None = None,
    owner_id: UUID | None = None,
    assignee_id: UUID | None = None,
    departments: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
) -> dict[str, Any]:
    """The service report (服务趋势分析) of the period [``start``, ``end``) (``first_day`` to
    ``last_day`` for dated fees and costs): tickets opened and resolved per week and kind;
    resolution time in working days (average, 90th percentile) and the share resolved within
    their due time, per kind and overall; average satisfaction of the return visits per customer
    and per assignee (at the visit); fees and costs per month. Within ``owners`` (data scope)."""
    filters, base = _report_filters(owners, kind, owner_id, assignee_id, departments)

    def run(statement: str, **clauses: str) -> list[dict[str, Any]]:
        params = dict(base, zone=zone)
        text = statement.replace("{filters}", filters)
        for name, column in clauses.items():
            text = text.replace("{" + name + "}", _between(column, start, end, params))
        return cur.execute(q(SCHEMA, text), params).fetchall()

    weekly = run(_WEEKLY, opened="t.opened_at", resolved="t.resolved_at")
    resolution = run(_RESOLUTION, resolved="t.resolved_at")
    by_customer = run(_BY_CUSTOMER, visited="v.visited_at")
    by_assignee = run(_BY_ASSIGNEE, visited="v.visited_at")
    charge_params = dict(base)
    dated = ""
    if first_day is not None:
        dated += " AND ch.incurred_on >= %(first_day)s"
        charge_params["first_day"] = first_day
    if last_day is not None:
        dated += " AND ch.incurred_on <= %(last_day)s"
        charge_params["last_day"] = last_day
    charges = cur.execute(q(SCHEMA, _CHARGES.replace("{filters}", filters).replace("{incurred}", dated)), charge_params).fetchall()
    totals = {"opened": sum(w["opened"] for w in weekly), "resolved": sum(w["resolved"] for w in weekly)}
    overall = next((r for r in resolution if r["kind"] == "all"), None)
    visits = sum(c["visits"] for c in by_customer)
    return {
        "weekly": [{"week": w["week"], "kind": w["kind"], "opened": w["opened"], "resolved": w["resolved"]} for w in weekly],
        "resolution": [
            {"kind": r["kind"], "resolved": r["resolved"], "avg_working_days": _number(r["avg_days"]),
             "p90_working_days": _number(r["p90_days"]), "within_sla_rate": _number(r["within_sla"])}
            for r in resolution if r["kind"] != "all"
        ],  # fmt: skip
        "satisfaction_by_customer": [
            {"customer_id": c["customer_id"], "name": c["name"], "visits": c["visits"], "satisfaction": _number(c["satisfaction"])}
            for c in by_customer
        ],  # fmt: skip
        "satisfaction_by_assignee": [
            {"assignee_id": a["assignee_id"], "visits": a["visits"], "satisfaction": _number(a["satisfaction"])}
            for a in by_assignee
        ],  # fmt: skip
        "charges": [
            {"month": c["month"], "fees": Decimal(c["fees"]).quantize(CENT), "costs": Decimal(c["costs"]).quantize(CENT),
             "net": (Decimal(c["fees"]) - Decimal(c["costs"])).quantize(CENT), "tickets": c["tickets"]}
            for c in charges
        ],  # fmt: skip
        "totals": {
            **totals,
            "avg_working_days": _number(overall["avg_days"]) if overall else None,
            "p90_working_days": _number(overall["p90_days"]) if overall else None,
            "within_sla_rate": _number(overall["within_sla"]) if overall else None,
            "visits": visits,
            "satisfaction": round(sum(c["points"] for c in by_customer) / visits, 2) if visits else None,
            "fees": sum((Decimal(c["fees"]) for c in charges), Decimal("0.00")).quantize(CENT),
            "costs": sum((Decimal(c["costs"]) for c in charges), Decimal("0.00")).quantize(CENT),
        },
    }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)

