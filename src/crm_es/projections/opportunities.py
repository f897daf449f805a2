"""Opportunities read model: the opportunity list with search, each one's stage history, the
funnel (exact at any moment and fast on years of data), the other sales reports.

Tables:
- ``opportunities``: one row per opportunity as it is now, with the search columns of
  ``projections/search.py`` (the customer's name, the title, the pinyin initials of both) and
  what the fold needs to carry on (when the current stay began, the furthest stage reached,
  the stages visited).
- ``stage_history``: one row per stay in a stage (won and lost included), from when it was
  entered to when it was left (null while it lasts), with the amount at entry.
- ``amounts``, ``close_dates``: each amount and expected close date an opportunity had, valid
  from one moment to the next.
- ``customers``: each customer's current name (and its pinyin initials), kept from the customer
  events by this model itself. Lists join it at query time; a rename rewrites the search columns
  of the customer's opportunities.
- ``funnel_changes``: what each event changed in the funnel, per stage: one row per stage it
  entered or left (or passed), with the changes of the stage's count, amount, opportunities
  that were ever in it (``pairs``), opportunities that reached it (``reached``), and
  ``seconds``, whose sum plus the count times the moment is the time spent in the stage up to
  that moment. Every measure of the funnel at moment t is the sum of the changes up to t.
- ``funnel_sums``: those changes summed by the month or day an opportunity was opened in (or
  whenever it was) and the month or day of the change (``GRAINS``), per owner and for everyone
  (the nil owner); ``funnel_owners``: every owner of an opportunity; ``funnel_meta``: the stage
  order the ``reached`` changes were computed with, and whether the sums wait for the end of a
  rebuild.
- ``lost_sums``, ``competitor_sums``: the lost-reason and competitor reports summed by month and
  day, per owner and for everyone (``_Report``).
- ``quotes``, ``target_subjects``, ``targets``: quotes and sales targets.

The funnel at moment t adds up sums of whole months before t's month, sums of days of t's month
before t's day, and the changes of t's own day up to t; a period that does not start or end on
a month boundary adds sums by day opened (or changes) for its partial months. So it reads a few
hundred to a few thousand rows however many years the log holds, and is exact to the microsecond
(docs/opportunities.md). The stage history gives the same numbers by a query over every stay
(``funnel_exact``): the funnel falls back to it while the read model's stage order differs from
the pipeline's.

The projection folds a whole batch in memory (``FoldingProjection``) and writes each table once
per batch: new rows with COPY, changed ones with one statement per table.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from psycopg import Cursor
from psycopg.rows import dict_row

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.pipeline import Pipeline
from crm_es.aggregates.target import SalesTarget
from crm_es.projections import search
from crm_es.projections.base import OVERVIEW_LATEST, Batch, FoldingProjection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from crm_es.access import Access

SCHEMA = live_schema("opportunities")

OPPORTUNITY_COLUMNS = (
    "id", "customer_id", "title", "amount", "currency", "expected_close_date", "owner_id", "source",
    "stage", "status", "competitor_ids", "lost_reason", "lost_competitor_id", "lost_note", "closed_at",
    "created_at", "updated_at", "version",
)  # fmt: skip
_FOLD_COLUMNS = ("stay_version", "stage_entered_at", "amount_version", "top_rank", "visited")
_STORED = (*OPPORTUNITY_COLUMNS, *_FOLD_COLUMNS, *search.COLUMNS)
_SELECT = (
    "SELECT " + ", ".join(f"o.{c}" for c in OPPORTUNITY_COLUMNS)
    + ", c.name AS customer_name FROM {s}.opportunities o LEFT JOIN {s}.customers c ON c.id = o.customer_id"
)
_UPDATE = (
    "UPDATE {s}.opportunities SET " + ", ".join(f"{c} = %s" for c in _STORED if c != "id") + " WHERE id = %s"
)
_STAY_COLUMNS = ("opportunity_id", "version", "stage", "entered_at", "left_at", "amount")
_AMOUNT_COLUMNS = ("opportunity_id", "version", "amount", "valid_from", "valid_to")
_CLOSE_DATE_COLUMNS = ("opportunity_id", "version", "expected_close_date", "valid_from")
_CHANGE_COLUMNS = ("opportunity_id", "owner_id", "opened_at", "at", "stage", "n", "amount", "pairs", "reached", "seconds")
_SUM_COLUMNS = ("owner_id", "grain", "opened_on", "at_on", "stage", "n", "amount", "pairs", "reached", "seconds")
_MEASURES = ("n", "amount", "pairs", "reached", "seconds")

_TYPES = {
    **{c: "uuid" for c in ("id", "customer_id", "owner_id", "lost_competitor_id", "opportunity_id")},
    **{c: "text" for c in ("title", "currency", "source", "stage", "status", "lost_reason", "lost_note", "name",
                           "initials", "grain")},
    **{c: "numeric" for c in ("amount", "seconds")},
    **{c: "int4" for c in ("version", "stay_version", "amount_version", "top_rank", "pairs", "reached")},
    **{c: "timestamptz" for c in ("closed_at", "created_at", "updated_at", "stage_entered_at", "entered_at", "left_at",
                                  "valid_from", "valid_to", "opened_at", "at")},
    **{c: "date" for c in ("expected_close_date", "opened_on", "at_on")},
    "n": "int4", "competitor_ids": "uuid[]", "visited": "text[]",
    **search.TYPES,
}  # fmt: skip
"""Column types, for binary COPY."""

EVERYONE = UUID(int=0)
"""The owner of the funnel sums of every owner's opportunities together."""
BUCKET_ZONE = ZoneInfo("Asia/Shanghai")
"""The days and months the funnel sums are kept by. Any moment and any period are exact in any
time zone; a period whose ends are not midnights here reads the changes of its partial months."""
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WON, LOST = "won", "lost"


def _epoch(moment: datetime) -> Decimal:
    """Seconds since 1970 of ``moment``, exactly (microseconds included)."""
    delta = moment - EPOCH
    return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def _day(moment: datetime) -> date:
    return moment.astimezone(BUCKET_ZONE).date()


def _month(moment: datetime) -> date:
    return _day(moment).replace(day=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), BUCKET_ZONE)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


ANY = date(1970, 1, 1)
"""``opened_on`` of the sums kept whenever opportunities were opened."""
GRAINS = (
    ("owner", "mm", "month", "month"), ("everyone", "mm", "month", "month"), ("everyone", "md", "month", "day"),
    ("everyone", "dm", "day", "month"), ("owner", "xm", "any", "month"), ("everyone", "xm", "any", "month"),
    ("owner", "xd", "any", "day"), ("everyone", "xd", "any", "day"),
)  # fmt: skip
"""The funnel's sums: whose (each owner's, or everyone's), and by what the opening moment and the
moment of the change are bucketed (month, day, or any opening moment: ``ANY``)."""
_BUCKETS: dict[str, Any] = {"month": _month, "day": _day, "any": lambda _: ANY}
_SQL_BUCKETS = {
    "month": f"date_trunc('month', {{x}} AT TIME ZONE '{BUCKET_ZONE.key}')::date",
    "day": f"({{x}} AT TIME ZONE '{BUCKET_ZONE.key}')::date",
    "any": "date '1970-01-01'",
}


def _sql_keys(owner: str, opened: str, at: str, *, owners_only: bool = False, sign: str = "1") -> str:
    """``VALUES`` of the sums' keys of a change, in SQL (``GRAINS``), for a lateral join."""
    rows = [
        f"({owner if who == 'owner' else '%(everyone)s::uuid'}, '{grain}', "
        f"{_SQL_BUCKETS[o].format(x=opened)}, {_SQL_BUCKETS[a].format(x=at)}, {sign})"
        for who, grain, o, a in GRAINS if not owners_only or who == "owner"
    ]  # fmt: skip
    return "(VALUES " + ", ".join(rows) + ") AS k(owner_id, grain, opened_on, at_on, sign)"


