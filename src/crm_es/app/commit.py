"""Appending events: the recorder that writes idempotency records with them, and group commit."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

PIPELINE_MAX_BYTES = 64 * 1024
"""Event state above which an insert is not pipelined (see ``CrmRecorder.insert_events``)."""

Remember = Callable[[int], tuple[str, str, str, str]]
"""Given the position of a command's last event, the idempotency row that answers a repeat."""


class CrmRecorder(PostgresApplicationRecorder):
    """Writes idempotency records in the same transaction as the events they answer for.
    ``remember`` is a list of (first, stop, row-maker) over the events inserted together.

    The library composes its LOCK and NOTIFY statements anew for every write (quoting the
    identifiers each time); here they are composed once."""

    _composed: dict[str, bytes] | None = None

    def _statement(self, curs: Cursor[Any], name: str, composed: Any) -> bytes:
        if self._composed is None:
            self._composed = {}
        statement = self._composed.get(name)
        if statement is None:
            statement = self._composed[name] = composed.as_bytes(curs)
        return statement

    def _lock_table(self, curs: Cursor[Any]) -> None:
        for number, lock_statement in enumerate(self.lock_table_statements):
            curs.execute(self._statement(curs, f"lock{number}", lock_statement), prepare=True)

    def _notify_channel(self, curs: Cursor[Any]) -> None:
        curs.execute(self._statement(curs, "notify", SQL("NOTIFY {0}").format(Identifier(self.channel_name))))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, pipelined, for ordinary writes; a big one (a seed chunk) is sent
        without pipeline mode, in which psycopg can deadlock on a large message over a unix socket
        (both ends waiting to read)."""
        if sum(len(e.state) for e in stored_events) < PIPELINE_MAX_BYTES:
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        remember: list[tuple[int, int, Remember]] = kwargs.get("remember") or []
        if remember and ids:
            curs.executemany(
                "INSERT INTO crm.idempotency (key, actor, request_hash, response) VALUES (%s, %s, %s, %s::jsonb)",
                [row(max(ids[first:stop])) for first, stop, row in remember],
            )
        return ids


@dataclass
class _Append:
    """One command's events waiting to be appended."""

    stored: list[StoredEvent]
    remember: Remember | None
    done: threading.Event = field(default_factory=threading.Event)
    ids: Sequence[int] = ()
    error: BaseException | None = None
    lead: bool = False


class GroupCommit:
    """Appends the events of concurrent commands in one transaction (group commit).

    The event store serialises writers on a table lock (that is what keeps notification ids in
    commit order), so one transaction per command caps throughput at one lock hold per command.
    Here the first command to arrive leads: it appends everything queued behind it in one
    transaction, hands leadership to a waiting command, and returns. If a batch collides (two
    commands wrote the same aggregate version, or an idempotency key twice), each command of
    it is appended on its own, so only the colliding one fails and is retried by its caller.
    Within one process; processes share nothing but the table lock, which keeps them correct."""

    def __init__(self, recorder: CrmRecorder, max_batch: int = 100):
        self.recorder = recorder
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Append] = []
        self._leading = False

    def append(self, stored: list[StoredEvent], remember: Remember | None) -> Sequence[int]:
        job = _Append(stored, remember)
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.done.wait()
        while not job.done.is_set() or job.lead:
            job.lead = False
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.ids

    def _lead(self, own: _Append) -> None:
        with self._lock:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        self._commit(batch)
        with self._lock:
            if self._queue and own.done.is_set():
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()  # wakes it as the next leader
            elif not self._queue:
                self._leading = False

    def _commit(self, batch: list[_Append]) -> None:
        try:
            self._insert(batch)
        except IntegrityError as collision:
            if len(batch) == 1:
                batch[0].error = collision
            else:
                for job in batch:
                    try:
                        self._insert([job])
                    except Exception as error:  # noqa: BLE001 - handed to the command that caused it
                        job.error = error
        except Exception as error:  # noqa: BLE001 - every command of the batch learns of it
            for job in batch:
                job.error = error
        finally:
            for job in batch:
                if not job.lead:
                    job.done.set()

    def _insert(self, batch: list[_Append]) -> None:
        stored: list[StoredEvent] = []
        remember: list[tuple[int, int, Remember]] = []
        for job in batch:
            first = len(stored)
            stored += job.stored
            if job.remember is not None and job.stored:
                remember.append((first, len(stored), job.remember))
        ids = list(self.recorder.insert_events(stored, remember=remember) or []) if stored else []
        start = 0
        for job in batch:
            job.ids = ids[start : start + len(job.stored)]
            start += len(job.stored)


class StripedLocks:
    """A fixed set of locks; an aggregate id picks one. Cheap mutual exclusion per aggregate
    within one process (other processes are handled by optimistic concurrency and retries)."""

    def __init__(self, stripes: int = 256):
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def hold(self, key: UUID | Iterable[UUID] | None) -> Iterator[bool]:
        """Hold the lock of one aggregate, or of several (their stripes taken in one order, so
        two commands on overlapping sets of aggregates never wait for each other in a circle).
        Yields whether it had to wait: another command of this process held one of them."""
        if key is None:
            yield False
            return
        keys = [key] if isinstance(key, UUID) else list(key)
        waited = False
        with contextlib.ExitStack() as held:
            for stripe in sorted({k.int % len(self._locks) for k in keys}):
                lock = self._locks[stripe]
                if not lock.acquire(blocking=False):
                    waited = True
                    lock.acquire()
                held.callback(lock.release)
            yield waited


class SharedRead:
    """A read many threads need fresh: each caller gets the result of a query that started after
    it asked, and callers that ask while one runs share the next. Under load, one query answers
    many commands; no caller ever gets an answer older than its own request."""

    def __init__(self, read: Callable[[], Any]):
        self._read = read
        self._cond = threading.Condition()
        self._started = 0
        self._finished = 0
        self._running = False
        self._result: Any = None

    def __call__(self) -> Any:
        with self._cond:
            wanted = self._started + 1
            while True:
                if self._finished >= wanted:
                    return self._result
                if not self._running:
                    self._running = True
                    self._started += 1
                    mine = self._started
                    break
                self._cond.wait()
        try:
            result = self._read()
        except BaseException:
            with self._cond:
                self._running = False
                self._cond.notify_all()  # a waiter runs the query itself
            raise
        with self._cond:
            self._running = False
            self._finished, self._result = mine, result
            self._cond.notify_all()
        return result
