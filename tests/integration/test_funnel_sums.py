"""The funnel from its sums equals the funnel from every stay of the stage history, whatever the
moment, the period, the owners, the batches the events came in, reassignments and changes of
the pipeline's stage order.

Random stories (a fixed seed) of a few hundred opportunities over four months, told through the
aggregate with chosen moments, applied to the read model in a scratch schema in batches of
random sizes; then ``funnel`` (the sums) is compared with ``funnel_exact`` (every stay) at many
moments and periods, for everyone, one owner, two owners and an owner with nothing."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.pipeline import DEFAULT_STAGES, Pipeline
from crm_es.projections.opportunities import (
    BUCKET_ZONE,
    OpportunitiesProjection,
    competitors,
    competitors_exact,
    funnel,
    funnel_exact,
    lost_reasons,
    lost_reasons_exact,
)

T0 = datetime(2026, 1, 20, 3, 0, tzinfo=timezone.utc)
OWNERS = [uuid.UUID(int=n) for n in range(1, 5)]
REASONS = ("价格过高", "预算不足", "竞争对手胜出")
RIVALS = [uuid.UUID(int=n) for n in range(101, 105)]
REORDERED = [DEFAULT_STAGES[0], DEFAULT_STAGES[2], DEFAULT_STAGES[1], {"key": "signing", "name": "签约", "probability": 90}]
"""A stage order the pipeline takes on half-way: proposal before qualified, negotiation removed."""


def _story(rng: random.Random, keys: list[str], customer: uuid.UUID, start: datetime) -> list[Any]:
    """One opportunity's events, each at its own moment, never past T0 + 120 days."""
    end = T0 + timedelta(days=120)
    at = start
    opportunity = Opportunity.open(
        customer_id=customer, title=f"项目 {rng.randrange(1000)}", amount=f"{rng.randrange(1, 500)}000.00",
        expected_close_date=date(2026, 6, 30), owner_id=rng.choice(OWNERS), stages=keys, stage=rng.choice(keys[:2]),
        competitor_ids=rng.sample(RIVALS, rng.choice((0, 0, 1, 2))),
    )  # fmt: skip
    events = [dataclasses.replace(e, timestamp=at) for e in opportunity.collect_events()]
    for _ in range(rng.randrange(12)):
        at += timedelta(hours=rng.choice((0.001, 1, 5, 30, 200)))
        if rng.random() < 0.05:  # now and then exactly at a midnight: a day's, or the first of a month's
            local = at.astimezone(BUCKET_ZONE).date()
            following = (local.replace(day=28) + timedelta(days=4)).replace(day=1) if rng.random() < 0.5 else local
            at = datetime.combine(following + timedelta(days=0 if following > local else 1), time(), BUCKET_ZONE)
        if at >= end:
            break
        roll = rng.random()
        if opportunity.status != "open":
            if roll < 0.3:
                opportunity.reopen(keys, rng.choice([None, keys[0]]))
            elif roll < 0.4:
                opportunity.reassign(owner_id=rng.choice(OWNERS))
            else:
                break
        elif roll < 0.45:
            opportunity.move_to(rng.choice([k for k in keys if k != opportunity.stage]), keys)
        elif roll < 0.6:
            opportunity.change_amount(f"{rng.randrange(1, 500)}000.00")
        elif roll < 0.7:
            opportunity.reassign(owner_id=rng.choice(OWNERS))
        elif roll < 0.8:
            opportunity.win(rng.choice([None, f"{rng.randrange(1, 500)}500.00"]))
        elif roll < 0.9:
            opportunity.lose(reason=rng.choice(REASONS), competitor_id=rng.choice([None, *RIVALS]))
        else:
            opportunity.retitle(f"项目 {rng.randrange(1000)}")
        events += [dataclasses.replace(e, timestamp=at) for e in opportunity.collect_events()]
    return events


def _events(seed: int, count: int, *, reorder_at: datetime | None = None) -> list[Any]:
    rng = random.Random(seed)
    customer = Customer.register(customer_id=uuid.uuid4(), name="宁波恒泰纺织有限公司", kind="customer", owner_id=OWNERS[0])
    events = [dataclasses.replace(e, timestamp=T0 - timedelta(days=90)) for e in customer.collect_events()]
    pipeline = Pipeline.create()
    events += [dataclasses.replace(e, timestamp=T0 - timedelta(days=60)) for e in pipeline.collect_events()]
    for _ in range(count):
        start = T0 + timedelta(hours=rng.uniform(0, 100 * 24))
        keys = [s["key"] for s in (REORDERED if reorder_at and start > reorder_at else DEFAULT_STAGES)]
        events += _story(rng, keys, customer.id, start)
    if reorder_at is not None:
        pipeline.change_stages(REORDERED)
        events += [dataclasses.replace(e, timestamp=reorder_at) for e in pipeline.collect_events()]
    events.sort(key=lambda e: e.timestamp)  # a global order: the moments, as a live system records them
    return events


