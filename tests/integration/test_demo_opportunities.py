"""The demo's opportunities: planned the same way for the same seed, told through the aggregate
with the moments of their stories (three years, weekdays, working hours, nothing on or after
the day of seeding), owned by the customers' owners, loaded a chunk per transaction, resumably."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.pipeline import DEFAULT_STAGES
from crm_es.aggregates.reference_defaults import LOST_REASONS
from crm_es.demo import ACTOR, CHINA_TIME, DEFAULT_SEED, SIZES, Size, make_layout, plan_chunk, seed
from crm_es.demo.opportunities import (
    WINDOW_DAYS,
    Step,
    candidate_ids,
    competitor_pool,
    plan_opportunities,
)
from crm_es.projections.opportunities import funnel, funnel_exact, list_opportunities
from crm_es.runtime import running
from tests.conftest import settings_for
from tests.integration.test_demo import TRIAL, cursor

TODAY = date(2026, 11, 24)
STAGES = tuple(s["key"] for s in DEFAULT_STAGES)
SMALL = SIZES["small"]


def _plan(size: Size = SMALL, seed_: int = DEFAULT_SEED, chunk: int = 0) -> tuple[Any, ...]:
    layout = make_layout(size, seed_)
    pool, _ = competitor_pool(size, seed_, today=TODAY, layout=layout)
    return plan_opportunities(size, seed_, chunk, today=TODAY, stages=STAGES, competitors=pool, layout=layout)


def _replay(planned: Any) -> list[Step]:
    """The statuses a story goes through, in order."""
    return [s for s in planned.steps if s.kind in ("won", "lost", "reopened")]


# The plan --------------------------------------------------------------------------------------


def test_the_same_seed_plans_the_same_opportunities_and_another_seed_others() -> None:
    first, again = _plan(), _plan()
    assert first == again
    other = _plan(seed_=DEFAULT_SEED + 1)
    assert not {o.id for o in first} & {o.id for o in other}
    assert len({o.id for o in first}) == len(first)
    assert {o.id for o in first} <= set(candidate_ids(SMALL, DEFAULT_SEED, 0))


def test_the_small_size_has_a_few_hundred_opportunities_on_the_customers_of_their_owners() -> None:
    planned = _plan()
    customers = {c.id: c for c in plan_chunk(SMALL, DEFAULT_SEED, 0, today=TODAY)}
    assert 200 <= len(planned) <= 500
    for o in planned:
        customer = customers[o.customer_id]
        assert o.owner == customer.owner
        assert customer.kind != "competitor"
    assert len({o.customer_id for o in planned}) > 40


def test_stories_span_three_years_of_working_hours_and_stop_before_the_day_of_seeding() -> None:
    planned = _plan(TRIAL, 42) + _plan(TRIAL, 42, 1)
    end = datetime.combine(TODAY, time(), CHINA_TIME)
    moments = [o.opened_at for o in planned] + [s.at for o in planned for s in o.steps]
    assert max(moments) < end
    assert min(moments) >= end - timedelta(days=WINDOW_DAYS)
    assert min(o.opened_at for o in planned) < end - timedelta(days=900)  # the three years are used
    for moment in moments:
        local = moment.astimezone(CHINA_TIME)
        assert local.weekday() < 5 and 9 <= local.hour < 18, local
    for o in planned:
        steps = [o.opened_at, *(s.at for s in o.steps)]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)  # each event after the one before


def test_stories_have_every_kind_of_step_and_losses_have_listed_reasons_and_competitors() -> None:
    planned = _plan(TRIAL, 42) + _plan(TRIAL, 42, 1)
    kinds = Counter(s.kind for o in planned for s in o.steps)
    assert set(kinds) == {"stage", "amount", "close_date", "won", "lost", "reopened"}
    backwards = skipped = 0
    for o in planned:
        at = STAGES.index(o.stage)
        for s in o.steps:
            if s.kind == "stage":
                to = STAGES.index(s.value)
                backwards += to < at
                skipped += to > at + 1
                at = to
    assert backwards and skipped
    losses = [s.value for o in planned for s in o.steps if s.kind == "lost"]
    assert {reason for reason, _, _ in losses} <= set(LOST_REASONS)
    pool = {c.id for c in competitor_pool(TRIAL, 42, today=TODAY)[0]}
    assert pool and {competitor for _, competitor, _ in losses if competitor} <= pool
    assert any(competitor for _, competitor, _ in losses)
    named = {c for o in planned for c in o.competitor_ids}
    assert named and named <= pool
    outcomes = Counter(_replay(o)[-1].kind if _replay(o) else "open" for o in planned)
    assert outcomes["won"] and outcomes["lost"] and outcomes["open"]


def test_a_data_set_without_competitors_gets_some_of_its_own() -> None:
    tiny = Size("tiny", customers=4, salespeople=3, cities=3)
    for seed_ in range(50):
        pool, registered = competitor_pool(tiny, seed_, today=TODAY)
        customers = plan_chunk(tiny, seed_, 0, today=TODAY)
        if not any(c.kind == "competitor" for c in customers):
            break
    else:
        pytest.fail("every tiny data set had a competitor")
    assert len(pool) == len(registered) == 3
    assert all(c.kind == "competitor" and c.contacts for c in registered)
    names = {c.name for c in customers}
    assert not names & {c.name for c in registered}
    assert len({c.name for c in registered}) == 3


# Loading ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(make_database) -> Any:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    with running(settings_for(make_database()), start_projections=False) as runtime:
        report = seed(runtime, size=TRIAL, seed=42, today=TODAY, opportunity_progress=lambda d, t: calls.append((d, t)))
        runtime.read_side.catch_up("opportunities")
        yield runtime, report, calls


def test_seeding_reports_the_opportunities_and_its_progress(seeded) -> None:  # type: ignore[no-untyped-def]
    _, report, calls = seeded
    planned = [o for chunk in range(TRIAL.chunks) for o in _plan(TRIAL, 42, chunk)]
    opp = report.opportunities
    assert (opp.opportunities, opp.events, opp.chunks, opp.existing_chunks) == (
        len(planned), sum(o.events for o in planned), 5, 0,
    )
    assert sum(opp.outcomes.values()) == len(planned)
    assert calls == [(0, 500), (100, 500), (200, 500), (300, 500), (400, 500), (500, 500)]


def test_the_events_carry_the_moments_of_the_story_and_the_seeding_process(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, _, _ = seeded
    planned = {o.id: o for chunk in range(TRIAL.chunks) for o in _plan(TRIAL, 42, chunk)}
    some = list(planned.values())[::37]
    for p in some:
        events = list(runtime.app.events.get(p.id))
        assert [e.timestamp for e in events] == [p.opened_at, *(s.at for s in p.steps)]
        assert {e.actor for e in events} == {ACTOR}
        assert isinstance(events[0], Opportunity.Opened) and events[0].owner_id is not None
    owners = {u: runtime.app.staff.user_by_username(u).id for u in {p.owner for p in planned.values()}}
    for p in some:
        assert runtime.app.opportunities.opportunity(p.id).owner_id == owners[p.owner]


def test_the_read_model_holds_the_opportunities_and_the_funnel_sums_agree_with_the_stays(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, report, _ = seeded
    with cursor(runtime) as cur:
        page = list_opportunities(cur, limit=10_000)
        assert len(page.items) == report.opportunities.opportunities
        statuses = Counter(o["status"] for o in page.items)
        assert statuses == Counter(report.opportunities.outcomes)
        stages = list(DEFAULT_STAGES)
        for as_of in (datetime.combine(TODAY, time(), CHINA_TIME), datetime(2025, 6, 30, 15, tzinfo=CHINA_TIME)):
            assert funnel(cur, stages=stages, as_of=as_of) == funnel_exact(cur, stages=stages, as_of=as_of)
        assert funnel(cur, stages=stages, as_of=datetime(2024, 1, 1, tzinfo=CHINA_TIME))["won"]["count"] < statuses["won"]


def test_seeding_again_writes_no_opportunity_and_a_chunk_in_flight_is_written_again_whole(make_database) -> None:  # type: ignore[no-untyped-def]
    with running(settings_for(make_database()), start_projections=False) as runtime:
        recorder = runtime.app.recorder
        insert = recorder._fetch_ids_after_insert_events  # type: ignore[attr-defined]
        saves = 0

        class Interrupted(KeyboardInterrupt):
            pass

        def insert_then_stop(curs: Any, stored_events: Any, **kwargs: Any) -> Any:
            nonlocal saves
            ids = insert(curs, stored_events, **kwargs)
            if stored_events[0].topic.startswith("crm_es.aggregates.opportunity:"):
                saves += 1
                if saves == 3:
                    raise Interrupted  # the third chunk's opportunities are in, not yet committed
            return ids

        recorder._fetch_ids_after_insert_events = insert_then_stop  # type: ignore[attr-defined]
        with pytest.raises(Interrupted):
            seed(runtime, size=TRIAL, seed=42, today=TODAY)
        recorder._fetch_ids_after_insert_events = insert  # type: ignore[attr-defined]
        resumed = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        assert (resumed.opportunities.existing_chunks, resumed.opportunities.chunks) == (2, 5)
        head = recorder.max_notification_id()
        again = seed(runtime, size=TRIAL, seed=42, today=TODAY)
        assert (again.opportunities.opportunities, again.opportunities.existing_chunks) == (0, 5)
        assert recorder.max_notification_id() == head
        planned = [o.id for chunk in range(TRIAL.chunks) for o in _plan(TRIAL, 42, chunk)]
        with cursor(runtime) as cur:
            rows = cur.execute(
                f'SELECT originator_id, count(*) AS n FROM "{runtime.app.events_table}" '
                "WHERE topic = 'crm_es.aggregates.opportunity:Opportunity.Opened' GROUP BY 1"
            ).fetchall()
        assert sorted(r["originator_id"] for r in rows) == sorted(planned)
        assert {r["n"] for r in rows} == {1}
