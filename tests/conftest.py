"""Test fixtures: one PostgreSQL per test run (embedded in a temporary directory, or the server
named by CRM_ES_TEST_DATABASE_URL), a fresh database on it, and a running crm-es."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_es.settings import Settings
from crm_es.store import Database, EmbeddedPostgres, create_database, drop_database


def pytest_configure(config: pytest.Config) -> None:
    # A test run stopped with SIGTERM (a CI timeout, say) still runs the fixtures' teardown,
    # so the embedded PostgreSQL it started does not outlive it.
    signal.signal(signal.SIGTERM, _stop_run)


def _stop_run(*_: object) -> None:
    raise KeyboardInterrupt("SIGTERM")  # pytest stops the run and tears the fixtures down


@pytest.fixture(scope="session")
def server() -> Iterator[Database]:
    """The PostgreSQL server of this test run (its maintenance database)."""
    url = os.environ.get("CRM_ES_TEST_DATABASE_URL")
    if url:
        yield Database(url, embedded=False)
        return
    directory = Path(tempfile.mkdtemp(prefix="crm-es-test-"))
    embedded = EmbeddedPostgres(directory)
    try:
        conninfo = embedded.start()
        yield Database(conninfo, embedded=True)
    finally:
        embedded.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def make_database(server: Database) -> Iterator[object]:
    """Create fresh databases on the test server; all are dropped at the end of the run."""
    created: list[str] = []

    def make() -> Database:
        name = f"crm_es_test_{uuid.uuid4().hex[:12]}"
        created.append(name)
        return create_database(server, name)

    yield make
    for name in created:
        drop_database(server, name)


@pytest.fixture(scope="session")
def database(make_database) -> Database:  # type: ignore[no-untyped-def]
    return make_database()


def settings_for(database: Database, **changes: object) -> Settings:
    # No timers: a test that needs one runs it itself (an escalation would change tickets under test).
    return Settings(
        database_url=database.conninfo, data_dir=Path(tempfile.gettempdir()), log_level="warning", escalation_seconds=0
    ).with_(**changes)


@pytest.fixture(scope="session")
def settings(database: Database) -> Settings:
    return settings_for(database, admin_username="admin", admin_password="admin-password-1")


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[object]:
    from crm_es.runtime import running

    with running(settings, start_projections=True) as rt:
        yield rt
