"""Timed processes: jobs that run every so many seconds, because time rather than an event
makes them due (an overdue ticket). One background scheduler (``apscheduler``) in the process
that runs the projections and process managers; each job makes sure itself that it runs once at
a time across the installation (an advisory lock) and that what it does happens once
(idempotency keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

log = logging.getLogger("crm_es.processes.timers")


@dataclass(frozen=True)
class Timer:
    name: str
    every: int
    """Seconds between two runs (the first runs at start)."""
    run: Callable[[Runtime], Any]


class Timers:
    """Runs the timers of one crm-es process in a background scheduler."""

    def __init__(self, runtime: Runtime, timers: list[Timer]):
        self.runtime = runtime
        self.timers = timers
        self._scheduler: Any = None

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone=timezone.utc)
        for timer in self.timers:
            scheduler.add_job(
                self._run, "interval", args=(timer,), seconds=timer.every, id=timer.name, max_instances=1,
                coalesce=True, next_run_time=datetime.now(timezone.utc),
            )  # fmt: skip
        scheduler.start()
        self._scheduler = scheduler

    def _run(self, timer: Timer) -> None:
        try:
            timer.run(self.runtime)
        except Exception:  # noqa: BLE001 - the next run tries again; the log says why this one failed
            log.exception("timer %s failed", timer.name)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
