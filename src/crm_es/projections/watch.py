"""Where each read model is, known in every process without asking the database per request.

The projection runner announces the positions it commits on the ``crm_es_positions`` channel
(PostgreSQL NOTIFY, sent in the batch's own transaction, so it arrives only once the batch is
visible). Each API process keeps one listening connection, outside the pool, and the last
position of every read model in memory. A read that waits for its own write (``min_position``)
waits on that memory: it holds neither a pooled connection nor a worker thread while it waits,
so many waiting readers never starve writers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from crm_es.errors import InvalidInput, ReadModelBehind
from crm_es.projections.base import live_schema, q
from crm_es.store import Database

log = logging.getLogger("crm_es.projections")

CHANNEL = "crm_es_positions"
POLL = 0.005
"""How often a waiting read looks at the positions in memory (seconds)."""


def announce(cur: Any, positions: dict[str, int]) -> None:
    """Announce committed positions (call inside the transaction that commits them)."""
    payload = ",".join(f"{name}={position}" for name, position in positions.items())
    cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


class PositionWatch:
    """The positions of the read models, kept current by a listening thread."""

    def __init__(self, database: Database, names: list[str], events_table: str):
        self.database = database
        self.names = names
        self.events_table = events_table
        self.positions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # The listening thread ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._listen, name="crm-es-position-watch", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with self.database.connect(autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._load(conn)  # whatever was announced while nobody listened
                    self._ready.set()
                    last_load = time.monotonic()
                    while not self._stopping.is_set():
                        for notice in conn.notifies(timeout=0.5, stop_after=50):
                            self._update(self._parse(notice.payload))
                        if time.monotonic() - last_load > 5:
                            self._load(conn)  # a safety net; announcements are the fast path
                            last_load = time.monotonic()
            except psycopg.Error as error:
                if self._stopping.is_set():
                    return
                log.warning("position watch lost its connection (%s); reconnecting", error)
                self._stopping.wait(0.5)

    def _load(self, conn: psycopg.Connection[Any]) -> None:
        cur = conn.cursor(row_factory=tuple_row)
        found = {}
        for name in self.names:
            try:
                found[name] = cur.execute(q(live_schema(name), "SELECT position FROM {s}._tracking")).fetchone()[0]
            except psycopg.errors.UndefinedTable:
                found[name] = 0
        self._update(found)

    @staticmethod
    def _parse(payload: str) -> dict[str, int]:
        found = {}
        for part in payload.split(","):
            name, _, position = part.partition("=")
            if position.isdigit():
                found[name] = int(position)
        return found

    def _update(self, found: dict[str, int]) -> None:
        with self._lock:
            for name, position in found.items():
                if position > self.positions.get(name, -1):
                    self.positions[name] = position

    # Readers ----------------------------------------------------------------------------------

    async def reached(self, name: str, wanted: int | None, timeout: float) -> int:
        """The position read model ``name`` is at, once it is at least ``wanted``: waits up to
        ``timeout`` seconds (then 503), and answers 422 at once for a position beyond the log."""
        current = self.positions.get(name, 0)
        if wanted is None or current >= wanted:
            return current
        head = await asyncio.to_thread(self._head)
        if wanted > head:
            raise InvalidInput.on("min_position", f"{wanted} is beyond the last event position ({head})")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL)
            current = self.positions.get(name, 0)
            if current >= wanted:
                return current
        raise ReadModelBehind(
            f"the {name} read model is at position {current}, not yet at {wanted}; retry shortly", retry_after=1
        )

    def _head(self) -> int:
        with self.database.connect(autocommit=True) as conn:
            row = conn.execute(f'SELECT coalesce(max(notification_id), 0) FROM "{self.events_table}"').fetchone()
        return row[0]
