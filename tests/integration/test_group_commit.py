"""Group commit: concurrent commands share transactions; a collision fails only its command."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from eventsourcing.persistence import IntegrityError

from crm_es.aggregates.base import recording
from crm_es.aggregates.customer import Customer
from crm_es.app import Context, GroupCommit, _Append
from crm_es.runtime import Runtime


def test_concurrent_registrations_all_land_with_distinct_positions(fresh: Runtime) -> None:
    app = fresh.app
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    with ThreadPoolExecutor(16) as pool:
        written = list(pool.map(lambda i: app.customers.register(ctx=ctx, name=f"并发客户{i}", kind="customer"), range(200)))
    positions = [w.position for w in written]
    assert len(set(positions)) == 200
    with fresh.database.connect() as conn:
        stored = conn.execute(
            f'SELECT count(*) FROM "{app.events_table}" WHERE originator_id = ANY(%s)', ([w.id for w in written],)
        ).fetchone()[0]
    assert stored == 200


def test_a_collision_in_a_batch_fails_only_the_command_that_caused_it(fresh: Runtime) -> None:
    app = fresh.app
    with recording("test"):
        customer = Customer.register(name="宁波冲突测试有限公司", kind="customer", owner_id=app.staff.ensure_admin(
            username="admin", password="admin-password-1")[0].id)  # fmt: skip
    app.save(customer)
    stale_a, stale_b = app.customers.customer(customer.id), app.customers.customer(customer.id)
    with recording("test"):
        stale_a.update_profile(city="宁波市")
        stale_b.update_profile(city="杭州市")
        other = Customer.register(name="杭州无关有限公司", kind="target", owner_id=customer.owner_id)
    jobs = [_Append([app.mapper.to_stored_event(e) for e in agg.collect_events()], None) for agg in (stale_a, other, stale_b)]
    GroupCommit(app.recorder)._commit(jobs)  # type: ignore[arg-type]
    assert jobs[0].error is None and jobs[1].error is None
    assert isinstance(jobs[2].error, IntegrityError)
    assert app.customers.customer(customer.id).profile["city"] == "宁波市"
    assert app.customers.customer(other.id).name == "杭州无关有限公司"


def test_writers_in_two_processes_on_one_customer_lose_no_update(fresh: Runtime) -> None:
    from crm_es.runtime import connect

    other = connect(fresh.settings, fresh.database)  # a second application, as another process has
    try:
        admin, _ = fresh.app.staff.ensure_admin(username="admin", password="admin-password-1")
        ctx = Context(actor=str(admin.id), user_id=admin.id)
        customer = fresh.app.customers.register(ctx=ctx, name="宁波双进程有限公司", kind="customer")
        apps = [fresh.app, other.app]

        def add(i: int) -> int:
            return apps[i % 2].customers.add_contact(ctx=ctx, customer_id=customer.id, name=f"联系人{i}").version

        with ThreadPoolExecutor(16) as pool:
            versions = sorted(pool.map(add, range(24)))
        assert versions == list(range(2, 26))
        contacts = fresh.app.customers.customer(customer.id).contacts
        assert sorted(c["name"] for c in contacts.values()) == sorted(f"联系人{i}" for i in range(24))
    finally:
        other.close()