@dataclass(frozen=True)
class _Report:
    """A report kept as sums over the opportunities as they are now (not as of a moment): each
    opportunity's part (``parts``: label → measures) is added by owner and by month and day of
    one of its moments, for its owner and for everyone. A batch adds the difference between
    each changed opportunity's part after it and before it."""

    table: str
    moment: str  # the opportunity's column the period filters: closed_at, created_at
    label: str  # the report's row: reason, competitor_id
    label_type: str
    measures: tuple[str, ...]
    parts: Callable[[dict[str, Any]], dict[Any, tuple[Any, ...]]]
    rows: str
    """SQL: (owner_id, moment, label, *measures) of every opportunity, for building the sums at once."""


def _lost_part(row: dict[str, Any]) -> dict[Any, tuple[Any, ...]]:
    return {row["lost_reason"]: (1, row["amount"])} if row["status"] == LOST else {}


def _competitor_part(row: dict[str, Any]) -> dict[Any, tuple[Any, ...]]:
    involved = set(row["competitor_ids"] or ()) | ({row["lost_competitor_id"]} - {None})
    status, amount = row["status"], row["amount"]
    won, lost = int(status == WON), int(status == LOST)
    parts = {}
    for competitor in involved:
        to = int(lost and row["lost_competitor_id"] == competitor)
        parts[competitor] = (1, int(status == "open"), won, amount * won, lost, amount * lost, to, amount * to)
    return parts


_LOST = _Report(
    "lost_sums", "closed_at", "reason", "text", ("n", "amount"), _lost_part,
    "SELECT o.owner_id, o.closed_at, o.lost_reason, 1, o.amount FROM {s}.opportunities o WHERE o.status = 'lost'",
)  # fmt: skip
_COMPETITORS_SUMS = _Report(
    "competitor_sums", "created_at", "competitor_id", "uuid",
    ("opportunities", "open", "won", "won_amount", "lost", "lost_amount", "lost_to", "lost_to_amount"),
    _competitor_part,
    "SELECT o.owner_id, o.created_at, c.id, 1, (o.status = 'open')::int, (o.status = 'won')::int, "
    "CASE WHEN o.status = 'won' THEN o.amount ELSE 0 END, (o.status = 'lost')::int, "
    "CASE WHEN o.status = 'lost' THEN o.amount ELSE 0 END, (o.status = 'lost' AND o.lost_competitor_id IS NOT DISTINCT FROM c.id)::int, "
    "CASE WHEN o.status = 'lost' AND o.lost_competitor_id IS NOT DISTINCT FROM c.id THEN o.amount ELSE 0 END "
    "FROM {s}.opportunities o CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(o.competitor_ids || "
    "CASE WHEN o.lost_competitor_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[o.lost_competitor_id] END) AS x) AS c(id)",
)  # fmt: skip
_REPORTS = (_LOST, _COMPETITORS_SUMS)
_REPORT_GRAINS = (("owner", "m"), ("owner", "d"), ("everyone", "m"), ("everyone", "d"))


def _report_add(report: _Report) -> str:
    """Adds sums (one array per column) to the report's stored ones."""
    columns = ("owner_id", "grain", "on_day", report.label, *report.measures)
    types = ("uuid", "text", "date", report.label_type, *("numeric" for _ in report.measures))
    adds = ", ".join(f"{m} = {{s}}.{report.table}.{m} + excluded.{m}" for m in report.measures)
    return (
        f"INSERT INTO {{s}}.{report.table} ({', '.join(columns)}) SELECT * FROM unnest("
        + ", ".join(f"%s::{t}[]" for t in types)
        + f") ON CONFLICT (owner_id, grain, on_day, {report.label}) DO UPDATE SET {adds}"
    )


def _report_build(report: _Report) -> str:
    """The report's sums from every opportunity, in one statement (the end of a rebuild)."""
    measures = ", ".join(f"m{n}" for n in range(len(report.measures)))
    keys = ", ".join(
        f"({'p.owner_id' if who == 'owner' else '%(everyone)s::uuid'}, '{grain}', "
        f"{_SQL_BUCKETS['month' if grain == 'm' else 'day'].format(x='p.moment')})"
        for who, grain in _REPORT_GRAINS
    )  # fmt: skip
    return (
        f"INSERT INTO {{s}}.{report.table} (owner_id, grain, on_day, {report.label}, {', '.join(report.measures)}) "
        f"SELECT k.owner_id, k.grain, k.on_day, p.label, {', '.join(f'sum(m{n})' for n in range(len(report.measures)))} "
        f"FROM ({report.rows}) AS p(owner_id, moment, label, {measures}) "
        f"CROSS JOIN LATERAL (VALUES {keys}) AS k(owner_id, grain, on_day) GROUP BY 1, 2, 3, 4"
    )


def _parts(row: dict[str, Any]) -> tuple[UUID, list[Any]]:
    return row["owner_id"], [(row[r.moment], r.parts(row)) for r in _REPORTS]


