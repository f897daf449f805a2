"""The funnel on a hand-built history with chosen moments: a skipped stage, a move backwards, a
loss and a reopen, an amount change; the numbers now and as of earlier moments, exactly.

The events come from the aggregate (so they are the real facts) with their timestamps set to
chosen days; they are applied to the opportunities read model in a schema of their own, inside
a transaction that is rolled back at the end."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.pipeline import DEFAULT_STAGES, Pipeline
from crm_es.projections.opportunities import OpportunitiesProjection, funnel, funnel_exact

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
STAGES = tuple(s["key"] for s in DEFAULT_STAGES)
OWNER = uuid.UUID("00000000-0000-4000-8000-00000000000a")
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Story:
    """Opportunities whose every event happens on a chosen day."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def open(self, at: float, amount: str, stage: str = "lead") -> Opportunity:
        opportunity = Opportunity.open(
            customer_id=CUSTOMER, title="面料采购", amount=amount, expected_close_date=date(2026, 6, 30),
            owner_id=OWNER, stages=STAGES, stage=stage,
        )  # fmt: skip
        self._take(opportunity, at)
        return opportunity

    def then(self, opportunity: Opportunity, at: float, command: Any) -> None:
        command(opportunity)
        self._take(opportunity, at)

    def _take(self, opportunity: Opportunity, at: float) -> None:
        self.events += [dataclasses.replace(e, timestamp=day(at)) for e in opportunity.collect_events()]


@pytest.fixture
def cur(runtime) -> Iterator[tuple[psycopg.Cursor[Any], str]]:  # type: ignore[no-untyped-def]
    """A cursor and a scratch schema holding the read model of the story (rolled back after)."""
    schema = f"funnel_{uuid.uuid4().hex[:8]}"
    story = Story()
    a = story.open(0, "100.00")
    story.then(a, 2, lambda o: o.move_to("qualified", STAGES))
    story.then(a, 5, lambda o: o.move_to("proposal", STAGES))
    story.then(a, 9, lambda o: o.win("120.00"))
    b = story.open(0, "200.00")
    story.then(b, 1, lambda o: o.move_to("proposal", STAGES))  # skips qualified
    story.then(b, 4, lambda o: o.move_to("qualified", STAGES))  # and goes back
    story.then(b, 6, lambda o: o.lose(reason="价格过高"))
    c = story.open(1, "300.00", stage="qualified")
    story.then(c, 3, lambda o: o.lose(reason="预算不足"))
    story.then(c, 7, lambda o: o.reopen(STAGES))
    story.then(c, 8, lambda o: o.move_to("negotiation", STAGES))
    story.then(c, 8.5, lambda o: o.change_amount("350.00"))
    story.open(3, "50.00")
    story.events.sort(key=lambda e: e.timestamp)
    story.events.insert(0, dataclasses.replace(Pipeline.create().collect_events()[0], timestamp=day(-30)))
    with psycopg.connect(runtime.database.conninfo, row_factory=dict_row) as conn:
        with conn.cursor() as c_:
            OpportunitiesProjection().create_tables(c_, schema)
            OpportunitiesProjection().apply_batch(list(enumerate(story.events, 1)), c_, schema)
            yield c_, schema
        conn.rollback()


def _stages(result: dict[str, Any], *fields: str) -> dict[str, tuple[Any, ...]]:
    return {s["stage"]: tuple(s[f] for f in fields) for s in result["stages"]}


def test_the_funnel_now_counts_where_each_opportunity_is_and_how_far_each_got(cur) -> None:  # type: ignore[no-untyped-def]
    c, schema = cur
    result = funnel(c, stages=list(DEFAULT_STAGES), as_of=day(10), schema=schema)
    assert _stages(result, "count", "amount", "weighted_amount") == {
        "lead": (1, Decimal("50.00"), Decimal("5.00")),
        "qualified": (0, Decimal("0.00"), Decimal("0.00")),
        "proposal": (0, Decimal("0.00"), Decimal("0.00")),
        "negotiation": (1, Decimal("350.00"), Decimal("280.00")),
    }
    # Furthest stage reached: A won, B proposal (skipping qualified counts as passing it), C
    # negotiation, D lead.
    assert _stages(result, "reached", "conversion_rate") == {
        "lead": (4, 0.75), "qualified": (3, 1.0), "proposal": (3, 0.6667), "negotiation": (2, 0.5),
    }  # fmt: skip
    # Days per opportunity in the stage, summed over its stays, averaged over the opportunities.
    assert _stages(result, "avg_days_in_stage") == {
        "lead": (3.33,), "qualified": (2.67,), "proposal": (3.5,), "negotiation": (2.0,),
    }  # fmt: skip
    assert result["won"] == {"count": 1, "amount": Decimal("120.00")}
    assert result["lost"] == {"count": 1, "amount": Decimal("200.00")}
    assert result["win_rate"] == 0.5


