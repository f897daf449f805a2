"""The demo data: planned the same way for the same seed, with ids derived from it, loaded a
chunk per transaction (resumably), and found on the read side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from eventsourcing.persistence import Notification

from crm_es.aggregates.base import describe_event
from crm_es.aggregates.role import Role
from crm_es.demo import (
    ACTOR,
    BRANDS,
    CHINA_TIME,
    CITIES,
    DEFAULT_SEED,
    SALESPEOPLE,
    SIZES,
    Size,
    customer_id,
    get_size,
    make_layout,
    make_plan,
    plan_chunk,
    seed,
    team_assignment,
    teams_of,
)
from crm_es.projections.customers import list_activities, list_customers
from crm_es.runtime import Runtime, running
from crm_es.store import Database
from tests.conftest import settings_for

REGIONS = {"宁波市": ("浙江省", "0574-"), "杭州市": ("浙江省", "0571-"), "上海市": ("上海市", "021-")}
TODAY = date(2026, 11, 24)
SEEDED_ON = datetime.now(CHINA_TIME).date()
"""The small data set is seeded as of today, so its activities lie in the last 180 days."""
TRIAL = Size("trial", customers=500, salespeople=4, cities=3, chunk=100)
"""A size of five chunks, small enough for tests."""


@contextmanager
def cursor(runtime: Runtime) -> Iterator[Any]:
    with runtime.app.recorder.datastore.get_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        yield cur


def all_customers(runtime: Runtime, **filters: Any) -> list[dict[str, Any]]:
    with cursor(runtime) as cur:
        page = list_customers(cur, limit=10_000, **filters)
    assert page.next_cursor is None
    return page.items


def customer_events(runtime: Runtime) -> list[dict[str, Any]]:
    """Every customer event as auditors read it, in the order of the customers' ids and
    versions, without what differs from one database to the next: positions, the time of
    recording, and the owners' ids (users get theirs when they are registered), which become
    usernames."""
    usernames = {}
    for username, _ in (*SALESPEOPLE, ("zhaomin", "")):
        user = runtime.app.staff.user_by_username(username)
        if user is not None:
            usernames[user.id] = username
    with cursor(runtime) as cur:
        rows = cur.execute(
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{runtime.app.events_table}" '
            "WHERE topic LIKE 'crm_es.aggregates.customer:%%' ORDER BY originator_id, originator_version"
        ).fetchall()
    events = []
    for row in rows:
        notification = Notification(
            id=row["notification_id"], originator_id=row["originator_id"], originator_version=row["originator_version"],
            topic=row["topic"], state=bytes(row["state"]),
        )  # fmt: skip
        item = describe_event(notification.id, runtime.app.decode(notification))
        del item["position"], item["occurred_at"]
        if "owner_id" in item["data"]:
            item["data"]["owner_id"] = usernames[item["data"]["owner_id"]]
        events.append(item)
    return events


Seeded = tuple[Runtime, Any, list[tuple[int, int]]]


@pytest.fixture(scope="module")
def seeded(make_database) -> Iterator[Seeded]:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    with running(settings_for(make_database()), start_projections=False) as runtime:
        report = seed(runtime, size="small", today=SEEDED_ON, progress=lambda done, total: calls.append((done, total)))
        runtime.read_side.catch_up("customers")
        yield runtime, report, calls


# The plan --------------------------------------------------------------------------------------


def test_the_same_seed_plans_the_same_data_with_the_same_ids() -> None:
    first, again = make_plan("small", seed=7, today=TODAY), make_plan("small", seed=7, today=TODAY)
    assert first == again
    other = make_plan("small", seed=8, today=TODAY)
    assert other != first
    assert not {c.id for c in first.customers} & {c.id for c in other.customers}
    assert [c.id for c in first.customers] == [customer_id(SIZES["small"], 7, n) for n in range(60)]
    parts = [p.id for c in first.customers for p in (*c.contacts, *c.activities)]
    assert len(set(parts)) == len(parts)


def test_a_chunk_is_planned_without_the_chunks_before_it() -> None:
    whole = make_plan(TRIAL, seed=7, today=TODAY).customers
    assert plan_chunk(TRIAL, 7, 3, today=TODAY) == whole[300:400]
    assert len(whole) == 500


def test_the_sizes() -> None:
    small, medium, large = SIZES["small"], SIZES["medium"], SIZES["large"]
    assert (small.customers, medium.customers, large.customers) == (60, 10_000, 100_000)
    assert teams_of(small) == ("宁波销售组", "杭州销售组", "上海销售组")
    assert list(team_assignment(small).values()) == ["宁波销售组", "杭州销售组", "上海销售组", "宁波销售组"]
    teams = Counter(team_assignment(large).values())
    assert sum(teams.values()) == 40 and set(teams) == set(teams_of(large)) and len(teams) == 6
    assert teams["杭州销售组"] > teams["温州销售组"]  # the busier region has more salespeople
    with pytest.raises(ValueError, match="salesperson per team"):
        Size("thin", customers=10, salespeople=2, cities=3)


def test_a_large_data_set_has_a_name_and_a_web_domain_for_every_company() -> None:
    size = SIZES["large"]
    layout = make_layout(size, DEFAULT_SEED)
    assert len(layout.cities) == 100_000
    companies = {(CITIES[c].short, BRANDS[b][0][0] + BRANDS[b][1][0]) for c, b in zip(layout.cities, layout.brands)}
    domains = {CITIES[c].code + BRANDS[b][0][1] + BRANDS[b][1][1] for c, b in zip(layout.cities, layout.brands)}
    assert len(companies) == len(domains) == 100_000
    assert len({c.code for c in CITIES}) == len(CITIES)
    assert len({c + d for (_, c), (_, d) in BRANDS}) == len(BRANDS)  # no two brands spell alike
    assert Counter(CITIES[c].city for c in layout.cities).most_common(1)[0][1] < 25_000


def test_a_plan_of_all_cities_has_distinct_companies_with_domains_of_their_own() -> None:
    plan = make_plan(Size("wide", customers=3000, salespeople=8, cities=len(CITIES)), today=TODAY)
    assert len({c.name for c in plan.customers}) == 3000
    websites = [c.profile["website"] for c in plan.customers if "website" in c.profile]
    assert len(set(websites)) == len(websites)
    assert {c.profile["city"] for c in plan.customers} == {city.city for city in CITIES}
    summary = plan.summary()
    assert 1.8 < summary["contacts"] / 3000 < 2.2 and 1.8 < summary["activities"] / 3000 < 2.6


def test_an_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        make_plan("huge", today=TODAY)


# Loading ---------------------------------------------------------------------------------------


def test_seeding_reports_what_it_loaded_and_its_progress(seeded) -> None:  # type: ignore[no-untyped-def]
    _, report, calls = seeded
    summary = make_plan("small", seed=DEFAULT_SEED, today=SEEDED_ON).summary()
    assert (report.departments, report.users, report.customers) == (4, 5, 60)
    assert (report.existing, report.written) == (0, 60)
    assert (report.contacts, report.activities) == (summary["contacts"], summary["activities"])
    assert report.events == 60 + summary["contacts"] + summary["activities"]
    assert calls == [(0, 60), (60, 60)]  # customers, after each chunk (the small size is one)


def test_the_customers_have_the_planned_ids_and_events_by_the_seeding_process(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, _, _ = seeded
    plan = make_plan("small", seed=DEFAULT_SEED, today=SEEDED_ON)
    assert {c["id"] for c in all_customers(runtime)} == {c.id for c in plan.customers}
    events = customer_events(runtime)
    assert len(events) == sum(c.events for c in plan.customers)
    assert {e["actor"] for e in events} == {ACTOR}
    assert len({e["correlation_id"] for e in events}) == 1  # one chunk, one correlation id
    contact_ids = {e["data"]["contact_id"] for e in events if e["event_type"] == "Customer.ContactAdded"}
    assert contact_ids == {p.id for c in plan.customers for p in c.contacts}


def test_the_customers_are_listed_in_their_cities(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, report, _ = seeded
    customers = all_customers(runtime)
    assert len(customers) == report.customers
    assert {c["city"] for c in customers} == set(REGIONS)
    for c in customers:
        province, area_code = REGIONS[c["city"]]
        assert c["province"] == province, c
        assert c["phone"].startswith(area_code), c
        assert c["name"].startswith(c["city"][:2]) and c["name"].endswith("有限公司"), c
        assert c["kind"] in ("customer", "potential", "target", "partner", "competitor")
        assert 1 <= c["contact_count"] <= 4
        assert 0 <= c["activity_count"] <= 6
    assert sum(c["contact_count"] for c in customers) == report.contacts
    assert sum(c["activity_count"] for c in customers) == report.activities
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
        first = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        users = {u: runtime.app.staff.user_by_username(u).id for u, _ in SALESPEOPLE[:4]}
        head = runtime.app.recorder.max_notification_id()
        second = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        runtime.read_side.catch_up("customers")

        assert (first.written, first.existing, second.written, second.existing) == (500, 0, 0, 500)
        assert (second.contacts, second.activities, second.events) == (0, 0, 0)
        assert runtime.app.recorder.max_notification_id() == head
        assert {u: runtime.app.staff.user_by_username(u).id for u in users} == users
        customers = all_customers(runtime)
        assert len(customers) == 500
        assert set(Counter(c["name"] for c in customers).values()) == {1}
        assert {c["owner_id"] for c in customers} == set(users.values())


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, as if pressed while a chunk's events were being inserted."""


