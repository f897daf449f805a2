"""Demo service tickets: realistic lifecycles before the day of seeding, the same for the same
seed, resumable, and read back through the tickets read model."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson
import pytest
from psycopg.rows import dict_row

from crm_es.demo import CHINA_TIME, Size, seed
from crm_es.demo import tickets as demo_tickets
from crm_es.projections.tickets import list_tickets, service_report
from crm_es.runtime import running
from crm_es.store import Database
from tests.conftest import settings_for

TODAY = date(2026, 11, 24)
TRIAL = Size("trial", customers=400, salespeople=4, cities=3, chunk=100)


def _tickets(runtime: Any) -> list[dict[str, Any]]:
    runtime.read_side.catch_up("customers")
    runtime.read_side.catch_up("tickets")
    with runtime.database.connect() as conn:
        page = list_tickets(conn.cursor(row_factory=dict_row), limit=100_000)
    assert page.next_cursor is None
    return page.items


def _ticket_events(runtime: Any) -> list[tuple[Any, ...]]:
    """Every ticket event: its ticket, version, type and when it happened (users' ids, which
    differ from one database to the next, and the time of recording left out)."""
    with runtime.database.connect() as conn:
        rows = conn.execute(
            f'SELECT originator_id, originator_version, topic, state FROM "{runtime.app.events_table}" '
            "WHERE topic LIKE 'crm_es.aggregates.ticket:Ticket.%%' ORDER BY originator_id, originator_version"
        ).fetchall()
    return [(r[0], r[1], r[2], orjson.loads(r[3])["at"]["_data_"]) for r in rows]


def test_the_demo_tickets_have_realistic_lifecycles(make_database) -> None:  # type: ignore[no-untyped-def]
    with running(settings_for(make_database()), start_projections=False) as runtime:
        report = seed(runtime, size=TRIAL, seed=7, today=TODAY).tickets
        assert report is not None and (report.departments, report.users) == (2, 6)
        tickets = _tickets(runtime)
    assert len(tickets) == report.tickets and 200 < report.tickets < 400  # about 0.65 a customer
    cutoff = datetime.combine(TODAY, time(), CHINA_TIME)
    statuses = Counter(t["status"] for t in tickets)
    assert set(statuses) == {"in_progress", "resolved", "closed"} and statuses["closed"] > statuses["in_progress"]
    assert set(Counter(t["kind"] for t in tickets)) == {"complaint", "request", "consultation", "repair"}
    assert set(Counter(t["priority"] for t in tickets)) == {"low", "normal", "high", "urgent"}
    for t in tickets:
        assert cutoff - timedelta(days=181) < t["opened_at"] < cutoff
        assert t["opened_at"] < t["due_at"] and t["sla"]["calendar"] == "chinese"
        assert t["assignee_id"] is not None and t["customer_name"]
        if t["resolved_at"] is not None:
            assert t["opened_at"] < t["resolved_at"] < cutoff and t["resolution_days"] > 0
    assert any(t["reopened"] for t in tickets) or len(tickets) < 300
    assert any(t["escalation_level"] for t in tickets) and any(t["resolved_within_sla"] is False for t in tickets)
    assert any(t["satisfaction"] for t in tickets) and any(t["fees"] > 0 for t in tickets)
    assert Counter(t["department_id"] for t in tickets).most_common(1)[0][1] < len(tickets)  # both departments


def test_seeding_again_writes_no_ticket_and_an_interrupted_seed_ends_with_the_same_tickets(make_database) -> None:  # type: ignore[no-untyped-def]
    whole: Database = make_database()
    with running(settings_for(whole), start_projections=False) as runtime:
        first = seed(runtime, size=TRIAL, seed=7, today=TODAY).tickets
        head = runtime.app.recorder.max_notification_id()
        again = seed(runtime, size=TRIAL, seed=7, today=TODAY).tickets
        assert again is not None and first is not None
        assert (again.existing, again.events, again.tickets) == (first.tickets, 0, first.tickets)
        assert runtime.app.recorder.max_notification_id() == head
        in_one_go = _ticket_events(runtime)
        assert len(_tickets(runtime)) == first.tickets
        with runtime.database.connect() as conn:
            rows = conn.cursor(row_factory=dict_row)
            report = service_report(rows, zone="Asia/Shanghai")
        assert report["totals"]["opened"] == first.tickets and report["totals"]["visits"] > 0
        assert report["totals"]["fees"] > 0 and report["satisfaction_by_assignee"]

    interrupted: Database = make_database()
    with running(settings_for(interrupted), start_projections=False) as runtime:
        real = demo_tickets._build
        built = 0

        def build_then_stop(*args: Any, **kwargs: Any) -> Any:
            nonlocal built
            built += 1
            if built == 150:  # in the second chunk of tickets: the first is stored, the second not
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        demo_tickets._build = build_then_stop  # type: ignore[assignment]
        try:
            with pytest.raises(KeyboardInterrupt):
                seed(runtime, size=TRIAL, seed=7, today=TODAY)
        finally:
            demo_tickets._build = real  # type: ignore[assignment]
        partial = {row[0] for row in _ticket_events(runtime)}
        assert 0 < len(partial) < first.tickets
    with running(settings_for(interrupted), start_projections=False) as runtime:
        resumed = seed(runtime, size=TRIAL, seed=7, today=TODAY).tickets
        assert resumed is not None and resumed.existing == len(partial)
        assert _ticket_events(runtime) == in_one_go
