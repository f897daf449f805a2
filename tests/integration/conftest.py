"""Integration fixtures: a fresh database with crm-es's tables and no live projection runners."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_es.runtime import Runtime, connect
from crm_es.store import Database
from tests.conftest import settings_for


@pytest.fixture
def fresh(make_database) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    """A runtime on a database of its own; projections only advance when a test says so."""
    database: Database = make_database()
    runtime = connect(settings_for(database, projection_batch_size=50), database)
    try:
        yield runtime
    finally:
        runtime.close()