def test_an_interrupted_seed_resumes_and_ends_with_exactly_the_full_data(make_database) -> None:  # type: ignore[no-untyped-def]
    interrupted_db: Database = make_database()
    plan = make_plan(TRIAL, seed=42, today=TODAY).customers
    with running(settings_for(interrupted_db), start_projections=False) as runtime:
        recorder = runtime.app.recorder
        insert = recorder._fetch_ids_after_insert_events  # type: ignore[attr-defined]
        saves = 0

        def insert_then_stop(curs: Any, stored_events: Any, **kwargs: Any) -> Any:
            nonlocal saves
            ids = insert(curs, stored_events, **kwargs)
            if stored_events[0].topic.startswith("crm_es.aggregates.customer:"):
                saves += 1
                if saves == 3:
                    raise Interrupted  # the third chunk's rows are in, not yet committed
            return ids

        recorder._fetch_ids_after_insert_events = insert_then_stop  # type: ignore[attr-defined]
        with pytest.raises(Interrupted):
            seed(runtime, size=TRIAL, seed=42, today=TODAY)
        # Two chunks stored whole, the third not at all.
        stored = customer_events(runtime)
        assert len(stored) == sum(c.events for c in plan[:200])
        assert {e["aggregate_id"] for e in stored} == {c.id for c in plan[:200]}

    with running(settings_for(interrupted_db), start_projections=False) as runtime:
        resumed = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        assert (resumed.existing, resumed.written) == (200, 300)
        assert resumed.events == sum(c.events for c in plan[200:])
        after_resume = customer_events(runtime)

    with running(settings_for(make_database()), start_projections=False) as runtime:
        in_one_go = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        assert in_one_go.events == sum(c.events for c in plan)
        assert customer_events(runtime) == after_resume
    assert len({e["correlation_id"] for e in after_resume}) == 5  # one per chunk, the same in both


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


