"""Opportunities read model: the opportunity list, each one's stage history, and the funnel.

Tables:
- ``opportunities``: one row per opportunity as it is now.
- ``stage_history``: one row per stay in a stage (won and lost included), from when it was
  entered to when it was left (null while it lasts), with the amount at entry. Written from
  Opened, StageChanged, Won, Lost and Reopened.
- ``amounts``: one row per amount an opportunity had, valid from one moment to the next, so
  the funnel shows the amounts as they stood at any moment (``as_of``).
- ``customers``: each customer's current name, kept from the customer events by this model
  itself. Lists join it at query time, so a renamed customer shows its new name on every
  opportunity at once, and the model never waits on (or rebuilds with) another read model.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from psycopg import Cursor

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.target import SalesTarget
from crm_es.projections.base import OVERVIEW_LATEST, Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor, like_pattern

if TYPE_CHECKING:
    from crm_es.access import Access

SCHEMA = live_schema("opportunities")

OPPORTUNITY_COLUMNS = (
    "id", "customer_id", "title", "amount", "currency", "expected_close_date", "owner_id", "source",
    "stage", "status", "competitor_ids", "lost_reason", "lost_competitor_id", "lost_note", "closed_at",
    "created_at", "updated_at", "version",
)  # fmt: skip
_SELECT = (
    "SELECT " + ", ".join(f"o.{c}" for c in OPPORTUNITY_COLUMNS)
    + ", c.name AS customer_name FROM {s}.opportunities o LEFT JOIN {s}.customers c ON c.id = o.customer_id"
)

_CLOSE_STAGE = "UPDATE {s}.stage_history SET left_at = %s WHERE opportunity_id = %s AND left_at IS NULL"
_ENTER_STAGE = (
    "INSERT INTO {s}.stage_history (opportunity_id, version, stage, entered_at, amount) "
    "SELECT %s, %s, %s, %s, coalesce(%s, (SELECT amount FROM {s}.opportunities WHERE id = %s)) "
    "ON CONFLICT DO NOTHING"
)
_CHANGE_AMOUNT = """
WITH closed AS (
    UPDATE {s}.amounts SET valid_to = %(at)s
    WHERE opportunity_id = %(id)s AND valid_to IS NULL AND amount <> %(amount)s RETURNING 1
)
INSERT INTO {s}.amounts (opportunity_id, version, amount, valid_from)
SELECT %(id)s, %(version)s, %(amount)s, %(at)s WHERE EXISTS (SELECT 1 FROM closed)
ON CONFLICT DO NOTHING
"""


class OpportunitiesProjection(Projection):
    name = "opportunities"
    version = 4
    ddl = """
    CREATE TABLE {s}.opportunities (
        id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        title text NOT NULL,
        amount numeric(17, 2) NOT NULL,
        currency text NOT NULL,
        expected_close_date date NOT NULL,
        owner_id uuid NOT NULL,
        source text,
        stage text NOT NULL,
        status text NOT NULL,            -- open, won, lost
        competitor_ids uuid[] NOT NULL DEFAULT '{}',
        lost_reason text,
        lost_competitor_id uuid,
        lost_note text,
        closed_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
    );
    CREATE TABLE {s}.stage_history (
        opportunity_id uuid NOT NULL,
        version integer NOT NULL,        -- of the event that entered the stage
        stage text NOT NULL,
        entered_at timestamptz NOT NULL,
        left_at timestamptz,
        amount numeric(17, 2) NOT NULL,  -- at entry (for won: the final amount)
        PRIMARY KEY (opportunity_id, version)
    );
    CREATE TABLE {s}.amounts (
        opportunity_id uuid NOT NULL,
        version integer NOT NULL,
        amount numeric(17, 2) NOT NULL,
        valid_from timestamptz NOT NULL,
        valid_to timestamptz,
        PRIMARY KEY (opportunity_id, version)
    );
    CREATE TABLE {s}.close_dates (
        opportunity_id uuid NOT NULL,
        version integer NOT NULL,
        expected_close_date date NOT NULL,
        valid_from timestamptz NOT NULL,
        PRIMARY KEY (opportunity_id, version)
    );
    CREATE TABLE {s}.customers (
        id uuid PRIMARY KEY,
        name text NOT NULL
    );
    CREATE TABLE {s}.quotes (
        opportunity_id uuid NOT NULL,
        number integer NOT NULL,
        lines jsonb NOT NULL,             -- [{stock_item_id, description, quantity, unit_price, discount_rate, total}]
        total numeric(17, 2) NOT NULL,
        valid_until date NOT NULL,
        note text,
        issued_at timestamptz NOT NULL,
        accepted_at timestamptz,          -- of the one accepted quote
        PRIMARY KEY (opportunity_id, number)
    );
    CREATE TABLE {s}.target_subjects (
        id uuid PRIMARY KEY,              -- the SalesTarget record
        subject_type text NOT NULL,       -- user, department
        subject_id uuid NOT NULL,
        year integer NOT NULL
    );
    CREATE INDEX target_subjects_year ON {s}.target_subjects (year, subject_type);
    CREATE TABLE {s}.targets (
        target_id uuid NOT NULL,
        month integer NOT NULL,
        amount numeric(17, 2) NOT NULL,
        PRIMARY KEY (target_id, month)
    );
    """
    indexes = """
    CREATE INDEX opportunities_recent ON {s}.opportunities (created_at DESC, id DESC);
    CREATE INDEX opportunities_owner ON {s}.opportunities (owner_id, created_at DESC, id DESC);
    CREATE INDEX opportunities_customer ON {s}.opportunities (customer_id, created_at DESC);
    CREATE INDEX opportunities_stage ON {s}.opportunities (stage, status);
    CREATE INDEX opportunities_close ON {s}.opportunities (expected_close_date);
    CREATE INDEX opportunities_title ON {s}.opportunities USING gin (lower(title) gin_trgm_ops);
    CREATE INDEX stage_history_stage ON {s}.stage_history (stage, entered_at);
    CREATE INDEX opportunities_won ON {s}.opportunities (owner_id, closed_at) WHERE status = 'won';
    """

    def overview(self, cur: Cursor[Any], customer_id: UUID, access: Access) -> dict[str, Any]:
        """The customer's opportunities within the caller's scope: open, won and lost with their
        amounts, and the latest few."""
        if not access.allows("opportunities:read"):
            return {}
        where, params = "o.customer_id = %s", [customer_id]
        owners = access.owners("opportunities")
        if owners is not None:
            where += " AND o.owner_id = ANY(%s)"
            params.append(list(owners))
        totals = cur.execute(
            q(SCHEMA, "SELECT count(*) AS count, "
                      "count(*) FILTER (WHERE status = 'open') AS open, "
                      "coalesce(sum(amount) FILTER (WHERE status = 'open'), 0) AS open_amount, "
                      "count(*) FILTER (WHERE status = 'won') AS won, "
                      "coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) AS won_amount, "
                      "count(*) FILTER (WHERE status = 'lost') AS lost "
                      f"FROM {{s}}.opportunities o WHERE {where}"),
            params,
        ).fetchone()  # fmt: skip
        latest = cur.execute(
            q(SCHEMA, _SELECT + f" WHERE {where} ORDER BY o.created_at DESC, o.id DESC LIMIT {OVERVIEW_LATEST}"), params
        ).fetchall()
        return {"opportunities": {**totals, "latest": latest}}

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    # Customer names --------------------------------------------------------------------------

    @apply.register
    def _customer_registered(self, e: Customer.Registered, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.customers (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.name),
        )

    @apply.register
    def _customer_updated(self, e: Customer.ProfileUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        if "name" in e.changes:
            cur.execute(q(schema, "UPDATE {s}.customers SET name = %s WHERE id = %s"), (e.changes["name"], e.originator_id))

    # Opportunities ---------------------------------------------------------------------------

    @staticmethod
    def _update(cur: Cursor[Any], schema: str, e: Any, **values: Any) -> None:
        sets = "".join(f"{c} = %s, " for c in values)
        cur.execute(
            q(schema, f"UPDATE {{s}}.opportunities SET {sets}updated_at = %s, version = %s WHERE id = %s"),
            (*values.values(), e.timestamp, e.originator_version, e.originator_id),
        )

    @staticmethod
    def _enter(cur: Cursor[Any], schema: str, e: Any, stage: str, amount: Decimal | None = None) -> None:
        """Leave the current stage and enter ``stage`` (at the amount the opportunity has, or ``amount``)."""
        cur.execute(q(schema, _CLOSE_STAGE), (e.timestamp, e.originator_id))
        cur.execute(
            q(schema, _ENTER_STAGE), (e.originator_id, e.originator_version, stage, e.timestamp, amount, e.originator_id)
        )

    @apply.register
    def _opened(self, e: Opportunity.Opened, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.opportunities (id, customer_id, title, amount, currency, expected_close_date, "
                      "owner_id, source, stage, status, competitor_ids, created_at, updated_at, version) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.customer_id, e.title, e.amount, e.currency, e.expected_close_date, e.owner_id,
             e.source, e.stage, list(e.competitor_ids), e.timestamp, e.timestamp, e.originator_version),
        )  # fmt: skip
        self._enter(cur, schema, e, e.stage, e.amount)
        cur.execute(
            q(schema, "INSERT INTO {s}.amounts (opportunity_id, version, amount, valid_from) VALUES (%s, %s, %s, %s) "
                      "ON CONFLICT DO NOTHING"),
            (e.originator_id, e.originator_version, e.amount, e.timestamp),
        )  # fmt: skip
        self._close_date(cur, schema, e, e.expected_close_date)

    @staticmethod
    def _close_date(cur: Cursor[Any], schema: str, e: Any, expected: date) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.close_dates (opportunity_id, version, expected_close_date, valid_from) "
                      "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"),
            (e.originator_id, e.originator_version, expected, e.timestamp),
        )  # fmt: skip

    @apply.register
    def _stage_changed(self, e: Opportunity.StageChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._enter(cur, schema, e, e.to_stage)
        self._update(cur, schema, e, stage=e.to_stage)

    def _amount(self, cur: Cursor[Any], schema: str, e: Any, amount: Decimal) -> None:
        cur.execute(
            q(schema, _CHANGE_AMOUNT),
            {"id": e.originator_id, "version": e.originator_version, "amount": amount, "at": e.timestamp},
        )

    @apply.register
    def _amount_changed(self, e: Opportunity.AmountChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._amount(cur, schema, e, e.amount)
        self._update(cur, schema, e, amount=e.amount)

    @apply.register
    def _close_date_changed(self, e: Opportunity.CloseDateChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._close_date(cur, schema, e, e.expected_close_date)
        self._update(cur, schema, e, expected_close_date=e.expected_close_date)

    @apply.register
    def _retitled(self, e: Opportunity.Retitled, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, title=e.title)

    @apply.register
    def _reassigned(self, e: Opportunity.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, e, owner_id=e.owner_id)

    @apply.register
    def _won(self, e: Opportunity.Won, cur: Cursor[Any], schema: str, position: int) -> None:
        self._enter(cur, schema, e, "won", e.amount)
        self._amount(cur, schema, e, e.amount)
        self._update(cur, schema, e, stage="won", status="won", amount=e.amount, closed_at=e.timestamp)

    @apply.register
    def _lost(self, e: Opportunity.Lost, cur: Cursor[Any], schema: str, position: int) -> None:
        self._enter(cur, schema, e, "lost")
        self._update(
            cur, schema, e, stage="lost", status="lost", lost_reason=e.reason, lost_competitor_id=e.competitor_id,
            lost_note=e.note, closed_at=e.timestamp,
        )  # fmt: skip

    @apply.register
    def _quote_issued(self, e: Opportunity.QuoteIssued, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.quotes (opportunity_id, number, lines, total, valid_until, note, issued_at) "
                      "VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
            (e.originator_id, e.number, orjson.dumps(e.lines, default=str).decode(), e.total, e.valid_until, e.note,
             e.timestamp),
        )  # fmt: skip
        self._update(cur, schema, e)

    @apply.register
    def _quote_accepted(self, e: Opportunity.QuoteAccepted, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "UPDATE {s}.quotes SET accepted_at = CASE WHEN number = %s THEN %s::timestamptz END "
                      "WHERE opportunity_id = %s"),
            (e.number, e.timestamp, e.originator_id),
        )  # fmt: skip
        self._update(cur, schema, e)

    # Sales targets ---------------------------------------------------------------------------

    @apply.register
    def _target_created(self, e: SalesTarget.Created, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.target_subjects (id, subject_type, subject_id, year) VALUES (%s, %s, %s, %s) "
                      "ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.subject_type, e.subject_id, e.year),
        )  # fmt: skip

    @apply.register
    def _target_set(self, e: SalesTarget.Set, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.executemany(
            q(schema, "INSERT INTO {s}.targets (target_id, month, amount) VALUES (%s, %s, %s) "
                      "ON CONFLICT (target_id, month) DO UPDATE SET amount = excluded.amount"),
            [(e.originator_id, month, amount) for month, amount in e.months.items()],
        )  # fmt: skip

    @apply.register
    def _reopened(self, e: Opportunity.Reopened, cur: Cursor[Any], schema: str, position: int) -> None:
        self._enter(cur, schema, e, e.stage)
        self._update(
            cur, schema, e, stage=e.stage, status="open", lost_reason=None, lost_competitor_id=None, lost_note=None,
            closed_at=None,
        )  # fmt: skip


# Queries ---------------------------------------------------------------------------------------


def get_opportunity(cur: Cursor[Any], opportunity_id: UUID) -> dict[str, Any] | None:
    """The opportunity with its customer's name, its stage history (oldest stay first) and its
    quotes (by number)."""
    row = cur.execute(q(SCHEMA, _SELECT + " WHERE o.id = %s"), (opportunity_id,)).fetchone()
    if row is not None:
        row["stage_history"] = cur.execute(
            q(SCHEMA, "SELECT stage, entered_at, left_at, amount FROM {s}.stage_history WHERE opportunity_id = %s "
                      "ORDER BY version"),
            (opportunity_id,),
        ).fetchall()  # fmt: skip
        row["quotes"] = cur.execute(
            q(SCHEMA, "SELECT number, lines, total, valid_until, note, issued_at, accepted_at IS NOT NULL AS accepted, "
                      "accepted_at FROM {s}.quotes WHERE opportunity_id = %s ORDER BY number"),
            (opportunity_id,),
        ).fetchall()  # fmt: skip
    return row


def list_opportunities(  # noqa: PLR0913 - one parameter per filter
    cur: Cursor[Any],
    *,
    limit: int,
    cursor: str | None = None,
    owner_id: UUID | None = None,
    customer_id: UUID | None = None,
    stage: str | None = None,
    status: str | None = None,
    close_from: date | None = None,
    close_to: date | None = None,
    q_text: str | None = None,
    owners: frozenset[UUID] | None = None,
) -> Page:
    """Opportunities newest first; only those owned by ``owners`` when given (the data scope)."""
    where: list[str] = []
    params: list[Any] = []
    if owners is not None:
        where.append("o.owner_id = ANY(%s)")
        params.append(list(owners))
    for column, value in (("owner_id", owner_id), ("customer_id", customer_id), ("stage", stage), ("status", status)):
        if value is not None:
            where.append(f"o.{column} = %s")
            params.append(value)
    if close_from is not None:
        where.append("o.expected_close_date >= %s")
        params.append(close_from)
    if close_to is not None:
        where.append("o.expected_close_date <= %s")
        params.append(close_to)
    if q_text:
        where.append("lower(o.title) LIKE %s")
        params.append(like_pattern(q_text.strip().lower()))
    if cursor:
        where.append("(o.created_at, o.id) < (%s, %s)")
        params += decode_cursor(cursor, "opportunities", _aware, UUID)
    statement = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY o.created_at DESC, o.id DESC LIMIT %s"
    rows = cur.execute(q(SCHEMA, statement), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("opportunities", [rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])])
    return Page(rows, next_cursor)


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment


def open_on_stages(
    cur: Cursor[Any], stages: list[str], *, owners: frozenset[UUID] | None = None, off_pipeline: bool = False
) -> list[dict[str, Any]]:
    """Open opportunities on these stages (those a pipeline change removed) or, with
    ``off_pipeline``, on any stage but these (the pipeline's keys), oldest first."""
    where = "o.status = 'open' AND " + ("NOT (o.stage = ANY(%s))" if off_pipeline else "o.stage = ANY(%s)")
    params: list[Any] = [stages]
    if owners is not None:
        where += " AND o.owner_id = ANY(%s)"
        params.append(list(owners))
    return cur.execute(
        q(SCHEMA, "SELECT o.id, o.title, o.stage, o.owner_id, o.customer_id, o.amount FROM {s}.opportunities o "
                  f"WHERE {where} ORDER BY o.created_at, o.id LIMIT 10000"),
        params,
    ).fetchall()  # fmt: skip


def open_owned_by(cur: Cursor[Any], owner_id: UUID) -> list[UUID]:
    """Ids of the open opportunities ``owner_id`` owns, oldest first (for a handover)."""
    rows = cur.execute(
        q(SCHEMA, "SELECT id FROM {s}.opportunities WHERE owner_id = %s AND status = 'open' ORDER BY created_at, id"),
        (owner_id,),
    ).fetchall()
    return [row["id"] for row in rows]


# The funnel ------------------------------------------------------------------------------------

_FUNNEL = """
WITH opp AS (
    SELECT id FROM {s}.opportunities WHERE created_at <= %(t)s {filters}
), h AS (
    SELECT h.opportunity_id, h.stage, h.entered_at,
           LEAST(coalesce(h.left_at, 'infinity'::timestamptz), %(t)s) AS until,
           (h.left_at IS NULL OR h.left_at > %(t)s) AS current
    FROM {s}.stage_history h JOIN opp ON opp.id = h.opportunity_id
    WHERE h.entered_at <= %(t)s
), ranks AS (
    SELECT stage, rank FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS r(stage, rank)
), top AS (
    SELECT h.opportunity_id, max(r.rank) AS top FROM h JOIN ranks r USING (stage) GROUP BY h.opportunity_id
), amount_then AS (
    SELECT DISTINCT ON (a.opportunity_id) a.opportunity_id, a.amount
    FROM {s}.amounts a JOIN opp ON opp.id = a.opportunity_id
    WHERE a.valid_from <= %(t)s
    ORDER BY a.opportunity_id, a.valid_from DESC, a.version DESC
), now_in AS (
    SELECT h.stage, count(*) AS count, coalesce(sum(a.amount), 0) AS amount
    FROM h JOIN amount_then a USING (opportunity_id) WHERE h.current GROUP BY h.stage
), stays AS (
    SELECT stage, opportunity_id, sum(extract(epoch FROM until - entered_at)) / 86400 AS days
    FROM h GROUP BY stage, opportunity_id
)
SELECT r.stage, r.rank,
       coalesce(n.count, 0) AS count, coalesce(n.amount, 0) AS amount,
       (SELECT count(*) FROM top WHERE top.top >= r.rank) AS reached,
       (SELECT count(*) FROM top WHERE top.top > r.rank) AS went_on,
       (SELECT avg(days) FROM stays WHERE stays.stage = r.stage) AS avg_days
FROM (SELECT stage, rank FROM ranks UNION ALL SELECT 'lost', 0) r
LEFT JOIN now_in n ON n.stage = r.stage
ORDER BY r.rank
"""

CENT = Decimal("0.01")


def funnel(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    stages: list[dict[str, Any]],
    as_of: datetime,
    opened_from: datetime | None = None,
    opened_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
    schema: str = SCHEMA,
) -> dict[str, Any]:
    """The funnel of the opportunities opened in the period (and owned by ``owners``, the
    caller's scope, by ``owner_id`` and by ``members`` of a department), as it stood at
    ``as_of``: per stage, the opportunities in it then (count, amount, weighted amount), the
    share of those that reached it and went on to a later stage (or won), the average days
    spent in it; then won and lost totals and the win rate. Definitions: docs/api.md."""
    filters, params = "", {"t": as_of, "keys": [s["key"] for s in stages] + ["won"]}
    for name, clause, value in (
        ("owners", "owner_id = ANY(%(owners)s)", None if owners is None else list(owners)),
        ("owner", "owner_id = %(owner)s", owner_id),
        ("members", "owner_id = ANY(%(members)s)", members),
        ("opened_from", "created_at >= %(opened_from)s", opened_from),
        ("opened_before", "created_at < %(opened_before)s", opened_before),
    ):
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    rows = {r["stage"]: r for r in cur.execute(q(schema, _FUNNEL.replace("{filters}", filters)), params).fetchall()}
    out = []
    for stage in stages:
        row = rows[stage["key"]]
        amount = Decimal(row["amount"]).quantize(CENT)
        out.append({
            "stage": stage["key"], "name": stage["name"], "probability": stage["probability"],
            "count": row["count"], "amount": amount,
            "weighted_amount": (amount * stage["probability"] / 100).quantize(CENT, ROUND_HALF_UP),
            "reached": row["reached"],
            "conversion_rate": _ratio(row["went_on"], row["reached"]),
            "avg_days_in_stage": None if row["avg_days"] is None else round(float(row["avg_days"]), 2),
        })  # fmt: skip
    won, lost = rows["won"], rows["lost"]
    return {
        "as_of": as_of,
        "stages": out,
        "won": {"count": won["count"], "amount": Decimal(won["amount"]).quantize(CENT)},
        "lost": {"count": lost["count"], "amount": Decimal(lost["amount"]).quantize(CENT)},
        "win_rate": _ratio(won["count"], won["count"] + lost["count"]),
    }


def _ratio(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


# Forecast and lost reasons -----------------------------------------------------------------------


def _report_filters(
    owners: frozenset[UUID] | None, owner_id: UUID | None, members: list[UUID] | None
) -> tuple[str, dict[str, Any]]:
    filters, params = "", {}
    for name, clause, value in (
        ("owners", "o.owner_id = ANY(%(owners)s)", None if owners is None else list(owners)),
        ("owner", "o.owner_id = %(owner)s", owner_id),
        ("members", "o.owner_id = ANY(%(members)s)", members),
    ):
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    return filters, params


_FORECAST = """
SELECT to_char(o.expected_close_date, 'YYYY-MM') AS month, count(*) AS count, sum(o.amount) AS amount,
       sum(o.amount * coalesce(p.probability, 0) / 100) AS weighted_amount
FROM {s}.opportunities o
LEFT JOIN unnest(%(keys)s::text[], %(probabilities)s::int[]) AS p(stage, probability) ON p.stage = o.stage
WHERE o.status = 'open' {filters}
GROUP BY 1 ORDER BY 1
"""


_FORECAST_AS_OF = """
WITH opp AS (
    SELECT o.id FROM {s}.opportunities o WHERE o.created_at <= %(t)s {filters}
), stage_then AS (
    SELECT h.opportunity_id, h.stage FROM {s}.stage_history h JOIN opp ON opp.id = h.opportunity_id
    WHERE h.entered_at <= %(t)s AND (h.left_at IS NULL OR h.left_at > %(t)s) AND h.stage NOT IN ('won', 'lost')
), amount_then AS (
    SELECT DISTINCT ON (a.opportunity_id) a.opportunity_id, a.amount
    FROM {s}.amounts a JOIN stage_then USING (opportunity_id)
    WHERE a.valid_from <= %(t)s
    ORDER BY a.opportunity_id, a.valid_from DESC, a.version DESC
), close_then AS (
    SELECT DISTINCT ON (c.opportunity_id) c.opportunity_id, c.expected_close_date
    FROM {s}.close_dates c JOIN stage_then USING (opportunity_id)
    WHERE c.valid_from <= %(t)s
    ORDER BY c.opportunity_id, c.valid_from DESC, c.version DESC
)
SELECT to_char(c.expected_close_date, 'YYYY-MM') AS month, count(*) AS count, sum(a.amount) AS amount,
       sum(a.amount * coalesce(p.probability, 0) / 100) AS weighted_amount
FROM stage_then s JOIN amount_then a USING (opportunity_id) JOIN close_then c USING (opportunity_id)
LEFT JOIN unnest(%(keys)s::text[], %(probabilities)s::int[]) AS p(stage, probability) ON p.stage = s.stage
WHERE true {close_filters}
GROUP BY 1 ORDER BY 1
"""


def forecast(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    stages: list[dict[str, Any]],
    close_from: date | None = None,
    close_to: date | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Open opportunities by expected close month: count, amount, and amount weighted by the
    probability of the stage each is on (0 on a stage the pipeline no longer has). ``as_of``:
    as it stood then (open then, on the stage, amount and close date of that moment, weighted
    by today's probabilities), from the stage-history, amount and close-date tables."""
    filters, params = _report_filters(owners, owner_id, members)
    params.update(keys=[s["key"] for s in stages], probabilities=[s["probability"] for s in stages])
    close_filters = ""
    column = "o.expected_close_date" if as_of is None else "c.expected_close_date"
    for name, clause, value in (("close_from", f"{column} >= %(close_from)s", close_from),
                                ("close_to", f"{column} <= %(close_to)s", close_to)):  # fmt: skip
        if value is not None:
            close_filters += f" AND {clause}"
            params[name] = value
    if as_of is None:
        statement = _FORECAST.replace("{filters}", filters + close_filters)
    else:
        params["t"] = as_of
        statement = _FORECAST_AS_OF.replace("{filters}", filters).replace("{close_filters}", close_filters)
    months = [
        {"month": r["month"], "count": r["count"], "amount": Decimal(r["amount"]).quantize(CENT),
         "weighted_amount": Decimal(r["weighted_amount"]).quantize(CENT, ROUND_HALF_UP)}
        for r in cur.execute(q(SCHEMA, statement), params).fetchall()
    ]  # fmt: skip
    total = {
        "count": sum(m["count"] for m in months),
        "amount": sum((m["amount"] for m in months), Decimal("0.00")),
        "weighted_amount": sum((m["weighted_amount"] for m in months), Decimal("0.00")),
    }
    return {"months": months, "total": total}


_LOST_REASONS = """
SELECT o.lost_reason AS reason, count(*) AS count, sum(o.amount) AS amount
FROM {s}.opportunities o
WHERE o.status = 'lost' {filters}
GROUP BY 1 ORDER BY count(*) DESC, sum(o.amount) DESC, 1
"""


def lost_reasons(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    closed_from: datetime | None = None,
    closed_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
) -> dict[str, Any]:
    """Opportunities lost (and not reopened) in the period, by reason (失单分析): count and amount,
    most frequent first, with each reason's share of the lost ones."""
    filters, params = _report_filters(owners, owner_id, members)
    for name, clause, value in (("closed_from", "o.closed_at >= %(closed_from)s", closed_from),
                                ("closed_before", "o.closed_at < %(closed_before)s", closed_before)):  # fmt: skip
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    rows = cur.execute(q(SCHEMA, _LOST_REASONS.replace("{filters}", filters)), params).fetchall()
    total = sum(r["count"] for r in rows)
    reasons = [
        {"reason": r["reason"], "count": r["count"], "amount": Decimal(r["amount"]).quantize(CENT),
         "share": _ratio(r["count"], total)}
        for r in rows
    ]  # fmt: skip
    return {"reasons": reasons, "total": {"count": total, "amount": sum((r["amount"] for r in reasons), Decimal("0.00"))}}


_COMPETITORS = """
WITH involved AS (
    SELECT DISTINCT o.id, o.status, o.amount, o.lost_competitor_id, c.competitor_id
    FROM {s}.opportunities o,
         unnest(o.competitor_ids || CASE WHEN o.lost_competitor_id IS NULL THEN '{}'::uuid[]
                                         ELSE ARRAY[o.lost_competitor_id] END) AS c(competitor_id)
    WHERE true {filters}
)
SELECT i.competitor_id, n.name, count(*) AS opportunities,
       count(*) FILTER (WHERE i.status = 'open') AS open,
       count(*) FILTER (WHERE i.status = 'won') AS won, coalesce(sum(i.amount) FILTER (WHERE i.status = 'won'), 0) AS won_amount,
       count(*) FILTER (WHERE i.status = 'lost') AS lost, coalesce(sum(i.amount) FILTER (WHERE i.status = 'lost'), 0) AS lost_amount,
       count(*) FILTER (WHERE i.status = 'lost' AND i.lost_competitor_id = i.competitor_id) AS lost_to,
       coalesce(sum(i.amount) FILTER (WHERE i.status = 'lost' AND i.lost_competitor_id = i.competitor_id), 0) AS lost_to_amount
FROM involved i LEFT JOIN {s}.customers n ON n.id = i.competitor_id
GROUP BY i.competitor_id, n.name
ORDER BY count(*) DESC, n.name, i.competitor_id
"""


def competitors(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    opened_from: datetime | None = None,
    opened_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
) -> list[dict[str, Any]]:
    """Per competitor (竞争对手), the opportunities opened in the period it was named on (or
    lost to): how many, still open, won against it, lost (to anyone), and lost to it, with
    amounts, and the win rate against it (won / (won + lost))."""
    filters, params = _report_filters(owners, owner_id, members)
    for name, clause, value in (("opened_from", "o.created_at >= %(opened_from)s", opened_from),
                                ("opened_before", "o.created_at < %(opened_before)s", opened_before)):  # fmt: skip
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    out = []
    for r in cur.execute(q(SCHEMA, _COMPETITORS.replace("{filters}", filters)), params).fetchall():
        out.append({
            "competitor_id": r["competitor_id"], "name": r["name"], "opportunities": r["opportunities"], "open": r["open"],
            "won": {"count": r["won"], "amount": Decimal(r["won_amount"]).quantize(CENT)},
            "lost": {"count": r["lost"], "amount": Decimal(r["lost_amount"]).quantize(CENT)},
            "lost_to_them": {"count": r["lost_to"], "amount": Decimal(r["lost_to_amount"]).quantize(CENT)},
            "win_rate": _ratio(r["won"], r["won"] + r["lost"]),
        })  # fmt: skip
    return out


def targets(
    cur: Cursor[Any], *, year: int, subject_type: str, subject_ids: list[UUID] | None = None
) -> dict[UUID, dict[int, Decimal]]:
    """The monthly targets set for ``year``: subject id → month → amount (subjects of
    ``subject_type``, only ``subject_ids`` when given)."""
    where, params = "s.year = %s AND s.subject_type = %s", [year, subject_type]
    if subject_ids is not None:
        where += " AND s.subject_id = ANY(%s)"
        params.append(subject_ids)
    rows = cur.execute(
        q(SCHEMA, "SELECT s.subject_id, t.month, t.amount FROM {s}.target_subjects s "
                  f"JOIN {{s}}.targets t ON t.target_id = s.id WHERE {where}"),
        params,
    ).fetchall()  # fmt: skip
    result: dict[UUID, dict[int, Decimal]] = {}
    for row in rows:
        result.setdefault(row["subject_id"], {})[row["month"]] = row["amount"]
    return result


def won_by_month(
    cur: Cursor[Any], *, owners: list[UUID], start: datetime, end: datetime, zone: str, per_owner: bool
) -> dict[tuple[UUID | None, int], Decimal]:
    """Amounts won from ``start`` to ``end`` by these owners, per (owner or None, month of the
    company's calendar)."""
    group = "owner_id" if per_owner else "NULL::uuid"
    rows = cur.execute(
        q(SCHEMA, f"SELECT {group} AS owner_id, extract(month FROM closed_at AT TIME ZONE %s)::int AS month, "
                  "sum(amount) AS won FROM {s}.opportunities "
                  "WHERE status = 'won' AND owner_id = ANY(%s) AND closed_at >= %s AND closed_at < %s GROUP BY 1, 2"),
        (zone, owners, start, end),
    ).fetchall()  # fmt: skip
    return {(row["owner_id"], row["month"]): row["won"] for row in rows}


_WIN_RATES = """
SELECT o.owner_id,
       count(*) FILTER (WHERE o.status = 'won') AS won, coalesce(sum(o.amount) FILTER (WHERE o.status = 'won'), 0) AS won_amount,
       count(*) FILTER (WHERE o.status = 'lost') AS lost, coalesce(sum(o.amount) FILTER (WHERE o.status = 'lost'), 0) AS lost_amount
FROM {s}.opportunities o
WHERE o.status IN ('won', 'lost') {filters}
GROUP BY o.owner_id
"""


def win_rates(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    closed_from: datetime | None = None,
    closed_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
) -> list[dict[str, Any]]:
    """Per owner, the opportunities won and lost (and not reopened) in the period, with amounts
    and the win rate (won / (won + lost)); highest win rate first."""
    filters, params = _report_filters(owners, owner_id, members)
    for name, clause, value in (("closed_from", "o.closed_at >= %(closed_from)s", closed_from),
                                ("closed_before", "o.closed_at < %(closed_before)s", closed_before)):  # fmt: skip
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    rows = cur.execute(q(SCHEMA, _WIN_RATES.replace("{filters}", filters)), params).fetchall()
    for row in rows:
        row["win_rate"] = _ratio(row["won"], row["won"] + row["lost"])
        row["won_amount"] = Decimal(row["won_amount"]).quantize(CENT)
        row["lost_amount"] = Decimal(row["lost_amount"]).quantize(CENT)
    rows.sort(key=lambda r: (-(r["win_rate"] or 0), -r["won_amount"], str(r["owner_id"])))
    return rows