def _copy(cur: Cursor[Any], schema: str, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with cur.copy(q(schema, f"COPY {{s}}.{table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)")) as copy:
        copy.set_types([_TYPES[c] for c in columns])
        for row in rows:
            copy.write_row(row)


# The fold ----------------------------------------------------------------------------------------


class _Batch(Batch):
    """The rows one batch of events touches, loaded once, changed in memory, written once."""

    def __init__(self) -> None:
        self.opportunities: dict[UUID, dict[str, Any]] = {}
        self.stored: set[UUID] = set()
        """Opportunities and customers that were in the tables before the batch."""
        self.changed: set[UUID] = set()
        self.customers: dict[UUID, dict[str, Any]] = {}
        self.renamed: set[UUID] = set()
        self.stays: dict[tuple[UUID, int], dict[str, Any]] = {}
        """Stays entered in this batch."""
        self.stays_left: list[tuple[datetime, UUID, int]] = []
        """Stays entered before the batch and left in it."""
        self.amounts: dict[tuple[UUID, int], dict[str, Any]] = {}
        self.amounts_ended: list[tuple[datetime, UUID, int]] = []
        self.close_dates: list[tuple[UUID, int, date, datetime]] = []
        self.statements: list[tuple[str, Any]] = []
        """Quotes and sales targets (few): their statements, in the order of the events."""
        self.changes: list[list[Any]] = []
        """Funnel changes: opportunity, moment, stage and the five measures (owner and opening
        moment are added when written: those of the opportunity at the end of the batch)."""
        self.parts_before: dict[UUID, tuple[UUID, list[Any]]] = {}
        """Stored opportunities: their owner and each report's moment and part before the batch."""
        self.owners_before: dict[UUID, UUID] = {}
        """Stored opportunities reassigned in this batch: their owner before it."""
        self.ranks: list[str] = []
        """The stage order (the pipeline's keys, then won) of the ``reached`` changes."""
        self.deferred = False
        """The sums are made at the end of a rebuild, from the changes (create_indexes)."""

    @classmethod
    def load(cls, cur: Cursor[Any], schema: str, items: list[tuple[int, Any]]) -> _Batch:
        batch = cls()
        rows = cur.connection.cursor(row_factory=dict_row)
        opportunity_ids = list({e.originator_id for _, e in items if isinstance(e, Opportunity.Event)})
        customer_ids = {e.originator_id for _, e in items if isinstance(e, Customer.Event)}
        customer_ids |= {e.customer_id for _, e in items if isinstance(e, Opportunity.Opened)}
        if opportunity_ids:
            for row in rows.execute(
                q(schema, f"SELECT {', '.join(_STORED)} FROM {{s}}.opportunities WHERE id = ANY(%s)"), (opportunity_ids,)
            ):
                row["visited"] = list(row["visited"])
                batch.opportunities[row["id"]] = row
                batch.stored.add(row["id"])
                batch.parts_before[row["id"]] = _parts(row)
                customer_ids.add(row["customer_id"])
        if customer_ids:
            for row in rows.execute(
                q(schema, "SELECT id, name, initials FROM {s}.customers WHERE id = ANY(%s)"), (list(customer_ids),)
            ):
                batch.customers[row["id"]] = row
                batch.stored.add(row["id"])
        meta = rows.execute(q(schema, "SELECT keys, deferred FROM {s}.funnel_meta")).fetchone()
        batch.ranks, batch.deferred = list(meta["keys"]), meta["deferred"]
        return batch

    # Stays, amounts and the funnel's changes

    def change(self, row: dict[str, Any], at: datetime, stage: str, **measures: Any) -> None:
        self.changes.append([row["id"], at, stage, measures.get("n", 0), measures.get("amount", Decimal(0)),
                             measures.get("pairs", 0), measures.get("reached", 0), measures.get("seconds", Decimal(0))])  # fmt: skip

    def enter(self, row: dict[str, Any], e: Any, stage: str, amount: Decimal | None = None) -> None:
        """Leave the current stage (if any) and enter ``stage`` at ``e``'s moment, at the
        opportunity's amount (or ``amount``, a won one's final amount)."""
        at, opportunity = e.timestamp, row["id"]
        if row["stay_version"] is not None:
            self.leave(row, at)
        entered_with = row["amount"] if amount is None else amount
        self.stays[(opportunity, e.originator_version)] = {
            "opportunity_id": opportunity, "version": e.originator_version, "stage": stage, "entered_at": at,
            "left_at": None, "amount": entered_with,
        }  # fmt: skip
        row.update(stage=stage, stay_version=e.originator_version, stage_entered_at=at)
        first = stage not in row["visited"]
        if first:
            row["visited"].append(stage)
        reached = self.ranks.index(stage) + 1 if stage in self.ranks else 0
        self.change(row, at, stage, n=1, amount=entered_with, pairs=int(first), seconds=-_epoch(at),
                    reached=int(reached > row["top_rank"]))  # fmt: skip
        for passed in range(row["top_rank"] + 1, reached):  # stages skipped on the way count as reached
            self.change(row, at, self.ranks[passed - 1], reached=1)
        row["top_rank"] = max(row["top_rank"], reached)

    def leave(self, row: dict[str, Any], at: datetime) -> None:
        key = (row["id"], row["stay_version"])
        if key in self.stays:
            self.stays[key]["left_at"] = at
        else:
            self.stays_left.append((at, *key))
        self.change(row, at, row["stage"], n=-1, amount=-row["amount"], seconds=_epoch(at))

    def set_amount(self, row: dict[str, Any], e: Any, amount: Decimal) -> None:
        """The amount from ``e``'s moment on (a new row of amounts when it differs)."""
        if amount == row["amount"]:
            return
        at, key = e.timestamp, (row["id"], row["amount_version"])
        if key in self.amounts:
            self.amounts[key]["valid_to"] = at
        else:
            self.amounts_ended.append((at, *key))
        self.amounts[(row["id"], e.originator_version)] = {
            "opportunity_id": row["id"], "version": e.originator_version, "amount": amount, "valid_from": at,
            "valid_to": None,
        }  # fmt: skip
        row["amount_version"] = e.originator_version
        row["amount"] = amount

    def touch(self, e: Any, **values: Any) -> dict[str, Any] | None:
        """The opportunity's row, marked changed by ``e``; None if it is not known (or ``e`` is
        applied already)."""
        row = self.opportunities.get(e.originator_id)
        if row is None or e.originator_version <= row["version"]:
            return None
        row.update(values, updated_at=e.timestamp, version=e.originator_version)
        self.changed.add(row["id"])
        return row

    # Writing

    def write(self, cur: Cursor[Any], schema: str) -> None:
        new_customers = [c for i, c in self.customers.items() if i not in self.stored]
        if new_customers:
            _copy(cur, schema, "customers", ("id", "name", "initials"), ([c["id"], c["name"], c["initials"]] for c in new_customers))
        renamed = [c for i, c in self.customers.items() if i in self.renamed and i in self.stored]
        if renamed:
            cur.executemany(q(schema, "UPDATE {s}.customers SET name = %s, initials = %s WHERE id = %s"),
                            [(c["name"], c["initials"], c["id"]) for c in renamed])  # fmt: skip
        self._write_opportunities(cur, schema)
        if self.stays:
            _copy(cur, schema, "stage_history", _STAY_COLUMNS, ([s[c] for c in _STAY_COLUMNS] for s in self.stays.values()))
        if self.stays_left:
            cur.executemany(q(schema, "UPDATE {s}.stage_history SET left_at = %s WHERE opportunity_id = %s AND version = %s"),
                            self.stays_left)  # fmt: skip
        if self.amounts:
            _copy(cur, schema, "amounts", _AMOUNT_COLUMNS, ([a[c] for c in _AMOUNT_COLUMNS] for a in self.amounts.values()))
        if self.amounts_ended:
            cur.executemany(q(schema, "UPDATE {s}.amounts SET valid_to = %s WHERE opportunity_id = %s AND version = %s"),
                            self.amounts_ended)  # fmt: skip
        if self.close_dates:
            _copy(cur, schema, "close_dates", _CLOSE_DATE_COLUMNS, self.close_dates)
        for statement, params in self.statements:
            cur.execute(q(schema, statement), params)
        self._write_funnel(cur, schema)
        if not self.deferred:
            self._write_reports(cur, schema)

    def _write_opportunities(self, cur: Cursor[Any], schema: str) -> None:
        for customer_id in self.renamed:  # the stored opportunities of a renamed customer, not in the batch
            for row in cur.connection.cursor(row_factory=dict_row).execute(
                q(schema, f"SELECT {', '.join(_STORED)} FROM {{s}}.opportunities WHERE customer_id = %s AND NOT id = ANY(%s)"),
                (customer_id, list(self.opportunities)),
            ):
                row["visited"] = list(row["visited"])
                self.opportunities[row["id"]] = row
                self.stored.add(row["id"])
                self.parts_before[row["id"]] = _parts(row)
        for row in self.opportunities.values():
            if row["customer_id"] in self.renamed:
                self.changed.add(row["id"])
            if row["id"] in self.changed and (row.get("_search") or row["customer_id"] in self.renamed):
                customer = self.customers.get(row["customer_id"]) or {"name": "", "initials": ""}
                title = search.normalise(row["title"])
                row.update(search.columns(
                    customer["name"], short_name=row["title"], names=[search.pinyin_initials(title)],
                    initials=customer["initials"],
                ))  # fmt: skip
        new = [[row[c] for c in _STORED] for i, row in self.opportunities.items() if i in self.changed and i not in self.stored]
        if new:
            _copy(cur, schema, "opportunities", _STORED, new)
        changed = [
            [*(row[c] for c in _STORED if c != "id"), row["id"]]
            for i, row in self.opportunities.items() if i in self.changed and i in self.stored
        ]  # fmt: skip
        if changed:
            cur.executemany(q(schema, _UPDATE), changed)

    def _write_reports(self, cur: Cursor[Any], schema: str) -> None:
        """Each report's sums: the changed opportunities' parts after the batch, less before."""
        sums: list[dict[tuple[Any, ...], list[Any]]] = [{} for _ in _REPORTS]
        for opportunity in self.changed:
            row = self.opportunities[opportunity]
            after = _parts(row)
            before = self.parts_before.get(opportunity)
            for sign, (owner, parts) in ((1, after), (-1, before)) if before else ((1, after),):
                for n, (moment, part) in enumerate(parts):
                    if moment is None:
                        continue
                    for label, measures in part.items():
                        for who, grain in _REPORT_GRAINS:
                            key = (owner if who == "owner" else EVERYONE, grain,
                                   _month(moment) if grain == "m" else _day(moment), label)  # fmt: skip
                            total = sums[n].setdefault(key, [0] * len(measures))
                            for m, value in enumerate(measures):
                                total[m] += sign * value
        for report, added in zip(_REPORTS, sums):
            if added:
                columns = [list(column) for column in zip(*((*key, *measures) for key, measures in added.items()))]
                cur.execute(q(schema, _report_add(report)), columns)

    def _write_funnel(self, cur: Cursor[Any], schema: str) -> None:
        moved = [(i, before, self.opportunities[i]["owner_id"]) for i, before in self.owners_before.items()
                 if before != self.opportunities[i]["owner_id"]]  # fmt: skip
        if moved:  # the changes stored before the batch go with the opportunity to its new owner
            ids, old, new = (list(column) for column in zip(*moved))
            if not self.deferred:
                cur.execute(q(schema, _MOVE_SUMS), {"ids": ids, "old": old, "new": new})
            cur.execute(
                q(schema, "UPDATE {s}.funnel_changes c SET owner_id = m.new FROM unnest(%s::uuid[], %s::uuid[]) AS m(id, new) "
                          "WHERE c.opportunity_id = m.id"),
                (ids, new),
            )  # fmt: skip
        owners = {row["owner_id"] for i, row in self.opportunities.items() if i in self.changed}
        if owners:
            cur.execute(q(schema, "INSERT INTO {s}.funnel_owners SELECT unnest(%s::uuid[]) ON CONFLICT DO NOTHING"),
                        (list(owners),))  # fmt: skip
        if not self.changes:
            return
        sums: dict[tuple[Any, ...], list[Any]] = {}
        rows = []
        for opportunity, at, stage, *measures in self.changes:
            row = self.opportunities[opportunity]
            owner, opened = row["owner_id"], row["created_at"]
            rows.append([opportunity, owner, opened, at, stage, *measures])
            if self.deferred:
                continue
            for who, grain, by_opened, by_at in GRAINS:
                key = (owner if who == "owner" else EVERYONE, grain, _BUCKETS[by_opened](opened), _BUCKETS[by_at](at), stage)
                total = sums.get(key)
                if total is None:
                    sums[key] = list(measures)
                else:
                    for n, value in enumerate(measures):
                        total[n] += value
        _copy(cur, schema, "funnel_changes", _CHANGE_COLUMNS, rows)
        if sums:
            columns = [list(column) for column in zip(*((*key, *measures) for key, measures in sums.items()))]
            cur.execute(q(schema, _ADD_SUMS), columns)


_ADD = ", ".join(f"{m} = {{s}}.funnel_sums.{m} + excluded.{m}" for m in _MEASURES)
_ADD_SUMS = (
    f"INSERT INTO {{s}}.funnel_sums ({', '.join(_SUM_COLUMNS)}) SELECT * FROM unnest(%s::uuid[], %s::text[], "
    "%s::date[], %s::date[], %s::text[], %s::bigint[], %s::numeric[], %s::bigint[], %s::bigint[], %s::numeric[]) "
    f"ON CONFLICT (owner_id, grain, opened_on, at_on, stage) DO UPDATE SET {_ADD}"
)
"""Adds a batch's sums (one array per column) to the stored ones."""
_MOVE_SUMS = f"""
INSERT INTO {{s}}.funnel_sums ({', '.join(_SUM_COLUMNS)})
SELECT k.owner_id, k.grain, k.opened_on, k.at_on, c.stage, {', '.join(f'sum(c.{m} * k.sign)' for m in _MEASURES)}
FROM {{s}}.funnel_changes c
JOIN unnest(%(ids)s::uuid[], %(old)s::uuid[], %(new)s::uuid[]) AS m(id, old, new) ON m.id = c.opportunity_id
CROSS JOIN LATERAL (
    SELECT * FROM {_sql_keys("m.old", "c.opened_at", "c.at", owners_only=True, sign="-1")}
    UNION ALL SELECT * FROM {_sql_keys("m.new", "c.opened_at", "c.at", owners_only=True)}
) AS k
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (owner_id, grain, opened_on, at_on, stage) DO UPDATE SET {_ADD}
"""
"""Moves the sums of reassigned opportunities' stored changes from their old owner to the new."""


class OpportunitiesProjection(FoldingProjection):
    name = "opportunities"
    version = 6
    batch = _Batch
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
        version integer NOT NULL,
        stay_version integer NOT NULL,   -- the current stay (stage_history) and amount (amounts)
        stage_entered_at timestamptz NOT NULL,
        amount_version integer NOT NULL,
        top_rank integer NOT NULL,       -- the furthest stage reached, in funnel_meta's order (0: none)
        visited text[] NOT NULL,         -- the stages it has been in
    """ + search.DDL + """
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
        name text NOT NULL,
        initials text NOT NULL
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
    CREATE TABLE {s}.funnel_changes (
        opportunity_id uuid NOT NULL,
        owner_id uuid NOT NULL,          -- the opportunity's owner now
        opened_at timestamptz NOT NULL,
        at timestamptz NOT NULL,
        stage text NOT NULL,
        n integer NOT NULL,              -- +1 entered, -1 left
        amount numeric(17, 2) NOT NULL,  -- the change of the stage's amount
        pairs integer NOT NULL,          -- +1 the first time the opportunity is in the stage
        reached integer NOT NULL,        -- +1 when it reaches the stage (or passes it)
        seconds numeric NOT NULL         -- -entered or +left, in seconds since 1970
    );
    CREATE TABLE {s}.funnel_sums (
        owner_id uuid NOT NULL,          -- the nil uuid: every owner's
        grain text NOT NULL,             -- by month, day or any (x) opened, and month or day of the change (GRAINS)
        opened_on date NOT NULL,
        at_on date NOT NULL,
        stage text NOT NULL,
        n bigint NOT NULL,
        amount numeric NOT NULL,
        pairs bigint NOT NULL,
        reached bigint NOT NULL,
        seconds numeric NOT NULL,
        PRIMARY KEY (owner_id, grain, opened_on, at_on, stage)
    );
    CREATE TABLE {s}.funnel_owners (owner_id uuid PRIMARY KEY);
    CREATE TABLE {s}.lost_sums (        -- the lost opportunities now, by when they were lost and why
        owner_id uuid NOT NULL,          -- the nil uuid: everyone's
        grain text NOT NULL,             -- m: by month, d: by day (of closed_at)
        on_day date NOT NULL,
        reason text NOT NULL,
        n numeric NOT NULL,
        amount numeric NOT NULL,
        PRIMARY KEY (owner_id, grain, on_day, reason)
    );
    CREATE TABLE {s}.competitor_sums (  -- the opportunities now, by when they were opened and competitor
        owner_id uuid NOT NULL,
        grain text NOT NULL,             -- m: by month, d: by day (of created_at)
        on_day date NOT NULL,
        competitor_id uuid NOT NULL,
        opportunities numeric NOT NULL, open numeric NOT NULL, won numeric NOT NULL, won_amount numeric NOT NULL,
        lost numeric NOT NULL, lost_amount numeric NOT NULL, lost_to numeric NOT NULL, lost_to_amount numeric NOT NULL,
        PRIMARY KEY (owner_id, grain, on_day, competitor_id)
    );
    CREATE TABLE {s}.funnel_meta (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        keys text[] NOT NULL,            -- the stage order of reached (pipeline keys, then won)
        deferred boolean NOT NULL DEFAULT false  -- a rebuild: the sums are made with the indexes
    );
    INSERT INTO {s}.funnel_meta (keys) VALUES ('{}');
    """
    indexes = """
    CREATE INDEX opportunities_recent ON {s}.opportunities (created_at DESC, id DESC);
    CREATE INDEX opportunities_owner ON {s}.opportunities (owner_id, created_at DESC, id DESC);
    CREATE INDEX opportunities_customer ON {s}.opportunities (customer_id, created_at DESC);
    CREATE INDEX opportunities_stage ON {s}.opportunities (stage, status);
    CREATE INDEX opportunities_close ON {s}.opportunities (expected_close_date);
    CREATE INDEX opportunities_won ON {s}.opportunities (owner_id, closed_at) WHERE status = 'won';
    CREATE INDEX opportunities_open ON {s}.opportunities (expected_close_date) INCLUDE (owner_id, amount, stage)
        WHERE status = 'open';
    """ + search.indexes("{s}", "opportunities") + """
    CREATE INDEX funnel_changes_at ON {s}.funnel_changes (at);
    CREATE INDEX funnel_changes_opened ON {s}.funnel_changes (opened_at, at);
    CREATE INDEX funnel_changes_owner_at ON {s}.funnel_changes (owner_id, at);
    CREATE INDEX funnel_changes_owner_opened ON {s}.funnel_changes (owner_id, opened_at);
    CREATE INDEX funnel_changes_opportunity ON {s}.funnel_changes (opportunity_id);
    CREATE STATISTICS {s}.funnel_sums_grains (mcv) ON owner_id, grain FROM {s}.funnel_sums;
    """

    def apply_batch(self, items: list[tuple[int, Any]], cur: Cursor[Any], schema: str) -> None:
        """Fold the batch, except that a change of the pipeline's stage order splits it: what
        came before is written, the ``reached`` changes are computed anew for the new order."""
        start = 0
        for n, (_, e) in enumerate(items):
            if isinstance(e, (Pipeline.Created, Pipeline.StagesChanged)):
                if start < n:
                    super().apply_batch(items[start:n], cur, schema)
                self._rank(cur, schema, [s["key"] for s in e.stages] + [WON])
                start = n + 1
        if start < len(items) or not items:
            super().apply_batch(items[start:], cur, schema)

    @staticmethod
    def _rank(cur: Cursor[Any], schema: str, keys: list[str]) -> None:
        rows = cur.connection.cursor(row_factory=dict_row)
        meta = rows.execute(q(schema, "SELECT keys, deferred FROM {s}.funnel_meta")).fetchone()
        if list(meta["keys"]) == keys:
            return
        for statement in _RERANK if meta["deferred"] else (*_RERANK, *_RERANK_SUMS):
            cur.execute(q(schema, statement), {"keys": keys, "everyone": EVERYONE})

    def create_tables(self, cur: Cursor[Any], schema: str, *, with_indexes: bool = True) -> None:
        """Tables without the query-only indexes (a rebuild) keep no sums until the indexes are
        made: then they are summed from the changes in one statement, which is much faster
        than adding each batch's."""
        super().create_tables(cur, schema, with_indexes=with_indexes)
        if not with_indexes:
            cur.execute(q(schema, "UPDATE {s}.funnel_meta SET deferred = true"))

    def create_indexes(self, cur: Cursor[Any], schema: str) -> None:
        super().create_indexes(cur, schema)
        rows = cur.connection.cursor(row_factory=dict_row)
        if rows.execute(q(schema, "SELECT deferred FROM {s}.funnel_meta")).fetchone()["deferred"]:
            cur.execute(q(schema, _ADD_CHANGES.replace("{where}", "true")), {"everyone": EVERYONE})
            for report in _REPORTS:
                cur.execute(q(schema, _report_build(report)), {"everyone": EVERYONE})
            cur.execute(q(schema, "UPDATE {s}.funnel_meta SET deferred = false"))

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
    def fold(self, event: Any, batch: Any) -> None:
        """Events this projection does not handle change nothing."""

    # The pipeline's stage order (applied by apply_batch, which splits the batch there)

    @fold.register
    def _pipeline_created(self, e: Pipeline.Created, batch: _Batch) -> None:
        batch.ranks = [s["key"] for s in e.stages] + [WON]

    @fold.register
    def _pipeline_changed(self, e: Pipeline.StagesChanged, batch: _Batch) -> None:
        batch.ranks = [s["key"] for s in e.stages] + [WON]

    # Customer names

    @fold.register
    def _customer_registered(self, e: Customer.Registered, batch: _Batch) -> None:
        if e.originator_id not in batch.customers:
            batch.customers[e.originator_id] = {
                "id": e.originator_id, "name": e.name, "initials": search.pinyin_initials(search.normalise(e.name)),
            }  # fmt: skip

    @fold.register
    def _customer_updated(self, e: Customer.ProfileUpdated, batch: _Batch) -> None:
        customer = batch.customers.get(e.originator_id)
        if "name" in e.changes and customer is not None and customer["name"] != e.changes["name"]:
            name = e.changes["name"]
            customer.update(name=name, initials=search.pinyin_initials(search.normalise(name)))
            batch.renamed.add(e.originator_id)

    # Opportunities

    @fold.register
    def _opened(self, e: Opportunity.Opened, batch: _Batch) -> None:
        if e.originator_id in batch.opportunities:
            return  # applied already
        row = {c: None for c in _STORED}
        row.update(
            id=e.originator_id, customer_id=e.customer_id, title=e.title, amount=e.amount, currency=e.currency,
            expected_close_date=e.expected_close_date, owner_id=e.owner_id, source=e.source, stage=e.stage,
            status="open", competitor_ids=list(e.competitor_ids), created_at=e.timestamp, updated_at=e.timestamp,
            version=e.originator_version, amount_version=e.originator_version, top_rank=0, visited=[], _search=True,
        )  # fmt: skip
        batch.opportunities[e.originator_id] = row
        batch.changed.add(e.originator_id)
        batch.amounts[(e.originator_id, e.originator_version)] = {
            "opportunity_id": e.originator_id, "version": e.originator_version, "amount": e.amount,
            "valid_from": e.timestamp, "valid_to": None,
        }  # fmt: skip
        batch.enter(row, e, e.stage)
        batch.close_dates.append((e.originator_id, e.originator_version, e.expected_close_date, e.timestamp))

    @fold.register
    def _stage_changed(self, e: Opportunity.StageChanged, batch: _Batch) -> None:
        row = batch.touch(e)
        if row is not None:
            batch.enter(row, e, e.to_stage)

    @fold.register
    def _amount_changed(self, e: Opportunity.AmountChanged, batch: _Batch) -> None:
        row = batch.touch(e)
        if row is not None:
            before = row["amount"]
            batch.set_amount(row, e, e.amount)
            batch.change(row, e.timestamp, row["stage"], amount=e.amount - before)

    @fold.register
    def _close_date_changed(self, e: Opportunity.CloseDateChanged, batch: _Batch) -> None:
        if batch.touch(e, expected_close_date=e.expected_close_date) is not None:
            batch.close_dates.append((e.originator_id, e.originator_version, e.expected_close_date, e.timestamp))

    @fold.register
    def _retitled(self, e: Opportunity.Retitled, batch: _Batch) -> None:
        batch.touch(e, title=e.title, _search=True)

    @fold.register
    def _reassigned(self, e: Opportunity.Reassigned, batch: _Batch) -> None:
        row = batch.opportunities.get(e.originator_id)
        if row is not None and row["id"] in batch.stored and row["id"] not in batch.owners_before:
            batch.owners_before[row["id"]] = row["owner_id"]
        batch.touch(e, owner_id=e.owner_id)

    @fold.register
    def _won(self, e: Opportunity.Won, batch: _Batch) -> None:
        row = batch.touch(e)
        if row is not None:
            batch.enter(row, e, WON, e.amount)
            batch.set_amount(row, e, e.amount)
            row.update(status=WON, closed_at=e.timestamp)

    @fold.register
    def _lost(self, e: Opportunity.Lost, batch: _Batch) -> None:
        row = batch.touch(e)
        if row is not None:
            batch.enter(row, e, LOST)
            row.update(status=LOST, lost_reason=e.reason, lost_competitor_id=e.competitor_id, lost_note=e.note,
                       closed_at=e.timestamp)  # fmt: skip

    @fold.register
    def _quote_issued(self, e: Opportunity.QuoteIssued, batch: _Batch) -> None:
        if batch.touch(e) is not None:
            batch.statements.append((
                "INSERT INTO {s}.quotes (opportunity_id, number, lines, total, valid_until, note, issued_at) "
                "VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (e.originator_id, e.number, orjson.dumps(e.lines, default=str).decode(), e.total, e.valid_until, e.note,
                 e.timestamp),
            ))  # fmt: skip

    @fold.register
    def _quote_accepted(self, e: Opportunity.QuoteAccepted, batch: _Batch) -> None:
        if batch.touch(e) is not None:
            batch.statements.append((
                "UPDATE {s}.quotes SET accepted_at = CASE WHEN number = %s THEN %s::timestamptz END WHERE opportunity_id = %s",
                (e.number, e.timestamp, e.originator_id),
            ))  # fmt: skip

    # Sales targets

    @fold.register
    def _target_created(self, e: SalesTarget.Created, batch: _Batch) -> None:
        batch.statements.append((
            "INSERT INTO {s}.target_subjects (id, subject_type, subject_id, year) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (e.originator_id, e.subject_type, e.subject_id, e.year),
        ))  # fmt: skip

    @fold.register
    def _target_set(self, e: SalesTarget.Set, batch: _Batch) -> None:
        for month, amount in e.months.items():
            batch.statements.append((
                "INSERT INTO {s}.targets (target_id, month, amount) VALUES (%s, %s, %s) "
                "ON CONFLICT (target_id, month) DO UPDATE SET amount = excluded.amount",
                (e.originator_id, month, amount),
            ))  # fmt: skip

    @fold.register
    def _reopened(self, e: Opportunity.Reopened, batch: _Batch) -> None:
        row = batch.touch(e)
        if row is not None:
            batch.enter(row, e, e.stage)
            row.update(status="open", lost_reason=None, lost_competitor_id=None, lost_note=None, closed_at=None)