def test_the_funnel_as_of_an_earlier_moment_shows_it_as_it_stood_then(cur) -> None:  # type: ignore[no-untyped-def]
    c, schema = cur
    result = funnel(c, stages=list(DEFAULT_STAGES), as_of=day(4.5), schema=schema)
    assert _stages(result, "count", "amount", "weighted_amount") == {
        "lead": (1, Decimal("50.00"), Decimal("5.00")),
        "qualified": (2, Decimal("300.00"), Decimal("90.00")),  # A, and B back from proposal
        "proposal": (0, Decimal("0.00"), Decimal("0.00")),
        "negotiation": (0, Decimal("0.00"), Decimal("0.00")),
    }
    assert _stages(result, "reached", "conversion_rate", "avg_days_in_stage") == {
        "lead": (4, 0.75, 1.5), "qualified": (3, 0.3333, 1.67), "proposal": (1, 0.0, 3.0),
        "negotiation": (0, None, None),
    }  # fmt: skip
    assert result["won"] == {"count": 0, "amount": Decimal("0.00")}
    assert result["lost"] == {"count": 1, "amount": Decimal("300.00")}  # C, reopened only on day 7
    assert result["win_rate"] == 0.0


def test_amounts_are_those_of_the_moment_and_a_stage_change_moves_the_count(cur) -> None:  # type: ignore[no-untyped-def]
    c, schema = cur
    before = _stages(funnel(c, stages=list(DEFAULT_STAGES), as_of=day(7.5), schema=schema), "count", "amount")
    after = _stages(funnel(c, stages=list(DEFAULT_STAGES), as_of=day(8.25), schema=schema), "count", "amount")
    later = _stages(funnel(c, stages=list(DEFAULT_STAGES), as_of=day(8.75), schema=schema), "count", "amount")
    assert before["qualified"] == (1, Decimal("300.00")) and before["negotiation"] == (0, Decimal("0.00"))
    assert after["qualified"] == (0, Decimal("0.00")) and after["negotiation"] == (1, Decimal("300.00"))
    assert later["negotiation"] == (1, Decimal("350.00"))
    assert funnel(c, stages=list(DEFAULT_STAGES), as_of=day(-1), schema=schema)["stages"][0]["reached"] == 0


def test_filters_apply_in_sql_scope_period_and_owner(cur) -> None:  # type: ignore[no-untyped-def]
    c, schema = cur
    nobody = frozenset({uuid.uuid4()})
    empty = funnel(c, stages=list(DEFAULT_STAGES), as_of=day(10), owners=nobody, schema=schema)
    assert [s["count"] for s in empty["stages"]] == [0, 0, 0, 0] and empty["win_rate"] is None
    assert funnel(c, stages=list(DEFAULT_STAGES), as_of=day(10), owner_id=OWNER, schema=schema)["won"]["count"] == 1
    # Opened from day 1 on: C and D only.
    period = funnel(c, stages=list(DEFAULT_STAGES), as_of=day(10), opened_from=day(0.5), schema=schema)
    assert _stages(period, "count")["lead"] == (1,) and period["won"]["count"] == 0 and period["lost"]["count"] == 0
    assert _stages(period, "reached")["qualified"] == (1,)


def test_the_funnel_from_its_sums_is_the_funnel_of_every_stay(cur) -> None:  # type: ignore[no-untyped-def]
    c, schema = cur
    for moment in (-1, 0, 1, 2, 3, 4.5, 5, 6, 7, 8, 8.25, 8.5, 9, 10):
        for opened_from, opened_before in ((None, None), (day(0.5), None), (None, day(1.5)), (day(0.5), day(2))):
            trace: list[Any] = []
            args = {"stages": list(DEFAULT_STAGES), "as_of": day(moment), "opened_from": opened_from,
                    "opened_before": opened_before, "schema": schema}  # fmt: skip
            assert funnel(c, trace=trace, **args) == funnel_exact(c, **args)
            assert trace  # summed, not computed from the stays
