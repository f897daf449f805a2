"""SharedRead: callers share a query, but never one that started before they asked."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from crm_es.app.commit import SharedRead


def test_every_caller_sees_a_read_that_started_after_it_asked() -> None:
    starts: list[float] = []

    def read() -> float:
        start = time.monotonic()
        starts.append(start)
        time.sleep(0.005)
        return start

    shared = SharedRead(read)

    def call(_: int) -> tuple[float, float]:
        asked = time.monotonic()
        return asked, shared()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(400)))
    assert all(started >= asked for asked, started in results)
    assert len(starts) < len(results) / 2  # callers that asked together shared a read


def test_a_failed_read_is_retried_by_a_waiting_caller() -> None:
    calls = {"n": 0}
    gate = threading.Event()

    def read() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            gate.wait(1)
            raise RuntimeError("connection lost")
        return "fresh"

    shared = SharedRead(read)
    outcomes: list[str] = []

    def first() -> None:
        try:
            shared()
        except RuntimeError as error:
            outcomes.append(str(error))

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.05)
    second = ThreadPoolExecutor(1).submit(shared)
    gate.set()
    t.join()
    assert second.result(timeout=5) == "fresh"
    assert outcomes == ["connection lost"]
