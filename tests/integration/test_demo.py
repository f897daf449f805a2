"""The demo data: planned the same way for the same seed, loaded through the commands, and
found on the read side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from crm_es.aggregates.role import Role
from crm_es.demo import DEFAULT_SEED, SALESPEOPLE, make_plan, seed
from crm_es.projections.customers import list_activities, list_customers
from crm_es.runtime import Runtime, running
from tests.conftest import settings_for

REGIONS = {"宁波市": ("浙江省", "0574-"), "杭州市": ("浙江省", "0571-"), "上海市": ("上海市", "021-")}


@contextmanager
def cursor(runtime: Runtime) -> Iterator[Any]:
    with runtime.app.recorder.datastore.get_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        yield cur


def all_customers(runtime: Runtime, **filters: Any) -> list[dict[str, Any]]:
    with cursor(runtime) as cur:
        page = list_customers(cur, limit=10_000, **filters)
    assert page.next_cursor is None
    return page.items


Seeded = tuple[Runtime, dict[str, int], list[tuple[int, int]]]


@pytest.fixture(scope="module")
def seeded(make_database) -> Iterator[Seeded]:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    with running(settings_for(make_database()), start_projections=False) as runtime:
        summary = seed(runtime, size="small", progress=lambda done, total: calls.append((done, total)))
        runtime.read_side.catch_up("customers")
        yield runtime, summary, calls


# The plan --------------------------------------------------------------------------------------


def test_the_same_seed_plans_the_same_data() -> None:
    today = date(2026, 11, 24)
    assert make_plan("small", seed=7, today=today) == make_plan("small", seed=7, today=today)
    assert make_plan("small", seed=7, today=today) != make_plan("small", seed=8, today=today)


def test_a_large_plan_has_distinct_companies_with_domains_of_their_own() -> None:
    plan = make_plan("large", today=date(2026, 11, 24))
    assert len(plan.customers) == 3000
    assert len({c.name for c in plan.customers}) == 3000
    websites = [c.profile["website"] for c in plan.customers if "website" in c.profile]
    assert len(set(websites)) == len(websites)


def test_an_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        make_plan("huge", today=date(2026, 11, 24))


# Loading ---------------------------------------------------------------------------------------


def test_seeding_reports_what_it_loaded_and_its_progress(seeded) -> None:  # type: ignore[no-untyped-def]
    _, summary, calls = seeded
    plan = make_plan("small", seed=DEFAULT_SEED, today=datetime.now(timezone(timedelta(hours=8))).date())
    assert summary == plan.summary()
    assert summary["users"] == 5 and summary["customers"] == 60 and summary["departments"] == 4
    total = sum(summary.values())
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [done for done, _ in calls] == list(range(total + 1))


def test_the_customers_are_listed_in_their_cities(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, summary, _ = seeded
    customers = all_customers(runtime)
    assert len(customers) == summary["customers"]
    assert {c["city"] for c in customers} == set(REGIONS)
    for c in customers:
        province, area_code = REGIONS[c["city"]]
        assert c["province"] == province, c
        assert c["phone"].startswith(area_code), c
        assert c["name"].startswith(c["city"][:2]) and c["name"].endswith("有限公司"), c
        assert c["kind"] in ("customer", "potential", "target", "partner", "competitor")
        assert 1 <= c["contact_count"] <= 4
        assert 0 <= c["activity_count"] <= 6
    assert sum(c["contact_count"] for c in customers) == summary["contacts"]
    assert sum(c["activity_count"] for c in customers) == summary["activities"]
    assert len(all_customers(runtime, city="杭州市", province="浙江省")) == sum(
        c["city"] == "杭州市" for c in customers
    )


def test_the_owners_are_the_salespeople(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, _, _ = seeded
    salespeople = [runtime.app.staff.user_by_username(username) for username, _ in SALESPEOPLE[:4]]
    assert None not in salespeople
    assert [u.display_name for u in salespeople] == [name for _, name in SALESPEOPLE[:4]]
    assert all(u.role_ids == (Role.create_id("salesperson"),) for u in salespeople)
    signed_in = runtime.app.staff.login(
        username="wangli", password="demo-password", client=None)
    assert signed_in.username == "wangli"
    owners = Counter(c["owner_id"] for c in all_customers(runtime))
    assert set(owners) == {u.id for u in salespeople}


def test_searching_ningbo_finds_the_ningbo_companies(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, _, _ = seeded
    ningbo = {c["id"] for c in all_customers(runtime, city="宁波市")}
    assert ningbo
    found = all_customers(runtime, q_text="宁波")
    assert {c["id"] for c in found[: len(ningbo)]} == ningbo


def test_the_activities_are_recent_and_some_name_a_contact(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, _, _ = seeded
    now = datetime.now(timezone.utc)
    activities = []
    with cursor(runtime) as cur:
        for c in all_customers(runtime):
            if c["activity_count"]:
                activities += list_activities(cur, c["id"], limit=10).items
    assert activities
    for a in activities:
        assert now - timedelta(days=180) < a["occurred_at"] < now
        assert a["kind"] in ("visit", "call", "email", "meeting")
        assert a["summary"] and a["recorded_by"] == "process:seed-demo"
    assert any(a["contact_id"] is not None for a in activities)


def test_seeding_twice_with_the_same_seed_writes_nothing_new(make_database) -> None:  # type: ignore[no-untyped-def]
    with running(settings_for(make_database()), start_projections=False) as runtime:

        def user_ids() -> dict[str, Any]:
            users = {username: runtime.app.staff.user_by_username(username) for username, _ in SALESPEOPLE[:4]}
            return {username: user.id for username, user in users.items() if user is not None}

        first = seed(runtime, size="small", seed=42)
        users = user_ids()
        assert len(users) == 4
        second = seed(runtime, size="small", seed=42)
        runtime.read_side.catch_up("customers")

        assert first == second
        assert user_ids() == users
        customers = all_customers(runtime)
        assert len(customers) == first["customers"]
        names = Counter(c["name"] for c in customers)
        assert set(names.values()) == {1}
        assert {c["owner_id"] for c in customers} <= set(users.values())


def test_the_manager_sees_every_team_and_a_salesperson_only_their_own(seeded) -> None:  # type: ignore[no-untyped-def]
    from crm_es.projections.staff import compute_access

    runtime, _, _ = seeded
    customers = all_customers(runtime)
    manager = runtime.app.staff.user_by_username("zhaomin")
    seller = runtime.app.staff.user_by_username(SALESPEOPLE[0][0])
    with runtime.app.recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        _, manager_access = compute_access(cur, manager.id)
        _, seller_access = compute_access(cur, seller.id)
    assert all(manager_access.sees("customers", c["owner_id"]) for c in customers)
    visible = [c for c in customers if seller_access.sees("customers", c["owner_id"])]
    assert visible and all(c["owner_id"] == seller.id for c in visible)
