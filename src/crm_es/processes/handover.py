"""Departure handover (客户移交, R-C8): a departing user's business moves to their successor.

When a user departs, the handover names who takes over (the successor given, else the manager
of the user's department or of the nearest department above that has an active one), lists
what the user owns (from the read models, as they stood at the departure), and reassigns each
record with reason ``handover``. Every command is idempotent, so a restart resumes where it
stopped. A handover that finds nobody waits, blocked, for an administrator to choose someone
(``POST /api/v1/handovers/{id}/successor``).

What moves is a list of kinds; a context adds its records with one entry in ``KINDS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any
from uuid import UUID

from crm_es.aggregates.handover import Handover
from crm_es.aggregates.user import User
from crm_es.app import Context
from crm_es.errors import DomainError, NotFound
from crm_es.processes.base import Process, event_id
from crm_es.projections import customers as customers_model
from crm_es.projections import opportunities as opportunities_model
from crm_es.projections import orders as orders_model
from crm_es.projections import tickets as tickets_model

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

log = logging.getLogger("crm_es.processes.handover")

REASON = "handover"


@dataclass(frozen=True)
class Kind:
    """One kind of record a handover moves: how to find a user's, and how to move one."""

    owned: Callable[[Any, UUID], list[UUID]]
    """(cursor, owner id) → ids of the records the owner has now (from its read model)."""
    move: Callable[[Runtime, Context, UUID, UUID, UUID], str | None]
    """(runtime, context, record id, from, to) → None when moved, else why it was skipped."""


def _move_customer(runtime: Runtime, ctx: Context, customer_id: UUID, from_id: UUID, to_id: UUID) -> str | None:
    owner = runtime.app.customers.customer(customer_id).owner_id
    if owner == to_id:
        return None  # moved already (by this handover before a restart, or by hand)
    if owner != from_id:
        return "reassigned to someone else meanwhile"
    runtime.app.customers.reassign(ctx=ctx, customer_id=customer_id, owner_id=to_id, reason=REASON)
    return None


def _move_opportunity(runtime: Runtime, ctx: Context, opportunity_id: UUID, from_id: UUID, to_id: UUID) -> str | None:
    owner = runtime.app.opportunities.opportunity(opportunity_id).owner_id
    if owner == to_id:
        return None
    if owner != from_id:
        return "reassigned to someone else meanwhile"
    runtime.app.opportunities.reassign(ctx=ctx, opportunity_id=opportunity_id, owner_id=to_id, reason=REASON)
    return None


def _move_order(runtime: Runtime, ctx: Context, order_id: UUID, from_id: UUID, to_id: UUID) -> str | None:
    owner = runtime.app.orders.order(order_id).owner_id
    if owner == to_id:
        return None
    if owner != from_id:
        return "reassigned to someone else meanwhile"
    runtime.app.orders.reassign(ctx=ctx, order_id=order_id, owner_id=to_id, reason=REASON)
    return None


def _move_ticket(runtime: Runtime, ctx: Context, ticket_id: UUID, from_id: UUID, to_id: UUID) -> str | None:
    ticket = runtime.app.tickets.ticket(ticket_id)
    if ticket.assignee_id == to_id:
        return None
    if ticket.assignee_id != from_id:
        return "assigned to someone else meanwhile"
    if ticket.status not in ("open", "in_progress"):
        return f"{ticket.status} meanwhile"
    runtime.app.tickets.assign(ctx=ctx, ticket_id=ticket_id, assignee_id=to_id, reason=REASON)
    return None


KINDS: dict[str, Kind] = {
    "customer": Kind(customers_model.owned_by, _move_customer),
    "opportunity": Kind(opportunities_model.open_owned_by, _move_opportunity),
    "order": Kind(orders_model.owned_by, _move_order),
    "ticket": Kind(tickets_model.open_assigned_to, _move_ticket),
}


class HandoverProcess(Process):
    name = "handover"
    needs = ("customers", "opportunities", "orders", "tickets")

    # (policies annotate ``runtime`` as Any: singledispatch evaluates every annotation)
    @singledispatchmethod
    def policy(self, event: Any, runtime: Any) -> None:
        """Events the process does not react to change nothing."""

    @policy.register
    def _departed(self, e: User.Departed, runtime: Any) -> None:
        handover_id = Handover.create_id(e.originator_id)
        try:
            runtime.app.handovers.handover(handover_id)
        except NotFound:
            to_user, blocked = self._successor(runtime, e.originator_id, e.successor_id)
            items = self._items(runtime, e.originator_id)
            ctx = Context.process(self.name, cause=event_id(e), step="start", correlation_id=str(handover_id))
            runtime.app.handovers.start(ctx=ctx, user_id=e.originator_id, to_user_id=to_user, items=items, blocked=blocked)
            log.info("handover %s: %d records of user %s to %s", handover_id, len(items), e.originator_id, to_user or "nobody yet")
        self._move(runtime, handover_id)

    @policy.register
    def _successor_chosen(self, e: Handover.SuccessorChosen, runtime: Any) -> None:
        self._move(runtime, e.originator_id)

    @staticmethod
    def _successor(runtime: Runtime, user_id: UUID, successor_id: UUID | None) -> tuple[UUID | None, str | None]:
        staff = runtime.app.staff
        if successor_id is not None and staff.user(successor_id).is_active:
            return successor_id, None
        department_id = staff.user(user_id).department_id
        seen: set[UUID] = set()
        while department_id is not None and department_id not in seen:
            seen.add(department_id)
            department = staff.department(department_id)
            manager = department.manager_id
            if manager is not None and manager != user_id and staff.user(manager).is_active:
                return manager, None
            department_id = department.parent_id
        why = "the named successor is not active" if successor_id is not None else "no successor was named"
        return None, f"{why} and no department above the user has an active manager; choose a successor"

    @staticmethod
    def _items(runtime: Runtime, user_id: UUID) -> list[tuple[str, UUID]]:
        with runtime.app.connection() as conn, conn.cursor() as cur:
            return [(kind, record_id) for kind, spec in KINDS.items() for record_id in spec.owned(cur, user_id)]

    def _move(self, runtime: Runtime, handover_id: UUID) -> None:
        handover = runtime.app.handovers.handover(handover_id)
        to_user = handover.to_user_id
        if handover.done or to_user is None:
            return
        moved, skipped = 0, []
        total = len(handover.items)
        for number, (kind, record_id) in enumerate(handover.items, 1):
            ctx = Context.process(self.name, cause=str(handover_id), step=f"{to_user}:{kind}:{record_id}",
                                  correlation_id=str(handover_id))  # fmt: skip
            try:
                why = KINDS[kind].move(runtime, ctx, record_id, handover.user_id, to_user)
            except DomainError as error:
                why = error.detail
            if why is None:
                moved += 1
            else:
                skipped.append((kind, record_id, why))
            if number % 100 == 0 or number == total:
                log.info("handover %s: %d/%d records moved or skipped", handover_id, number, total)
        ctx = Context.process(self.name, cause=str(handover_id), step=f"{to_user}:complete", correlation_id=str(handover_id))
        runtime.app.handovers.complete(ctx=ctx, handover_id=handover_id, moved=moved, skipped=skipped)
