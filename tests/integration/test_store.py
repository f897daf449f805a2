"""The event store on real PostgreSQL: types survive the round trip; metadata is recorded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from crm_es.aggregates.customer import Customer
from crm_es.app import CRM, Context
from crm_es.runtime import Runtime


def test_customer_events_round_trip_with_exact_types_and_metadata(fresh: Runtime) -> None:
    app = fresh.app
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), correlation_id="req-42", user_id=admin.id)
    written = app.customers.register(
        ctx=ctx, name="宁波慈穗贸业有限公司", kind="customer", credit_limit="1234.5", tags=["外贸"], employees=12
    )
    app.customers.add_contact(ctx=ctx, customer_id=written.id, name="王丽", birthday=date(1982, 5, 17))

    cold = CRM(env=fresh.database.eventsourcing_env(fresh.settings))  # no cache: read from PostgreSQL
    try:
        customer = cold.repository.get(written.id)
        assert isinstance(customer, Customer)
        assert customer.profile["credit_limit"] == Decimal("1234.50")
        assert str(customer.profile["credit_limit"]) == "1234.50"
        assert customer.profile["tags"] == ("外贸",) and customer.profile["employees"] == 12
        (contact,) = customer.contacts.values()
        assert contact["birthday"] == date(1982, 5, 17) and contact["primary"] is True
        events = list(cold.events.get(written.id))
        assert [type(e).__name__ for e in events] == ["Registered", "ContactAdded"]
        assert {(e.actor, e.correlation_id, e.causation_id) for e in events} == {(str(admin.id), "req-42", None)}
        assert all(e.timestamp.utcoffset().total_seconds() == 0 for e in events)
    finally:
        cold.close()


def test_as_of_replays_the_customer_to_a_past_moment(fresh: Runtime) -> None:
    app = fresh.app
    admin, _ = app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    written = app.customers.register(ctx=ctx, name="杭州回溯科技有限公司", kind="potential")
    first = app.customers.customer(written.id).modified_on
    app.customers.update(ctx=ctx, customer_id=written.id, kind="customer", city="杭州市")
    then = app.customers.as_of(Context.system("test"), written.id, first)
    assert then.kind == "potential" and then.profile["city"] is None and then.version == 1
    assert app.customers.as_of(Context.system("test"), written.id, app.customers.customer(written.id).modified_on).kind == "customer"


def test_a_save_of_megabytes_of_events_completes(fresh: Runtime) -> None:
    """A seed chunk is one big insert; pipelined, psycopg could deadlock on it over a unix socket."""
    import threading

    from crm_es.aggregates.base import recording

    admin, _ = fresh.app.staff.ensure_admin(username="admin", password="admin-password-1")
    with recording("test"):
        customers = []
        for i in range(300):
            customer = Customer.register(name=f"批量客户{i}", kind="customer", owner_id=admin.id, notes="备注" * 400)
            for j in range(3):
                customer.add_contact(contact_id=__import__("uuid").uuid4(), name=f"联系人{j}")
            customers.append(customer)
    done = threading.Event()
    errors: list[BaseException] = []

    def save() -> None:
        try:
            fresh.app.save(*customers)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            done.set()

    threading.Thread(target=save, daemon=True).start()
    assert done.wait(60), "saving a big batch hung"
    assert not errors, errors
    assert fresh.app.customers.customer(customers[-1].id).version == 4
