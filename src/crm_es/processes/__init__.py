"""Process managers: one module per process; this list is every process crm-es runs."""

from __future__ import annotations

from crm_es.processes.base import Process


def all_processes() -> list[Process]:
    from crm_es.processes.handover import HandoverProcess

    return [HandoverProcess()]
