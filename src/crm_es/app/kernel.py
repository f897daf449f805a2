"""The kernel of the application: the command cycle every context uses.

load → act → save, retried on a concurrent write unless the caller pinned a version; an
idempotent replay of a repeated request; group commit of concurrent commands; the ``Context``
of a request. Contexts (customers, staff, reference …) are classes in their own modules that
take the kernel; they reach one another only through the interfaces the kernel offers
(``provide``/``need``) and its record kinds (``register_kind``/``check_record``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import orjson
import psycopg
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Notification, Transcoder
from eventsourcing.utils import get_topic

from crm_es.access import Access
from crm_es.aggregates.base import CrmAggregate, recording
from crm_es.app.commit import CrmRecorder, GroupCommit, Remember, StripedLocks
from crm_es.errors import ConcurrentModification, InvalidInput, NotFound, PreconditionFailed
from crm_es.store import OrjsonTranscoder

log = logging.getLogger("crm_es.app")

A = TypeVar("A", bound=CrmAggregate)
P = TypeVar("P")

PROCESS_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:process")

ATTEMPTS = 8
"""Tries of a command that keeps losing races with concurrent writers, before it answers 409."""
TURN_ATTEMPTS = 24
"""Further tries once it takes turns with other processes (see ``Kernel._turns``)."""
MAX_TURNS = 6
"""Commands of one process taking turns at once; each holds a pooled connection while it waits."""
TURN_WAIT_SECONDS = 10
TURN_LOCK_CLASS = 0x63726D65
"""First key of the advisory locks of taking turns (two-key locks never meet one-key ones)."""


HOT_SECONDS = 2.0
"""How long aggregates that saw a collision count as busy (see ``Kernel.execute``'s ``turns``)."""


class HotSpots:
    """Aggregates of this process that saw a collision lately."""

    def __init__(self, limit: int = 10_000):
        self._until: dict[UUID, float] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def collided(self, keys: Sequence[UUID]) -> None:
        until = time.monotonic() + HOT_SECONDS
        with self._lock:
            if len(self._until) >= self._limit:
                now = time.monotonic()
                self._until = {k: t for k, t in self._until.items() if t > now}
            for key in keys:
                self._until[key] = until

    def busy(self, keys: Sequence[UUID]) -> bool:
        now = time.monotonic()
        return any(self._until.get(key, 0.0) > now for key in keys)


def advisory_key(aggregate_id: UUID) -> int:
    """The second key of an aggregate's advisory lock: 32 bits of its id, as a signed int4."""
    return (aggregate_id.int & 0xFFFFFFFF) - (1 << 31)


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and a fingerprint of the request it came with."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: Any) -> Idempotency:
        canonical = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
        return cls(key, hashlib.sha256(canonical).hexdigest())


@dataclass(frozen=True)
class Context:
    """Who issues a command, in which request, and under which idempotency key."""

    actor: str
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    causation_id: str | None = None
    idempotency: Idempotency | None = None
    user_id: UUID | None = None
    access: Access | None = None
    """What the caller may see and do; None for crm-es's own processes (unrestricted)."""
    client: str | None = None
    """The caller's network address, when known (logins count failures per address)."""

    def sees(self, resource: str, owner_id: UUID) -> bool:
        """The one scope rule for a single record (access.py): processes see everything."""
        return self.access is None or self.access.sees(resource, owner_id)

    @property
    def is_admin(self) -> bool:
        return self.access is None or self.access.admin

    @classmethod
    def system(cls, name: str) -> Context:
        return cls(actor=f"process:{name}")

    @classmethod
    def process(cls, name: str, *, cause: str, step: str = "", correlation_id: str | None = None) -> Context:
        """A process's command caused by event ``cause``: its idempotency key derives from the
        process, the event and the step, so handling the event again writes nothing twice."""
        key = str(uuid5(PROCESS_NAMESPACE, f"{name}|{cause}|{step}"))
        return cls(
            actor=f"process:{name}", correlation_id=correlation_id or cause, causation_id=cause,
            idempotency=Idempotency(key, key),
        )  # fmt: skip


@dataclass(frozen=True)
class Written:
    """What a command wrote: the record's id, its version, and the position of the last event."""

    id: UUID
    version: int
    position: int
    created: bool = False
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {"id": str(self.id), "version": self.version, "position": self.position}


Outcome = tuple[UUID, int, bool]
"""What ``act`` returns: the id to answer with, its version, and whether it was created."""


@dataclass(frozen=True)
class RecordKind:
    """A kind of record other contexts may refer to by id (an activity's opportunity)."""

    name: str
    cls: type[CrmAggregate]


class Kernel(Application):
    """The one crm-es application: one event store, one notification log, the command cycle."""

    name = "CRM"
    env = {  # noqa: RUF012 - the library reads a class attribute
        "APPLICATION_RECORDER_TOPIC": get_topic(CrmRecorder),
        "AGGREGATE_CACHE_MAXSIZE": "5000",
    }

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self._locks = StripedLocks()
        self._turn_slots = threading.BoundedSemaphore(MAX_TURNS)
        self._hot_spots = HotSpots()
        self._appender = GroupCommit(self.recorder)  # type: ignore[arg-type]
        self._providers: dict[type, Any] = {}
        self._kinds: dict[str, RecordKind] = {}

    @property
    def zone(self) -> ZoneInfo:
        """The company's time zone: due dates and "today" are days there."""
        return ZoneInfo(self.env.get("CRM_ES_TIMEZONE") or "Asia/Shanghai")

    def today(self) -> date:
        """Today in the company's time zone."""
        return datetime.now(self.zone).date()

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    @property
    def events_table(self) -> str:
        return self.recorder.events_table_name  # type: ignore[attr-defined]

    def decode(self, notification: Notification) -> Any:
        return self.mapper.to_domain_event(notification)

    def connection(self) -> Any:
        """A pooled connection of the event store (a context manager)."""
        return self.recorder.datastore.get_connection()  # type: ignore[attr-defined]

    # Interfaces between contexts ---------------------------------------------------------------

    def provide(self, interface: type[P], implementation: P) -> None:
        """Offer ``implementation`` to other contexts under ``interface`` (a Protocol)."""
        self._providers[interface] = implementation

    def need(self, interface: type[P]) -> P:
        try:
            return self._providers[interface]
        except KeyError:
            raise LookupError(f"no context provides {interface.__name__}") from None

    def register_kind(self, name: str, cls: type[CrmAggregate]) -> None:
        self._kinds[name] = RecordKind(name, cls)

    def check_record(self, kind: str, record_id: UUID, field_name: str) -> CrmAggregate:
        """The record of ``kind`` with this id, or 422 on ``field_name``: unknown id, or a kind
        crm-es does not have (yet)."""
        known = self._kinds.get(kind)
        if known is None:
            raise InvalidInput.on(field_name, f"{kind} records are not available in this version of crm-es")
        try:
            return self.get(known.cls, record_id, kind)
        except NotFound:
            raise InvalidInput.on(field_name, f"no {kind} with id {record_id}") from None

    # The command cycle -------------------------------------------------------------------------

    def get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        """The aggregate of class ``cls`` with this id, or NotFound."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {what} with id {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what} with id {aggregate_id}")
        return aggregate

    def replay(self, ctx: Context) -> Written | None:
        """The stored answer to a repeated idempotent request, if this is one."""
        if ctx.idempotency is None:
            return None
        with self.connection() as conn:
            row = conn.execute(
                "SELECT request_hash, response FROM crm.idempotency WHERE actor = %s AND key = %s",
                (ctx.actor, ctx.idempotency.key),
            ).fetchone()
        if row is None:
            return None
        if row["request_hash"] != ctx.idempotency.request_hash:
            raise InvalidInput.on("Idempotency-Key", "was already used with a different request; use a new key")
        r = row["response"]
        return Written(UUID(r["id"]), r["version"], r["position"], created=r["created"], replayed=True)

    def _save(self, ctx: Context, outcome: Outcome, *aggregates: CrmAggregate) -> Written:
        """Save the aggregates' new events (with the idempotency record, if any) in one transaction."""
        result_id, version, created = outcome
        remember: Remember | None = None
        if ctx.idempotency is not None:
            idem = ctx.idempotency

            def remember(position: int) -> tuple[str, str, str, str]:
                response = {"id": str(result_id), "version": version, "position": position, "created": created}
                return (idem.key, ctx.actor, idem.request_hash, orjson.dumps(response).decode())

        processing = ProcessingEvent()
        processing.collect_events(*aggregates)
        ids = self._appender.append([self.mapper.to_stored_event(e) for e in processing.events], remember)
        self._take_snapshots(processing)
        position = max(ids) if ids else self.recorder.max_notification_id() or 0
        return Written(result_id, version, position, created=created)

    def execute(
        self,
        ctx: Context,
        load: Callable[[], list[CrmAggregate]],
        act: Callable[[list[CrmAggregate]], Outcome],
        *,
        expected_version: int | None = None,
        lock: UUID | Sequence[UUID] | None = None,
        turns: bool = False,
    ) -> Written:
        """Load, act, save; retry on a concurrent write unless the caller pinned a version.
        ``act`` may append new aggregates to the list it is given; all are saved together.
        Commands on the same aggregates (``lock``: one id, or the ids of every aggregate the
        command changes) queue up within this process, so they do not spend their retries on
        each other. Across processes a command is optimistic; one that loses a race then takes
        turns (``_turns``) for its further tries. With ``turns=True`` a command on aggregates
        that are busy (it queued behind another command of this process, or they saw a
        collision in the last ``HOT_SECONDS``) takes turns from the first try: for aggregates
        that many processes write at once (every buyer wants one stock item), where winners
        that never wait could keep a taker of turns waiting for ever."""
        replay = self.replay(ctx)
        if replay is not None:
            return replay
        keys = [] if lock is None else [lock] if isinstance(lock, UUID) else list(lock)
        with self._locks.hold(keys) as queued:
            hot = turns and bool(keys) and (queued or self._hot_spots.busy(keys))
            return self._attempt(ctx, load, act, expected_version, keys, turns=hot)

    def _attempt(  # noqa: PLR0913
        self,
        ctx: Context,
        load: Callable[[], list[CrmAggregate]],
        act: Callable[[list[CrmAggregate]], Outcome],
        expected_version: int | None,
        keys: Sequence[UUID] = (),
        *,
        turns: bool = False,
    ) -> Written:
        with contextlib.ExitStack() as held:
            taking_turns = bool(keys) and turns and held.enter_context(self._turns(keys, wait=True))
            attempts, attempt = (TURN_ATTEMPTS if taking_turns else ATTEMPTS), 0
            while attempt < attempts:
                if attempt and not taking_turns:
                    time.sleep(random.uniform(0.002, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
                attempt += 1
                aggregates = load()
                created_only = not aggregates
                if expected_version is not None and aggregates and aggregates[0].version != expected_version:
                    raise PreconditionFailed(
                        f"the record is at version {aggregates[0].version}, not {expected_version}",
                        current_version=aggregates[0].version,
                    )
                with recording(ctx.actor, ctx.correlation_id, ctx.causation_id):
                    outcome = act(aggregates)
                try:
                    return self._save(ctx, outcome, *aggregates)
                except IntegrityError:
                    replay = self.replay(ctx)
                    if replay is not None:
                        return replay
                    if created_only:
                        raise  # a new aggregate collided with an existing one: retrying cannot help
                    if expected_version is not None:
                        raise PreconditionFailed("the record was changed by someone else meanwhile") from None
                    log.info("concurrent write on %s; retrying", [a.id for a in aggregates])
                    self._hot_spots.collided(keys)
                    if keys and not taking_turns:
                        taking_turns = held.enter_context(self._turns(keys, wait=False))
                        if taking_turns:
                            attempts = attempt + TURN_ATTEMPTS
        raise ConcurrentModification("the record is being changed by others; try again", retry_after=1)

    @contextlib.contextmanager
    def _turns(self, keys: Sequence[UUID], *, wait: bool) -> Iterator[bool]:
        """Take turns with other processes on these aggregates: a PostgreSQL advisory lock on
        each (taken in one order), held in a transaction of a connection of its own until the
        command is saved or gives up. A command that lost a race asks for it, so uncontended
        commands pay nothing; rivals that lose a race to it queue behind it, and the processes
        then alternate instead of racing. Each taker holds a pooled connection while it waits,
        so at most ``MAX_TURNS`` commands of a process take turns at once: beyond that, a command
        that lost a race just retries (``wait`` False), and one that must take turns waits for a
        place (``wait`` True; 409 after ``TURN_WAIT_SECONDS``)."""
        placed = self._turn_slots.acquire(timeout=TURN_WAIT_SECONDS) if wait else self._turn_slots.acquire(blocking=False)
        if not placed:
            if wait:
                raise ConcurrentModification("the records are busy; try again", retry_after=1)
            yield False
            return
        try:
            # BEGIN, the time limit and the locks in one round trip; COMMIT (which lets go) in another.
            with self.connection() as conn, conn.pipeline(), conn.transaction():
                try:
                    conn.execute(f"SET LOCAL lock_timeout = '{TURN_WAIT_SECONDS * 1000:.0f}ms'")
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int4[]) AS k",
                        (TURN_LOCK_CLASS, sorted({advisory_key(k) for k in keys})),
                    ).fetchall()  # waits for the locks
                except psycopg.errors.LockNotAvailable:
                    raise ConcurrentModification(
                        f"the record is busy: other commands held it for more than {TURN_WAIT_SECONDS} s; try again",
                        retry_after=1,
                    ) from None
                yield True
        finally:
            self._turn_slots.release()

    def create(self, ctx: Context, make: Callable[[], CrmAggregate | Sequence[CrmAggregate]]) -> Written:
        """Save new aggregates made by ``make`` (the first one answers the command)."""

        def act(aggs: list[CrmAggregate]) -> Outcome:
            made = make()
            new = [made] if isinstance(made, CrmAggregate) else list(made)
            aggs += new
            return new[0].id, new[0].version, True

        return self.execute(ctx, list, act)

    def mutate(
        self, ctx: Context, aggregate_id: UUID, load: Callable[[], A], change: Callable[[A], Any], *,
        expected_version: int | None = None, answer: UUID | None = None, created: bool = False,
    ) -> Written:  # fmt: skip
        """Load one aggregate, apply ``change``, save (the common shape of commands). ``answer``
        is the id to answer with when it is not the aggregate's (a new contact's id)."""

        def act(aggs: list[CrmAggregate]) -> Outcome:
            change(aggs[0])  # type: ignore[arg-type]
            return answer or aggs[0].id, aggs[0].version, created

        return self.execute(ctx, lambda: [load()], act, expected_version=expected_version, lock=aggregate_id)

    # History -----------------------------------------------------------------------------------

    def history(
        self, aggregate_ids: Sequence[UUID], *, positions: Sequence[int] = (), after: int = 0, limit: int | None = None
    ) -> list[tuple[Notification, Any]]:
        """Events of these aggregates, and the single events at ``positions`` (of streams
        shared by many records), in global order after position ``after`` (at most ``limit``),
        with their notifications. Callers page with ``after`` rather than holding a connection
        open while a slow client reads."""
        where = "originator_id = ANY(%s)" + (" OR notification_id = ANY(%s)" if positions else "")
        statement = (
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{self.events_table}" '
            f"WHERE ({where}) AND notification_id > %s ORDER BY notification_id" + (" LIMIT %s" if limit else "")
        )
        params: list[Any] = [list(aggregate_ids), *([list(positions)] if positions else []), after]
        params += [limit] if limit else []
        with self.connection() as conn:
            rows = conn.execute(statement, params).fetchall()
        result = []
        for row in rows:
            notification = Notification(
                id=row["notification_id"], originator_id=row["originator_id"],
                originator_version=row["originator_version"], topic=row["topic"], state=bytes(row["state"]),
            )  # fmt: skip
            result.append((notification, self.decode(notification)))
        return result

    def iter_history(
        self, aggregate_ids: Sequence[UUID], positions: Sequence[int] = (), page: int = 500
    ) -> Iterator[tuple[Notification, Any]]:
        """Every event of these aggregates (and at ``positions``) in global order, a page at a time."""
        after = 0
        while True:
            chunk = self.history(aggregate_ids, positions=positions, after=after, limit=page)
            yield from chunk
            if len(chunk) < page:
                return
            after = chunk[-1][0].id

    def as_of(self, cls: type[A], aggregate_id: UUID, at: Any, what: str) -> A:
        """The aggregate as it was at ``at``: its events up to that moment, replayed."""
        aggregate: Any = None
        for domain_event in self.events.get(aggregate_id):
            if domain_event.timestamp > at:
                break
            aggregate = domain_event.mutate(aggregate)
        if aggregate is None or not isinstance(aggregate, cls):
            raise NotFound(f"{what} {aggregate_id} did not exist at {at.isoformat()}")
        return aggregate


class Commands:
    """Base of a context's commands: the kernel, and shortcuts to its cycle."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel

    def save_new(self, *aggregates: CrmAggregate) -> bool:
        """Save aggregates crm-es itself creates at start-up; False if another process won."""
        try:
            self.kernel.save(*aggregates)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def exists(kernel: Kernel, aggregate_id: UUID) -> bool:
        try:
            kernel.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True


# Interfaces one context offers the others (``Kernel.provide``/``Kernel.need``) -----------------


class UserDirectory(Protocol):
    """Staff, as other contexts need it: is this an active user?"""

    def check_user(self, user_id: UUID, field_name: str) -> Any:
        """The active user with this id, or 422 on ``field_name``."""

    def check_department(self, department_id: UUID, field_name: str) -> Any:
        """The department with this id (its ``manager_id``, ``parent_id``), or 422 on ``field_name``."""


class ReferenceChecks(Protocol):
    """Reference data, as other contexts need it: are these values picked from the lists?"""

    def check_profile(
        self, values: dict[str, Any], current: dict[str, Any] | None, lists: Sequence[tuple[str, str]]
    ) -> dict[str, Any]:
        """``values`` checked against the lists (``lists``: field → list key) and the regions
        (country, province, city), on top of the ``current`` record; returns them normalised."""


class CustomerDirectory(Protocol):
    """Customers, as other contexts need them: whose is this customer, and what kind is it?
    (Existence is ``Kernel.check_record("customer", …)``.)"""

    def owner_of(self, customer_id: UUID) -> UUID:
        """The owner of the customer (its data scope is the owner's)."""

    def kind_of(self, customer_id: UUID) -> str:
        """The customer's kind (customer, competitor, …)."""

    def credit_limit_of(self, customer_id: UUID) -> Any:
        """The customer's credit limit (a ``Decimal``), or None when it has none (R-C5)."""

    def check_contact(self, customer_id: UUID, contact_id: UUID, field_name: str) -> None:
        """422 on ``field_name`` unless the contact is one of the customer's."""


class StockReservations(Protocol):
    """Stock, as orders need it. The orders context loads the stock items an order touches,
    changes them in memory together with the order, and the kernel saves the order and every
    item in one transaction (``Kernel.execute`` with all of them in its list): a concurrent
    change to any of them makes the whole command retry, so stock is never oversold and an
    order is never confirmed without its reservation. Quantities are ``Decimal``. Pass the
    order's id and the items' ids as ``lock``, and ``turns=True``, to ``Kernel.execute``, so
    that buyers of one hot item, in every process, queue up rather than race (docs/stock.md)."""

    def load(self, stock_item_ids: Sequence[UUID], field_name: str) -> list[CrmAggregate]:
        """The stock items, in the order given (422 on ``field_name`` for an unknown id)."""

    def reserve(self, items: Sequence[CrmAggregate], order_id: UUID, lines: Sequence[tuple[UUID, Any]]) -> None:
        """Reserve ``lines`` (stock item id, quantity) for the order; a ``Conflict`` naming
        every short item (requested, available) if any line cannot be met, changing nothing."""

    def release(self, items: Sequence[CrmAggregate], order_id: UUID) -> None:
        """Release whatever the order still holds reserved on these items (a cancelled order)."""

    def ship(self, items: Sequence[CrmAggregate], order_id: UUID, lines: Sequence[tuple[UUID, Any]]) -> None:
        """Ship ``lines`` against the order's reservation (a delivery): on hand and reserved fall."""

    def take_back(
        self, items: Sequence[CrmAggregate], order_id: UUID, lines: Sequence[tuple[UUID, Any]], *, restock: bool
    ) -> None:
        """Goods of the order come back (a return): restocked, or scrapped and recorded."""