@pytest.fixture
def connection(runtime) -> Iterator[psycopg.Connection[Any]]:  # type: ignore[no-untyped-def]
    with psycopg.connect(runtime.database.conninfo, row_factory=dict_row) as conn:
        yield conn
        conn.rollback()


def _apply(conn: psycopg.Connection[Any], events: list[Any], rng: random.Random) -> tuple[Any, str]:
    """The events applied in a scratch schema in batches of random sizes (some of one event)."""
    schema = f"sums_{uuid.uuid4().hex[:8]}"
    projection = OpportunitiesProjection()
    cur = conn.cursor()
    projection.create_tables(cur, schema)
    items = list(enumerate(events, 1))
    while items:
        size = rng.choice((1, 3, 17, 60, 250))
        projection.apply_batch(items[:size], cur, schema)
        items = items[size:]
    return cur, schema


def _moments(rng: random.Random) -> list[datetime]:
    month_starts = [datetime(2026, m, 1, tzinfo=BUCKET_ZONE) for m in (1, 2, 3, 4, 5)]
    random_moments = [T0 + timedelta(hours=rng.uniform(-48, 130 * 24)) for _ in range(12)]
    midnights = [datetime(2026, 2, d, tzinfo=BUCKET_ZONE) for d in (2, 15, 27)]
    return [*month_starts, *(m - timedelta(microseconds=1) for m in month_starts), *midnights, *random_moments,
            T0 + timedelta(days=400)]  # fmt: skip


def _periods(rng: random.Random) -> list[tuple[datetime | None, datetime | None]]:
    midnight = [datetime(2026, 1, 1, tzinfo=BUCKET_ZONE), datetime(2026, 2, 1, tzinfo=BUCKET_ZONE),
                datetime(2026, 3, 1, tzinfo=BUCKET_ZONE), datetime(2026, 2, 14, tzinfo=BUCKET_ZONE)]  # fmt: skip
    utc_days = [datetime(2026, 2, 3, tzinfo=timezone.utc), datetime(2026, 3, 17, tzinfo=timezone.utc)]
    some = [T0 + timedelta(hours=rng.uniform(0, 100 * 24)) for _ in range(2)]
    return [
        (None, None), (midnight[0], None), (None, midnight[2]), (midnight[1], midnight[2]), (midnight[3], midnight[2]),
        (midnight[1], midnight[3]), (utc_days[0], utc_days[1]), (utc_days[0], None), (None, utc_days[1]),
        (min(some), max(some)), (midnight[2], midnight[1]),
        (midnight[0], midnight[3]), (datetime(2026, 1, 20, tzinfo=BUCKET_ZONE), datetime(2026, 3, 10, tzinfo=BUCKET_ZONE)),
        (datetime(2026, 2, 3, tzinfo=BUCKET_ZONE), datetime(2026, 2, 20, tzinfo=BUCKET_ZONE)),  # within a month
        (utc_days[0] + timedelta(hours=10), utc_days[0] + timedelta(hours=20)),  # within a day
        (utc_days[0] + timedelta(hours=10), utc_days[0] + timedelta(days=3)),  # hours, then whole days
    ]  # fmt: skip


SCOPES: list[dict[str, Any]] = [
    {}, {"owner_id": OWNERS[0]}, {"owners": frozenset(OWNERS[:2])}, {"members": OWNERS[1:3], "owners": frozenset(OWNERS)},
    {"owners": frozenset([*OWNERS, uuid.uuid4()])}, {"owners": frozenset({uuid.uuid4()})},
]


def _compare(cur: Any, schema: str, stages: list[dict[str, Any]], rng: random.Random) -> int:
    compared = 0
    for as_of in _moments(rng):
        for opened_from, opened_before in _periods(rng):
            for scope in SCOPES:
                trace: list[Any] = []
                args = dict(stages=stages, as_of=as_of, opened_from=opened_from, opened_before=opened_before, **scope)
                fast = funnel(cur, schema=schema, trace=trace, **args)
                assert trace, "the funnel was not summed from its changes"
                assert fast == funnel_exact(cur, schema=schema, **args), (as_of, opened_from, opened_before, scope)
                compared += 1
    return compared


