#!/usr/bin/env python
"""Write benchmark: what event sourcing costs per request compared with a plain insert.

Starts ``crm-es serve`` in a subprocess on a free port (embedded PostgreSQL in a temporary
directory, or a fresh database on the server named by CRM_ES_BENCH_DATABASE_URL), with the
baseline endpoint ``POST /bench/customers-raw`` mounted. Then drives, at a fixed concurrency and
for a fixed time per phase:

- ``POST /bench/customers-raw``: token check, JSON parsing and validation as the real endpoint,
  then one INSERT of the body into a plain table (the baseline, "raw");
- ``POST /api/v1/customers``: the real command (aggregate, event, event store, notification),
  while the server's projection runners apply the new events to the read models ("es").

The phases alternate (raw, es, raw, es, ...) so that noise on the machine hits both. Before
each phase the benchmark waits until the projections have caught up, so that work left over
from an es phase does not slow the raw phase that follows. Only 201 answers count; any other
answer is reported and makes the benchmark exit with status 1.

The client (threads sharing one httpx.Client, bodies serialised in advance) runs on the same
machine as the server and PostgreSQL; the report says how much CPU it took from them.

Usage: python ops/bench/write.py [--seconds 10] [--concurrency 16] [--rounds 2] [--warmup 3]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cndata as cndata  # noqa: E402

RAW = "/bench/customers-raw"
ES = "/api/v1/customers"
LABELS = {RAW: "raw", ES: "es"}
ADMIN = ("bench-admin", "bench-password-1")
TARGET_RATIO = 0.5
MAX_ERRORS = 50  # a phase stops early after this many failed requests


# Measurement ------------------------------------------------------------------------------------


@dataclass
class Phase:
    path: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu: float | None = None
    client_cpu: float = 0.0
    machine_busy: float | None = None
    lag_after: int | None = None
    catch_up_seconds: float | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_note() -> str:
    """The machine's load average: other work running beside the benchmark skews it."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine (Linux /proc/stat), or None."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


# Request bodies ---------------------------------------------------------------------------------


def make_bodies(count: int, seed: int) -> list[bytes]:
    """Varied customer registrations, serialised once so the client spends no time on JSON."""
    rng = random.Random(seed)
    return [orjson.dumps(cndata.company(rng)) for _ in range(count)]


# The load ---------------------------------------------------------------------------------------
# A pool of threads sharing one httpx.Client: on CPython this costs the client about a third of
# the CPU per request that httpx.AsyncClient does, and the client shares the machine's CPUs with
# the server and PostgreSQL.


def drive(client: httpx.Client, phase: Phase, bodies: list[bytes], seconds: float, concurrency: int, server_pid: int) -> None:
    counter = itertools.count(random.randrange(len(bodies)))
    stop_at = time.perf_counter() + seconds
    halt = threading.Event()  # set when the main thread is interrupted

    def worker() -> None:
        while time.perf_counter() < stop_at and len(phase.errors) < MAX_ERRORS and not halt.is_set():
            body = bodies[next(counter) % len(bodies)]
            started = time.perf_counter()
            try:
                response = client.post(phase.path, content=body)
            except httpx.HTTPError as error:
                phase.errors.append(f"{type(error).__name__}: {error}")
                continue
            if response.status_code == 201:
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
    server_cpu_after, ticks_after = process_cpu_seconds(server_pid), machine_ticks()
    if server_cpu is not None and server_cpu_after is not None:
        phase.server_cpu = server_cpu_after - server_cpu
    if ticks and ticks_after and ticks_after[1] > ticks[1]:
        phase.machine_busy = (ticks_after[0] - ticks[0]) / (ticks_after[1] - ticks[1])


def projection_lag(client: httpx.Client) -> int:
    response = client.get("/readyz")
    if response.status_code != 200:
        raise RuntimeError(f"/readyz answered {response.status_code}: {response.text[:300]}")
    return sum(p["lag"] for p in response.json()["projections"].values())


