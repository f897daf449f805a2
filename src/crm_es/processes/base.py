"""Process managers: policies that follow the notification log and issue commands.

A process declares the events it reacts to by registering one policy per event type
(``@policy.register``, checked like a projection's handlers) and the read models it reads
(``needs``): it only sees an event once those read models have applied it. Each process keeps
its own position in ``crm.process_tracking``. A policy's commands carry the actor
``process:<name>``, the triggering event as causation id, and an idempotency key derived with
uuid5 from the process, the event and the step (``Context.process``), so handling an event again
after a crash changes nothing twice; the position advances after the policy returns.

A policy that raises stops its process at that event, with the error in its status, like a
projection; it is tried again at the next start (or ``POST /admin/processes/{name}/retry``).
"""

from __future__ import annotations

import logging
import threading
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg.rows import tuple_row

from crm_es.projections.base import handled_types, live_schema, q

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

log = logging.getLogger("crm_es.processes")


def event_id(event: Any) -> str:
    """How a process names the event that caused its commands: ``<aggregate id>:<version>``."""
    return f"{event.originator_id}:{event.originator_version}"


class Process:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    """Read models that must have applied an event before the process sees it."""
    topics: ClassVar[tuple[str, ...]] = ()
    _policies: ClassVar[dict[type, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dispatcher = cls.__dict__.get("policy")
        if isinstance(dispatcher, singledispatchmethod):
            cls._policies = handled_types(cls, dispatcher)
            cls.topics = tuple(get_topic(t) for t in cls._policies)

    @singledispatchmethod
    def policy(self, event: Any, runtime: Any) -> None:
        """Events the process does not react to change nothing."""

    def handle(self, event: Any, runtime: Runtime) -> None:
        policy = self._policies.get(type(event))
        if policy is not None:
            policy(self, event, runtime)


class ProcessRunner:
    """Runs the processes of one crm-es installation (in the process that runs projections)."""

    def __init__(self, runtime: Runtime, processes: list[Process], *, batch_size: int = 100):
        self.runtime = runtime
        self.processes = {p.name: p for p in processes}
        self.batch_size = batch_size
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sql_batch = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
            "ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(runtime.app.events_table))

    def ensure_tracking(self) -> None:
        with self.runtime.database.connect(autocommit=True) as conn:
            for name in self.processes:
                conn.execute(
                    "INSERT INTO crm.process_tracking (name, position, status) VALUES (%s, 0, 'idle') "
                    "ON CONFLICT (name) DO NOTHING",
                    (name,),
                )

    # Running -----------------------------------------------------------------------------------

    def start(self) -> None:
        self.ensure_tracking()
        self._stopping.clear()
        for name in self.processes:
            thread = threading.Thread(target=self._run, args=(name,), name=f"crm-es-process-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.runtime.read_side.wake_waiters()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def _run(self, name: str) -> None:
        self._set_status(name, "running")
        while not self._stopping.is_set():
            try:
                if self.run_once(name) == 0:
                    self.runtime.read_side.wait_advanced(timeout=1.0)
            except psycopg.Error as error:
                log.warning("process %s lost its connection (%s); retrying", name, error)
                self._stopping.wait(1.0)
            except ProcessFailed as failure:
                log.error("%s", failure)
                self._set_status(name, "error", failure.detail, failure.position)
                return

    def run_once(self, name: str) -> int:
        """Handle the events that are ready for process ``name``; returns how many."""
        process = self.processes[name]
        with self.runtime.database.connect(autocommit=True) as conn:
            cur = conn.cursor(row_factory=tuple_row)
            # One runner at a time per process, across every crm-es process of the installation.
            if not cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"crm-es:process:{name}",)).fetchone()[0]:
                return 0
            try:
                return self._handle_ready(cur, process)
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"crm-es:process:{name}",))

    def _handle_ready(self, cur: Any, process: Process) -> int:
        name = process.name
        position = cur.execute("SELECT position FROM crm.process_tracking WHERE name = %s", (name,)).fetchone()[0]
        ready = self._ready(cur, process)
        if ready <= position:
            return 0
        rows = cur.execute(self._sql_batch, (position, ready, list(process.topics), self.batch_size)).fetchall()
        handled = 0
        for row in rows:
            if self._stopping.is_set():
                break
            notification = Notification(
                id=row[0], originator_id=row[1], originator_version=row[2], topic=row[3], state=bytes(row[4])
            )
            event = self.runtime.app.decode(notification)
            try:
                process.handle(event, self.runtime)
            except Exception as error:  # noqa: BLE001 - the process stops here, visibly
                raise ProcessFailed(name, notification, error) from error
            cur.execute("UPDATE crm.process_tracking SET position = %s WHERE name = %s", (notification.id, name))
            handled += 1
        if len(rows) < self.batch_size and not self._stopping.is_set():
            # Nothing more of its topics up to ``ready``: skip the events in between.
            cur.execute(
                "UPDATE crm.process_tracking SET position = greatest(position, %s) WHERE name = %s", (ready, name)
            )
        return handled

    def _ready(self, cur: Any, process: Process) -> int:
        """The last position every read model the process needs has applied (the head if none)."""
        if not process.needs:
            return self.runtime.read_side.head(cur.connection)
        return min(
            cur.execute(q(live_schema(n), "SELECT position FROM {s}._tracking")).fetchone()[0] for n in process.needs
        )

    def catch_up(self, name: str) -> None:
        """Handle every ready event now (tests, CLI)."""
        while self.run_once(name):
            pass

    # Status ------------------------------------------------------------------------------------

    def _set_status(self, name: str, status: str, error: str | None = None, error_position: int | None = None) -> None:
        try:
            with self.runtime.database.connect(autocommit=True) as conn:
                conn.execute(
                    "UPDATE crm.process_tracking SET status = %s, error = %s, error_position = %s, updated_at = now() "
                    "WHERE name = %s",
                    (status, error, error_position, name),
                )
        except psycopg.Error as failure:
            log.warning("could not record status of process %s: %s", name, failure)

    def statuses(self) -> list[dict[str, Any]]:
        with self.runtime.database.connect(autocommit=True) as conn:
            head = self.runtime.read_side.head(conn)
            rows = conn.execute(
                "SELECT name, position, status, error, error_position FROM crm.process_tracking WHERE name = ANY(%s) "
                "ORDER BY name",
                (list(self.processes),),
            ).fetchall()
        return [
            {"name": r[0], "position": r[1], "head": head, "lag": max(head - r[1], 0), "status": r[2],
             "error": r[3], "error_position": r[4]}
            for r in rows
        ]  # fmt: skip


class ProcessFailed(Exception):
    def __init__(self, name: str, notification: Notification, error: BaseException):
        self.name = name
        self.position = notification.id
        self.detail = (
            f"event {notification.id} ({notification.topic}, aggregate {notification.originator_id} "
            f"v{notification.originator_version}): {type(error).__name__}: {error}"
        )
        super().__init__(f"process {name} stopped at {self.detail}")
