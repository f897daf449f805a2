"""Operation log: every event as a row saying who did what to which record, when, in which request."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg import Cursor
from psycopg.types.json import Jsonb

from crm_es.aggregates.base import describe_event
from crm_es.projections.base import Batch, FoldingProjection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

SCHEMA = live_schema("audit")

ENTRY_COLUMNS = (
    "position", "aggregate_type", "aggregate_id", "version", "event_type", "occurred_at", "actor",
    "correlation_id", "causation_id", "data",
)  # fmt: skip

_MAX_POSITION = 2**63 - 1


class _Entries(Batch):
    """The batch's entries, written with one binary COPY (events are only ever appended)."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.seen: set[int] = set()

    @classmethod
    def load(cls, cur: Cursor[Any], schema: str, items: list[tuple[int, Any]]) -> _Entries:
        batch = cls()
        if items:
            # A position already recorded is left as it is (the runner applies each event
            # once; this keeps a replay of the same events harmless all the same).
            first, last = items[0][0], items[-1][0]
            batch.seen = {
                row[0] for row in cur.execute(
                    q(schema, "SELECT position FROM {s}.entries WHERE position BETWEEN %s AND %s"), (first, last)
                )
            }  # fmt: skip
        return batch

    def write(self, cur: Cursor[Any], schema: str) -> None:
        if not self.rows:
            return
        with cur.copy(q(schema, f"COPY {{s}}.entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN (FORMAT BINARY)")) as copy:
            copy.set_types(_TYPES)
            for row in self.rows:
                copy.write_row(row)


_TYPES = ["int8", "text", "uuid", "int4", "text", "timestamptz", "text", "text", "text", "jsonb"]


class AuditProjection(FoldingProjection):
    name = "audit"
    version = 2
    all_topics = True
    batch = _Entries
    ddl = """
    CREATE TABLE {s}.entries (
        position bigint PRIMARY KEY,
        aggregate_type text NOT NULL,
        aggregate_id uuid NOT NULL,
        version integer NOT NULL,
        event_type text NOT NULL,
        occurred_at timestamptz NOT NULL,
        actor text,
        correlation_id text,
        causation_id text,
        data jsonb NOT NULL
    );
    """
    indexes = """
    CREATE INDEX entries_actor ON {s}.entries (actor, position);
    CREATE INDEX entries_aggregate ON {s}.entries (aggregate_id, position);
    CREATE INDEX entries_aggregate_type ON {s}.entries (aggregate_type, position);
    CREATE INDEX entries_occurred_at ON {s}.entries (occurred_at);
    """

    def apply_batch(self, items: list[tuple[int, Any]], cur: Cursor[Any], schema: str) -> None:
        """Record every event, whatever its type (the operation log has no handler per type)."""
        batch = _Entries.load(cur, schema, items)
        for position, event in items:
            if position in batch.seen:
                continue
            record = describe_event(position, event)
            record["data"] = Jsonb(record["data"], dumps=_dumps)
            batch.rows.append([record[c] for c in ENTRY_COLUMNS])
        batch.write(cur, schema)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)  # Decimal, time zones and anything else orjson lacks


# Queries ---------------------------------------------------------------------------------------


def _filters(
    actors: list[str] | None,
    actor: str | None,
    aggregate_type: str | None,
    aggregate_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for condition, value in (("actor = ANY(%s)", actors), ("actor = %s", actor),
                             ("aggregate_type = %s", aggregate_type), ("aggregate_id = %s", aggregate_id),
                             ("occurred_at >= %s", since), ("occurred_at < %s", until)):  # fmt: skip
        if value is not None:
            where.append(condition)
            params.append(value)
    return where, params


def _position(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= _MAX_POSITION:
        raise ValueError("not a position")
    return value


_SELECT = "SELECT " + ", ".join(ENTRY_COLUMNS) + " FROM {s}.entries"


def list_entries(
    cur: Cursor[Any],
    *,
    limit: int,
    cursor: str | None = None,
    actors: list[str] | None = None,
    actor: str | None = None,
    aggregate_type: str | None = None,
    aggregate_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page:
    """Entries newest first; ``since`` is inclusive, ``until`` exclusive. ``actors`` is the
    caller's scope: the operation log shows what the people within it did (None: everyone)."""
    where, params = _filters(actors, actor, aggregate_type, aggregate_id, since, until)
    if cursor:
        where.append("position < %s")
        params += decode_cursor(cursor, "audit", _position)
    statement = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY position DESC LIMIT %s"
    rows = cur.execute(q(SCHEMA, statement), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("audit", [rows[-1]["position"]])
    return Page(rows, next_cursor)


def entries_after(
    cur: Cursor[Any],
    *,
    after: int,
    limit: int,
    actors: list[str] | None = None,
    actor: str | None = None,
    aggregate_type: str | None = None,
    aggregate_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` matching entries after position ``after``, oldest first (exports page
    through these, so no connection is held while a slow client reads)."""
    where, params = _filters(actors, actor, aggregate_type, aggregate_id, since, until)
    where.append("position > %s")
    params.append(after)
    statement = _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY position LIMIT %s"
    return cur.execute(q(SCHEMA, statement), [*params, limit]).fetchall()