def caught_up(client: httpx.Client, timeout: float = 300.0) -> float:
    """Wait until every projection has applied every event; return how long that took."""
    started = time.perf_counter()
    while projection_lag(client) > 0:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the projections did not catch up within {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def describe(phase: Phase, label: str) -> str:
    line = (
        f"{label:<12} {phase.ok:>7} × 201 in {phase.seconds:5.2f} s = {phase.rate:8.1f} req/s   "
        f"p50 {percentile(phase.latencies, 50) * 1000:6.1f} ms  p99 {percentile(phase.latencies, 99) * 1000:6.1f} ms"
    )
    if phase.server_cpu is not None and phase.ok:
        line += f"   server CPU {phase.server_cpu / phase.ok * 1000:5.2f} ms/req"
    if phase.machine_busy is not None:
        line += f"   machine busy {phase.machine_busy:4.0%}"
    if phase.lag_after is not None:
        line += f"   projection lag at end {phase.lag_after} (caught up in {phase.catch_up_seconds:.2f} s)"
    if phase.errors:
        line += f"   NON-201: {len(phase.errors)}"
    return line


def benchmark(base_url: str, token: str, args: argparse.Namespace, server_pid: int) -> list[Phase]:
    bodies = make_bodies(args.bodies, args.seed)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=60.0) as client:
        if args.warmup > 0:
            for path in (RAW, ES):
                warm = Phase(path)
                drive(client, warm, bodies, args.warmup, args.concurrency, server_pid)
                print(f"warm-up {LABELS[path]:<4} {warm.ok} × 201" + (f", {len(warm.errors)} NON-201" if warm.errors else ""))
                if warm.errors:
                    return [warm]
                caught_up(client)
        phases: list[Phase] = []
        for round_no, path in itertools.product(range(1, args.rounds + 1), (RAW, ES)):
            caught_up(client)
            phase = Phase(path)
            drive(client, phase, bodies, args.seconds, args.concurrency, server_pid)
            phase.lag_after = projection_lag(client)
            phase.catch_up_seconds = caught_up(client)
            phases.append(phase)
            print(describe(phase, f"round {round_no} {LABELS[path]}"), flush=True)
            if phase.errors:
                break
        return phases


# The server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(workdir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``crm-es serve`` in a subprocess; stopped with SIGTERM (killed if it will not stop)."""
    from crm_es.store import Database, create_database, drop_database

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_ES_")}
    env.update(
        CRM_ES_HOST="127.0.0.1", CRM_ES_PORT=str(port), CRM_ES_BENCH_ENDPOINTS="true",
        CRM_ES_ADMIN_USERNAME=ADMIN[0], CRM_ES_ADMIN_PASSWORD=ADMIN[1], CRM_ES_LOG_LEVEL="warning",
    )  # fmt: skip
    external_url = os.environ.get("CRM_ES_BENCH_DATABASE_URL")
    external = Database(external_url, embedded=False) if external_url else None
    dbname = f"crm_es_bench_{uuid.uuid4().hex[:12]}"
    data_dir = workdir / "data"
    if external is not None:
        env["CRM_ES_DATABASE_URL"] = create_database(external, dbname).conninfo
    else:
        env["CRM_ES_DATA_DIR"] = str(data_dir)
    log_path = workdir / "serve.log"
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "crm_es.cli", "serve"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            yield process
        finally:
            _stop(process, log_path, None if external is not None else data_dir)
    finally:
        if external is not None:
            drop_database(external, dbname)


def _stop(process: subprocess.Popen[bytes], log_path: Path, embedded_data_dir: Path | None) -> None:
    """SIGTERM, wait; kill if it will not stop (and then stop its embedded PostgreSQL)."""
    from crm_es.store import EmbeddedPostgres

    killed = False
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed = True
    if process.returncode not in (0, -signal.SIGTERM):
        print(f"crm-es serve exited with status {process.returncode}; its log ends with:", file=sys.stderr)
        print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
    if killed and embedded_data_dir is not None:
        # The embedded PostgreSQL of a killed server is stopped by the next one out: us.
        with contextlib.suppress(Exception):
            embedded = EmbeddedPostgres(embedded_data_dir)
            embedded.start()
            embedded.stop()


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"crm-es serve exited with status {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"crm-es serve was not ready within {timeout:.0f} s")
        time.sleep(0.2)