_ADD_CHANGES = f"""
INSERT INTO {{s}}.funnel_sums ({', '.join(_SUM_COLUMNS)})
SELECT k.owner_id, k.grain, k.opened_on, k.at_on, c.stage, {', '.join(f'sum(c.{m})' for m in _MEASURES)}
FROM {{s}}.funnel_changes c CROSS JOIN LATERAL {_sql_keys("c.owner_id", "c.opened_at", "c.at")}
WHERE {{where}}
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (owner_id, grain, opened_on, at_on, stage) DO UPDATE SET {_ADD}
"""
"""Adds stored changes (those ``{where}`` selects) to the sums, in one statement."""

_REACHED_ONLY = "n = 0 AND amount = 0 AND pairs = 0 AND seconds = 0"

_RERANK = (
    "UPDATE {s}.funnel_meta SET keys = %(keys)s",
    "UPDATE {s}.funnel_changes SET reached = 0 WHERE reached <> 0",
    f"DELETE FROM {{s}}.funnel_changes WHERE {_REACHED_ONLY} AND reached = 0",
    f"""
    WITH ranks AS (
        SELECT stage, rank::int FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS r(stage, rank)
    ), stays AS (
        SELECT h.opportunity_id, h.entered_at, r.rank,
               coalesce(max(r.rank) OVER (PARTITION BY h.opportunity_id ORDER BY h.version
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
        FROM {{s}}.stage_history h JOIN ranks r USING (stage)
    )
    INSERT INTO {{s}}.funnel_changes ({', '.join(_CHANGE_COLUMNS)})
    SELECT s.opportunity_id, o.owner_id, o.created_at, s.entered_at, r.stage, 0, 0, 0, 1, 0
    FROM stays s JOIN ranks r ON r.rank > s.before AND r.rank <= s.rank
    JOIN {{s}}.opportunities o ON o.id = s.opportunity_id
    WHERE s.rank > s.before
    """,
    """
    UPDATE {s}.opportunities o SET top_rank = coalesce(t.top, 0)
    FROM (SELECT o.id, max(r.rank) AS top
          FROM {s}.opportunities o
          LEFT JOIN {s}.stage_history h ON h.opportunity_id = o.id
          LEFT JOIN unnest(%(keys)s::text[]) WITH ORDINALITY AS r(stage, rank) ON r.stage = h.stage
          GROUP BY o.id) t
    WHERE t.id = o.id AND o.top_rank IS DISTINCT FROM coalesce(t.top, 0)
    """,
)
"""A new stage order: every opportunity's ``reached`` changes computed anew from the stage history."""
_RERANK_SUMS = (
    "UPDATE {s}.funnel_sums SET reached = 0 WHERE reached <> 0",
    _ADD_CHANGES.replace("{where}", f"{_REACHED_ONLY} AND reached <> 0"),
)
"""... and the sums' ``reached`` from them (unless the sums are deferred)."""


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
    members: list[UUID] | None = None,
    trace: search.Trace | None = None,
) -> Page:
    """Opportunities newest first, or when searching with ``q_text`` (the customer's name, the
    title, the pinyin initials of either) best match first: exact, prefix, contains, similar,
    newest first within each (``projections/search.py``). Only those owned by ``owners`` when
    given (the data scope)."""
    where: list[str] = []
    params: list[Any] = []
    if owners is not None:
        if len(owners) == 1:  # a salesperson's own: the owner index gives them newest first
            where.append("owner_id = %s")
            params.append(next(iter(owners)))
        else:
            where.append("owner_id = ANY(%s)")
            params.append(list(owners))
    if members is not None:  # a department's people (and those of the departments below it)
        where.append("owner_id = ANY(%s)")
        params.append(members)
    for column, value in (("owner_id", owner_id), ("customer_id", customer_id), ("stage", stage), ("status", status)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if close_from is not None:
        where.append("expected_close_date >= %s")
        params.append(close_from)
    if close_to is not None:
        where.append("expected_close_date <= %s")
        params.append(close_to)
    if q_text:
        page = search.page(
            cur, table=f'"{SCHEMA}".opportunities', columns=OPPORTUNITY_COLUMNS, filters=where, params=params,
            q=q_text, limit=limit, cursor=cursor, trace=trace,
        )  # fmt: skip
        _name_customers(cur, page.items)
        return page
    where = [f"o.{c}" for c in where]  # the list joins the customers' names
    if cursor:
        where.append("(o.created_at, o.id) < (%s, %s)")
        params += decode_cursor(cursor, "opportunities", _aware, UUID)
    conditions = " WHERE " + " AND ".join(where) if where else ""
    statement = _SELECT + conditions + " ORDER BY o.created_at DESC, o.id DESC LIMIT %s"
    rows = cur.execute(q(SCHEMA, statement), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("opportunities", [rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])])
    return Page(rows, next_cursor)


