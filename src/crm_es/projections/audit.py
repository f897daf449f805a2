"""Operation log: every event as a row saying who did what to which record, when, in which request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg import Cursor

from crm_es.aggregates.base import describe_event
from crm_es.projections.base import Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

SCHEMA = live_schema("audit")

ENTRY_COLUMNS = (
    "position", "aggregate_type", "aggregate_id", "version", "event_type", "occurred_at", "actor",
    "correlation_id", "causation_id", "data",
)  # fmt: skip

_MAX_POSITION = 2**63 - 1


class AuditProjection(Projection):
    name = "audit"
    version = 1
    all_topics = True
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
    CREATE INDEX entries_actor ON {s}.entries (actor, position);
    CREATE INDEX entries_aggregate ON {s}.entries (aggregate_id, position);
    CREATE INDEX entries_aggregate_type ON {s}.entries (aggregate_type, position);
    CREATE INDEX entries_occurred_at ON {s}.entries (occurred_at);
    """

    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:  # type: ignore[override]
        """Record any event, whatever its type; a replayed position is left as it is."""
        record = describe_event(position, event)
        record["data"] = orjson.dumps(record["data"], default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
        cur.execute(
            q(schema, "INSERT INTO {s}.entries (" + ", ".join(ENTRY_COLUMNS) + ") "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (position) DO NOTHING"),
            [record[c] for c in ENTRY_COLUMNS],
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)  # Decimal, time zones and anything else orjson lacks


# Queries ---------------------------------------------------------------------------------------


def _filters(
    actor: str | None,
    aggregate_type: str | None,
    aggregate_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for condition, value in (("actor = %s", actor), ("aggregate_type = %s", aggregate_type),
                             ("aggregate_id = %s", aggregate_id), ("occurred_at >= %s", since),
                             ("occurred_at < %s", until)):  # fmt: skip
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
    actor: str | None = None,
    aggregate_type: str | None = None,
    aggregate_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page:
    """Entries newest first; ``since`` is inclusive, ``until`` exclusive."""
    where, params = _filters(actor, aggregate_type, aggregate_id, since, until)
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


def iter_entries(
    cur: Cursor[Any],
    *,
    actor: str | None = None,
    aggregate_type: str | None = None,
    aggregate_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Every matching entry oldest first, streamed from the server (for exports)."""
    where, params = _filters(actor, aggregate_type, aggregate_id, since, until)
    statement = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY position"
    yield from cur.stream(q(SCHEMA, statement), params)
