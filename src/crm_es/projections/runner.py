"""Runs projections: follows the notification log, applies events in batches, rebuilds, reports.

- Each batch is one transaction: the rows it writes and the new tracking position commit
  together (exactly once). A transaction-scoped advisory lock per projection serialises
  batches of every process (several ``serve`` replicas, a rebuild's final swap), and the
  position is read after taking it, so no event is ever applied twice.
- New events wake the runners through PostgreSQL LISTEN/NOTIFY (the channel the event store
  notifies on every write); there is no polling loop.
- A handler that raises stops its projection: the batch rolls back, the status records the
  event and the message, and the runner waits for a rebuild. Nothing is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import Notification
from psycopg import sql
from psycopg.rows import tuple_row

from crm_es.errors import Conflict, InvalidInput, NotFound, ReadModelBehind
from crm_es.projections.base import Projection, live_schema, next_schema, q
from crm_es.projections.watch import announce
from crm_es.store import Database

log = logging.getLogger("crm_es.projections")

Progress = Callable[[int, int], None]

REBUILD_BATCHES = 40
"""A rebuild applies this many live batches' worth of events per transaction."""


class ProjectionFailed(Exception):
    """A handler raised on an event; the projection stops there."""

    def __init__(self, name: str, notification: Notification, error: BaseException):
        self.name = name
        self.position = notification.id
        self.detail = (
            f"event {notification.id} ({notification.topic}, aggregate "
            f"{notification.originator_id} v{notification.originator_version}): "
            f"{type(error).__name__}: {error}"
        )
        super().__init__(f"projection {name} stopped at {self.detail}")


class ProjectionStale(ProjectionFailed):
    """The read model's tables belong to another version of the projection's code."""

    def __init__(self, name: str, stored: int, code: int):
        self.name = name
        self.position = None  # type: ignore[assignment]
        self.detail = (
            f"the read model is at version {stored} and this process runs version {code}; "
            "restart this process with the crm-es that built it"
        )
        Exception.__init__(self, f"projection {name}: {self.detail}")


