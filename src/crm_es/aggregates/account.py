"""The customer's account (往来账): what the customer owes on all their orders together, kept on
the write side so that a credit limit (R-C5) holds under concurrency.

Every order command that changes what an order is owed (confirming, a return, a price
adjustment, a payment, a cancellation) records the order's new balance here in the same
transaction as the order's own event. Two concurrent confirmations for one customer both write
to this aggregate, so one of them is retried on a fresh load and sees the other's amount: they
cannot both slip under the limit.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate

ZERO = Decimal("0.00")
_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:customer-account")


def account_id(customer_id: UUID) -> UUID:
    """The id of the customer's account (one per customer, derived: creating it twice collides)."""
    return uuid5(_NAMESPACE, str(customer_id))


class Account(CrmAggregate):
    """Balances of a customer's orders: positive is owed, negative is the customer's credit."""

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:  # type: ignore[override]
        return account_id(customer_id)

    @classmethod
    def open(cls, customer_id: UUID) -> Account:
        return cls(customer_id=customer_id)

    @event("Opened")
    def __init__(self, *, customer_id: UUID) -> None:
        self.customer_id = customer_id
        self.balances: dict[UUID, Decimal] = {}

    @property
    def outstanding(self) -> Decimal:
        """What the customer owes on every order, less their credit."""
        return sum(self.balances.values(), ZERO)

    def record(self, order_id: UUID, balance: Decimal) -> None:
        """Record the order's balance, if it changed."""
        if self.balances.get(order_id, ZERO) != balance:
            self._balance_changed(order_id=order_id, balance=balance, outstanding=self.outstanding - self.balances.get(order_id, ZERO) + balance)

    @event("BalanceChanged")
    def _balance_changed(self, order_id: UUID, balance: Decimal, outstanding: Decimal) -> None:
        self.balances[order_id] = balance
