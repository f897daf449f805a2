"""The operation log on real PostgreSQL: every event recorded once, filters, pages, no secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from crm_es.app import Context
from crm_es.errors import InvalidInput
from crm_es.projections import audit
from crm_es.projections.paging import Page, encode_cursor
from crm_es.runtime import Runtime


def _entries(runtime: Runtime, **filters: Any) -> list[dict[str, Any]]:
    with runtime.app.recorder.datastore.get_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        return audit.entries_after(cur, after=0, limit=1_000_000, **filters)


def _page(runtime: Runtime, **arguments: Any) -> Page:
    with runtime.app.recorder.datastore.get_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        return audit.list_entries(cur, **arguments)


def _story(runtime: Runtime) -> tuple[UUID, UUID]:
    """An administrator, and a customer registered, changed and given a contact in one request."""
    admin, _ = runtime.app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), correlation_id="req-audit-1", user_id=admin.id)
    customer = runtime.app.customers.register(ctx=ctx, name="宁波审计贸易有限公司", kind="customer", city="宁波市")
    runtime.app.customers.update(ctx=ctx, customer_id=customer.id, credit_limit="1000.50", tags=["外贸"])
    runtime.app.customers.add_contact(ctx=ctx, customer_id=customer.id, name="王丽", mobile="13805741234")
    return admin.id, customer.id


def test_every_event_becomes_one_entry_with_who_what_when_and_which_request(fresh: Runtime) -> None:
    admin_id, customer_id = _story(fresh)
    head = fresh.read_side.catch_up("audit")

    entries = _entries(fresh)
    assert [e["position"] for e in entries] == list(range(1, head + 1))
    mine = _entries(fresh, aggregate_id=customer_id)
    assert [e["event_type"] for e in mine] == ["Customer.Registered", "Customer.ProfileUpdated", "Customer.ContactAdded"]
    assert [e["version"] for e in mine] == [1, 2, 3]
    registered, updated, contact = mine
    assert registered["aggregate_type"] == "Customer" and registered["aggregate_id"] == customer_id
    assert {e["actor"] for e in mine} == {str(admin_id)}
    assert {e["correlation_id"] for e in mine} == {"req-audit-1"}
    assert registered["data"]["name"] == "宁波审计贸易有限公司" and registered["data"]["city"] == "宁波市"
    assert not {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"} & set(registered["data"])
    assert updated["data"]["changes"] == {"credit_limit": "1000.50", "tags": ["外贸"]}
    assert contact["data"]["name"] == "王丽" and UUID(contact["data"]["contact_id"])
    assert registered["occurred_at"] <= updated["occurred_at"] <= contact["occurred_at"]


def test_applying_again_changes_nothing(fresh: Runtime) -> None:
    _story(fresh)
    fresh.read_side.catch_up("audit")
    before = _entries(fresh)
    with fresh.database.connect() as conn:
        conn.execute("UPDATE read_audit._tracking SET position = 0")
    fresh.read_side.catch_up("audit")
    assert _entries(fresh) == before
    fresh.read_side.rebuild("audit")
    assert _entries(fresh) == before


def test_password_hashes_never_reach_the_log(fresh: Runtime) -> None:
    fresh.app.staff.ensure_admin(username="admin", password="admin-password-1")
    fresh.app.staff.ensure_admin(username="admin", password="another-password-2")  # a reset
    fresh.read_side.catch_up("audit")
    users = _entries(fresh, aggregate_type="User")
    assert {"User.Registered", "User.PasswordReset"} <= {e["event_type"] for e in users}
    with fresh.database.connect() as conn:
        dump = conn.execute("SELECT string_agg(data::text, ' ') FROM read_audit.entries").fetchone()[0]
    assert "password" not in dump and "argon2" not in dump
    registered = next(e for e in users if e["event_type"] == "User.Registered")
    assert registered["data"]["username"] == "admin"
    assert all(e["actor"] == "process:create-admin" for e in users)


def test_filters_narrow_by_actor_type_record_and_time(fresh: Runtime) -> None:
    admin_id, customer_id = _story(fresh)
    other = fresh.app.customers.register(
        ctx=Context.system("import"), name="杭州另一家公司", kind="potential", owner_id=admin_id
    )
    fresh.read_side.catch_up("audit")

    assert {e["aggregate_id"] for e in _entries(fresh, actor="process:import")} == {other.id}
    assert {e["aggregate_id"] for e in _entries(fresh, actor=str(admin_id), aggregate_type="Customer")} == {customer_id}
    assert {e["aggregate_type"] for e in _entries(fresh, aggregate_type="Customer")} == {"Customer"}
    assert _entries(fresh, actor="nobody") == []

    mine = _entries(fresh, aggregate_id=customer_id)
    middle = mine[1]["occurred_at"]
    assert [e["position"] for e in _entries(fresh, aggregate_id=customer_id, since=middle)] == [
        e["position"] for e in mine[1:]
    ]
    assert [e["position"] for e in _entries(fresh, aggregate_id=customer_id, until=middle)] == [mine[0]["position"]]
    later = mine[-1]["occurred_at"] + timedelta(seconds=1)
    assert _entries(fresh, since=later) == []


def test_pages_go_newest_first_and_cover_every_entry_once(fresh: Runtime) -> None:
    admin_id, _ = _story(fresh)
    for i in range(6):
        fresh.app.customers.register(ctx=Context.system("import"), name=f"宁波第{i}家公司", kind="customer", owner_id=admin_id)
    head = fresh.read_side.catch_up("audit")

    seen: list[int] = []
    cursor = None
    while True:
        page = _page(fresh, limit=4, cursor=cursor)
        assert len(page.items) <= 4
        seen += [e["position"] for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(range(head, 0, -1))

    filtered = _page(fresh, limit=2, actor="process:import")
    following = _page(fresh, limit=2, actor="process:import", cursor=filtered.next_cursor)
    positions = [e["position"] for e in filtered.items + following.items]
    assert positions == sorted(positions, reverse=True) and len(set(positions)) == 4


@pytest.mark.parametrize(
    "cursor",
    ["garbage!", encode_cursor("recent", [1]), encode_cursor("audit", ["5"]), encode_cursor("audit", [True]),
     encode_cursor("audit", [-1]), encode_cursor("audit", [2**63]), encode_cursor("audit", [1, 2])],
)  # fmt: skip
def test_foreign_or_crafted_cursors_are_invalid_input(fresh: Runtime, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        _page(fresh, limit=10, cursor=cursor)