class ProjectionNewer(Exception):
    """The database holds a read model built by a newer crm-es than this one."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int
    lag: int
    status: str
    error: str | None
    error_position: int | None


class ReadSide:
    """The projections of one process: schemas, live runners, rebuilds, status and waits."""

    def __init__(
        self,
        database: Database,
        decode: Callable[[Notification], Any],
        events_table: str,
        projections: Iterable[Projection],
        *,
        batch_size: int = 500,
    ):
        self.database = database
        self.decode = decode
        self.events_table = events_table
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._healthy: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        self._local_status: dict[str, tuple[str, str | None, int | None]] = {}
        self._advanced = threading.Condition()
        self._sql_head = sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
            sql.Identifier(events_table)
        )
        self._sql_batch = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
            "ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(events_table))
        self._sql_batch_all = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(events_table))

    # Schemas ---------------------------------------------------------------------------------

    def ensure_schemas(self, progress: Callable[[str], Progress | None] | None = None) -> None:
        """Create missing read-model schemas; rebuild those whose version is older than the code.

        Each projection is checked under a lock that every crm-es process takes, so when
        several start at once after an upgrade one rebuilds and the others wait, then find it
        current. A read model newer than this code is never rebuilt back: that is an error."""
        for name, projection in self.projections.items():
            with self.database.connect(autocommit=True) as conn:
                conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"crm-es:migrate:{name}",))
                try:
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crm-es:apply:{name}",))
                        version = self._schema_version(conn, live_schema(name))
                        if version is None:
                            projection.create_tables(conn.cursor(), live_schema(name))
                            continue
                    if version > projection.version:
                        raise ProjectionNewer(
                            f"the {name} read model was built by a newer crm-es (version {version}; this is "
                            f"version {projection.version}): run the newer crm-es, or rebuild it with this one "
                            f"explicitly (crm-es projections rebuild {name})"
                        )
                    if version < projection.version:
                        log.info("projection %s is at version %s, code is at %s: rebuilding", name, version, projection.version)
                        self.rebuild(name, progress(name) if progress else None)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"crm-es:migrate:{name}",))

    @staticmethod
    def _schema_version(conn: psycopg.Connection[Any], schema: str) -> int | None:
        row = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
        if row is None:
            return None
        return conn.execute(q(schema, "SELECT version FROM {s}._tracking")).fetchone()[0]

    # Batches ---------------------------------------------------------------------------------

    def head(self, conn: psycopg.Connection[Any]) -> int:
        return conn.cursor(row_factory=tuple_row).execute(self._sql_head).fetchone()[0]

    def _apply_batch(
        self, conn: psycopg.Connection[Any], targets: Sequence[tuple[Projection, str]], *, lock: bool,
        size: int | None = None,
    ) -> tuple[int, int, list[ProjectionFailed]]:
        """Apply the next batch of events to every target (a projection and the schema it
        writes) in one transaction, each event decoded once. Returns (position, head, failures).

        A target whose handler fails keeps the events before the failing one and stops there
        (its failure is returned); the other targets go on. Each target's events are sent in
        pipeline mode, so a batch costs few round trips."""
        failures: list[ProjectionFailed] = []
        with conn.transaction():
            cur = conn.cursor()
            if lock:
                keys = sorted(f"crm-es:apply:{projection.name}" for projection, _ in targets)
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(%s::text[]) AS k", (keys,))
            tracked = [cur.execute(q(schema, "SELECT position, version FROM {s}._tracking")).fetchone() for _, schema in targets]
            stale = [(p, v) for (p, _), (_, v) in zip(targets, tracked, strict=True) if v != p.version]
            if stale:
                # Another crm-es process rebuilt the read model for a different version of its
                # code: applying this process's handlers to it would corrupt it.
                return tracked[0][0], tracked[0][0], [ProjectionStale(p.name, v, p.version) for p, v in stale]
            positions = [position for position, _ in tracked]
            head = cur.execute(self._sql_head).fetchone()[0]
            low = min(positions)
            if head <= low:
                return low, head, failures
            size = size or self.batch_size
            if any(projection.all_topics for projection, _ in targets):
                rows = cur.execute(self._sql_batch_all, (low, head, size)).fetchall()
            else:
                topics = sorted({t for projection, _ in targets for t in projection.topics})
                rows = cur.execute(self._sql_batch, (low, head, topics, size)).fetchall()
            # A short batch read everything up to head (events of other topics included).
            end = head if len(rows) < size else rows[-1][0]
            notifications = [
                Notification(id=i, originator_id=o, originator_version=v, topic=t, state=bytes(st))
                for i, o, v, t, st in rows
            ]
            events = _Decoded(self.decode)
            announced: dict[str, int] = {}
            for (projection, schema), position in zip(targets, positions, strict=True):
                if position >= end:
                    continue
                wanted = set(projection.topics)
                mine = [n for n in notifications if n.id > position and (projection.all_topics or n.topic in wanted)]
                reached = end
                try:
                    with conn.transaction(), (conn.pipeline() if projection.pipelined else nullcontext()):
                        projection.apply_batch([(n.id, events[n]) for n in mine], cur, schema)
                except Exception:  # noqa: BLE001 - pinpointed and reported below
                    failure = self._pinpoint(conn, cur, projection, schema, mine, events)
                    if failure is not None:
                        failures.append(failure)
                        reached = failure.position - 1
                cur.execute(q(schema, "UPDATE {s}._tracking SET position = %s"), (reached,))
                if schema == live_schema(projection.name):
                    announced[projection.name] = reached
            if announced:
                announce(cur, announced)
            self._before_commit(",".join(projection.name for projection, _ in targets))
        return end, head, failures

    @staticmethod
    def _pinpoint(
        conn: psycopg.Connection[Any], cur: psycopg.Cursor[Any], projection: Projection, schema: str,
        notifications: list[Notification], events: _Decoded,
    ) -> ProjectionFailed | None:  # fmt: skip
        """After a failed pipelined run (rolled back), apply the events one at a time to find
        the one that fails; those before it stay applied."""
        for n in notifications:
            try:
                with conn.transaction():
                    projection.apply_batch([(n.id, events[n])], cur, schema)
            except Exception as error:  # noqa: BLE001 - this is the failure to report
                return ProjectionFailed(projection.name, n, error)
        return None

    def _before_commit(self, name: str) -> None:
        """Seam for crash tests: runs after a batch is applied, before it commits."""

    def catch_up(
        self, name: str, conn: psycopg.Connection[Any] | None = None, progress: Progress | None = None
    ) -> int:
        """Apply every pending event to the live schema now (CLI, tests). Returns the position.
        ``progress(position, head)`` is called after each batch."""
        targets = [(self.projections[name], live_schema(name))]
        with self._connection(conn) as c:
            while True:
                position, head, failures = self._apply_batch(c, targets, lock=True)
                self._notify_advanced()
                if failures:
                    self._set_status(name, "error", failures[0].detail, failures[0].position)
                    raise failures[0]
                if progress:
                    progress(min(position, head), head)
                if position >= head:
                    return position

    def _connection(self, conn: psycopg.Connection[Any] | None) -> Any:
        if conn is not None:
            return _Borrowed(conn)
        return self.database.connect(autocommit=True)

    # Live runners ----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the projections live: one listener for new events, one runner that applies
        each batch to every healthy projection in one transaction."""
        self._stopping.clear()
        self._healthy = set(self.projections)
        for name in self.projections:
            self._set_status(name, "running")
        for target in (self._listen, self._run):
            thread = threading.Thread(target=target, name=f"crm-es{target.__name__}", daemon=True)
            self._threads[target.__name__] = thread
            thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads.values():
            thread.join(timeout=10)
        self._threads.clear()
        for name, (status, _, _) in list(self._local_status.items()):
            if status == "running":
                self._set_status(name, "stopped")

    def _listen(self) -> None:
        channel = self.events_table.replace(".", "_")
        while not self._stopping.is_set():
            try:
                with self.database.connect(autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._wake.set()  # events may have arrived while we were not listening
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except psycopg.Error as error:
                if self._stopping.is_set():
                    return
                log.warning("listen connection lost (%s); reconnecting", error)
                self._stopping.wait(1.0)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with self.database.connect(autocommit=True) as conn:
                    while not self._stopping.is_set():
                        self._wake.clear()
                        while self._healthy and not self._stopping.is_set():
                            targets = [(self.projections[n], live_schema(n)) for n in self.projections if n in self._healthy]
                            position, head, failures = self._apply_batch(conn, targets, lock=True)
                            self._notify_advanced()
                            for failure in failures:
                                log.error("%s", failure)
                                self._healthy.discard(failure.name)
                                self._set_status(failure.name, "error", failure.detail, failure.position)
                            if position >= head and not failures:
                                break
                        self._wake.wait(timeout=30.0)
            except psycopg.Error as error:
                if self._stopping.is_set():
                    return
                log.warning("projection runner lost its connection (%s); retrying", error)
                self._stopping.wait(1.0)

    def _notify_advanced(self) -> None:
        with self._advanced:
            self._advanced.notify_all()

    def wait_advanced(self, timeout: float) -> None:
        """Block until a batch is applied in this process (or ``timeout``)."""
        with self._advanced:
            self._advanced.wait(timeout)

    def wake_waiters(self) -> None:
        self._notify_advanced()

    # Status ----------------------------------------------------------------------------------

    def _set_status(
        self, name: str, status: str, error: str | None = None, error_position: int | None = None
    ) -> None:
        self._local_status[name] = (status, error, error_position)
        try:
            with self.database.connect(autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO crm.projection_status (name, status, error, error_position, updated_at) "
                    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (name) DO UPDATE SET status = excluded.status, "
                    "error = excluded.error, error_position = excluded.error_position, updated_at = now()",
                    (name, status, error, error_position),
                )
        except psycopg.Error as failure:  # status is advisory; never let it stop a runner
            log.warning("could not record status of %s: %s", name, failure)

    def statuses(self, conn: psycopg.Connection[Any] | None = None) -> list[ProjectionStatus]:
        with self._connection(conn) as c:
            head = self.head(c)
            stored = {
                row[0]: row[1:]
                for row in c.cursor(row_factory=tuple_row).execute(
                    "SELECT name, status, error, error_position FROM crm.projection_status"
                )
            }
            result = []
            for name in self.projections:
                position = self.position(name, c)
                status, error, error_position = self._local_status.get(name) or stored.get(name, ("idle", None, None))
                result.append(
                    ProjectionStatus(name, position, head, max(head - position, 0), status,
                                     error if status in ("error", "failed") else None,
                                     error_position if status in ("error", "failed") else None)
                )  # fmt: skip
            return result

    def status(self, name: str) -> ProjectionStatus:
        for status in self.statuses():
            if status.name == name:
                return status
        raise NotFound(f"no projection named {name!r}")

    def position(self, name: str, conn: psycopg.Connection[Any]) -> int:
        try:
            cur = conn.cursor(row_factory=tuple_row)
            return cur.execute(q(live_schema(name), "SELECT position FROM {s}._tracking")).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0

    def wait_for(self, name: str, position: int, conn: psycopg.Connection[Any], timeout: float) -> int:
        """Wait until projection ``name`` has applied ``position``; return the position it is at."""
        deadline = time.monotonic() + timeout
        head_checked = False
        while True:
            current = self.position(name, conn)
            if current >= position:
                return current
            if not head_checked:
                # Positions come from committed writes; one beyond the log was never given out.
                head = self.head(conn)
                if position > head:
                    raise InvalidInput.on(
                        "min_position", f"{position} is beyond the last event position ({head})"
                    )
                head_checked = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadModelBehind(
                    f"the {name} read model is at position {current}, not yet at {position}; retry shortly",
                    retry_after=1,
                )
            with self._advanced:
                self._advanced.wait(min(remaining, 0.05))

    # Rebuild ---------------------------------------------------------------------------------

    def rebuild(self, name: str, progress: Progress | None = None) -> int:
        """Rebuild ``name`` from position 0 into fresh tables while the live ones keep serving,
        then swap them in one transaction. Returns the position reached."""
        if name not in self.projections:
            raise NotFound(f"no projection named {name!r}")
        projection = self.projections[name]
        live, fresh = live_schema(name), next_schema(name)
        targets = [(projection, fresh)]
        with self.database.connect(autocommit=True) as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"crm-es:rebuild:{name}",)).fetchone()[0]:
                raise Conflict(f"a rebuild of {name} is already running")
            try:
                self._set_status(name, "rebuilding")
                with conn.transaction():
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(fresh)))
                    projection.create_tables(conn.cursor(), fresh, with_indexes=False)
                while True:
                    position, head = self._rebuild_batch(conn, targets)
                    if progress:
                        progress(position, head)
                    if position >= head:
                        break
                with conn.transaction():
                    projection.create_indexes(conn.cursor(), fresh)
                with conn.transaction():
                    # Hold off the live runners, apply what arrived meanwhile, swap.
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crm-es:apply:{name}",))
                    while True:
                        position, head = self._rebuild_batch(conn, targets)
                        if position >= head:
                            break
                    old = f"{live}__old"
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(old)))
                    if self._schema_version(conn, live) is not None:
                        conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(live), sql.Identifier(old)))
                    conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(fresh), sql.Identifier(live)))
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(old)))
                    announce(conn.cursor(), {name: position})
                if progress:
                    progress(position, head)
            except ProjectionFailed as failure:
                self._set_status(name, "failed", failure.detail, failure.position)
                raise
            except BaseException as error:
                # Whatever stopped it (a lost connection, a full disk, Ctrl-C), the rebuild is
                # over: say so, with the error, rather than stay "rebuilding" for ever.
                self._set_status(name, "failed", f"rebuild failed: {type(error).__name__}: {error}")
                raise
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"crm-es:rebuild:{name}",))
        self._notify_advanced()
        if "_run" in self._threads and not self._stopping.is_set():
            self._healthy.add(name)  # a projection stopped on an error runs again
            self._set_status(name, "running")
            self._wake.set()
        else:
            self._set_status(name, "idle")
        return position

    def rebuilding(self, name: str) -> bool:
        """Whether a rebuild of ``name`` is running in any crm-es process."""
        with self.database.connect(autocommit=True) as conn:
            free = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"crm-es:rebuild:{name}",)).fetchone()[0]
            if free:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"crm-es:rebuild:{name}",))
            return not free

    def _rebuild_batch(self, conn: psycopg.Connection[Any], targets: list[tuple[Projection, str]]) -> tuple[int, int]:
        # Nobody reads the fresh tables yet, so a rebuild takes bigger bites than a live runner.
        position, head, failures = self._apply_batch(conn, targets, lock=False, size=self.batch_size * REBUILD_BATCHES)
        if failures:
            raise failures[0]
        return position, head


class _Decoded:
    """Domain events of a batch, each decoded once, only when a projection asks for it."""

    def __init__(self, decode: Callable[[Notification], Any]):
        self.decode = decode
        self.events: dict[int, Any] = {}

    def __getitem__(self, notification: Notification) -> Any:
        event = self.events.get(notification.id)
        if event is None:
            event = self.events[notification.id] = self.decode(notification)
        return event


class _Borrowed:
    """A caller's connection used as a context manager without closing it."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self.conn = conn

    def __enter__(self) -> psycopg.Connection[Any]:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None
