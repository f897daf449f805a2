"""The plain app of the funnel benchmark (ops/bench/funnel.py): the sales reports written the
ordinary way, with hand-written SQL straight on the tables.

FastAPI with sync routes, a psycopg_pool ConnectionPool, dict rows, plain dicts out. Its tables
hold a copy of crm-es's opportunities, their stage history and amounts over time, and which
department each user is in, with an index on what the queries filter and join by. Each report
is one query computing the numbers from every row it needs, no sums kept in advance: the funnel
as of a moment from every stay in a stage, the others from the opportunities. No event
sourcing, no read models kept by projections, no authentication: the caller's data scope is
the ``scope`` parameter (comma-separated owner ids), as the benchmark sends it.

    PLAIN_DATABASE_URL=postgresql://... uvicorn ops.bench.plain_funnel:app

Endpoints (shaped like crm-es's, so the same load script drives both):

    GET /api/v1/reports/funnel        ?as_of&from&to&owner_id&department_id&scope
    GET /api/v1/reports/forecast      ?as_of&owner_id&department_id&scope
    GET /api/v1/reports/lost-reasons  ?from&to&owner_id&department_id&scope
    GET /api/v1/reports/competitors   ?from&to&owner_id&department_id&scope
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Query
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS plain_opportunities (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    title text NOT NULL,
    amount numeric(17, 2) NOT NULL,
    expected_close_date date NOT NULL,
    stage text NOT NULL,
    status text NOT NULL,
    competitor_ids uuid[] NOT NULL DEFAULT '{}',
    lost_reason text,
    lost_competitor_id uuid,
    closed_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS plain_opportunities_owner ON plain_opportunities (owner_id);
CREATE INDEX IF NOT EXISTS plain_opportunities_created ON plain_opportunities (created_at);
CREATE INDEX IF NOT EXISTS plain_opportunities_status ON plain_opportunities (status);
CREATE TABLE IF NOT EXISTS plain_stage_history (
    opportunity_id uuid NOT NULL,
    version integer NOT NULL,
    stage text NOT NULL,
    entered_at timestamptz NOT NULL,
    left_at timestamptz,
    PRIMARY KEY (opportunity_id, version)
);
CREATE INDEX IF NOT EXISTS plain_stage_history_entered ON plain_stage_history (entered_at);
CREATE TABLE IF NOT EXISTS plain_amounts (
    opportunity_id uuid NOT NULL,
    version integer NOT NULL,
    amount numeric(17, 2) NOT NULL,
    valid_from timestamptz NOT NULL,
    PRIMARY KEY (opportunity_id, version)
);
CREATE TABLE IF NOT EXISTS plain_close_dates (
    opportunity_id uuid NOT NULL,
    version integer NOT NULL,
    expected_close_date date NOT NULL,
    valid_from timestamptz NOT NULL,
    PRIMARY KEY (opportunity_id, version)
);
CREATE TABLE IF NOT EXISTS plain_customers (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS plain_department_members (
    department_id uuid NOT NULL,   -- the department, or one above it
    user_id uuid NOT NULL,
    PRIMARY KEY (department_id, user_id)
);
"""

STAGES = (("lead", "线索", 10), ("qualified", "确认需求", 30), ("proposal", "方案报价", 60), ("negotiation", "谈判", 80))
ZONE = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]

pool = ConnectionPool(os.environ["PLAIN_DATABASE_URL"], kwargs={"row_factory": dict_row}, open=False)


@asynccontextmanager
async def lifespan(app: FastAPI):
    pool.open(wait=True)
    with pool.connection() as conn:
        conn.execute(SCHEMA)
    yield
    pool.close()


app = FastAPI(title="plain reports", lifespan=lifespan)


def owner_filter(column: str, owner_id: UUID | None, department_id: UUID | None, scope: str | None) -> tuple[str, dict[str, Any]]:
    where, params = "", {}
    if owner_id is not None:
        where += f" AND {column} = %(owner_id)s"
        params["owner_id"] = owner_id
    if department_id is not None:
        where += f" AND {column} IN (SELECT user_id FROM plain_department_members WHERE department_id = %(department_id)s)"
        params["department_id"] = department_id
    if scope:
        where += f" AND {column} = ANY(%(scope)s::uuid[])"
        params["scope"] = scope.split(",")
    return where, params


def period(first: date | None, last: date | None, column: str) -> tuple[str, dict[str, Any]]:
    where, params = "", {}
    if first is not None:
        where += f" AND {column} >= %(period_from)s"
        params["period_from"] = datetime.combine(first, time(), ZONE)
    if last is not None:
        where += f" AND {column} < %(period_to)s"
        params["period_to"] = datetime.combine(last + timedelta(days=1), time(), ZONE)
    return where, params


