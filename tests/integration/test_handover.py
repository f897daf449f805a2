"""The departure handover process, on real PostgreSQL: who takes over, resuming after a crash."""

from __future__ import annotations

from uuid import UUID

import pytest

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.handover import Handover
from crm_es.aggregates.role import Role
from crm_es.app import Context
from crm_es.processes import handover as handover_module
from crm_es.processes.base import ProcessFailed, ProcessRunner
from crm_es.processes.handover import HandoverProcess
from crm_es.runtime import Runtime


def _company(rt: Runtime) -> tuple[Context, dict[str, UUID]]:
    admin, _ = rt.app.staff.ensure_admin(username="admin", password="admin-password-1")
    ctx = Context(actor=str(admin.id), user_id=admin.id)
    staff = rt.app.staff
    sales = staff.create_department(ctx=ctx, name="销售部").id
    team = staff.create_department(ctx=ctx, name="宁波组", parent_id=sales).id
    seller_role = Role.create_id("salesperson")
    ids = {"sales": sales, "team": team}
    for who, department in (("manager", sales), ("leaver", team), ("successor", team)):
        ids[who] = staff.register_user(
            ctx=ctx, username=who, password="handover-pass-1", department_id=department, role_ids=[seller_role]
        ).id
    staff.change_department(ctx=ctx, department_id=sales, manager_id=ids["manager"])
    return ctx, ids


def _customers(rt: Runtime, ctx: Context, owner: UUID, n: int) -> list[UUID]:
    return [rt.app.customers.register(ctx=ctx, name=f"移交客户{i}", kind="customer", owner_id=owner).id for i in range(n)]


def _run(rt: Runtime) -> ProcessRunner:
    for name in rt.read_side.projections:
        rt.read_side.catch_up(name)
    runner = ProcessRunner(rt, [HandoverProcess()])
    runner.ensure_tracking()
    runner.catch_up("handover")
    rt.read_side.catch_up("handovers")
    return runner


def _reassignments(rt: Runtime, customer_ids: list[UUID]) -> list[Customer.Reassigned]:
    return [e for _, e in rt.app.history(customer_ids) if isinstance(e, Customer.Reassigned)]


def test_without_a_successor_the_department_managers_up_the_tree_take_over(fresh: Runtime) -> None:
    ctx, ids = _company(fresh)
    owned = _customers(fresh, ctx, ids["leaver"], 5)
    other = _customers(fresh, ctx, ids["successor"], 1)
    fresh.app.staff.depart_user(ctx=ctx, user_id=ids["leaver"])
    _run(fresh)
    assert {fresh.app.customers.customer(c).owner_id for c in owned} == {ids["manager"]}  # 宁波组 has no manager
    assert fresh.app.customers.customer(other[0]).owner_id == ids["successor"]
    moves = _reassignments(fresh, owned)
    assert len(moves) == 5
    handover_id = Handover.create_id(ids["leaver"])
    for move in moves:
        assert (move.reason, move.actor, move.correlation_id) == ("handover", "process:handover", str(handover_id))
        assert move.causation_id == str(handover_id)
    with fresh.database.connect() as conn:
        row = conn.execute(
            "SELECT status, total, moved, skipped, to_user_id FROM read_handovers.handovers WHERE id = %s", (handover_id,)
        ).fetchone()
    assert row == ("done", 5, 5, 0, ids["manager"])


def test_a_named_successor_takes_over_and_a_record_moved_meanwhile_is_skipped(fresh: Runtime) -> None:
    ctx, ids = _company(fresh)
    owned = _customers(fresh, ctx, ids["leaver"], 3)
    fresh.app.staff.depart_user(ctx=ctx, user_id=ids["leaver"], successor_id=ids["successor"])
    for name in fresh.read_side.projections:
        fresh.read_side.catch_up(name)
    fresh.app.customers.reassign(ctx=ctx, customer_id=owned[0], owner_id=ids["manager"])  # by hand, before the process
    _run(fresh)
    owners = [fresh.app.customers.customer(c).owner_id for c in owned]
    assert owners == [ids["manager"], ids["successor"], ids["successor"]]
    handover = fresh.app.handovers.handover(Handover.create_id(ids["leaver"]))
    assert handover.done


def test_a_handover_that_crashes_midway_resumes_and_moves_each_record_once(fresh: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, ids = _company(fresh)
    owned = _customers(fresh, ctx, ids["leaver"], 6)
    fresh.app.staff.depart_user(ctx=ctx, user_id=ids["leaver"], successor_id=ids["successor"])
    real = handover_module._move_customer
    calls = {"n": 0}

    def crash_on_the_fourth(*args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("power cut")
        return real(*args)

    monkeypatch.setitem(handover_module.KINDS, "customer", handover_module.Kind(handover_module.customers_model.owned_by, crash_on_the_fourth))
    with pytest.raises(ProcessFailed, match="power cut"):
        _run(fresh)
    assert sum(fresh.app.customers.customer(c).owner_id == ids["successor"] for c in owned) == 3
    monkeypatch.setitem(handover_module.KINDS, "customer", handover_module.Kind(handover_module.customers_model.owned_by, real))
    _run(fresh)  # a restart: the same departure is handled again
    assert {fresh.app.customers.customer(c).owner_id for c in owned} == {ids["successor"]}
    assert len(_reassignments(fresh, owned)) == 6  # each moved exactly once
    with fresh.database.connect() as conn:
        assert conn.execute("SELECT moved, status FROM read_handovers.handovers").fetchone() == (6, "done")


def test_a_handover_with_nobody_to_take_over_waits_for_an_administrator(fresh: Runtime) -> None:
    ctx, ids = _company(fresh)
    loner = fresh.app.staff.register_user(ctx=ctx, username="loner", password="handover-pass-1").id
    owned = _customers(fresh, ctx, loner, 2)
    fresh.app.staff.depart_user(ctx=ctx, user_id=loner)
    _run(fresh)
    handover_id = Handover.create_id(loner)
    handover = fresh.app.handovers.handover(handover_id)
    assert handover.to_user_id is None and "choose a successor" in (handover.blocked or "")
    assert {fresh.app.customers.customer(c).owner_id for c in owned} == {loner}
    fresh.app.handovers.choose_successor(ctx=ctx, handover_id=handover_id, successor_id=ids["successor"])
    _run(fresh)
    assert {fresh.app.customers.customer(c).owner_id for c in owned} == {ids["successor"]}


def test_a_departing_salespersons_unfinished_orders_move_and_finished_ones_stay(fresh: Runtime) -> None:
    ctx, ids = _company(fresh)
    customer = _customers(fresh, ctx, ids["leaver"], 1)[0]
    line = [{"description": "维保服务", "quantity": 1, "unit_price": 100}]
    open_order = fresh.app.orders.draft(ctx=ctx, customer_id=customer, lines=line).id
    done = fresh.app.orders.draft(ctx=ctx, customer_id=customer, lines=line).id
    fresh.app.orders.cancel(ctx=ctx, order_id=done, reason="取消")
    fresh.app.staff.depart_user(ctx=ctx, user_id=ids["leaver"], successor_id=ids["successor"])
    _run(fresh)
    assert fresh.app.orders.order(open_order).owner_id == ids["successor"]
    assert fresh.app.orders.order(done).owner_id == ids["leaver"], "a cancelled order is history: it stays"
    with fresh.database.connect() as conn:
        assert conn.execute("SELECT moved, status FROM read_handovers.handovers").fetchone() == (2, "done")
