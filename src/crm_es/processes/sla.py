"""SLA escalation (R-T3): a ticket past its due time is escalated to the assignee's manager.

Time, not an event, makes a ticket overdue, so this process runs on a timer
(``processes/timers.py``, every ``CRM_ES_ESCALATION_SECONDS``, 60 by default, in the process
that runs the projections) rather than following the log. Each run reads the open and
in-progress tickets past due that were not escalated since they fell due (the tickets read
model) and issues ``Ticket.escalate`` for each, to the manager of the assignee's department or
of the nearest department above that has an active one (nobody when there is none; the event
says so with a null ``to_user_id``).

Each escalation happens once per due time: the command's idempotency key derives from the
ticket and the due time it missed (``Context.process``), so a read model that lags, a second
crm-es process, or a restart never escalates the same lapse twice; a reopened ticket has a new
due time and is escalated again if it lapses again. One run at a time across every process of
an installation (a PostgreSQL advisory lock).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from crm_es.app import Context
from crm_es.errors import DomainError
from crm_es.projections import tickets as tickets_model

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

log = logging.getLogger("crm_es.processes.sla")

NAME = "sla"
LOCK = "crm-es:process:sla"


def escalate_overdue(runtime: Runtime, now: datetime | None = None) -> int:
    """Escalate every ticket overdue at ``now`` that was not escalated for this lapse yet;
    returns how many were escalated (0 when another process is running it)."""
    now = now or datetime.now(timezone.utc)
    escalated = 0
    with runtime.database.connect(autocommit=True) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK,)).fetchone()[0]:
            return 0
        try:
            while True:
                rows = tickets_model.overdue_unescalated(conn.cursor(row_factory=dict_row), now)
                done = sum(_escalate(runtime, row, now) for row in rows)
                escalated += done
                if len(rows) < 500 or not done:
                    break
                runtime.caught_up("tickets")  # the next page: what this one escalated is no longer listed
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (LOCK,))
    if escalated:
        log.info("escalated %d overdue tickets", escalated)
    return escalated


def _escalate(runtime: Runtime, row: dict[str, Any], now: datetime) -> int:
    due = row["due_at"].astimezone(timezone.utc).isoformat()
    ctx = Context.process(NAME, cause=f"{row['id']}:due:{due}", step="escalate")
    try:
        written = runtime.app.tickets.escalate(ctx=ctx, ticket_id=row["id"], reason=f"overdue: it was due at {due}")
    except DomainError as error:  # resolved or closed meanwhile, say
        log.info("ticket %s not escalated: %s", row["id"], error.detail)
        return 0
    return 0 if written.replayed else 1
