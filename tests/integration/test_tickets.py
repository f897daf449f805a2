"""Tickets on real PostgreSQL: the read model (rebuild, a batch applied twice, customers renamed
and reassigned), and tickets in the departure handover."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from crm_es.aggregates.role import Role
from crm_es.app import Context
from crm_es.processes.base import ProcessRunner
from crm_es.processes.handover import HandoverProcess
from crm_es.projections import tickets as tickets_model
from crm_es.projections.base import live_schema
from crm_es.runtime import Runtime

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLES = ("tickets", "timeline", "visits", "charges", "customers")


def _company(rt: Runtime) -> tuple[Context, dict[str, UUID]]:
    admin, _ = rt.app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    staff = rt.app.staff
    service = staff.create_department(ctx=ctx, name="客服部").id
    ids = {"service": service, "admin": admin.id}
    for who, role in (("manager", "service"), ("leaver", "service"), ("successor", "service"), ("seller", "salesperson"),
                      ("heir", "salesperson")):  # fmt: skip
        ids[who] = staff.register_user(
            ctx=ctx, username=who, password="tickets-pass-1", department_id=service, role_ids=[Role.create_id(role)]
        ).id
    staff.change_department(ctx=ctx, department_id=service, manager_id=ids["manager"])
    return ctx, ids


def _history(rt: Runtime) -> tuple[Context, dict[str, UUID], list[UUID]]:
    ctx, ids = _company(rt)
    app = rt.app
    start = datetime(2025, 9, 22, 9, tzinfo=SHANGHAI)
    customers = [app.customers.register(ctx=ctx, name=f"宁波第{i}机械有限公司", kind="customer", owner_id=ids["seller"]).id
                 for i in range(4)]  # fmt: skip
    tickets = []
    for i in range(12):
        at = start + timedelta(hours=7 * i)
        tid = app.tickets.open(ctx=ctx, customer_id=customers[i % 4], kind=("complaint", "repair", "request")[i % 3],
                               subject=f"设备故障 {i}", opened_at=at, assignee_id=ids["leaver"]).id  # fmt: skip
        tickets.append(tid)
        if i % 2:
            app.tickets.resolve(ctx=ctx, ticket_id=tid, resolution="已修复", resolved_at=at + timedelta(days=2))
            app.tickets.record_fee(ctx=ctx, ticket_id=tid, amount="100.00")
            app.tickets.record_cost(ctx=ctx, ticket_id=tid, amount="40.50")
            app.tickets.record_return_visit(ctx=ctx, ticket_id=tid, satisfaction=1 + i % 5)
        else:
            app.tickets.note_progress(ctx=ctx, ticket_id=tid, note="已联系")
        if i % 4 == 3:
            app.tickets.reopen(ctx=ctx, ticket_id=tid, reason="复发")
    app.tickets.transfer(ctx=ctx, ticket_id=tickets[0], department_id=ids["service"], note="转客服部")
    app.customers.update(ctx=ctx, customer_id=customers[0], name="宁波新名字精工有限公司")
    app.customers.reassign(ctx=ctx, customer_id=customers[1], owner_id=ids["heir"])
    return ctx, ids, tickets


def _snapshot(rt: Runtime, schema: str = live_schema("tickets")) -> dict[str, list[tuple[Any, ...]]]:
    with rt.database.connect() as conn:
        return {t: conn.execute(f'SELECT * FROM "{schema}".{t} ORDER BY 1, 2').fetchall() for t in TABLES}


def test_the_read_model_equals_its_rebuild_and_a_batch_applied_twice_changes_nothing(fresh: Runtime) -> None:
    _, ids, tickets = _history(fresh)
    for name in ("customers", "tickets"):
        fresh.read_side.catch_up(name)
    live = _snapshot(fresh)
    assert len(live["tickets"]) == 12 and len(live["visits"]) == 6 and len(live["charges"]) == 12
    fresh.read_side.rebuild("tickets")
    assert _snapshot(fresh) == live
    # Every event of the log applied again to the live tables, in batches: no row changes.
    projection = fresh.read_side.projections["tickets"]
    with fresh.database.connect() as conn:
        rows = conn.execute(
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{fresh.app.events_table}" '
            "WHERE topic = ANY(%s) ORDER BY notification_id", (list(projection.topics),),
        ).fetchall()  # fmt: skip
        from eventsourcing.persistence import Notification

        items = [(r[0], fresh.app.decode(Notification(id=r[0], originator_id=r[1], originator_version=r[2], topic=r[3],
                                                      state=bytes(r[4])))) for r in rows]  # fmt: skip
        with conn.transaction(), conn.cursor() as cur:
            for first in range(0, len(items), 25):
                projection.apply_batch(items[first : first + 25], cur, live_schema("tickets"))
    assert _snapshot(fresh) == live
    with fresh.database.connect() as conn, conn.cursor() as cur:
        from psycopg.rows import dict_row

        cur = conn.cursor(row_factory=dict_row)
        first = tickets_model.get_ticket(cur, tickets[0])
        assert first is not None
        assert first["customer_name"] == "宁波新名字精工有限公司"
        assert first["department_id"] == ids["service"] and first["assignee_id"] == ids["manager"]
        found = tickets_model.list_tickets(cur, limit=10, q_text="新名字")
        assert tickets[0] in [t["id"] for t in found.items]
        moved = tickets_model.list_tickets(cur, limit=50, owners=frozenset({ids["heir"]}))
        assert sorted(t["id"] for t in moved.items) == sorted(tickets[1::4])
        reopened = tickets_model.get_ticket(cur, tickets[3])
        assert reopened is not None and (reopened["status"], reopened["reopened"], reopened["resolved_at"]) == (
            "in_progress", 1, None)
        assert [e["event_type"] for e in reopened["timeline"]][-2:] == ["Ticket.ReturnVisitRecorded", "Ticket.Reopened"]


def test_a_departing_assignees_open_tickets_move_and_finished_ones_stay(fresh: Runtime) -> None:
    ctx, ids, tickets = _history(fresh)
    still_open = [t for i, t in enumerate(tickets) if (i % 2 == 0 or i % 4 == 3) and i != 0]  # 0 went to the manager
    fresh.app.staff.depart_user(ctx=ctx, user_id=ids["leaver"], successor_id=ids["successor"])
    for name in fresh.read_side.projections:
        fresh.read_side.catch_up(name)
    runner = ProcessRunner(fresh, [HandoverProcess()])
    runner.ensure_tracking()
    runner.catch_up("handover")
    assignees = {t: fresh.app.tickets.ticket(t).assignee_id for t in tickets}
    assert {assignees[t] for t in still_open} == {ids["successor"]}
    finished = [t for t in tickets if t not in still_open and t != tickets[0]]
    assert finished and {assignees[t] for t in finished} == {ids["leaver"]}
    assert assignees[tickets[0]] == ids["manager"]
    last = fresh.app.tickets.ticket(still_open[0])
    moved = [e for _, e in fresh.app.history([last.id]) if type(e).__qualname__ == "Ticket.Assigned"][-1]
    assert (moved.reason, moved.actor, moved.previous_assignee_id) == ("handover", "process:handover", ids["leaver"])
    fresh.read_side.catch_up("handovers")
    with fresh.database.connect() as conn:
        items = conn.execute(
            "SELECT kind, status, to_user_id FROM read_handovers.items WHERE kind = 'ticket' ORDER BY ordinal"
        ).fetchall()
    assert items == [("ticket", "moved", ids["successor"])] * len(still_open)


def test_overdue_tickets_are_escalated_to_the_managers_once_per_lapse(fresh: Runtime) -> None:
    from crm_es.aggregates.ticket import Ticket
    from crm_es.processes.sla import escalate_overdue

    ctx, ids = _company(fresh)
    app = fresh.app
    customer = app.customers.register(ctx=ctx, name="宁波超时机械有限公司", kind="customer", owner_id=ids["seller"]).id
    now = datetime.now(SHANGHAI)
    late = app.tickets.open(ctx=ctx, customer_id=customer, kind="complaint", subject="一直没人处理",
                            opened_at=now - timedelta(days=20), assignee_id=ids["leaver"]).id  # fmt: skip
    nobody = app.tickets.open(ctx=ctx, customer_id=customer, kind="request", subject="无人受理", opened_at=now - timedelta(days=20)).id
    fresh_one = app.tickets.open(ctx=ctx, customer_id=customer, kind="request", subject="刚提交").id
    done = app.tickets.open(ctx=ctx, customer_id=customer, kind="repair", subject="已修好", opened_at=now - timedelta(days=20)).id
    app.tickets.resolve(ctx=ctx, ticket_id=done, resolution="已修好")
    fresh.read_side.catch_up("customers")
    fresh.read_side.catch_up("tickets")
    assert escalate_overdue(fresh) == 2
    assert escalate_overdue(fresh) == 0  # the read model lags: the same lapse is not escalated twice
    fresh.read_side.catch_up("tickets")
    assert escalate_overdue(fresh) == 0

    def escalations(ticket_id: UUID) -> list[Any]:
        return [e for _, e in app.history([ticket_id]) if isinstance(e, Ticket.Escalated)]

    [first] = escalations(late)
    assert (first.to_user_id, first.level, first.actor) == (ids["manager"], 1, "process:sla")
    assert first.reason.startswith("overdue: it was due at ")
    [unassigned] = escalations(nobody)
    assert unassigned.to_user_id is None
    assert escalations(fresh_one) == [] and escalations(done) == []
    # Resolved, reopened, and late again: a new lapse, escalated again.
    app.tickets.resolve(ctx=ctx, ticket_id=late, resolution="处理了")
    app.tickets.reopen(ctx=ctx, ticket_id=late, reason="没处理好")
    fresh.read_side.catch_up("tickets")
    ten_days_on = datetime.now(SHANGHAI) + timedelta(days=10)
    assert escalate_overdue(fresh, now=ten_days_on) == 2  # the reopened one, and the one opened today
    assert [e.level for e in escalations(late)] == [1, 2]
    assert len(escalations(nobody)) == 1 and len(escalations(fresh_one)) == 1
    assert escalate_overdue(fresh, now=ten_days_on) == 0  # listed again (the model lags), but once per lapse


def test_timers_run_at_start_and_then_every_interval_until_stopped(fresh: Runtime) -> None:
    import threading

    from crm_es.processes.timers import Timer, Timers

    ran = threading.Event()
    calls: list[Runtime] = []

    def job(runtime: Runtime) -> None:
        calls.append(runtime)
        if len(calls) >= 2:
            ran.set()

    timers = Timers(fresh, [Timer("test", 1, job)])
    timers.start()
    try:
        assert ran.wait(10)
    finally:
        timers.stop()
    count = len(calls)
    assert count >= 2 and calls[0] is fresh
    ran.clear()
    assert not ran.wait(1.5) and len(calls) == count