def test_the_sums_give_the_funnel_of_every_stay_at_any_moment_for_any_period_and_owners(connection) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    cur, schema = _apply(connection, _events(7, 300), rng)
    assert cur.execute(f'SELECT count(*) AS n FROM "{schema}".opportunities').fetchone()["n"] == 300
    reassigned = cur.execute(f'SELECT count(DISTINCT owner_id) AS n FROM "{schema}".funnel_changes').fetchone()["n"]
    assert reassigned == len(OWNERS)
    assert _compare(cur, schema, list(DEFAULT_STAGES), rng) > 1000


def _compare_reports(cur: Any, schema: str, rng: random.Random) -> None:
    for start, before in _periods(rng):
        for scope in SCOPES:
            lost = {"closed_from": start, "closed_before": before, **scope}
            assert lost_reasons(cur, schema=schema, **lost) == lost_reasons_exact(cur, schema=schema, **lost), lost
            opened = {"opened_from": start, "opened_before": before, **scope}
            assert competitors(cur, schema=schema, **opened) == competitors_exact(cur, schema=schema, **opened), opened


def test_lost_reasons_and_competitors_from_their_sums_equal_those_of_every_opportunity(connection) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(15)
    cur, schema = _apply(connection, _events(11, 300), rng)
    assert lost_reasons(cur, schema=schema)["total"]["count"] > 20
    assert any(c["lost_to_them"]["count"] for c in competitors(cur, schema=schema))
    _compare_reports(cur, schema, rng)


def test_a_new_stage_order_recomputes_what_was_reached_and_the_sums_still_agree(connection) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(12)
    cur, schema = _apply(connection, _events(8, 200, reorder_at=T0 + timedelta(days=50)), rng)
    keys = cur.execute(f'SELECT keys FROM "{schema}".funnel_meta').fetchone()["keys"]
    assert keys == [s["key"] for s in REORDERED] + ["won"]
    _compare(cur, schema, REORDERED, rng)
    # With the old order (not the read model's), the funnel is computed from the stays.
    trace: list[Any] = []
    old = funnel(cur, schema=schema, trace=trace, stages=list(DEFAULT_STAGES), as_of=T0 + timedelta(days=200))
    assert not trace
    assert old == funnel_exact(cur, schema=schema, stages=list(DEFAULT_STAGES), as_of=T0 + timedelta(days=200))


def test_applying_a_batch_again_changes_nothing(connection) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(13)
    events = _events(9, 40)
    cur, schema = _apply(connection, events, rng)
    before = cur.execute(f'SELECT * FROM "{schema}".funnel_sums ORDER BY 1, 2, 3, 4, 5').fetchall()
    OpportunitiesProjection().apply_batch(list(enumerate(events, 1))[-80:], cur, schema)
    assert cur.execute(f'SELECT * FROM "{schema}".funnel_sums ORDER BY 1, 2, 3, 4, 5').fetchall() == before


def _sums(cur: Any, schema: str) -> list[Any]:
    return cur.execute(
        f'SELECT owner_id, grain, opened_on, at_on, stage, n, amount, pairs, reached, seconds FROM "{schema}".funnel_sums '
        "WHERE n <> 0 OR amount <> 0 OR pairs <> 0 OR reached <> 0 OR seconds <> 0 ORDER BY 1, 2, 3, 4, 5"
    ).fetchall()


def test_a_rebuild_sums_the_changes_once_at_the_end_into_the_same_sums(connection) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(14)
    events = _events(10, 150, reorder_at=T0 + timedelta(days=40))
    cur, live = _apply(connection, events, rng)
    rebuilt = f"sums_{uuid.uuid4().hex[:8]}"
    projection = OpportunitiesProjection()
    projection.create_tables(cur, rebuilt, with_indexes=False)  # as a rebuild makes them
    items = list(enumerate(events, 1))
    cut = len(items) * 2 // 3
    for start in range(0, cut, 100):
        projection.apply_batch(items[start : min(start + 100, cut)], cur, rebuilt)
    assert _sums(cur, rebuilt) == []  # none while the rebuild loads
    projection.create_indexes(cur, rebuilt)
    for start in range(cut, len(items), 100):  # what arrived meanwhile, as live batches
        projection.apply_batch(items[start : start + 100], cur, rebuilt)
    assert _sums(cur, rebuilt) == _sums(cur, live)
    for table in ("lost_sums", "competitor_sums"):
        rows = f'SELECT * FROM "{{}}".{table} WHERE n <> 0 OR amount <> 0 ORDER BY 1, 2, 3, 4' if table == "lost_sums" else (
            f'SELECT * FROM "{{}}".{table} WHERE opportunities <> 0 ORDER BY 1, 2, 3, 4')  # fmt: skip
        assert cur.execute(rows.format(rebuilt)).fetchall() == cur.execute(rows.format(live)).fetchall()
    _compare(cur, rebuilt, REORDERED, rng)
    _compare_reports(cur, rebuilt, rng)