FUNNEL = """
WITH opp AS (
    SELECT id FROM plain_opportunities WHERE created_at <= %(t)s {filters}
), h AS (
    SELECT h.opportunity_id, h.stage, h.entered_at,
           LEAST(coalesce(h.left_at, 'infinity'::timestamptz), %(t)s) AS until,
           (h.left_at IS NULL OR h.left_at > %(t)s) AS current
    FROM plain_stage_history h JOIN opp ON opp.id = h.opportunity_id
    WHERE h.entered_at <= %(t)s
), ranks AS (
    SELECT stage, rank FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS r(stage, rank)
), top AS (
    SELECT h.opportunity_id, max(r.rank) AS top FROM h JOIN ranks r USING (stage) GROUP BY h.opportunity_id
), amount_then AS (
    SELECT DISTINCT ON (a.opportunity_id) a.opportunity_id, a.amount
    FROM plain_amounts a JOIN opp ON opp.id = a.opportunity_id
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


def ratio(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


@app.get("/api/v1/reports/funnel")
def funnel(as_of: datetime | None = None, owner_id: UUID | None = None, department_id: UUID | None = None,
           scope: str | None = None, period_from: From = None, period_to: To = None):  # fmt: skip
    as_of = as_of or datetime.now(timezone.utc)
    filters, params = owner_filter("owner_id", owner_id, department_id, scope)
    opened, opened_params = period(period_from, period_to, "created_at")
    params.update(opened_params, t=as_of, keys=[s[0] for s in STAGES] + ["won"])
    with pool.connection() as conn:
        rows = {r["stage"]: r for r in conn.execute(FUNNEL.replace("{filters}", filters + opened), params).fetchall()}
    stages = []
    for key, name, probability in STAGES:
        row = rows[key]
        amount = Decimal(row["amount"]).quantize(CENT)
        stages.append({
            "stage": key, "name": name, "probability": probability, "count": row["count"], "amount": amount,
            "weighted_amount": (amount * probability / 100).quantize(CENT, ROUND_HALF_UP), "reached": row["reached"],
            "conversion_rate": ratio(row["went_on"], row["reached"]),
            "avg_days_in_stage": None if row["avg_days"] is None else round(float(row["avg_days"]), 2),
        })  # fmt: skip
    won, lost = rows["won"], rows["lost"]
    return {
        "as_of": as_of, "stages": stages,
        "won": {"count": won["count"], "amount": Decimal(won["amount"]).quantize(CENT)},
        "lost": {"count": lost["count"], "amount": Decimal(lost["amount"]).quantize(CENT)},
        "win_rate": ratio(won["count"], won["count"] + lost["count"]),
    }  # fmt: skip


FORECAST_AS_OF = """
WITH opp AS (
    SELECT o.id FROM plain_opportunities o WHERE o.created_at <= %(t)s {filters}
), stage_then AS (
    SELECT h.opportunity_id, h.stage FROM plain_stage_history h JOIN opp ON opp.id = h.opportunity_id
    WHERE h.entered_at <= %(t)s AND (h.left_at IS NULL OR h.left_at > %(t)s) AND h.stage NOT IN ('won', 'lost')
), amount_then AS (
    SELECT DISTINCT ON (a.opportunity_id) a.opportunity_id, a.amount
    FROM plain_amounts a JOIN stage_then USING (opportunity_id)
    WHERE a.valid_from <= %(t)s
    ORDER BY a.opportunity_id, a.valid_from DESC, a.version DESC
), close_then AS (
    SELECT DISTINCT ON (c.opportunity_id) c.opportunity_id, c.expected_close_date
    FROM plain_close_dates c JOIN stage_then USING (opportunity_id)
    WHERE c.valid_from <= %(t)s
    ORDER BY c.opportunity_id, c.valid_from DESC, c.version DESC
)
SELECT to_char(c.expected_close_date, 'YYYY-MM') AS month, count(*) AS count, sum(a.amount) AS amount,
       sum(a.amount * coalesce(p.probability, 0) / 100) AS weighted_amount