def _name_customers(cur: Cursor[Any], rows: list[dict[str, Any]]) -> None:
    """Each row's customer name, in one query."""
    if not rows:
        return
    names = {
        r["id"]: r["name"]
        for r in cur.execute(
            q(SCHEMA, "SELECT id, name FROM {s}.customers WHERE id = ANY(%s)"), (list({r["customer_id"] for r in rows}),)
        ).fetchall()
    }
    for row in rows:
        row["customer_name"] = names.get(row["customer_id"])


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
    trace: list[tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """The funnel of the opportunities opened in the period (and owned by ``owners``, the
    caller's scope, by ``owner_id`` and by ``members`` of a department), as it stood at
    ``as_of``: per stage, the opportunities in it then (count, amount, weighted amount), the
    share of those that reached it and went on to a later stage (or won), the average days
    spent in it; then won and lost totals and the win rate. Definitions: docs/api.md.

    Summed from the funnel's changes (see the module's docstring), unless the read model's
    stage order is not the pipeline's (a change of the stages not applied yet): then computed
    from the stage history (``funnel_exact``), which gives the same numbers more slowly."""
    keys = [s["key"] for s in stages] + [WON]
    wanted = _owner_set(owners, owner_id, members)
    rows = cur.execute(
        q(schema, "SELECT m.keys, CASE WHEN %(set)s::uuid[] IS NULL THEN true ELSE NOT EXISTS "
                  "(SELECT 1 FROM {s}.funnel_owners f WHERE f.owner_id <> ALL(%(set)s::uuid[])) END AS everyone "
                  "FROM {s}.funnel_meta m"),
        {"set": None if wanted is None else list(wanted)},
    ).fetchone()  # fmt: skip
    if list(rows["keys"]) != keys:
        return funnel_exact(cur, stages=stages, as_of=as_of, opened_from=opened_from, opened_before=opened_before,
                            owner_id=owner_id, members=members, owners=owners, schema=schema)  # fmt: skip
    if opened_before is not None and opened_before > as_of:
        opened_before = None  # opened later, it has changed nothing by as_of: no end to cut (to = today)
    statement, params = _funnel_statement(as_of, opened_from, opened_before, None if rows["everyone"] else wanted)
    totals = {r["stage"]: r for r in cur.execute(q(schema, statement), params, prepare=False).fetchall()}
    if trace is not None:
        trace.append((statement, params))
    at = _epoch(as_of)
    measures: dict[str, dict[str, Any]] = {}
    for key in [*keys, LOST]:
        row = totals.get(key) or {"n": 0, "amount": 0, "pairs": 0, "reached": 0, "seconds": 0}
        days = None
        if row["pairs"]:
            days = (Decimal(row["seconds"]) + row["n"] * at) / row["pairs"] / 86_400
        measures[key] = {"count": row["n"], "amount": Decimal(row["amount"]), "reached": row["reached"], "days": days}
    return _funnel_answer(stages, as_of, {
        key: {"count": m["count"], "amount": m["amount"], "reached": m["reached"],
              "went_on": measures[keys[n + 1]]["reached"] if n + 1 < len(keys) else 0, "avg_days": m["days"]}
        for n, (key, m) in enumerate((k, measures[k]) for k in [*keys, LOST])
    })  # fmt: skip


def _owner_set(
    owners: frozenset[UUID] | None, owner_id: UUID | None, members: list[UUID] | None
) -> frozenset[UUID] | None:
    """The owners every filter allows (None: any owner)."""
    wanted: frozenset[UUID] | None = owners
    for allowed in (None if owner_id is None else {owner_id}, None if members is None else set(members)):
        if allowed is not None:
            wanted = frozenset(allowed) if wanted is None else wanted & allowed
    return wanted


_PARTS = "stage, n, amount, pairs, reached, seconds"


def _funnel_statement(
    as_of: datetime, opened_from: datetime | None, opened_before: datetime | None, owners: frozenset[UUID] | None
) -> tuple[str, dict[str, Any]]:
    """The statement summing the funnel's changes up to ``as_of`` of the opportunities opened in
    [``opened_from``, ``opened_before``) and owned by ``owners`` (None: everyone), and its
    parameters. The changes are cut into parts no two of which hold the same change, each read
    from the coarsest sums that hold it whole (docs/opportunities.md):

    - changed before as_of's month: month sums (``xm``, or ``mm`` for the period's whole months);
    - changed in as_of's month before its day: day sums (``xd``; ``md`` for everyone's whole
      months; for some owners and a period, their changes);
    - changed on as_of's day up to as_of: the changes;
    - opened in the period's partial months: for everyone, the sums of their whole days (``dm``)
      before as_of's month and the changes after; for some owners, their changes; and the
      changes of the opportunities opened in the hours of a day the period cuts."""
    month, day = _month(as_of), _day(as_of)
    params: dict[str, Any] = {
        "t": as_of, "month": month, "day": day, "any": ANY, "everyone": EVERYONE,
        "owners": None if owners is None else list(owners), "since_day": _midnight(day), "since_month": _midnight(month),
    }  # fmt: skip
    who = "" if owners is None else " AND owner_id = ANY(%(owners)s)"
    sums = "owner_id = %(everyone)s" if owners is None else "owner_id = ANY(%(owners)s)"
    parts: list[str] = []

    def add_sums(grain: str, where: str) -> None:
        parts.append(f"SELECT {_PARTS} FROM {{s}}.funnel_sums WHERE {sums} AND grain = '{grain}' AND {where}")

    def add_changes(where: str) -> None:
        parts.append(f"SELECT {_PARTS} FROM {{s}}.funnel_changes WHERE {where}{who}")

    if opened_from is None and opened_before is None:
        add_sums("xm", "opened_on = %(any)s AND at_on < %(month)s")
        add_sums("xd", "opened_on = %(any)s AND at_on >= %(month)s AND at_on < %(day)s")
        add_changes("at >= %(since_day)s AND at <= %(t)s")
        return _sum_statement(parts), params
    # The period's whole days [first_day, last_day), its whole months [first, last) within them.
    first_day = last_day = None
    if opened_from is not None:
        first_day = _day(opened_from) + timedelta(days=int(_midnight(_day(opened_from)) < opened_from))
    if opened_before is not None:
        last_day = _day(opened_before)
    cut: list[tuple[datetime | None, datetime | None]] = []  # hours of days the period cuts
    if first_day is not None and last_day is not None and first_day >= last_day:
        cut.append((opened_from, opened_before))
        first_day = last_day = None
        whole_months: tuple[date | None, date | None] | None = None
        edge_days: list[tuple[date | None, date | None]] = []
    else:
        if opened_from is not None and first_day is not None and _midnight(first_day) > opened_from:
            cut.append((opened_from, _midnight(first_day)))
        if opened_before is not None and last_day is not None and _midnight(last_day) < opened_before:
            cut.append((_midnight(last_day), opened_before))
        first = None if first_day is None else (first_day if first_day.day == 1 else _next_month(first_day.replace(day=1)))
        last = None if last_day is None else last_day.replace(day=1)
        if first is not None and last is not None and first >= last:
            whole_months, edge_days = None, [(first_day, last_day)]
        else:
            whole_months = (first, last)
            edge_days = [(a, b) for a, b in ((first_day, first), (last, last_day)) if a is not None and b is not None and a < b]
    if whole_months is not None:
        first, last = whole_months
        in_months, in_moments = "", ""
        if first is not None:
            in_months += " AND opened_on >= %(first)s"
            in_moments += " AND opened_at >= %(first_at)s"
            params.update(first=first, first_at=_midnight(first))
        if last is not None:
            in_months += " AND opened_on < %(last)s"
            in_moments += " AND opened_at < %(last_at)s"
            params.update(last=last, last_at=_midnight(last))
        add_sums("mm", f"at_on < %(month)s{in_months}")
        if owners is None:
            parts.append(f"SELECT {_PARTS} FROM {{s}}.funnel_sums WHERE owner_id = %(everyone)s AND grain = 'md' "
                         f"AND at_on >= %(month)s AND at_on < %(day)s{in_months}")  # fmt: skip
            add_changes(f"at >= %(since_day)s AND at <= %(t)s{in_moments}")
        else:
            add_changes(f"at >= %(since_month)s AND at <= %(t)s{in_moments}")
    for n, (a, b) in enumerate(edge_days):
        params.update({f"edge{n}_from": a, f"edge{n}_to": b, f"edge{n}_from_at": _midnight(a), f"edge{n}_to_at": _midnight(b)})  # type: ignore[arg-type]
        if owners is None:
            parts.append(f"SELECT {_PARTS} FROM {{s}}.funnel_sums WHERE owner_id = %(everyone)s AND grain = 'dm' "
                         f"AND opened_on >= %(edge{n}_from)s AND opened_on < %(edge{n}_to)s AND at_on < %(month)s")  # fmt: skip
            add_changes(f"opened_at >= %(edge{n}_from_at)s AND opened_at < %(edge{n}_to_at)s "
                        "AND at >= %(since_month)s AND at <= %(t)s")  # fmt: skip
        else:
            add_changes(f"opened_at >= %(edge{n}_from_at)s AND opened_at < %(edge{n}_to_at)s AND at <= %(t)s")
    for n, (a, b) in enumerate(cut):
        bounds = [c for c, v in ((f"opened_at >= %(cut{n}_from)s", a), (f"opened_at < %(cut{n}_to)s", b)) if v is not None]
        params.update({f"cut{n}_from": a, f"cut{n}_to": b})
        add_changes(" AND ".join([*bounds, "at <= %(t)s"]))
    return _sum_statement(parts), params


def _sum_statement(parts: list[str]) -> str:
    return (
        "SELECT stage, sum(n)::bigint AS n, coalesce(sum(amount), 0) AS amount, sum(pairs)::bigint AS pairs, "
        "sum(reached)::bigint AS reached, coalesce(sum(seconds), 0) AS seconds FROM ("
        + " UNION ALL ".join(parts) + ") parts GROUP BY stage"
    )


def _funnel_answer(stages: list[dict[str, Any]], as_of: datetime, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
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
    won, lost = rows[WON], rows[LOST]
    return {
        "as_of": as_of,
        "stages": out,
        "won": {"count": won["count"], "amount": Decimal(won["amount"]).quantize(CENT)},
        "lost": {"count": lost["count"], "amount": Decimal(lost["amount"]).quantize(CENT)},
        "win_rate": _ratio(won["count"], won["count"] + lost["count"]),
    }


_FUNNEL_EXACT = """
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


def funnel_exact(  # noqa: PLR0913
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
    """The funnel computed from every stay of the stage history and the amounts (``funnel``
    gives the same from the funnel's sums): for a stage order the sums were not made with,
    and as the reference the sums are tested against."""
    filters, params = "", {"t": as_of, "keys": [s["key"] for s in stages] + [WON]}
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
    rows = {r["stage"]: r for r in cur.execute(q(schema, _FUNNEL_EXACT.replace("{filters}", filters)), params).fetchall()}
    return _funnel_answer(stages, as_of, rows)


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


def lost_reasons_exact(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    closed_from: datetime | None = None,
    closed_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
    schema: str = SCHEMA,
) -> dict[str, Any]:
    """The lost reasons from every lost opportunity (``lost_reasons`` gives the same from sums)."""
    filters, params = _report_filters(owners, owner_id, members)
    for name, clause, value in (("closed_from", "o.closed_at >= %(closed_from)s", closed_from),
                                ("closed_before", "o.closed_at < %(closed_before)s", closed_before)):  # fmt: skip
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    rows = cur.execute(q(schema, _LOST_REASONS.replace("{filters}", filters)), params).fetchall()
    return _lost_answer(rows)


def _lost_answer(rows: list[dict[str, Any]]) -> dict[str, Any]:
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


def competitors_exact(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    opened_from: datetime | None = None,
    opened_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
    schema: str = SCHEMA,
) -> list[dict[str, Any]]:
    """The competitor report from every opportunity (``competitors`` gives the same from sums)."""
    filters, params = _report_filters(owners, owner_id, members)
    for name, clause, value in (("opened_from", "o.created_at >= %(opened_from)s", opened_from),
                                ("opened_before", "o.created_at < %(opened_before)s", opened_before)):  # fmt: skip
        if value is not None:
            filters += f" AND {clause}"
            params[name] = value
    return _competitors_answer(cur.execute(q(schema, _COMPETITORS.replace("{filters}", filters)), params).fetchall())


def _competitors_answer(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        out.append({
            "competitor_id": r["competitor_id"], "name": r["name"], "opportunities": r["opportunities"], "open": r["open"],
            "won": {"count": r["won"], "amount": Decimal(r["won_amount"]).quantize(CENT)},
            "lost": {"count": r["lost"], "amount": Decimal(r["lost_amount"]).quantize(CENT)},
            "lost_to_them": {"count": r["lost_to"], "amount": Decimal(r["lost_to_amount"]).quantize(CENT)},
            "win_rate": _ratio(r["won"], r["won"] + r["lost"]),
        })  # fmt: skip
    return out


def lost_reasons(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    closed_from: datetime | None = None,
    closed_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
    schema: str = SCHEMA,
) -> dict[str, Any]:
    """Opportunities lost (and not reopened) in the period, by reason (失单分析): count and amount,
    most frequent first, with each reason's share of the lost ones. From the report's sums by
    month and day; a period whose ends are not midnights of BUCKET_ZONE reads every lost one."""
    found = _report_rows(cur, schema, _LOST, closed_from, closed_before, _owner_set(owners, owner_id, members),
                         "reason, sum(n)::bigint AS count, sum(amount) AS amount", "sum(n) > 0",
                         "sum(n) DESC, sum(amount) DESC, 1")  # fmt: skip
    if found is None:
        return lost_reasons_exact(cur, closed_from=closed_from, closed_before=closed_before, owner_id=owner_id,
                                  members=members, owners=owners, schema=schema)  # fmt: skip
    return _lost_answer(found)


def competitors(  # noqa: PLR0913
    cur: Cursor[Any],
    *,
    opened_from: datetime | None = None,
    opened_before: datetime | None = None,
    owner_id: UUID | None = None,
    members: list[UUID] | None = None,
    owners: frozenset[UUID] | None = None,
    schema: str = SCHEMA,
) -> list[dict[str, Any]]:
    """Per competitor (竞争对手), the opportunities opened in the period it was named on (or
    lost to): how many, still open, won against it, lost (to anyone), and lost to it, with
    amounts, and the win rate against it (won / (won + lost)). From the report's sums, as
    ``lost_reasons``."""
    measures = ", ".join(f"sum(s.{m})::{'bigint' if 'amount' not in m else 'numeric'} AS {m}"
                         for m in _COMPETITORS_SUMS.measures)  # fmt: skip
    found = _report_rows(
        cur, schema, _COMPETITORS_SUMS, opened_from, opened_before, _owner_set(owners, owner_id, members),
        f"s.competitor_id, n.name, {measures}", "sum(s.opportunities) > 0",
        "sum(s.opportunities) DESC, n.name, s.competitor_id", join="LEFT JOIN {s}.customers n ON n.id = s.competitor_id",
        group="s.competitor_id, n.name",
    )  # fmt: skip
    if found is None:
        return competitors_exact(cur, opened_from=opened_from, opened_before=opened_before, owner_id=owner_id,
                                 members=members, owners=owners, schema=schema)  # fmt: skip
    return _competitors_answer(found)


def _report_rows(  # noqa: PLR0913
    cur: Cursor[Any], schema: str, report: _Report, start: datetime | None, before: datetime | None,
    owners: frozenset[UUID] | None, select: str, having: str, order: str, *, join: str = "", group: str = "1",
) -> list[dict[str, Any]] | None:
    """A report's rows summed over the period [``start``, ``before``): its whole months from the
    month sums, the other days from the day sums; None when an end is not a midnight of
    BUCKET_ZONE (the caller then reads the opportunities)."""
    for end in (start, before):
        if end is not None and _midnight(_day(end)) != end:
            return None
    params: dict[str, Any] = {"everyone": EVERYONE, "owners": None if owners is None else list(owners)}
    if owners is not None and not cur.execute(
        q(schema, "SELECT NOT EXISTS (SELECT 1 FROM {s}.funnel_owners f WHERE f.owner_id <> ALL(%(owners)s::uuid[])) AS all"),
        params,
    ).fetchone()["all"]:  # fmt: skip
        who = "s.owner_id = ANY(%(owners)s)"
    else:
        who = "s.owner_id = %(everyone)s"
    first_day = None if start is None else _day(start)
    last_day = None if before is None else _day(before)
    first = None if first_day is None else (first_day if first_day.day == 1 else _next_month(first_day.replace(day=1)))
    last = None if last_day is None else last_day.replace(day=1)
    spans: list[str] = []
    if first is not None and last is not None and first >= last:
        spans.append("s.grain = 'd' AND s.on_day >= %(first_day)s AND s.on_day < %(last_day)s")
    else:
        months = ["s.grain = 'm'"]
        if first is not None:
            months.append("s.on_day >= %(first)s")
            if first_day is not None and first_day < first:
                spans.append("s.grain = 'd' AND s.on_day >= %(first_day)s AND s.on_day < %(first)s")
        if last is not None:
            months.append("s.on_day < %(last)s")
            if last_day is not None and last < last_day:
                spans.append("s.grain = 'd' AND s.on_day >= %(last)s AND s.on_day < %(last_day)s")
        spans.append(" AND ".join(months))
    params.update(first=first, last=last, first_day=first_day, last_day=last_day)
    statement = (
        f"SELECT {select} FROM {{s}}.{report.table} s {join} WHERE {who} AND ("
        + " OR ".join(f"({span})" for span in spans)
        + f") GROUP BY {group} HAVING {having} ORDER BY {order}"
    )
    return cur.execute(q(schema, statement), params, prepare=False).fetchall()


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