def test_the_command_seeds_then_brings_the_projections_up_to_date(make_database, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from crm_es import cli

    database: Database = make_database()
    monkeypatch.setenv("CRM_ES_DATABASE_URL", database.conninfo)
    monkeypatch.setenv("CRM_ES_LOG_LEVEL", "warning")
    monkeypatch.setattr(cli, "REBUILD_BEHIND", 0)  # as after a large seed: rebuild what is far behind
    assert cli.main(["seed-demo", "--seed", "5"]) == 0
    first = capsys.readouterr()
    assert "60 customers (60 written now, 0 already there)" in first.out
    assert "240 items in" in first.out and "(240 written now, 0 already there;" in first.out
    assert "rebuild customers" in first.err and "rebuild audit" in first.err
    assert "catch up staff" in first.err  # it reads no customer events: one pass over the log

    assert cli.main(["seed-demo", "--seed", "5"]) == 0
    second = capsys.readouterr()
    assert "60 customers (0 written now, 60 already there)" in second.out and "0 customer events" in second.out
    assert "(0 written now, 240 already there; 0 stock events)" in second.out
    with running(settings_for(database), start_projections=False) as runtime:
        assert all(status.lag == 0 for status in runtime.read_side.statuses())
        assert len(all_customers(runtime)) == 60


def test_a_demo_username_that_exists_with_another_password_is_reported_not_silently_kept(make_database) -> None:  # type: ignore[no-untyped-def]
    from crm_es.app import Context

    with running(settings_for(make_database()), start_projections=False) as runtime:
        runtime.app.staff.register_user(
            ctx=Context.system("test"), username=SALESPEOPLE[0][0], password="their-own-password", display_name="王丽"
        )
        report = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        assert report.kept_passwords == [SALESPEOPLE[0][0]]
        again = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        assert again.kept_passwords == [SALESPEOPLE[0][0]]


def test_the_demo_has_orders_in_every_state_and_receivables_to_chase(seeded) -> None:  # type: ignore[no-untyped-def]
    from crm_es.projections import orders, receivables

    runtime, report, _ = seeded
    runtime.read_side.catch_up("orders")
    runtime.read_side.catch_up("receivables")
    with cursor(runtime) as cur:
        page = orders.list_orders(cur, limit=500)
        aging = receivables.aging(cur, as_of=SEEDED_ON, rate=runtime.settings.late_fee_daily_rate)
    assert len(page.items) == report.orders >= 10
    assert {o["customer_id"] for o in page.items} <= {customer_id(get_size("small"), DEFAULT_SEED, i) for i in range(0, 60, 4)}
    assert len({o["status"] for o in page.items}) >= 3
    assert aging["totals"]["total"] > 0 and aging["customers"]
