"""The opportunity and pipeline aggregates, given events, when a command, then events (or an error)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from crm_es.aggregates.opportunity import LOST, OPEN, WON, Opportunity
from crm_es.aggregates.pipeline import DEFAULT_STAGES, PIPELINE_ID, Pipeline
from crm_es.errors import Conflict, DomainError, InvalidInput

CUSTOMER = UUID("00000000-0000-4000-8000-0000000000c1")
OWNER = UUID("00000000-0000-4000-8000-00000000000a")
HEIR = UUID("00000000-0000-4000-8000-00000000000b")
RIVAL = UUID("00000000-0000-4000-8000-0000000000e1")
STAGES = ("lead", "qualified", "proposal", "negotiation")

Command = Callable[[Opportunity], Any]


def opened(**overrides: Any) -> list[Opportunity.Event]:
    args: dict[str, Any] = {
        "customer_id": CUSTOMER, "title": "慈溪工厂 2027 年度面料采购", "amount": "120000.00",
        "expected_close_date": date(2027, 3, 31), "owner_id": OWNER, "stages": STAGES,
    }  # fmt: skip
    args.update(overrides)
    return Opportunity.open(**args).collect_events()


def given(events: Sequence[Any]) -> Opportunity:
    aggregate: Any = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    assert isinstance(aggregate, Opportunity)
    assert aggregate.version == len(events)
    return aggregate


def when(opportunity: Opportunity, command: Command) -> list[Any]:
    command(opportunity)
    return opportunity.collect_events()


def then(events: Sequence[Any], *expected: tuple[type, dict[str, Any]]) -> None:
    assert [type(e) for e in events] == [cls for cls, _ in expected]
    for domain_event, (_, fields) in zip(events, expected):
        for name, value in fields.items():
            actual = getattr(domain_event, name)
            assert actual == value, f"{type(domain_event).__qualname__}.{name}: {actual!r} != {value!r}"
            assert type(actual) is type(value), f"{type(domain_event).__qualname__}.{name}: {actual!r}"


def then_refused(opportunity: Opportunity, command: Command, error: type[DomainError], field: str | None = None) -> DomainError:
    version = opportunity.version
    with pytest.raises(error) as raised:
        command(opportunity)
    assert opportunity.collect_events() == []
    assert opportunity.version == version
    if field is not None:
        assert [e.field for e in raised.value.errors] == [field]
    return raised.value


def history(*commands: Command) -> list[Any]:
    events = opened()
    opportunity = given(events)
    for command in commands:
        command(opportunity)
    return [*events, *opportunity.collect_events()]


# Opening ----------------------------------------------------------------------------------------


def test_opening_records_the_fact_at_the_first_stage_with_cny_by_default() -> None:
    then(opened(source=" 展会 ", competitor_ids=[RIVAL, RIVAL]), (Opportunity.Opened, {
        "customer_id": CUSTOMER, "title": "慈溪工厂 2027 年度面料采购", "amount": Decimal("120000.00"),
        "currency": "CNY", "expected_close_date": date(2027, 3, 31), "owner_id": OWNER, "source": "展会",
        "stage": "lead", "competitor_ids": (RIVAL,),
    }))  # fmt: skip
    opportunity = given(opened(stage="proposal", amount=Decimal("5")))
    assert (opportunity.stage, opportunity.status, opportunity.amount) == ("proposal", OPEN, Decimal("5.00"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"currency": "cny"}, "currency"),
        ({"stage": "signing"}, "stage"),
        ({"stage": "won"}, "stage"),
        ({"expected_close_date": "2027-03-31"}, "expected_close_date"),
    ],
)
def test_opening_with_a_bad_field_is_refused_on_that_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        opened(**overrides)
    assert [e.field for e in raised.value.errors] == [field]


def test_an_unknown_stage_is_refused_with_the_stages_of_the_pipeline() -> None:
    with pytest.raises(InvalidInput) as raised:
        opened(stage="signing")
    assert "lead, qualified, proposal, negotiation" in raised.value.detail


# Moving through the pipeline ---------------------------------------------------------------------


def test_a_stage_change_records_where_from_and_where_to_and_may_skip_or_go_back() -> None:
    opportunity = given(opened())
    then(when(opportunity, lambda o: o.move_to("proposal", STAGES)),
         (Opportunity.StageChanged, {"from_stage": "lead", "to_stage": "proposal"}))  # fmt: skip
    then(when(opportunity, lambda o: o.move_to("qualified", STAGES)),
         (Opportunity.StageChanged, {"from_stage": "proposal", "to_stage": "qualified"}))  # fmt: skip
    assert when(opportunity, lambda o: o.move_to("qualified", STAGES)) == []


def test_amount_close_date_and_title_changes_record_only_real_changes() -> None:
    opportunity = given(opened())
    then(when(opportunity, lambda o: o.change_amount("150000")),
         (Opportunity.AmountChanged, {"amount": Decimal("150000.00"), "previous_amount": Decimal("120000.00")}))  # fmt: skip
    assert when(opportunity, lambda o: o.change_amount("150000.00")) == []
    then(when(opportunity, lambda o: o.change_close_date(date(2027, 6, 30))),
         (Opportunity.CloseDateChanged, {"expected_close_date": date(2027, 6, 30), "previous_close_date": date(2027, 3, 31)}))  # fmt: skip
    then(when(opportunity, lambda o: o.retitle(" 面料采购 ")), (Opportunity.Retitled, {"title": "面料采购"}))
    then_refused(opportunity, lambda o: o.change_amount("-5"), InvalidInput, "amount")


def test_reassigning_records_both_owners_and_the_reason() -> None:
    opportunity = given(opened())
    then(when(opportunity, lambda o: o.reassign(owner_id=HEIR, reason="handover")),
         (Opportunity.Reassigned, {"owner_id": HEIR, "previous_owner_id": OWNER, "reason": "handover"}))  # fmt: skip
    assert when(opportunity, lambda o: o.reassign(owner_id=HEIR)) == []


# Winning, losing, reopening ----------------------------------------------------------------------


def test_winning_records_the_final_amount_and_the_stage_it_was_won_from() -> None:
    opportunity = given(history(lambda o: o.move_to("negotiation", STAGES)))
    then(when(opportunity, lambda o: o.win("118000.50")),
         (Opportunity.Won, {"amount": Decimal("118000.50"), "from_stage": "negotiation"}))  # fmt: skip
    assert (opportunity.status, opportunity.amount) == (WON, Decimal("118000.50"))
    again = given(history(lambda o: o.win()))
    assert again.amount == Decimal("120000.00")


def test_losing_records_reason_competitor_and_note() -> None:
    opportunity = given(opened())
    then(when(opportunity, lambda o: o.lose(reason="价格过高", competitor_id=RIVAL, note=" 对方低 8% ")),
         (Opportunity.Lost, {"reason": "价格过高", "competitor_id": RIVAL, "note": "对方低 8%", "from_stage": "lead"}))  # fmt: skip
    assert opportunity.status == LOST


@pytest.mark.parametrize("close", [lambda o: o.win(), lambda o: o.lose(reason="预算不足")])
def test_a_closed_opportunity_refuses_changes_until_reopened(close: Command) -> None:
    opportunity = given(history(lambda o: o.move_to("proposal", STAGES), close))
    error = then_refused(opportunity, lambda o: o.move_to("negotiation", STAGES), Conflict)
    assert "reopen it" in error.detail
    then_refused(opportunity, lambda o: o.change_amount("1"), Conflict)
    then_refused(opportunity, lambda o: o.change_close_date(date(2028, 1, 1)), Conflict)
    then_refused(opportunity, lambda o: o.win(), Conflict)
    then_refused(opportunity, lambda o: o.lose(reason="其他"), Conflict)
    status = opportunity.status
    then(when(opportunity, lambda o: o.reopen(STAGES)), (Opportunity.Reopened, {"stage": "proposal", "previous_status": status}))
    then(when(opportunity, lambda o: o.move_to("negotiation", STAGES)), (Opportunity.StageChanged, {"to_stage": "negotiation"}))


def test_reopening_an_open_opportunity_is_refused() -> None:
    then_refused(given(opened()), lambda o: o.reopen(STAGES), Conflict)


def test_reopening_when_the_closed_stage_was_removed_needs_a_stage() -> None:
    opportunity = given(history(lambda o: o.move_to("proposal", STAGES), lambda o: o.win()))
    fewer = ("lead", "negotiation")
    then_refused(opportunity, lambda o: o.reopen(fewer), InvalidInput, "stage")
    then(when(opportunity, lambda o: o.reopen(fewer, "negotiation")), (Opportunity.Reopened, {"stage": "negotiation"}))


def test_won_and_lost_are_not_stages_one_moves_to() -> None:
    error = then_refused(given(opened()), lambda o: o.move_to("won", STAGES), InvalidInput, "stage")
    assert "winning or losing" in error.detail


# Pipeline ---------------------------------------------------------------------------------------


def test_the_pipeline_has_one_id_and_the_default_stages() -> None:
    pipeline = Pipeline.create()
    assert pipeline.id == PIPELINE_ID
    assert pipeline.keys == STAGES
    assert [s["probability"] for s in pipeline.stages] == [10, 30, 60, 80]
    assert pipeline.stages == DEFAULT_STAGES


def test_changing_stages_records_the_new_list_and_what_was_removed() -> None:
    pipeline = Pipeline.create()
    pipeline.collect_events()
    new = [{"key": "lead", "name": "线索", "probability": 5}, {"key": "visit", "name": "拜访", "probability": 20},
           {"key": "negotiation", "name": "谈判", "probability": 80}]  # fmt: skip
    assert pipeline.change_stages(new) == ("qualified", "proposal")
    then(pipeline.collect_events(), (Pipeline.StagesChanged, {"removed": ("qualified", "proposal")}))
    assert pipeline.keys == ("lead", "visit", "negotiation")
    assert pipeline.change_stages(new) == ()
    assert pipeline.collect_events() == []


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ([], "stages"),
        ([{"key": "Lead", "name": "x", "probability": 1}], "stages[0].key"),
        ([{"key": "won", "name": "x", "probability": 1}], "stages[0].key"),
        ([{"key": "a", "name": "x", "probability": 1}, {"key": "a", "name": "y", "probability": 2}], "stages[1].key"),
        ([{"key": "a", "name": "x", "probability": 101}], "stages[0].probability"),
        ([{"key": "a", "name": "x", "probability": True}], "stages[0].probability"),
        ([{"key": "a", "name": " ", "probability": 1}], "stages[0].name"),
        ([{"key": f"s{i}", "name": "x", "probability": 1} for i in range(21)], "stages"),
    ],
)
def test_bad_stages_are_refused_on_their_field(stages: list[Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Pipeline.create().change_stages(stages)
    assert [e.field for e in raised.value.errors] == [field]


def test_an_opportunity_opened_with_an_id_has_that_id_and_the_same_opened_event() -> None:
    given_id = UUID("00000000-0000-4000-8000-0000000000f1")
    with_id, without = opened(opportunity_id=given_id), opened()
    assert with_id[0].originator_id == given_id
    assert type(with_id[0]) is type(without[0]) is Opportunity.Opened
    assert {k: v for k, v in vars(with_id[0]).items() if k not in ("originator_id", "timestamp")} == {
        k: v for k, v in vars(without[0]).items() if k not in ("originator_id", "timestamp")
    }


def test_events_recorded_within_occurring_at_carry_that_moment_and_others_the_time_of_recording() -> None:
    from datetime import datetime, timedelta, timezone

    from crm_es.aggregates.base import occurring_at

    moment = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    with occurring_at(moment):
        opportunity = Opportunity.open(
            customer_id=CUSTOMER, title="试单", amount="1.00", expected_close_date=date(2024, 5, 1), owner_id=OWNER,
            stages=STAGES,
        )  # fmt: skip
        opportunity.move_to("proposal", STAGES)
    later = datetime.now(timezone.utc)
    opportunity.move_to("lead", STAGES)
    events = opportunity.collect_events()
    assert [e.timestamp for e in events[:2]] == [moment, moment]
    assert events[0].timestamp.tzinfo == timezone.utc
    assert events[2].timestamp >= later
    with pytest.raises(ValueError, match="time zone"), occurring_at(datetime(2024, 3, 1)):  # noqa: DTZ001
        pass


# Quotes ------------------------------------------------------------------------------------------

TODAY = date(2026, 11, 25)
SENSOR = UUID("00000000-0000-4000-8000-0000000005c1")


def _quote(o: Opportunity, *lines: dict[str, Any], until: date = date(2026, 12, 31)) -> int:
    return o.issue_quote(lines=list(lines), valid_until=until, today=TODAY)


def test_a_quote_totals_its_lines_with_discounts_rounded_half_up_to_the_cent() -> None:
    o = given(opened())
    lines = (
        {"stock_item_id": SENSOR, "quantity": "3", "unit_price": "33.35", "discount_rate": "0.1"},  # 90.045 → 90.05
        {"description": "安装调试", "quantity": "1.5", "unit_price": "200.00"},
        {"description": "赠品", "quantity": "2", "unit_price": "10.00", "discount_rate": "1"},
    )
    events = when(o, lambda o: _quote(o, *lines))
    then(events, (Opportunity.QuoteIssued, {"number": 1, "total": Decimal("390.05"), "valid_until": date(2026, 12, 31)}))
    assert [line["total"] for line in events[0].lines] == [Decimal("90.05"), Decimal("300.00"), Decimal("0.00")]
    assert events[0].lines[0]["discount_rate"] == Decimal("0.1")
    assert _quote(o, {"description": "改版", "quantity": "1", "unit_price": "380.00"}) == 2


def test_accepting_a_quote_makes_it_the_one_accepted_and_its_total_the_amount() -> None:
    o = given(opened())
    _quote(o, {"description": "方案 A", "quantity": "1", "unit_price": "100000.00"})
    _quote(o, {"description": "方案 B", "quantity": "1", "unit_price": "95000.00"})
    o.collect_events()
    then(when(o, lambda o: o.accept_quote(2, today=TODAY)),
         (Opportunity.QuoteAccepted, {"number": 2, "total": Decimal("95000.00"), "replaces": None}),
         (Opportunity.AmountChanged, {"amount": Decimal("95000.00"), "previous_amount": Decimal("120000.00")}))  # fmt: skip
    then(when(o, lambda o: o.accept_quote(1, today=TODAY)),
         (Opportunity.QuoteAccepted, {"number": 1, "replaces": 2}),
         (Opportunity.AmountChanged, {"amount": Decimal("100000.00")}))  # fmt: skip
    then_refused(o, lambda o: o.accept_quote(1, today=TODAY), Conflict)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": "1", "unit_price": "1.00"}, "lines[0]"),
        ({"description": "x", "quantity": "0", "unit_price": "1.00"}, "lines[0].quantity"),
        ({"description": "x", "quantity": "1", "unit_price": "-1.00"}, "lines[0].unit_price"),
        ({"description": "x", "quantity": "1", "unit_price": "1.001"}, "lines[0].unit_price"),
        ({"description": "x", "quantity": "1", "unit_price": "1.00", "discount_rate": "1.5"}, "lines[0].discount_rate"),
        ({"description": "x", "quantity": 1.5, "unit_price": "1.00"}, "lines[0].quantity"),
    ],
)
def test_a_bad_quote_line_is_refused_on_its_field(line: dict[str, Any], field: str) -> None:
    then_refused(given(opened()), lambda o: _quote(o, line), InvalidInput, field)


def test_quotes_are_refused_when_expired_empty_or_closed() -> None:
    o = given(opened())
    line = {"description": "x", "quantity": "1", "unit_price": "1.00"}
    then_refused(o, lambda o: _quote(o, line, until=date(2026, 11, 24)), InvalidInput, "valid_until")
    then_refused(o, lambda o: o.issue_quote(lines=[], valid_until=TODAY, today=TODAY), InvalidInput, "lines")
    _quote(o, line, until=TODAY)
    o.collect_events()
    then_refused(o, lambda o: o.accept_quote(1, today=date(2026, 11, 26)), Conflict)
    then_refused(o, lambda o: o.accept_quote(7, today=TODAY), InvalidInput, "number")
    o.win()
    o.collect_events()
    then_refused(o, lambda o: _quote(o, line), Conflict)
    then_refused(o, lambda o: o.accept_quote(1, today=TODAY), Conflict)