FROM stage_then s JOIN amount_then a USING (opportunity_id) JOIN close_then c USING (opportunity_id)
LEFT JOIN unnest(%(keys)s::text[], %(probabilities)s::int[]) AS p(stage, probability) ON p.stage = s.stage
GROUP BY 1 ORDER BY 1
"""


@app.get("/api/v1/reports/forecast")
def forecast(as_of: datetime | None = None, owner_id: UUID | None = None, department_id: UUID | None = None,
             scope: str | None = None):  # fmt: skip
    filters, params = owner_filter("o.owner_id", owner_id, department_id, scope)
    params.update(keys=[s[0] for s in STAGES], probabilities=[s[2] for s in STAGES])
    if as_of is None:
        statement = (
            "SELECT to_char(o.expected_close_date, 'YYYY-MM') AS month, count(*) AS count, sum(o.amount) AS amount, "
            "sum(o.amount * coalesce(p.probability, 0) / 100) AS weighted_amount FROM plain_opportunities o "
            "LEFT JOIN unnest(%(keys)s::text[], %(probabilities)s::int[]) AS p(stage, probability) ON p.stage = o.stage "
            f"WHERE o.status = 'open' {filters} GROUP BY 1 ORDER BY 1"
        )  # fmt: skip
    else:
        statement = FORECAST_AS_OF.replace("{filters}", filters)
        params["t"] = as_of
    with pool.connection() as conn:
        rows = conn.execute(statement, params).fetchall()
    months = [{"month": r["month"], "count": r["count"], "amount": Decimal(r["amount"]).quantize(CENT),
               "weighted_amount": Decimal(r["weighted_amount"]).quantize(CENT, ROUND_HALF_UP)} for r in rows]  # fmt: skip
    total = {"count": sum(m["count"] for m in months), "amount": sum((m["amount"] for m in months), Decimal("0.00")),
             "weighted_amount": sum((m["weighted_amount"] for m in months), Decimal("0.00"))}  # fmt: skip
    return {"months": months, "total": total}


@app.get("/api/v1/reports/lost-reasons")
def lost_reasons(owner_id: UUID | None = None, department_id: UUID | None = None, scope: str | None = None,
                 period_from: From = None, period_to: To = None):  # fmt: skip
    filters, params = owner_filter("owner_id", owner_id, department_id, scope)
    closed, closed_params = period(period_from, period_to, "closed_at")
    params.update(closed_params)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT lost_reason AS reason, count(*) AS count, sum(amount) AS amount FROM plain_opportunities "
            f"WHERE status = 'lost' {filters}{closed} GROUP BY 1 ORDER BY count(*) DESC, sum(amount) DESC, 1",
            params,
        ).fetchall()  # fmt: skip
    total = sum(r["count"] for r in rows)
    reasons = [{"reason": r["reason"], "count": r["count"], "amount": Decimal(r["amount"]).quantize(CENT),
                "share": ratio(r["count"], total)} for r in rows]  # fmt: skip
    return {"reasons": reasons, "total": {"count": total, "amount": sum((r["amount"] for r in reasons), Decimal("0.00"))}}


@app.get("/api/v1/reports/competitors")
def competitors(owner_id: UUID | None = None, department_id: UUID | None = None, scope: str | None = None,
                period_from: From = None, period_to: To = None):  # fmt: skip
    filters, params = owner_filter("o.owner_id", owner_id, department_id, scope)
    opened, opened_params = period(period_from, period_to, "o.created_at")
    params.update(opened_params)
    with pool.connection() as conn:
        rows = conn.execute(
            """
            WITH involved AS (
                SELECT DISTINCT o.id, o.status, o.amount, o.lost_competitor_id, c.competitor_id
                FROM plain_opportunities o,
                     unnest(o.competitor_ids || CASE WHEN o.lost_competitor_id IS NULL THEN '{}'::uuid[]
                                                     ELSE ARRAY[o.lost_competitor_id] END) AS c(competitor_id)
                WHERE true """ + filters + opened + """
            )
            SELECT i.competitor_id, n.name, count(*) AS opportunities,
                   count(*) FILTER (WHERE i.status = 'open') AS open,
                   count(*) FILTER (WHERE i.status = 'won') AS won,
                   coalesce(sum(i.amount) FILTER (WHERE i.status = 'won'), 0) AS won_amount,
                   count(*) FILTER (WHERE i.status = 'lost') AS lost,
                   coalesce(sum(i.amount) FILTER (WHERE i.status = 'lost'), 0) AS lost_amount,
                   count(*) FILTER (WHERE i.status = 'lost' AND i.lost_competitor_id = i.competitor_id) AS lost_to,
                   coalesce(sum(i.amount) FILTER (WHERE i.status = 'lost' AND i.lost_competitor_id = i.competitor_id), 0)
                       AS lost_to_amount
            FROM involved i LEFT JOIN plain_customers n ON n.id = i.competitor_id
            GROUP BY i.competitor_id, n.name
            ORDER BY count(*) DESC, n.name, i.competitor_id
            """,
            params,
        ).fetchall()  # fmt: skip
    items = [{
        "competitor_id": r["competitor_id"], "name": r["name"], "opportunities": r["opportunities"], "open": r["open"],
        "won": {"count": r["won"], "amount": Decimal(r["won_amount"]).quantize(CENT)},
        "lost": {"count": r["lost"], "amount": Decimal(r["lost_amount"]).quantize(CENT)},
        "lost_to_them": {"count": r["lost_to"], "amount": Decimal(r["lost_to_amount"]).quantize(CENT)},
        "win_rate": ratio(r["won"], r["won"] + r["lost"]),
    } for r in rows]  # fmt: skip
    return {"items": items}
