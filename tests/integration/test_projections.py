"""The projection runner on real PostgreSQL: exactly-once batches, crashes, errors, rebuilds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any
from uuid import UUID

from crm_es.aggregates.customer import Customer
from crm_es.app import Context
from crm_es.projections.customers import CustomersProjection
from crm_es.projections.runner import ReadSide
from crm_es.runtime import Runtime


def _write_history(runtime: Runtime, customers: int = 40) -> list[UUID]:
    """A few hundred events: registrations, contacts, activities, profile changes."""
    app = runtime.app
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    ids = []
    for i in range(customers):
        customer = app.customers.register(ctx=ctx, name=f"宁波第{i}贸易有限公司", kind="customer", city="宁波市")
        app.customers.add_contact(ctx=ctx, customer_id=customer.id, name=f"王{i}", mobile="13805741234")
        app.customers.add_contact(ctx=ctx, customer_id=customer.id, name=f"李{i}", primary=True)
        app.customers.update(ctx=ctx, customer_id=customer.id, credit_limit="1000.00", tags=["外贸", f"t{i % 3}"])
        app.customers.log_activity(ctx=ctx, customer_id=customer.id, kind="call", occurred_at=_when(i), summary="电话回访")
        ids.append(customer.id)
    return ids


def _when(i: int) -> Any:
    from datetime import datetime, timedelta, timezone

    return datetime(2026, 11, 1, 9, tzinfo=timezone(timedelta(hours=8))) + timedelta(hours=i)


def _snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    with runtime.database.connect() as conn:
        return {
            table: conn.execute(f"SELECT * FROM read_customers.{table} ORDER BY id").fetchall()
            for table in ("customers", "contacts", "activities")
        }


def _position(runtime: Runtime) -> int:
    with runtime.database.connect() as conn:
        return runtime.read_side.position("customers", conn)


CRASHING_RUNNER = textwrap.dedent(
    """
    import os, sys
    from crm_es.runtime import connect
    from crm_es.projections.runner import ReadSide
    from crm_es.store import Database
    from tests.conftest import settings_for

    database = Database(sys.argv[1], embedded=False)
    runtime = connect(settings_for(database, projection_batch_size=50), database)
    batches = []

    def before_commit(name):
        batches.append(name)
        if len(batches) == 3:
            os._exit(9)  # killed after applying the third batch, before it commits

    runtime.read_side._before_commit = before_commit
    runtime.read_side.catch_up("customers")
    """
)


def test_a_batch_killed_before_commit_resumes_to_the_same_result_as_a_full_rebuild(fresh: Runtime) -> None:
    _write_history(fresh)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUNNER, fresh.database.conninfo], capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 9, crashed.stderr
    with fresh.database.connect() as conn:
        hundredth = conn.execute(
            f'SELECT notification_id FROM "{fresh.app.events_table}" WHERE topic = ANY(%s) '
            "ORDER BY notification_id OFFSET 99 LIMIT 1",
            (list(CustomersProjection.topics),),
        ).fetchone()[0]
    assert _position(fresh) == hundredth  # two batches of 50 committed; the third rolled back

    resumed_to = fresh.read_side.catch_up("customers")
    resumed = _snapshot(fresh)
    assert len(resumed["customers"]) == 40 and len(resumed["contacts"]) == 80

    assert fresh.read_side.rebuild("customers") == resumed_to
    assert _snapshot(fresh) == resumed


class Faulty(CustomersProjection):
    """The customers projection with a handler bug that a rebuild can be asked to get past."""

    fixed = False

    def apply_batch(self, items: list[tuple[int, Any]], cur: Any, schema: str) -> None:
        for _, event in items:
            if not self.fixed and isinstance(event, Customer.ProfileUpdated) and event.changes.get("notes") == "boom":
                raise ValueError("notes cannot be boom")
        super().apply_batch(items, cur, schema)


def test_a_failing_handler_stops_the_projection_with_the_event_and_the_message(fresh: Runtime) -> None:
    app = fresh.app
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    faulty = Faulty()
    read_side = ReadSide(fresh.database, app.decode, app.events_table, [faulty], batch_size=50)
    read_side.ensure_schemas()
    read_side.start()
    try:
        customer = app.customers.register(ctx=ctx, name="杭州故障测试有限公司", kind="customer")
        bad = app.customers.update(ctx=ctx, customer_id=customer.id, notes="boom")
        app.customers.update(ctx=ctx, customer_id=customer.id, city="杭州市")

        stopped = _wait(lambda: read_side.status("customers").status == "error")
        assert stopped, read_side.status("customers")
        status = read_side.status("customers")
        assert status.error_position == bad.position
        assert f"event {bad.position}" in status.error and "notes cannot be boom" in status.error
        assert status.position == bad.position - 1 and status.lag == 2  # applied up to it, nothing after

        faulty.fixed = True
        read_side.rebuild("customers")
        assert _wait(lambda: read_side.status("customers").lag == 0)
        assert read_side.status("customers").status == "running"
    finally:
        read_side.stop()


def test_a_rebuild_fills_fresh_tables_while_the_live_ones_serve_and_takes_in_events_written_meanwhile(
    fresh: Runtime,
) -> None:
    ids = _write_history(fresh, customers=30)
    fresh.read_side.start()
    app = fresh.app
    with fresh.database.connect() as conn:  # the live tables hold everything before the rebuild starts
        fresh.read_side.wait_for("customers", fresh.read_side.head(conn), conn, 30)
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    seen: list[tuple[int, int]] = []
    late: list[UUID] = []

    def progress(position: int, head: int) -> None:
        seen.append((position, head))
        if len(seen) == 1:
            # The live tables keep serving during the rebuild, and new events keep coming.
            with fresh.database.connect() as conn:
                assert conn.execute("SELECT count(*) FROM read_customers.customers").fetchone()[0] == 30
            late.append(app.customers.register(ctx=ctx, name="上海迟到物流有限公司", kind="partner").id)

    try:
        fresh.read_side.rebuild("customers", progress)
        assert [p for p, _ in seen] == sorted(p for p, _ in seen)
        with fresh.database.connect() as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM read_customers.customers")}
            schemas = {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'read_customers%'")}
        assert "上海迟到物流有限公司" in names and len(names) == 31
        assert schemas == {"read_customers"}
        assert late and set(ids)

        # The live runner goes on in the swapped-in tables (its prepared statements re-plan).
        after = app.customers.register(ctx=ctx, name="杭州换表之后有限公司", kind="customer")
        with fresh.database.connect() as conn:
            fresh.read_side.wait_for("customers", after.position, conn, 10)
            assert conn.execute("SELECT count(*) FROM read_customers.customers").fetchone()[0] == 32
    finally:
        fresh.read_side.stop()


def test_a_failing_projection_does_not_hold_up_the_others(fresh: Runtime) -> None:
    app = fresh.app
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    faulty = Faulty()
    faulty.name = "faulty"  # type: ignore[misc]
    read_side = ReadSide(fresh.database, app.decode, app.events_table, [faulty, CustomersProjection()], batch_size=50)
    read_side.ensure_schemas()
    read_side.start()
    try:
        customer = app.customers.register(ctx=ctx, name="宁波隔离测试有限公司", kind="customer")
        app.customers.update(ctx=ctx, customer_id=customer.id, notes="boom")
        last = app.customers.update(ctx=ctx, customer_id=customer.id, city="宁波市")
        with fresh.database.connect() as conn:
            assert read_side.wait_for("customers", last.position, conn, 10) >= last.position
        assert _wait(lambda: read_side.status("faulty").status == "error")
        assert read_side.status("customers").status == "running"
    finally:
        read_side.stop()


def _wait(condition: Any, timeout: float = 10.0) -> bool:
    done = threading.Event()
    deadline = 0.0
    while deadline < timeout:
        if condition():
            return True
        done.wait(0.05)
        deadline += 0.05
    return False


def test_a_projection_whose_version_changed_is_rebuilt_at_start(fresh: Runtime) -> None:
    _write_history(fresh, customers=5)
    fresh.read_side.catch_up("customers")
    before = _snapshot(fresh)

    class Newer(CustomersProjection):
        version = CustomersProjection.version + 1

    read_side = ReadSide(fresh.database, fresh.app.decode, fresh.app.events_table, [Newer()], batch_size=50)
    read_side.ensure_schemas()
    with fresh.database.connect() as conn:
        assert conn.execute("SELECT version FROM read_customers._tracking").fetchone()[0] == Newer.version
    assert _snapshot(fresh) == before


class _Newer(CustomersProjection):
    version = CustomersProjection.version + 1


def test_a_rebuild_that_fails_with_any_error_says_failed_and_can_be_run_again(fresh: Runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import psycopg
    import pytest

    _write_history(fresh, customers=3)
    read_side = fresh.read_side

    def lost_connection(*_: Any, **__: Any) -> Any:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(read_side, "_rebuild_batch", lost_connection)
    with pytest.raises(psycopg.OperationalError):
        read_side.rebuild("customers")
    status = read_side.status("customers")
    assert status.status == "failed"
    assert "OperationalError" in (status.error or "") and "server closed" in (status.error or "")
    assert not read_side.rebuilding("customers")
    monkeypatch.undo()
    assert read_side.rebuild("customers") > 0
    assert read_side.status("customers").status == "idle"


def test_processes_starting_together_after_an_upgrade_rebuild_once_and_never_downgrade(fresh: Runtime) -> None:
    import pytest

    from crm_es.projections.runner import ProjectionNewer

    _write_history(fresh, customers=3)
    fresh.read_side.catch_up("customers")
    rebuilds: list[str] = []

    def upgraded() -> ReadSide:
        read_side = ReadSide(fresh.database, fresh.app.decode, fresh.app.events_table, [_Newer()])
        real = read_side.rebuild
        read_side.rebuild = lambda name, progress=None: (rebuilds.append(name), real(name, progress))[1]  # type: ignore[method-assign]
        return read_side

    starters = [threading.Thread(target=upgraded().ensure_schemas) for _ in range(3)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    assert rebuilds == ["customers"]
    with fresh.database.connect() as conn:
        assert conn.execute("SELECT version FROM read_customers._tracking").fetchone()[0] == _Newer.version
    older = ReadSide(fresh.database, fresh.app.decode, fresh.app.events_table, [CustomersProjection()])
    with pytest.raises(ProjectionNewer, match="newer crm-es"):
        older.ensure_schemas()
    with fresh.database.connect() as conn:
        assert conn.execute("SELECT version FROM read_customers._tracking").fetchone()[0] == _Newer.version
    # A process still running the older code stops applying to the newer tables instead of corrupting them.
    from crm_es.projections.runner import ProjectionStale

    with pytest.raises(ProjectionStale):
        older.catch_up("customers")
