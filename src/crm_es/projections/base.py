"""What a projection is: a name, its tables, one handler per event type, its queries.

A projection's tables live in their own PostgreSQL schema, ``read_<name>``, together with a
one-row ``_tracking`` table holding the position of the last event applied. Rows and position
are written in one transaction, so every event is applied exactly once. A rebuild fills
``read_<name>__next`` from position 0 and swaps the two schemas in one transaction.
"""

from __future__ import annotations

from functools import lru_cache, singledispatchmethod
from typing import Any, ClassVar

from eventsourcing.utils import get_topic
from psycopg import Cursor, sql


def live_schema(name: str) -> str:
    return f"read_{name}"


def next_schema(name: str) -> str:
    return f"read_{name}__next"


@lru_cache(maxsize=4096)
def q(schema: str, statement: str) -> bytes:
    """``statement`` with ``{s}`` replaced by the quoted schema name (schema names are ours)."""
    return statement.replace("{s}", '"' + schema + '"').encode()


TRACKING_DDL = """
CREATE TABLE {s}._tracking (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL,
    version integer NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
)
"""


class Projection:
    """Base of every projection module's class."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    """Bump when tables or handlers change; a start then rebuilds the projection."""
    ddl: ClassVar[str]
    """Table definitions with ``{s}`` where the schema name goes, with the indexes the handlers
    need to find rows."""
    indexes: ClassVar[str] = ""
    """Indexes only the queries need. A rebuild creates them after loading every event, which
    is much faster than keeping them up to date row by row."""
    topics: ClassVar[tuple[str, ...]] = ()
    """Topics of the event classes handled; others are skipped without decoding."""
    pipelined: ClassVar[bool] = True
    """Send the batch's statements in pipeline mode (one statement per event benefits most)."""
    all_topics: ClassVar[bool] = False
    """True for projections that see every event (the audit log), whatever its type."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dispatcher = cls.__dict__.get("apply") or cls.__dict__.get("fold")
        if isinstance(dispatcher, singledispatchmethod):
            cls.topics = tuple(
                get_topic(t) for t in dispatcher.dispatcher.registry if t is not object
            )

    def create_tables(self, cur: Cursor[Any], schema: str, *, with_indexes: bool = True) -> None:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(q(schema, self.ddl))
        if with_indexes:
            self.create_indexes(cur, schema)
        cur.execute(q(schema, TRACKING_DDL))
        cur.execute(q(schema, "INSERT INTO {s}._tracking (position, version) VALUES (0, %s)"), (self.version,))

    def create_indexes(self, cur: Cursor[Any], schema: str) -> None:
        if self.indexes.strip():
            cur.execute(q(schema, self.indexes))

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Apply one event to the tables in ``schema``. Unknown events are ignored."""

    def apply_batch(self, items: list[tuple[int, Any]], cur: Cursor[Any], schema: str) -> None:
        """Apply a batch of (position, event) in order. One event at a time unless a projection
        folds a batch in memory and writes its rows at once (see the customers projection)."""
        for position, event in items:
            self.apply(event, cur, schema, position)

