#!/usr/bin/env python
"""Stock reservation benchmark: reservations per second, event-sourced against a plain UPDATE.

Starts ``crm-es serve`` (its default workers, one per CPU) in a subprocess on a free port
(embedded PostgreSQL in a temporary directory, or a fresh database on the server named by
CRM_ES_BENCH_DATABASE_URL) with the baseline endpoints mounted, creates ``--items`` stock items
with a stock that never runs out (through the API, and the same ids as plain rows), then drives,
at a fixed concurrency and for a fixed time per phase:

- ``POST /bench/stock-raw/reservations`` (the baseline, "raw"): the same request body, token
  check and validation, then one ``UPDATE bench_stock SET reserved = reserved + n WHERE id = $1
  AND on_hand - reserved >= n`` per line, in one transaction;
- ``POST /api/v1/stock-items/reservations`` ("es"): the command the orders context uses: load
  the item, check and reserve in the aggregate, append the event (retried on a concurrent
  write; processes take turns on a hot item), while the projections apply it.

in two shapes, each request one line of quantity 1 for a new order:

- ``hot``: every request reserves the same item (every buyer wants the one item);
- ``spread``: each request picks one of the ``--items`` items at random.

Phases alternate raw and es, and before each the benchmark waits until the projections have
caught up. Only 200 answers count; any other answer is reported and makes the benchmark exit
with status 1. The report gives each rate and the ratios es/raw.

Usage: python ops/bench/stock.py [--seconds 10] [--concurrency 16] [--rounds 2] [--items 200]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from write import (  # noqa: E402 - the write benchmark's server, measurement and machine helpers
    MAX_ERRORS,
    Phase,
    caught_up,
    free_port,
    load_note,
    login,
    machine_ticks,
    percentile,
    process_cpu_seconds,
    serve,
    wait_until_up,
)

RAW = "/bench/stock-raw/reservations"
ES = "/api/v1/stock-items/reservations"
LABELS = {RAW: "raw", ES: "es"}
SHAPES = ("hot", "spread")
PLENTY = "1000000000"


def setup(client: httpx.Client, items: int) -> list[str]:
    """``items`` stock items with plenty on hand, as event-sourced items and as plain rows."""
    ids = []
    for n in range(items):
        created = client.post("/api/v1/stock-items", json={"sku": f"BENCH-{n:05d}", "name": f"压测商品 {n}"})
        if created.status_code != 201:
            raise RuntimeError(f"creating an item answered {created.status_code}: {created.text[:300]}")
        item_id = created.json()["id"]
        received = client.post(f"/api/v1/stock-items/{item_id}/receipts", json={"quantity": PLENTY, "unit_cost": "1"})
        if received.status_code != 200:
            raise RuntimeError(f"a receipt answered {received.status_code}: {received.text[:300]}")
        ids.append(item_id)
    raw = client.post("/bench/stock-raw/items", json={"ids": ids, "on_hand": PLENTY})
    if raw.status_code != 201:
        raise RuntimeError(f"creating the plain rows answered {raw.status_code}: {raw.text[:300]}")
    return ids


def drive(client: httpx.Client, phase: Phase, items: list[str], seconds: float, concurrency: int, server_pid: int) -> None:
    """Reservations of one unit for a new order each, on ``items`` (one item: the hot shape)."""
    stop_at = time.perf_counter() + seconds
    halt = threading.Event()
    lock = threading.Lock()
    rng = random.Random(phase.path)

    def body() -> bytes:
        with lock:
            item = items[0] if len(items) == 1 else rng.choice(items)
        return orjson.dumps({"order_id": str(uuid.uuid4()), "lines": [{"stock_item_id": item, "quantity": "1"}]})

    def worker() -> None:
        while time.perf_counter() < stop_at and len(phase.errors) < MAX_ERRORS and not halt.is_set():
            content = body()
            started = time.perf_counter()
            try:
                response = client.post(phase.path, content=content)
            except httpx.HTTPError as error:
                phase.errors.append(f"{type(error).__name__}: {error}")
                continue
            if response.status_code == 200:
                phase.latencies.append(time.perf_counter() - started)
            else:
                phase.errors.append(f"HTTP {response.status_code}: {response.text[:300]}")

    server_cpu, client_cpu, ticks = process_cpu_seconds(server_pid), time.process_time(), machine_ticks()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="bench") as pool:
        try:
            for future in [pool.submit(worker) for _ in range(concurrency)]:
                future.result()
        finally:
            halt.set()
    phase.seconds = time.perf_counter() - started
    phase.client_cpu = time.process_time() - client_cpu
    ticks_after = machine_ticks()
    server_cpu_after = process_cpu_seconds(server_pid)
    if server_cpu is not None and server_cpu_after is not None:
        phase.server_cpu = server_cpu_after - server_cpu
    if ticks and ticks_after and ticks_after[1] > ticks[1]:
        phase.machine_busy = (ticks_after[0] - ticks[0]) / (ticks_after[1] - ticks[1])


def describe(phase: Phase, label: str) -> str:
    line = (
        f"{label:<20} {phase.ok:>7} × 200 in {phase.seconds:5.2f} s = {phase.rate:8.1f} req/s   "
        f"p50 {percentile(phase.latencies, 50) * 1000:6.1f} ms  p99 {percentile(phase.latencies, 99) * 1000:6.1f} ms"
    )
    if phase.machine_busy is not None:
        line += f"   machine busy {phase.machine_busy:4.0%}"
    if phase.errors:
        line += f"   NON-200: {len(phase.errors)}"
    return line


def benchmark(base_url: str, token: str, args: argparse.Namespace, server_pid: int) -> dict[tuple[str, str], list[Phase]]:
    limits = httpx.Limits(max_connections=args.concurrency + 2, max_keepalive_connections=args.concurrency + 2)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    results: dict[tuple[str, str], list[Phase]] = {(s, p): [] for s in SHAPES for p in (RAW, ES)}
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=60.0) as client:
        started = time.perf_counter()
        ids = setup(client, args.items)
        print(f"set up {len(ids)} items in {time.perf_counter() - started:.1f} s", flush=True)
        shapes = {"hot": ids[:1], "spread": ids}
        if args.warmup > 0:
            for path in (RAW, ES):
                warm = Phase(path)
                drive(client, warm, ids, args.warmup, args.concurrency, server_pid)
                print(f"warm-up {LABELS[path]:<4} {warm.ok} × 200" + (f", {len(warm.errors)} NON-200" if warm.errors else ""))
                if warm.errors:
                    results[("spread", path)].append(warm)
                    return results
        for round_no, shape, path in itertools.product(range(1, args.rounds + 1), SHAPES, (RAW, ES)):
            caught_up(client)
            phase = Phase(path)
            drive(client, phase, shapes[shape], args.seconds, args.concurrency, server_pid)
            results[(shape, path)].append(phase)
            print(describe(phase, f"round {round_no} {shape} {LABELS[path]}"), flush=True)
            if phase.errors:
                return results
        caught_up(client)
    return results


def report(results: dict[tuple[str, str], list[Phase]], args: argparse.Namespace) -> bool:
    print()
    print("=" * 78)
    print(f"stock reservation benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"concurrency {args.concurrency}, {args.rounds} × {args.seconds:g} s per shape and endpoint, {args.items} items")  # fmt: skip
    rates: dict[tuple[str, str], float] = {}
    errors: list[str] = []
    for (shape, path), phases in results.items():
        seconds = sum(p.seconds for p in phases)
        latencies = [lat for p in phases for lat in p.latencies]
        errors += [e for p in phases for e in p.errors]
        rates[(shape, path)] = len(latencies) / seconds if seconds else float("nan")
        print(f"  {shape:<6} {LABELS[path]:<4} {rates[(shape, path)]:8.1f} req/s   p50 {percentile(latencies, 50) * 1000:6.1f} ms"
              f"   p99 {percentile(latencies, 99) * 1000:6.1f} ms")  # fmt: skip
    for shape in SHAPES:
        raw, es = rates[(shape, RAW)], rates[(shape, ES)]
        print(f"  {shape:<6} ratio es/raw: {es / raw if raw else float('nan'):.2f}")
    print(f"  {load_note()}")
    if errors:
        print(f"  NON-200 ANSWERS: {len(errors)}; the first ones:")
        for error in errors[:5]:
            print(f"    {error}")
    print("=" * 78)
    return not errors


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the four phases (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per endpoint (default 3)")
    parser.add_argument("--items", type=int, default=200, help="stock items of the spread shape (default 200)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.rounds < 1 or args.items < 1:
        parser.error("--seconds, --concurrency, --rounds and --items must be positive")

    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="crm-es-bench-stock-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    print(f"starting crm-es serve on {base_url}; {load_note()}", flush=True)
    try:
        with serve(workdir, port) as process:
            wait_until_up(base_url, process)
            results = benchmark(base_url, login(base_url), args, process.pid)
        return 0 if report(results, args) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"stock benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