def login(base_url: str) -> str:
    response = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login answered {response.status_code}: {response.text[:300]}")
    return response.json()["access_token"]


# Report -----------------------------------------------------------------------------------------


def report(phases: list[Phase], args: argparse.Namespace) -> tuple[bool, bool]:
    """Print the totals. Returns (every request answered 201, the target ratio is met)."""
    totals: dict[str, Phase] = {}
    for path in (RAW, ES):
        total = Phase(path)
        for phase in (p for p in phases if p.path == path):
            total.seconds += phase.seconds
            total.latencies += phase.latencies
            total.errors += phase.errors
            total.client_cpu += phase.client_cpu
            if phase.server_cpu is not None:
                total.server_cpu = (total.server_cpu or 0.0) + phase.server_cpu
        totals[path] = total
    measured = sum(p.seconds for p in phases)
    client_share = sum(p.client_cpu for p in phases) / measured if measured else 0.0
    print()
    print("=" * 78)
    print(f"write benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"concurrency {args.concurrency}, {args.rounds} × {args.seconds:g} s per endpoint")  # fmt: skip
    for path in (RAW, ES):
        t = totals[path]
        cpu = f"   server CPU {t.server_cpu / t.ok * 1000:.2f} ms/req" if t.server_cpu is not None and t.ok else ""
        print(
            f"  {LABELS[path]:<4} POST {path:<22} {t.rate:8.1f} req/s   p50 {percentile(t.latencies, 50) * 1000:6.1f} ms"
            f"   p99 {percentile(t.latencies, 99) * 1000:6.1f} ms{cpu}"
        )
    raw, es = totals[RAW].rate, totals[ES].rate
    ratio = es / raw if raw else float("nan")
    print(f"  ratio es/raw: {ratio:.2f}   (target ≥ {TARGET_RATIO:.2f}: {'met' if ratio >= TARGET_RATIO else 'MISSED'})")
    print(
        f"  client: {args.concurrency} threads sharing one httpx.Client ({args.concurrency} keep-alive connections), "
        f"on the same machine;\n          it used {client_share:.0%} of one CPU while measuring, CPU the server "
        "and PostgreSQL did not get"
    )
    print(f"  {load_note()}")
    errors = [e for p in phases for e in p.errors]
    if errors:
        print(f"  NON-201 ANSWERS: {len(errors)}; the first ones:")
        for error in errors[:5]:
            print(f"    {error}")
    print("=" * 78)
    return not errors, ratio >= TARGET_RATIO


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="raw/es phase pairs (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per endpoint (default 3)")
    parser.add_argument("--bodies", type=int, default=4096, help="distinct request bodies (default 4096)")
    parser.add_argument("--seed", type=int, default=20261124, help="random seed of the bodies")
    parser.add_argument("--check", action="store_true", help="exit with status 3 when the target ratio is missed")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.rounds < 1 or args.bodies < 1:
        parser.error("--seconds, --concurrency, --rounds and --bodies must be positive")

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the server is always stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="crm-es-bench-write-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    where = "a fresh database on CRM_ES_BENCH_DATABASE_URL" if os.environ.get("CRM_ES_BENCH_DATABASE_URL") else \
        "embedded PostgreSQL in a temporary directory"  # fmt: skip
    print(f"starting crm-es serve on {base_url} ({where}); {load_note()}", flush=True)
    try:
        with serve(workdir, port) as process:
            wait_until_up(base_url, process)
            token = login(base_url)
            phases = benchmark(base_url, token, args, process.pid)
        all_201, target_met = report(phases, args)
        if not all_201:
            return 1
        return 3 if args.check and not target_met else 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"write benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
