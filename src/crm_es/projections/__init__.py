"""Projections: one module per read model (tables, event handlers, queries), and the runner.

``all_projections`` is the explicit list of every read model; a new one is one line here."""

from __future__ import annotations

from crm_es.projections.base import Projection


def all_projections() -> list[Projection]:
    from crm_es.projections.audit import AuditProjection
    from crm_es.projections.customers import CustomersProjection
    from crm_es.projections.handovers import HandoversProjection
    from crm_es.projections.links import LinksProjection
    from crm_es.projections.opportunities import OpportunitiesProjection
    from crm_es.projections.orders import OrdersProjection
    from crm_es.projections.receivables import ReceivablesProjection
    from crm_es.projections.reference import ReferenceProjection
    from crm_es.projections.staff import StaffProjection
    from crm_es.projections.stock import StockProjection
    from crm_es.projections.tickets import TicketsProjection

    return [StaffProjection(), CustomersProjection(), AuditProjection(), ReferenceProjection(), HandoversProjection(),
            OpportunitiesProjection(), LinksProjection(), TicketsProjection(), StockProjection(), OrdersProjection(),
            ReceivablesProjection()]
