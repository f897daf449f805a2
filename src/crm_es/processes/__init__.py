"""Process managers: one module per process; these lists are every process crm-es runs:
those that follow the log (``all_processes``) and those that run on a timer (``all_timers``)."""

from __future__ import annotations

from crm_es.processes.base import Process
from crm_es.processes.timers import Timer
from crm_es.settings import Settings


def all_processes() -> list[Process]:
    from crm_es.processes.handover import HandoverProcess

    return [HandoverProcess()]


def all_timers(settings: Settings) -> list[Timer]:
    """The timers the settings turn on (an interval of 0 turns one off)."""
    from crm_es.processes import sla

    timers = [Timer(sla.NAME, settings.escalation_seconds, sla.escalate_overdue)]
    return [t for t in timers if t.every > 0]
