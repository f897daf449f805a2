"""The crm-es application: a kernel (the command cycle) and one module of commands per context.

``from crm_es.app import ...`` is the one way in for the API, the CLI and the processes.
Commands are reached through their context: ``app.customers.register(...)``,
``app.staff.register_user(...)``, ``app.reference.add_item(...)``. Adding a context is one
line in ``CRM.__init__``.
"""

from __future__ import annotations

from typing import Any

from crm_es.app.commit import GroupCommit, StripedLocks, _Append
from crm_es.app.customers import Customers
from crm_es.app.handovers import Handovers
from crm_es.app.kernel import Commands, Context, Idempotency, Kernel, Written
from crm_es.app.opportunities import Opportunities
from crm_es.app.orders import Orders
from crm_es.app.reference import Reference
from crm_es.app.staff import Staff
from crm_es.app.stock import Stock
from crm_es.app.tickets import Tickets

__all__ = ["CRM", "Commands", "Context", "GroupCommit", "Idempotency", "StripedLocks", "Written", "_Append"]


class CRM(Kernel):
    """The one crm-es application: the kernel with every context's commands."""

    snapshotting_intervals = {  # noqa: RUF012 - the library reads a class attribute
        **Customers.snapshotting, **Stock.snapshotting, **Orders.snapshotting,
    }

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.reference = Reference(self)
        self.staff = Staff(self)
        self.customers = Customers(self)
        self.handovers = Handovers(self)
        self.opportunities = Opportunities(self)
        self.tickets = Tickets(self)
        self.stock = Stock(self)
        self.orders = Orders(self)
