"""What a projection is: a name, its tables, one handler per event type, its queries.

The one way to write a read model (docs/architecture.md, "Adding a read model"):

- a module ``projections/<context>.py`` with a class whose ``ddl`` creates its tables (with
  ``{s}`` where the schema goes) and ``indexes`` the queries need;
- one handler per event type: ``@apply.register`` on a method taking the event, a cursor, the
  schema and the position (``Projection``), or, for heavy read models, ``@fold.register`` on a
  method that changes rows held in memory for the whole batch (``FoldingProjection``: the batch
  loads the rows its events touch once and writes each changed row once);
- query functions in the same module that take a cursor and, for lists, the owner filter
  (``access.Access.owners``) as a parameter;
- one line in ``projections/__init__.py``'s list;
- if the context's records belong to customers: an ``overview`` section for the customer's
  360° view, and a handler in ``projections/links.py`` so the customer's history holds them.

The event types a projection handles are its declaration: the runner reads only those topics.
A handler registered on a class that no stored event has (an aggregate's base ``Event``, say)
would silently match nothing, so it fails when the class is defined.

A projection's tables live in their own PostgreSQL schema, ``read_<name>``, together with a
one-row ``_tracking`` table holding the position of the last event applied. Rows and position
are written in one transaction, so every event is applied exactly once. A rebuild fills
``read_<name>__next`` from position 0 and swaps the two schemas in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, singledispatchmethod
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic
from psycopg import Cursor, sql

if TYPE_CHECKING:
    from crm_es.access import Access


OVERVIEW_LATEST = 5
"""How many of the latest records each section of a customer's 360° view shows."""


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


def handled_types(owner: type, dispatcher: Any) -> dict[type, Callable[..., Any]]:
    """The event types a ``singledispatchmethod`` handles, checked: each must be a class that
    stored events have, i.e. a concrete domain event (no other event class derives from it)."""
    handlers = {t: f for t, f in dispatcher.dispatcher.registry.items() if t is not object}
    for event_type in handlers:
        if not (isinstance(event_type, type) and issubclass(event_type, CanMutateAggregate)):
            raise TypeError(f"{owner.__name__} handles {event_type!r}, which is not a domain event class")
        derived = event_type.__subclasses__()
        if derived:
            raise TypeError(
                f"{owner.__name__} handles {event_type.__qualname__}, which no stored event has: it is the "
                f"base of {', '.join(d.__qualname__ for d in derived)}; register a handler per concrete event"
            )
    return handlers


class Projection:
    """A read model whose handlers apply one event at a time (``apply``)."""

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
    """Topics of the event classes handled (from the handlers); others are not even read."""
    pipelined: ClassVar[bool] = True
    """Send the batch's statements in pipeline mode (one statement per event benefits most)."""
    all_topics: ClassVar[bool] = False
    """True for projections that see every event (the operation log), whatever its type."""
    _handlers: ClassVar[dict[type, Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attribute in ("apply", "fold"):
            dispatcher = cls.__dict__.get(attribute)
            if isinstance(dispatcher, singledispatchmethod):
                cls._handlers = handled_types(cls, dispatcher)
                cls.topics = tuple(get_topic(t) for t in cls._handlers)

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

    def overview(self, cur: Cursor[Any], customer_id: UUID, access: Access) -> dict[str, Any]:
        """This read model's sections of a customer's 360° view (``GET /customers/{id}/overview``):
        each with counts and the latest few records of the customer, filtered by the caller's
        permissions and data scope; none when it has nothing to add or the caller may not read
        it. The caller has checked that the customer itself is visible."""
        return {}

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Apply one event to the tables in ``schema``. Unknown events are ignored."""

    def apply_batch(self, items: list[tuple[int, Any]], cur: Cursor[Any], schema: str) -> None:
        """Apply a batch of (position, event) in order, one handler call per event."""
        handlers = self._handlers
        for position, event in items:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(self, event, cur, schema, position)


class Batch:
    """The rows one batch of events touches: loaded once, changed in memory by the fold
    handlers, written once (COPY for new rows, upserts for changed ones)."""

    @classmethod
    def load(cls, cur: Cursor[Any], schema: str, items: list[tuple[int, Any]]) -> Batch:
        raise NotImplementedError

    def write(self, cur: Cursor[Any], schema: str) -> None:
        raise NotImplementedError


class FoldingProjection(Projection):
    """A read model that folds a whole batch in memory (``fold`` handlers change a ``Batch``)
    and writes each changed row once: a few statements per batch rather than one per event.
    For the heavy read models; handlers take (event, batch) and may use the event's position
    through ``batch.position`` when they need it."""

    pipelined = False  # batches write with COPY, which pipeline mode does not allow
    batch: ClassVar[type[Batch]]

    @singledispatchmethod
    def fold(self, event: Any, batch: Any) -> None:
        """Events this projection does not handle change nothing."""

    def apply_batch(self, items: list[tuple[int, Any]], cur: Cursor[Any], schema: str) -> None:
        batch = self.batch.load(cur, schema, items)
        handlers = self._handlers
        for position, event in items:
            handler = handlers.get(type(event))
            if handler is not None:
                batch.position = position  # type: ignore[attr-defined]
                handler(self, event, batch)
        batch.write(cur, schema)
