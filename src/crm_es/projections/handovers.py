"""Handovers read model: each departure's handover, its progress, and what moved."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor

from crm_es.aggregates.customer import Customer
from crm_es.aggregates.handover import Handover
from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.order import Order
from crm_es.aggregates.ticket import Ticket
from crm_es.projections.base import Projection, live_schema, q

SCHEMA = live_schema("handovers")

HANDOVER_COLUMNS = (
    "id", "user_id", "to_user_id", "status", "blocked", "total", "moved", "skipped", "started_at",
    "finished_at", "version",
)  # fmt: skip


class HandoversProjection(Projection):
    name = "handovers"
    version = 4
    ddl = """
    CREATE TABLE {s}.handovers (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        to_user_id uuid,
        status text NOT NULL,          -- blocked, moving, done
        blocked text,
        total integer NOT NULL,
        moved integer NOT NULL DEFAULT 0,
        skipped integer NOT NULL DEFAULT 0,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        version integer NOT NULL
    );
    CREATE INDEX handovers_user ON {s}.handovers (user_id);
    CREATE TABLE {s}.items (
        handover_id uuid NOT NULL,
        kind text NOT NULL,
        record_id uuid NOT NULL,
        ordinal integer NOT NULL,
        status text NOT NULL,          -- pending, moved, skipped
        note text,
        to_user_id uuid,
        at timestamptz,
        PRIMARY KEY (handover_id, kind, record_id)
    );
    CREATE INDEX items_order ON {s}.items (handover_id, ordinal);
    """

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    @apply.register
    def _started(self, e: Handover.Started, cur: Cursor[Any], schema: str, position: int) -> None:
        status = "blocked" if e.to_user_id is None else "moving"
        cur.execute(
            q(schema, "INSERT INTO {s}.handovers (id, user_id, to_user_id, status, blocked, total, started_at, version) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.user_id, e.to_user_id, status, e.blocked, len(e.items), e.timestamp, e.originator_version),
        )  # fmt: skip
        cur.executemany(
            q(schema, "INSERT INTO {s}.items (handover_id, kind, record_id, ordinal, status) "
                      "VALUES (%s, %s, %s, %s, 'pending') ON CONFLICT DO NOTHING"),
            [(e.originator_id, kind, record_id, n) for n, (kind, record_id) in enumerate(e.items)],
        )  # fmt: skip

    @apply.register
    def _successor_chosen(self, e: Handover.SuccessorChosen, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "UPDATE {s}.handovers SET to_user_id = %s, status = 'moving', blocked = NULL, version = %s "
                      "WHERE id = %s"),
            (e.to_user_id, e.originator_version, e.originator_id),
        )  # fmt: skip

    @apply.register
    def _completed(self, e: Handover.Completed, cur: Cursor[Any], schema: str, position: int) -> None:
        for kind, record_id, note in e.skipped:
            cur.execute(
                q(schema, "UPDATE {s}.items SET status = 'skipped', note = %s, at = %s "
                          "WHERE handover_id = %s AND kind = %s AND record_id = %s AND status = 'pending'"),
                (note, e.timestamp, e.originator_id, kind, record_id),
            )  # fmt: skip
        cur.execute(
            q(schema, "UPDATE {s}.handovers SET status = 'done', skipped = %s, finished_at = %s, version = %s, "
                      "moved = (SELECT count(*) FROM {s}.items WHERE handover_id = %s AND status = 'moved') "
                      "WHERE id = %s"),
            (len(e.skipped), e.timestamp, e.originator_version, e.originator_id, e.originator_id),
        )  # fmt: skip

    @apply.register
    def _customer_reassigned(self, e: Customer.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._moved(cur, schema, e, "customer")

    @apply.register
    def _opportunity_reassigned(self, e: Opportunity.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._moved(cur, schema, e, "opportunity")

    @apply.register
    def _order_reassigned(self, e: Order.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._moved(cur, schema, e, "order")

    @apply.register
    def _ticket_assigned(self, e: Ticket.Assigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._moved(cur, schema, e, "ticket", e.assignee_id)

    @staticmethod
    def _moved(cur: Cursor[Any], schema: str, e: Any, kind: str, to_user_id: UUID | None = None) -> None:
        """A record of ``kind`` reassigned by a handover (its correlation id names the handover)
        to ``to_user_id`` (its new owner by default)."""
        if getattr(e, "reason", None) != "handover" or not e.correlation_id:
            return
        try:
            handover_id = UUID(e.correlation_id)
        except ValueError:
            return
        cur.execute(
            q(schema, "WITH moved AS (UPDATE {s}.items SET status = 'moved', to_user_id = %s, at = %s "
                      "WHERE handover_id = %s AND kind = %s AND record_id = %s AND status = 'pending' RETURNING 1) "
                      "UPDATE {s}.handovers SET moved = moved + (SELECT count(*) FROM moved) WHERE id = %s"),
            (to_user_id or e.owner_id, e.timestamp, handover_id, kind, e.originator_id, handover_id),
        )  # fmt: skip


# Queries ---------------------------------------------------------------------------------------


def get_handover(cur: Cursor[Any], handover_id: UUID, *, items_limit: int = 1000) -> dict[str, Any] | None:
    row = cur.execute(
        q(SCHEMA, f"SELECT {', '.join(HANDOVER_COLUMNS)} FROM {{s}}.handovers WHERE id = %s"), (handover_id,)
    ).fetchone()
    if row is None:
        return None
    row["items"] = cur.execute(
        q(SCHEMA, "SELECT kind, record_id, status, note, to_user_id, at FROM {s}.items WHERE handover_id = %s "
                  "ORDER BY ordinal LIMIT %s"),
        (handover_id, items_limit),
    ).fetchall()  # fmt: skip
    return row


def list_handovers(cur: Cursor[Any], *, user_id: UUID | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE user_id = %s", [user_id]) if user_id else ("", [])
    return cur.execute(
        q(SCHEMA, f"SELECT {', '.join(HANDOVER_COLUMNS)} FROM {{s}}.handovers {where} ORDER BY started_at DESC LIMIT 500"),
        params,
    ).fetchall()
