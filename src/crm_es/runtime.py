"""One running crm-es: settings, database, application, read side. Used by the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.persistence import Notification

from psycopg_pool import AsyncConnectionPool

from crm_es.app import CRM, Context
from crm_es.processes import all_processes, all_timers
from crm_es.processes.base import ProcessRunner
from crm_es.processes.timers import Timers
from crm_es.projections import all_projections
from crm_es.projections.links import linked
from crm_es.projections.runner import Progress, ReadSide
from crm_es.projections.staff import AccessCache
from crm_es.projections.watch import PositionWatch
from crm_es.settings import Settings
from crm_es.store import Database, bootstrap, open_database

log = logging.getLogger("crm_es")


@dataclass
class Runtime:
    settings: Settings
    database: Database
    app: CRM
    read_side: ReadSide
    secret_key: str

    access_cache: AccessCache = field(default_factory=AccessCache)

    def caught_up(self, name: str) -> None:
        """Bring read model ``name`` up to date now (the staff model after a staff command:
        authorisation of the very next request, in any process, must see a disabled user or a
        changed role). The write that came before has committed whatever happens here: a
        failure is logged and shown in the projection's status (the live runner catches up
        later), never turned into an error answer."""
        try:
            self.read_side.catch_up(name)
        except Exception:  # noqa: BLE001 - see above; the status carries the error
            log.exception("could not bring the %s read model up to date after a command", name)

    def customer_history(self, ctx: Context, customer_id: UUID) -> Iterator[tuple[Notification, Any]]:
        """Every event of the customer and of every record linked to it, in order. The links
        read model is brought up to date first, so the history holds everything written
        before the call."""
        self.caught_up("links")
        with self.app.connection() as conn, conn.cursor() as cur:
            streams_and_events = linked(cur, customer_id)
        return self.app.customers.history(ctx, customer_id, streams_and_events)

    def staff_changed(self) -> None:
        self.caught_up("staff")

    processes: ProcessRunner | None = None
    timers: Timers | None = None
    watch: PositionWatch | None = None
    _aio: dict[Any, Any] = field(default_factory=dict)

    async def aio_pool(self) -> AsyncConnectionPool:
        """An asyncio connection pool for the request path (authorisation), one per event loop."""
        loop = asyncio.get_running_loop()
        opening = self._aio.get(loop)
        if opening is None:
            pool = AsyncConnectionPool(
                self.database.conninfo, min_size=1, max_size=self.settings.pool_size, open=False,
                kwargs={"autocommit": True}, name="crm-es-requests",
            )  # fmt: skip
            opening = self._aio[loop] = (pool, loop.create_task(pool.open(wait=True)))
        pool, task = opening
        if not task.done():
            await asyncio.shield(task)
        return pool

    async def close_aio(self) -> None:
        opening = self._aio.pop(asyncio.get_running_loop(), None)
        if opening is not None:
            await self.access_cache._generations.close(opening[0])
            await opening[0].close()

    def positions(self) -> PositionWatch:
        """The read models' positions in this process (started on first use)."""
        if self.watch is None:
            self.watch = PositionWatch(self.database, list(self.read_side.projections), self.app.events_table)
        self.watch.start()
        return self.watch

    def start(self) -> None:
        """Run the projections and the process managers live (one process per installation
        does this; API workers only serve)."""
        self.read_side.start()
        self.processes = ProcessRunner(self, all_processes())
        self.processes.start()
        self.timers = Timers(self, all_timers(self.settings))
        self.timers.start()

    def close(self) -> None:
        if self.timers is not None:
            self.timers.stop()
        if self.processes is not None:
            self.processes.stop()
        if self.watch is not None:
            self.watch.stop()
        self.read_side.stop()
        self.app.close()


def connect(settings: Settings, database: Database, *, progress: Progress | None = None) -> Runtime:
    """Build the application and read side on an open database. The process that owns the
    installation (not an API worker) first creates what is missing: tables, read models
    (rebuilding those whose version changed), default roles and reference data."""
    if not settings.api_worker:
        bootstrap(database)
    app = CRM(env=database.eventsourcing_env(settings))
    read_side = ReadSide(
        database,
        decode=app.decode,
        events_table=app.events_table,
        projections=all_projections(),
        batch_size=settings.projection_batch_size,
    )
    app.staff.max_failures = settings.login_max_failures
    app.staff.lock_for = timedelta(seconds=settings.login_lock_seconds)
    app.orders.configure(number_prefix=settings.order_number_prefix)
    receivables = read_side.projections["receivables"]
    receivables.zone = ZoneInfo(settings.timezone)  # type: ignore[attr-defined]
    receivables.late_fee_daily_rate = settings.late_fee_daily_rate  # type: ignore[attr-defined]
    if not settings.api_worker:
        read_side.ensure_schemas((lambda name: progress) if progress else None)
        app.staff.ensure_default_roles()
        app.reference.ensure_defaults()
        app.opportunities.ensure_pipeline()
        app.tickets.ensure_service_levels()
        app.stock.ensure_catalogue()
    runtime = Runtime(settings, database, app, read_side, _secret_key(settings, database))
    if not settings.api_worker:
        runtime.caught_up("staff")
    return runtime


@contextlib.contextmanager
def running(settings: Settings, *, start_projections: bool | None = None) -> Iterator[Runtime]:
    """Open the database, build the runtime, run the projections (if asked), close it all."""
    with open_database(settings) as database:
        runtime = connect(settings, database)
        try:
            if settings.admin_username and settings.admin_password and not settings.api_worker:
                _, outcome = runtime.app.staff.ensure_admin(
                    username=settings.admin_username, password=settings.admin_password
                )
                log.info("administrator %s: %s", settings.admin_username, outcome)
                runtime.caught_up("staff")
            if settings.run_projections if start_projections is None else start_projections:
                runtime.start()
            yield runtime
        finally:
            runtime.close()


def _secret_key(settings: Settings, database: Database) -> str:
    """The token-signing key: from the settings, or generated once and kept in the database so
    that every API process of one installation shares it."""
    if settings.secret_key:
        return settings.secret_key
    with database.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO crm.secrets (name, value) VALUES ('token_key', %s) ON CONFLICT (name) DO NOTHING",
            (secrets.token_urlsafe(48),),
        )
        return conn.execute("SELECT value FROM crm.secrets WHERE name = 'token_key'").fetchone()[0]
