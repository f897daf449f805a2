"""Links read model: which records belong to which customer, for the customer's full history.

``GET /customers/{id}/history`` lists every event of the customer and of everything linked to
it. Contacts and activities live in the customer's own stream; other records have streams of
their own. This read model records, for each of them, the customer it belongs to:

- ``streams``: a whole stream belongs to a customer (an opportunity, an order, a ticket). One
  handler per record kind, on the event that creates the record: ``self.link_stream(...)``.
- ``events``: single events of a stream shared by many customers belong to one of them (a stock
  item's reservation, shipment or return for an order: the order's customer). One handler per
  such event: ``self.link_event(..., via=order_id)``, which finds the customer through the
  stream ``via`` that was linked before.

A record never moves to another customer in crm-es, so a link is written once and never
changed; every insert skips what is already there, so applying an event twice changes nothing.
The history query (``Kernel.history``) reads the customer's stream, the linked streams and the
linked events in one ordered pass over the event store.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor

from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.order import Order
from crm_es.aggregates.stock import StockItem
from crm_es.aggregates.ticket import Ticket
from crm_es.projections.base import Projection, live_schema, q

SCHEMA = live_schema("links")


class LinksProjection(Projection):
    name = "links"
    version = 4
    ddl = """
    CREATE TABLE {s}.streams (
        originator_id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        kind text NOT NULL
    );
    CREATE INDEX streams_customer ON {s}.streams (customer_id);
    CREATE TABLE {s}.events (
        customer_id uuid NOT NULL,
        position bigint NOT NULL,
        PRIMARY KEY (customer_id, position)
    );
    """

    @staticmethod
    def link_stream(cur: Cursor[Any], schema: str, originator_id: UUID, customer_id: UUID, kind: str) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.streams (originator_id, customer_id, kind) VALUES (%s, %s, %s) "
                      "ON CONFLICT (originator_id) DO NOTHING"),
            (originator_id, customer_id, kind),
        )  # fmt: skip

    @staticmethod
    def link_event(cur: Cursor[Any], schema: str, position: int, *, via: UUID) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.events (customer_id, position) "
                      "SELECT customer_id, %s FROM {s}.streams WHERE originator_id = %s ON CONFLICT DO NOTHING"),
            (position, via),
        )  # fmt: skip

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    @apply.register
    def _opportunity(self, e: Opportunity.Opened, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_stream(cur, schema, e.originator_id, e.customer_id, "opportunity")

    @apply.register
    def _order(self, e: Order.Drafted, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_stream(cur, schema, e.originator_id, e.customer_id, "order")

    @apply.register
    def _ticket(self, e: Ticket.Opened, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_stream(cur, schema, e.originator_id, e.customer_id, "ticket")

    # A stock item's events for an order belong to the order's customer (nothing, for an order
    # id no stream was linked under: a reservation made by hand for an order taken by phone).

    @apply.register
    def _stock_reserved(self, e: StockItem.Reserved, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_event(cur, schema, position, via=e.order_id)

    @apply.register
    def _stock_released(self, e: StockItem.ReservationReleased, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_event(cur, schema, position, via=e.order_id)

    @apply.register
    def _stock_shipped(self, e: StockItem.Shipped, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_event(cur, schema, position, via=e.order_id)

    @apply.register
    def _stock_returned(self, e: StockItem.Returned, cur: Cursor[Any], schema: str, position: int) -> None:
        self.link_event(cur, schema, position, via=e.order_id)


def linked(cur: Cursor[Any], customer_id: UUID) -> tuple[list[UUID], list[int]]:
    """The streams and the single events linked to the customer."""
    streams = [r["originator_id"] for r in cur.execute(
        q(SCHEMA, "SELECT originator_id FROM {s}.streams WHERE customer_id = %s"), (customer_id,))]  # fmt: skip
    events = [r["position"] for r in cur.execute(
        q(SCHEMA, "SELECT position FROM {s}.events WHERE customer_id = %s"), (customer_id,))]  # fmt: skip
    return streams, events
