"""The ticket and service-level aggregates: given events, when a command, then events (or an error)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from crm_es.aggregates.ticket import (
    CLOSED,
    DEFAULT_RULES,
    IN_PROGRESS,
    OPEN,
    RESOLVED,
    SERVICE_LEVELS_ID,
    ServiceLevels,
    Ticket,
    check_rules,
    rule_for,
)
from crm_es.errors import Conflict, InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
CUSTOMER = UUID("00000000-0000-4000-8000-0000000000c1")
CLERK = UUID("00000000-0000-4000-8000-00000000000a")
ENGINEER = UUID("00000000-0000-4000-8000-00000000000b")
MANAGER = UUID("00000000-0000-4000-8000-00000000000c")
SERVICE = UUID("00000000-0000-4000-8000-0000000000d1")
OPENED = datetime(2025, 9, 26, 10, tzinfo=SHANGHAI)  # a Friday; Sunday the 28th is worked


def later(hours: float) -> datetime:
    return OPENED + timedelta(hours=hours)


def opened(**overrides: Any) -> list[Any]:
    args: dict[str, Any] = {
        "customer_id": CUSTOMER, "kind": "complaint", "subject": "注塑机液压缸漏油", "rules": DEFAULT_RULES,
        "zone": "Asia/Shanghai", "at": OPENED,
    }  # fmt: skip
    args.update(overrides)
    return Ticket.open(**args).collect_events()


def given(events: Sequence[Any]) -> Ticket:
    aggregate: Any = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    assert isinstance(aggregate, Ticket)
    return aggregate


def when(ticket: Ticket, command: Any) -> list[Any]:
    command(ticket)
    return ticket.collect_events()


def resolved_ticket() -> Ticket:
    ticket = given(opened())
    ticket.assign(assignee_id=ENGINEER, department_id=SERVICE, at=later(1))
    ticket.resolve(resolution="更换密封圈", resolved_by=ENGINEER, at=later(30))
    return ticket


# Opening -----------------------------------------------------------------------------------------


def test_a_ticket_is_due_three_working_days_after_opening_counting_the_make_up_sunday() -> None:
    [event] = opened()
    assert type(event) is Ticket.Opened
    assert event.due_at == datetime(2025, 9, 30, 10, tzinfo=SHANGHAI)
    assert event.sla == {"unit": "working_days", "amount": 3, "calendar": "chinese"}
    assert (event.priority, event.channel, event.zone, event.at) == ("normal", "phone", "Asia/Shanghai", OPENED)
    assert given([event]).status == OPEN


def test_an_urgent_ticket_is_due_in_working_hours() -> None:
    [event] = opened(priority="urgent", at=datetime(2025, 9, 30, 20, tzinfo=SHANGHAI))
    assert event.due_at == datetime(2025, 10, 9, 4, tzinfo=SHANGHAI)
    assert event.sla["unit"] == "working_hours"


def test_a_ticket_whose_count_leaves_the_calendars_years_says_so() -> None:
    [event] = opened(at=datetime(2026, 12, 30, 10, tzinfo=SHANGHAI))
    assert event.due_at == datetime(2027, 1, 4, 10, tzinfo=SHANGHAI)
    assert event.sla["calendar"] == "weekends_only"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "praise"}, "kind"),
        ({"priority": "asap"}, "priority"),
        ({"channel": "pigeon"}, "channel"),
        ({"subject": "  "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"description": "x" * 5001}, "description"),
        ({"at": datetime(2025, 9, 26, 10)}, "opened_at"),
    ],
)
def test_opening_refuses_bad_fields(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        opened(**overrides)
    assert refused.value.errors[0].field == field


# Working on it -----------------------------------------------------------------------------------


def test_assigning_transferring_and_noting_progress() -> None:
    ticket = given(opened())
    events = when(ticket, lambda t: t.assign(assignee_id=CLERK, department_id=None, at=later(1)))
    assert [type(e) for e in events] == [Ticket.Assigned]
    assert (events[0].assignee_id, events[0].previous_assignee_id, ticket.status) == (CLERK, None, IN_PROGRESS)
    assert when(ticket, lambda t: t.assign(assignee_id=CLERK, department_id=None, at=later(2))) == []
    events = when(ticket, lambda t: t.transfer(department_id=SERVICE, assignee_id=MANAGER, note="转售后", at=later(2)))
    assert (events[0].previous_assignee_id, events[0].assignee_id, events[0].department_id) == (CLERK, MANAGER, SERVICE)
    with pytest.raises(Conflict, match="already"):
        ticket.transfer(department_id=SERVICE, assignee_id=MANAGER, note="again", at=later(3))
    with pytest.raises(InvalidInput) as refused:
        ticket.transfer(department_id=None, assignee_id=None, note="nowhere", at=later(3))
    assert refused.value.errors[0].field == "department_id"
    with pytest.raises(InvalidInput):
        ticket.transfer(department_id=SERVICE, assignee_id=ENGINEER, note="", at=later(3))
    events = when(ticket, lambda t: t.note_progress(note="明天上门", at=later(3)))
    assert [type(e) for e in events] == [Ticket.ProgressNoted]


def test_a_change_dated_before_the_last_one_is_refused() -> None:
    ticket = given(opened())
    ticket.note_progress(note="x", at=later(5))
    with pytest.raises(InvalidInput) as refused:
        ticket.note_progress(note="y", at=later(4))
    assert refused.value.errors[0].field == "at"
    with pytest.raises(InvalidInput):
        ticket.resolve(resolution="x", resolved_by=CLERK, at=OPENED - timedelta(days=1))


def test_escalations_count_levels_and_remember_the_due_time() -> None:
    ticket = given(opened())
    first = when(ticket, lambda t: t.escalate(to_user_id=MANAGER, reason="已超时", at=later(100)))
    second = when(ticket, lambda t: t.escalate(to_user_id=None, reason="仍未处理", at=later(120)))
    assert (first[0].level, second[0].level, first[0].due_at) == (1, 2, datetime(2025, 9, 30, 10, tzinfo=SHANGHAI))
    with pytest.raises(InvalidInput):
        ticket.escalate(to_user_id=None, reason="", at=later(130))


# Resolution and after --------------------------------------------------------------------------


def test_resolving_records_the_working_days_and_whether_it_was_on_time() -> None:
    ticket = given(opened())
    # Friday 10:00 → Thursday 9 October 10:00: 14 h, 28/29/30 September, 10 h = 4 working days.
    [event] = when(ticket, lambda t: t.resolve(resolution="已处理", resolved_by=ENGINEER, at=datetime(2025, 10, 9, 10, tzinfo=SHANGHAI)))
    assert (event.working_days, event.within_sla, event.resolved_by) == (Decimal("4.00"), False, ENGINEER)
    assert ticket.status == RESOLVED
    on_time = given(opened())
    [event] = when(on_time, lambda t: t.resolve(resolution="已处理", resolved_by=ENGINEER, at=later(24)))
    assert (event.working_days, event.within_sla) == (Decimal("0.58"), True)


def test_no_resolve_on_a_closed_or_resolved_ticket() -> None:
    ticket = resolved_ticket()
    ticket.collect_events()
    with pytest.raises(Conflict, match="resolved already"):
        ticket.resolve(resolution="again", resolved_by=CLERK, at=later(31))
    ticket.close(at=later(32))
    with pytest.raises(Conflict) as refused:
        ticket.resolve(resolution="again", resolved_by=CLERK, at=later(33))
    assert refused.value.detail == "the ticket is closed: a closed ticket cannot be resolved; reopen it first"
    for command in (
        lambda t: t.assign(assignee_id=CLERK, department_id=None, at=later(33)),
        lambda t: t.note_progress(note="x", at=later(33)),
        lambda t: t.escalate(to_user_id=None, reason="x", at=later(33)),
        lambda t: t.close(at=later(33)),
    ):
        with pytest.raises(Conflict):
            command(ticket)
    assert ticket.collect_events() and ticket.status == CLOSED


def test_a_return_visit_comes_only_after_the_resolution_with_satisfaction_1_to_5() -> None:
    ticket = given(opened())
    with pytest.raises(Conflict, match="only after the ticket is resolved"):
        ticket.record_return_visit(satisfaction=5, at=later(1))
    ticket = resolved_ticket()
    ticket.collect_events()
    for bad in (0, 6, "5", 4.5, True, None):
        with pytest.raises(InvalidInput) as refused:
            ticket.record_return_visit(satisfaction=bad, at=later(40))
        assert refused.value.errors[0].field == "satisfaction"
    [event] = when(ticket, lambda t: t.record_return_visit(satisfaction=4, note="满意", at=later(40)))
    assert (event.satisfaction, event.assignee_id) == (4, ENGINEER)
    ticket.close(at=later(41))
    assert [type(e) for e in when(ticket, lambda t: t.record_return_visit(satisfaction=5, at=later(42)))] == [
        Ticket.Closed, Ticket.ReturnVisitRecorded]


def test_reopening_makes_it_due_anew_and_refuses_an_open_ticket() -> None:
    ticket = given(opened())
    with pytest.raises(Conflict, match="only a resolved or closed ticket"):
        ticket.reopen(rules=DEFAULT_RULES, reason=None, at=later(1))
    ticket = resolved_ticket()
    ticket.close(at=later(31))
    ticket.collect_events()
    # Tuesday 30 September 2025 16:00 + 3 working days: National Day; 9, 10, 11 October.
    [event] = when(ticket, lambda t: t.reopen(rules=DEFAULT_RULES, reason="仍漏油", at=datetime(2025, 9, 30, 16, tzinfo=SHANGHAI)))
    assert (event.previous_status, event.due_at) == (CLOSED, datetime(2025, 10, 11, 16, tzinfo=SHANGHAI))
    assert ticket.status == IN_PROGRESS and ticket.resolved_at is None


def test_close_needs_a_resolution() -> None:
    ticket = given(opened())
    with pytest.raises(Conflict, match="resolve it before you close it"):
        ticket.close(at=later(1))


def test_fees_and_costs_are_positive_amounts_on_a_day() -> None:
    ticket = given(opened())
    [fee] = when(ticket, lambda t: t.record_fee(amount="300.00", note="上门服务费", at=later(2)))
    assert (fee.amount, fee.incurred_on) == (Decimal("300.00"), date(2025, 9, 26))
    [cost] = when(ticket, lambda t: t.record_cost(amount="12.5", incurred_on=date(2025, 9, 27), at=later(3)))
    assert (cost.amount, cost.incurred_on) == (Decimal("12.50"), date(2025, 9, 27))
    for amount in ("-1", "0", "1.005", 1.5, "abc", None):
        with pytest.raises(InvalidInput):
            ticket.record_fee(amount=amount, at=later(4))
    with pytest.raises(InvalidInput) as refused:
        ticket.record_cost(amount="1.00", incurred_on="2025-09-27", at=later(4))
    assert refused.value.errors[0].field == "incurred_on"


# Service levels ----------------------------------------------------------------------------------


def test_service_levels_start_with_the_defaults_and_change_as_a_whole() -> None:
    levels = ServiceLevels.create()
    assert levels.id == SERVICE_LEVELS_ID and levels.rules == DEFAULT_RULES
    levels.collect_events()
    assert levels.change_rules(list(DEFAULT_RULES)) is False and levels.collect_events() == []
    rules = [*DEFAULT_RULES, {"kind": "complaint", "priority": None, "unit": "working_days", "amount": 2}]
    assert levels.change_rules(rules) is True
    [event] = levels.collect_events()
    assert type(event) is ServiceLevels.RulesChanged and len(event.rules) == 3


def test_the_most_specific_rule_applies_and_urgency_decides_before_the_kind() -> None:
    rules = check_rules([
        {"kind": None, "priority": None, "unit": "working_days", "amount": 3},
        {"kind": "complaint", "priority": None, "unit": "working_days", "amount": 2},
        {"kind": None, "priority": "urgent", "unit": "working_hours", "amount": 8},
        {"kind": "repair", "priority": "urgent", "unit": "working_hours", "amount": 4},
    ])  # fmt: skip
    amount = lambda kind, priority: (rule_for(rules, kind, priority)["unit"], rule_for(rules, kind, priority)["amount"])  # noqa: E731
    assert amount("request", "normal") == ("working_days", 3)
    assert amount("complaint", "normal") == ("working_days", 2)
    assert amount("complaint", "urgent") == ("working_hours", 8)
    assert amount("repair", "urgent") == ("working_hours", 4)


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([], "rules"),
        ([{"kind": "complaint", "unit": "working_days", "amount": 1}], "rules"),
        ([{"unit": "working_days", "amount": 3}, {"unit": "working_days", "amount": 2}], "rules[1]"),
        ([{"unit": "weeks", "amount": 3}], "rules[0].unit"),
        ([{"unit": "working_days", "amount": 0}], "rules[0].amount"),
        ([{"unit": "working_days", "amount": 366}], "rules[0].amount"),
        ([{"unit": "working_hours", "amount": True}], "rules[0].amount"),
        ([{"unit": "working_days", "amount": 3, "kind": "praise"}], "rules[0].kind"),
        ([{"unit": "working_days", "amount": 3, "priority": "asap"}], "rules[0].priority"),
        ([{"unit": "working_days", "amount": 3, "colour": "red"}], "rules[0].colour"),
        (["3 days"], "rules[0]"),
    ],
)
def test_bad_rules_are_refused_on_the_field(rules: list[Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_rules(rules)
    assert refused.value.errors[0].field == field
