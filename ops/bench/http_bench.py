#!/usr/bin/env python
"""HTTP benchmark: crm-es side by side with a plain FastAPI + psycopg app, under wrk.

Starts one PostgreSQL (embedded, in a temporary directory; or the server named by
CRM_ES_BENCH_DATABASE_URL, else CRM_ES_DATABASE_URL, where it creates two fresh databases and
drops them afterwards), then in processes of their own:

- crm-es: ``crm-es serve`` on its database, seeded with ``crm-es seed-demo`` and topped up to the
  wanted number of customers through ``POST /api/v1/customers``;
- the plain app (ops/bench/plain_app.py, ``uvicorn ops.bench.plain_app:app``, one process) on
  the other database, loaded with a copy of the same customers (same ids, names, owners, ...)
  and, for its history endpoint, one change row per event crm-es stored for each customer.

Then, for each scenario and concurrency, it runs wrk against each app in turn (reads first, at
the seeded size; POST last, since it adds customers) and prints requests per second, the ratio
crm-es/plain, p50/p95/p99 latencies, answers that were not 2xx and socket errors.

Scenarios (the Lua script sends the same requests, with the same bearer token, to both apps):

    list     GET /api/v1/customers, newest 50; every other request filtered by one owner_id
    get      GET /api/v1/customers/{id}, rotating over up to 1,000 customers
    search   GET /api/v1/customers?q=..., name fragments of 2 Chinese characters, 3 and 4
             characters, whole names, names with one character wrong, and a query that matches
             nothing
    history  GET /api/v1/customers/{id}/history, rotating over customers with contacts or
             activities (every customer when there are none)
    post     POST /api/v1/customers, varied Chinese companies (ops/bench/_cndata.py)

Usage: python ops/bench/http_bench.py [--customers small|large|N] [--duration 10]
           [--concurrency 16,64] [--scenarios list,get,search,history,post] [--workers N]

wrk must be on PATH: when it is not, the benchmark installs it with apt-get when it runs as root
on Debian or Ubuntu, and otherwise says how to install it and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
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
from urllib.parse import quote

import httpx
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cndata as cndata  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("bench-admin", "bench-password-1")
SIZES = {"small": 1_000, "large": 100_000}
SCENARIOS = ("list", "get", "search", "history", "post")  # reads first: post adds customers
APPS = ("plain", "crm-es")
SEED = 20261124


# Processes --------------------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, each in a session of its own, so that stopping it
    stops whatever it started too (uvicorn workers, wrk threads)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
        """SIGTERM to its process group, wait; SIGKILL the group if it will not stop."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group (a worker that outlived its parent) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            self.stop(process)
        self.started.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, user + system ticks of the process and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), sum(int(fields[i]) for i in (11, 12, 13, 14))
    except (OSError, ValueError, IndexError):
        return None


def tree(pid: int) -> dict[int, int]:
    """CPU ticks of ``pid`` and every live descendant (Linux /proc), by pid."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                stats[int(entry.name)] = stat
    found, frontier = {}, [pid]
    while frontier:
        current = frontier.pop()
        if current in stats and current not in found:
            found[current] = stats[current][1]
            frontier += [p for p, (parent, _) in stats.items() if parent == current]
    return found


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    ticks = tree(pid)
    return sum(ticks.values()) / os.sysconf("SC_CLK_TCK") if ticks else None


def machine_ticks() -> tuple[int, int] | None:
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


def load_note() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


# wrk --------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The path of wrk; installed with apt-get when missing and we are root on Debian/Ubuntu."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed: installing the Debian package wrk (apt-get update, apt-get install -y wrk)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
        installed = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, env=env, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if installed.returncode == 0 and found:
            return found
        print("apt-get could not install wrk", file=sys.stderr)
    print(
        "The HTTP benchmark needs wrk (https://github.com/wg/wrk) on PATH. Install it with\n"
        "  sudo apt-get install wrk      (Debian, Ubuntu)\n"
        "  sudo dnf install wrk          (Fedora)\n"
        "  brew install wrk              (macOS)\n"
        "or build it from source: git clone https://github.com/wg/wrk && make -C wrk, then put wrk/wrk on PATH.",
        file=sys.stderr,
    )
    raise SystemExit(2)


def lua_string(text: str) -> str:
    """A Lua long-bracket string literal holding ``text`` as is."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


LUA = """
-- Written by ops/bench/http_bench.py: rotates over the requests below; counts answers by status.
local targets = {
%(requests)s
}
wrk.method = "%(method)s"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  counter = thread_no * 7919
  codes = {}
end

function request()
  counter = counter + 1
  local r = targets[counter %% #targets + 1]
  return wrk.format(nil, r[1], nil, r[2])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    codes[status] = (codes[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("codes")) do
      all[status] = (all[status] or 0) + count
    end
  end
  local codes_text = ""
  for status, count in pairs(all) do
    codes_text = codes_text .. status .. ":" .. count .. ","
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%%d duration_us=%%d bytes=%%d p50=%%d p95=%%d p99=%%d max=%%d " ..
    "connect=%%d read=%%d write=%%d status=%%d timeout=%%d codes=%%s\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, codes_text))
end
"""


def write_lua(path: Path, method: str, token: str, requests: list[tuple[str, str | None]]) -> None:
    items = ",\n".join(
        "  {" + lua_string(target) + (", " + lua_string(body) if body is not None else "") + "}" for target, body in requests
    )
    path.write_text(LUA % {"requests": items, "method": method, "token": token}, encoding="utf-8")


@dataclass
class Run:
    app: str
    scenario: str
    concurrency: int
    requests: int = 0
    seconds: float = 0.0
    bytes: int = 0
    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    socket_errors: dict[str, int] = field(default_factory=dict)
    codes: dict[int, int] = field(default_factory=dict)
    app_cpu: float | None = None
    db_cpu: float | None = None
    machine_busy: float | None = None
    max_lag: int | None = None
    """crm-es POST runs: the largest projection lag (events) seen while writing."""
    catch_up_seconds: float | None = None
    """crm-es POST runs: how long the projections took to catch up after the run."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request(self) -> float | None:
        """CPU seconds the app and PostgreSQL spent per request (None when unknown)."""
        if self.app_cpu is None or self.db_cpu is None or not self.requests:
            return None
        return (self.app_cpu + self.db_cpu) / self.requests

    @property
    def non_2xx(self) -> int:
        return sum(self.codes.values())

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def describe_errors(self) -> str:
        parts = [f"{count}×{status}" for status, count in sorted(self.codes.items())]
        parts += [f"{count} {kind}" for kind, count in self.socket_errors.items() if count]
        return ", ".join(parts) or "0"


RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)


def run_wrk(wrk: str, script: Path, url: str, concurrency: int, seconds: float, log: Path,
            processes: Processes) -> dict[str, str]:  # fmt: skip
    argv = [wrk, f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s",
            "--latency", "-s", str(script), url]  # fmt: skip
    log.write_text("")
    process = processes.start("wrk", argv, log)
    try:
        process.wait(timeout=seconds + 60)
    finally:
        processes.stop(process, timeout=5)
        processes.started = [(n, p) for n, p in processes.started if p is not process]
    output = log.read_text(errors="replace")
    match = RESULT.search(output)
    if process.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (status {process.returncode}):\n{output[-2000:]}")
    return dict(item.split("=", 1) for item in match.group(1).split())


# The apps ---------------------------------------------------------------------------------------


@dataclass
class App:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def wait_until_up(app: App, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(app.url + path, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if app.process.poll() is not None:
            raise RuntimeError(f"{app.name} exited with status {app.process.returncode} while starting:\n{app.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{app.name} was not up within {timeout:.0f} s:\n{app.tail()}")
        time.sleep(0.2)


def crm_es_command() -> list[str]:
    script = Path(sys.executable).parent / "crm-es"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crm_es.cli"]


def serve_has_workers() -> bool:
    shown = subprocess.run([*crm_es_command(), "serve", "--help"], capture_output=True, text=True, cwd=ROOT)
    return "--workers" in shown.stdout


def crm_es_env(database_url: str, port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_ES_")}
    env.update(CRM_ES_DATABASE_URL=database_url, CRM_ES_LOG_LEVEL="warning",
               CRM_ES_ADMIN_USERNAME=ADMIN[0], CRM_ES_ADMIN_PASSWORD=ADMIN[1])  # fmt: skip
    if port is not None:
        env.update(CRM_ES_HOST="127.0.0.1", CRM_ES_PORT=str(port))
    return env


def login(app: App) -> str:
    response = httpx.post(f"{app.url}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login answered {response.status_code}: {response.text[:300]}")
    return response.json()["access_token"]


def projection_lag(app: App) -> int:
    response = httpx.get(f"{app.url}/readyz", timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"/readyz answered {response.status_code}: {response.text[:300]}")
    return sum(p["lag"] for p in response.json()["projections"].values())


def caught_up(app: App, timeout: float = 600.0) -> None:
    started = time.monotonic()
    while projection_lag(app) > 0:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the projections did not catch up within {timeout:.0f} s")
        time.sleep(0.1)


# Data -------------------------------------------------------------------------------------------


def count_customers(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT count(*) FROM read_customers.customers").fetchone()[0]


def top_up(app: App, token: str, missing: int) -> None:
    """Register ``missing`` customers through the API (8 at a time)."""
    rng = random.Random(SEED + 1)
    bodies = [orjson.dumps(cndata.company(rng)) for _ in range(missing)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    failures: list[str] = []
    done = 0
    lock = threading.Lock()
    with httpx.Client(base_url=app.url, headers=headers, timeout=60,
                      limits=httpx.Limits(max_connections=8, max_keepalive_connections=8)) as client:  # fmt: skip

        def post(body: bytes) -> None:
            nonlocal done
            response = client.post("/api/v1/customers", content=body)
            with lock:
                done += 1
                if response.status_code != 201:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                if done % 10_000 == 0:
                    print(f"  {done} of {missing} registered", flush=True)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, bodies))
    if failures:
        raise RuntimeError(f"{len(failures)} registrations failed while seeding, the first: {failures[0]}")


CUSTOMER_COLUMNS = (
    "id", "name", "kind", "owner_id", "industry", "source", "level", "country", "province", "city", "address",
    "phone", "fax", "email", "website", "notes", "annual_revenue", "credit_limit", "employees", "tags",
    "created_at", "updated_at",
)  # fmt: skip
_NOT_CHANGE_DATA = {"originator_id", "originator_version", "timestamp", "actor", "correlation_id", "causation_id"}


def copy_to_plain(crm_conninfo: str, plain_conninfo: str) -> tuple[int, int]:
    """Copy crm-es's customers into plain_customers, and one row per stored event of each into
    plain_customer_changes. Returns (customers, change rows)."""
    from crm_es.store import OrjsonTranscoder

    transcoder = OrjsonTranscoder()
    columns = ", ".join(CUSTOMER_COLUMNS)
    with psycopg.connect(crm_conninfo) as source, psycopg.connect(plain_conninfo) as target:
        events_table = source.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE tablename LIKE '%\\_events' AND schemaname NOT LIKE 'read\\_%' ORDER BY tablename LIMIT 1"
        ).fetchone()[0]
        with target.cursor() as out:
            out.execute("TRUNCATE plain_customers, plain_customer_changes")
            with source.cursor(name="customers") as rows, out.copy(f"COPY plain_customers ({columns}) FROM STDIN") as copy:
                rows.execute(f"SELECT {columns} FROM read_customers.customers ORDER BY created_at")
                for row in rows:
                    copy.write_row(row)
            with source.cursor(name="events") as rows, out.copy(
                "COPY plain_customer_changes (customer_id, version, change_type, changed_at, actor, data) FROM STDIN"
            ) as copy:
                rows.execute(
                    f"SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {events_table} e "
                    "JOIN read_customers.customers c ON c.id = e.originator_id ORDER BY e.notification_id"
                )
                for originator_id, version, topic, state in rows:
                    event = transcoder.decode(bytes(state))
                    data = {k: v for k, v in event.items() if k not in _NOT_CHANGE_DATA}
                    copy.write_row((originator_id, version, topic.rpartition(":")[2],
                                    event.get("timestamp"), event.get("actor"), orjson.dumps(data, default=str).decode()))  # fmt: skip
        target.commit()
        customers = target.execute("SELECT count(*) FROM plain_customers").fetchone()[0]
        changes = target.execute("SELECT count(*) FROM plain_customer_changes").fetchone()[0]
    return customers, changes


def analyze(*conninfos: str) -> None:
    """Fresh planner statistics on both databases after the bulk loads (autovacuum would get
    there too, later)."""
    for conninfo in conninfos:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


@dataclass
class Workload:
    requests: dict[str, list[tuple[str, str | None]]]
    notes: dict[str, str]


def typo(name: str, rng: random.Random) -> str:
    """The name with one character (not the first two) replaced by another."""
    at = rng.randrange(2, len(name))
    replacement = rng.choice([c for c in "华泰鑫源达兴隆盛丰瑞" if c != name[at]])
    return name[:at] + replacement + name[at + 1:]


def build_workload(plain_conninfo: str) -> Workload:
    rng = random.Random(SEED)
    base = "/api/v1/customers"
    with psycopg.connect(plain_conninfo) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM plain_customers ORDER BY id")]
        names = [r[0] for r in conn.execute("SELECT name FROM plain_customers ORDER BY id")]
        owners = [r[0] for r in conn.execute("SELECT DISTINCT owner_id FROM plain_customers WHERE owner_id IS NOT NULL ORDER BY 1")]
        with_history = [r[0] for r in conn.execute(
            "SELECT customer_id FROM plain_customer_changes GROUP BY customer_id HAVING count(*) > 1 ORDER BY 1"
        )]  # fmt: skip
        events = conn.execute("SELECT count(*) FROM plain_customer_changes").fetchone()[0]
    get_ids = rng.sample(ids, min(1000, len(ids)))
    history_ids = rng.sample(with_history or ids, min(1000, len(with_history or ids)))

    lists: list[tuple[str, str | None]] = []
    for owner in owners or [None]:
        lists.append((base, None))
        if owner is not None:
            lists.append((f"{base}?owner_id={owner}", None))

    sample = rng.sample(names, min(40, len(names)))
    shapes = {
        "2 characters, a city (宁波)": [n[:2] for n in sample[:8]],
        "2 characters inside the name": [n[2:4] for n in sample[8:16]],
        "3 characters": [n[2:5] for n in sample[16:24]],
        "4 characters": [n[:4] for n in sample[24:32]],
        "a whole name": sample[32:36],
        "a name with one character wrong": [typo(n, rng) for n in sample[36:40]],
        "nothing matches": ["无此客户名称"],
    }
    queries = [q for group in shapes.values() for q in group]
    searches: list[tuple[str, str | None]] = [(f"{base}?q={quote(q)}", None) for q in queries]

    post_rng = random.Random(SEED + 2)
    posts = [(base, orjson.dumps(cndata.company(post_rng)).decode()) for _ in range(1000)]

    return Workload(
        requests={
            "list": lists,
            "get": [(f"{base}/{i}", None) for i in get_ids],
            "search": searches,
            "history": [(f"{base}/{i}/history", None) for i in history_ids],
            "post": posts,
        },
        notes={
            "list": f"newest 50; every other request filtered by one of {len(owners)} owners",
            "get": f"{len(get_ids)} customers in turn",
            "search": f"{len(queries)} queries in turn: " + "; ".join(f"{k} ({len(v)})" for k, v in shapes.items()),
            "history": f"{len(history_ids)} customers in turn"
            + (" with contacts or activities" if with_history else "") + f" ({events} events over {len(ids)} customers)",
            "post": "1,000 varied companies in turn",
        },
    )


def answer_sizes(apps: dict[str, App], token: str, workload: Workload, scenarios: list[str]) -> dict[tuple[str, str], str]:
    """Send each GET once to each app (at most 100 per scenario): every answer must be 2xx.
    Returns the mean number of items per answer, for the report."""
    sizes: dict[tuple[str, str], str] = {}
    headers = {"Authorization": f"Bearer {token}"}
    for name, app in apps.items():
        with httpx.Client(base_url=app.url, headers=headers, timeout=60) as client:
            for scenario in scenarios:
                if scenario == "post":
                    continue
                counts = []
                for target, _ in workload.requests[scenario][:100]:
                    response = client.get(target)
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: GET {target} answered {response.status_code}: {response.text[:300]}")
                    body = response.json()
                    counts.append(len(body["items"]) if "items" in body else 1)
                sizes[(name, scenario)] = f"{sum(counts) / len(counts):.1f}"
    return sizes


# Measuring --------------------------------------------------------------------------------------


def measure(wrk: str, app: App, scenario: str, concurrency: int, seconds: float, script: Path,
            workdir: Path, processes: Processes, db_pid: int | None) -> Run:  # fmt: skip
    run = Run(app.name, scenario, concurrency)
    app_cpu, db_cpu, ticks = cpu_seconds(app.process.pid), cpu_seconds(db_pid), machine_ticks()
    watching = app.name == "crm-es" and scenario == "post"
    lags: list[int] = []
    stop = threading.Event()

    def watch_lag() -> None:
        # Whether the read models keep up with the writes: their lag, four times a second.
        while not stop.wait(0.25):
            try:
                lags.append(projection_lag(app))
            except (httpx.HTTPError, RuntimeError):
                pass

    watcher = threading.Thread(target=watch_lag, daemon=True)
    if watching:
        watcher.start()
    result = run_wrk(wrk, script, app.url, concurrency, seconds, workdir / "wrk.log", processes)
    app_after, db_after, ticks_after = cpu_seconds(app.process.pid), cpu_seconds(db_pid), machine_ticks()
    if watching:
        stop.set()
        watcher.join()
        started = time.monotonic()
        caught_up(app)
        run.max_lag = max(lags, default=0)
        run.catch_up_seconds = time.monotonic() - started
    if app.process.poll() is not None:
        raise RuntimeError(f"{app.name} exited with status {app.process.returncode} during {scenario}:\n{app.tail()}")
    run.requests = int(result["requests"])
    run.seconds = int(result["duration_us"]) / 1e6
    run.bytes = int(result["bytes"])
    run.p50, run.p95, run.p99, run.max = (int(result[k]) / 1000 for k in ("p50", "p95", "p99", "max"))
    run.socket_errors = {k: int(result[k]) for k in ("connect", "read", "write", "timeout")}
    run.codes = {int(s): int(c) for s, c in (item.split(":") for item in result["codes"].split(",") if item)}
    if app_cpu is not None and app_after is not None:
        run.app_cpu = app_after - app_cpu
    if db_cpu is not None and db_after is not None:
        run.db_cpu = db_after - db_cpu
    if ticks and ticks_after and ticks_after[1] > ticks[1]:
        run.machine_busy = (ticks_after[0] - ticks[0]) / (ticks_after[1] - ticks[1])
    return run


def benchmark(wrk: str, apps: dict[str, App], token: str, workload: Workload, args: argparse.Namespace,
              workdir: Path, processes: Processes, db_pid: int | None) -> list[Run]:  # fmt: skip
    runs: list[Run] = []
    for scenario in args.scenarios:
        scripts = {}
        for name in APPS:
            scripts[name] = workdir / f"{scenario}-{name}.lua"
            write_lua(scripts[name], "POST" if scenario == "post" else "GET", token, workload.requests[scenario])
        for turn, concurrency in enumerate(args.concurrency):
            # Which app goes first alternates, so that a drift in the machine's load hits both.
            order = APPS if turn % 2 == 0 else APPS[::-1]
            for name in order:
                app = apps[name]
                if turn == 0 and args.warmup > 0:
                    run_wrk(wrk, scripts[name], app.url, concurrency, args.warmup, workdir / "wrk.log", processes)
                if scenario == "post":
                    # crm-es's projections apply the customers registered before: let them
                    # finish, so that neither app is measured beside that work.
                    caught_up(apps["crm-es"])
                run = measure(wrk, app, scenario, concurrency, args.duration, scripts[name], workdir, processes, db_pid)
                runs.append(run)
                print(
                    f"  {scenario:<8} c={concurrency:<3} {name:<7} {run.rate:8.1f} req/s   p50 {run.p50:7.1f}  "
                    f"p95 {run.p95:7.1f}  p99 {run.p99:7.1f} ms   errors {run.describe_errors()}",
                    flush=True,
                )
    return runs


# Report -----------------------------------------------------------------------------------------


def report(runs: list[Run], args: argparse.Namespace, setup: dict[str, str], workload: Workload,
           sizes: dict[tuple[str, str], str]) -> None:  # fmt: skip
    by_key = {(r.app, r.scenario, r.concurrency): r for r in runs}
    print()
    print("=" * 100)
    print(f"HTTP benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"{setup['customers']} customers, wrk {args.duration:g} s per run (--timeout 10s), "
          f"warm-up {args.warmup:g} s")  # fmt: skip
    print(f"  {setup['processes']}")
    print()
    header = (f"{'scenario':<9}{'conc':>5}{'plain req/s':>13}{'crm-es req/s':>14}{'crm-es/plain':>14}"
              f"{'p95 plain':>11}{'p95 crm-es':>12}{'CPU/req':>9}   errors plain / crm-es")  # fmt: skip
    print(header)
    print("-" * len(header))
    for scenario in args.scenarios:
        for concurrency in args.concurrency:
            plain, es = by_key.get(("plain", scenario, concurrency)), by_key.get(("crm-es", scenario, concurrency))
            if plain is None or es is None:
                continue
            ratio = es.rate / plain.rate if plain.rate else float("nan")
            cost = es.cpu_per_request / plain.cpu_per_request if es.cpu_per_request and plain.cpu_per_request else None
            print(f"{scenario:<9}{concurrency:>5}{plain.rate:>13.1f}{es.rate:>14.1f}{ratio:>14.2f}"
                  f"{plain.p95:>8.1f} ms{es.p95:>9.1f} ms{f'{cost:.2f}×' if cost else 'n/a':>9}   "
                  f"{plain.describe_errors()} / {es.describe_errors()}")  # fmt: skip
    print()
    print("details (latencies in ms; CPU in ms per request; answer size in bytes; items per answer of a GET):")
    print(f"  {'scenario':<9}{'conc':>5} {'app':<7}{'p50':>8}{'p99':>8}{'max':>8}{'app CPU':>9}{'db CPU':>8}"
          f"{'busy':>6}{'bytes':>8}{'items':>7}")  # fmt: skip
    for r in runs:
        per = (lambda cpu: f"{cpu / r.requests * 1000:.2f}" if cpu is not None and r.requests else "n/a")
        busy = f"{r.machine_busy:.0%}" if r.machine_busy is not None else "n/a"
        size = r.bytes // r.requests if r.requests else 0
        print(f"  {r.scenario:<9}{r.concurrency:>5} {r.app:<7}{r.p50:>8.1f}{r.p99:>8.1f}{r.max:>8.1f}"
              f"{per(r.app_cpu):>9}{per(r.db_cpu):>8}{busy:>6}{size:>8}{sizes.get((r.app, r.scenario), '-'):>7}")  # fmt: skip
    for r in runs:
        if r.max_lag is not None:
            print(f"  read models while crm-es wrote (post, c={r.concurrency}): largest lag {r.max_lag} events, "
                  f"caught up {r.catch_up_seconds:.2f} s after the run")  # fmt: skip
    print()
    print("  CPU/req: CPU time crm-es and PostgreSQL spent per request over the same for the plain app; when the")
    print("  machine's CPUs are the limit, crm-es/plain in requests per second tends to its inverse.")
    for scenario in args.scenarios:
        print(f"  {scenario}: {workload.notes[scenario]}")
    print(f"  client: {setup['wrk']} on the same machine (-t{min(2, min(args.concurrency))}); {load_note()}")
    print("=" * 100)


# Main -------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", default="small",
                        help="small (1,000), large (100,000) or a number (default small)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per app and scenario (default 2; 0: none)")
    parser.add_argument("--concurrency", default="16,64", help="open connections, comma-separated (default 16,64)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--workers", type=int, help="passed to crm-es serve --workers (default: crm-es's own default)")
    args = parser.parse_args(argv)
    if args.customers in SIZES:
        args.size, args.count = args.customers, SIZES[args.customers]
    elif args.customers.isdigit() and int(args.customers) > 0:
        args.count = int(args.customers)
        args.size = "small" if args.count < SIZES["large"] else "large"
    else:
        parser.error("--customers must be small, large or a positive number")
    try:
        args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes numbers, e.g. 16,64")
    wanted = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if not wanted or wanted - set(SCENARIOS):
        parser.error(f"--scenarios takes some of {', '.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in wanted]
    if args.duration <= 0 or not args.concurrency or min(args.concurrency) < 1:
        parser.error("--duration and --concurrency must be positive")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[tuple[str, int | None, str]]:
    """(conninfo of a maintenance database, postmaster pid when embedded, description)."""
    from crm_es.store import EmbeddedPostgres

    external = os.environ.get("CRM_ES_BENCH_DATABASE_URL") or os.environ.get("CRM_ES_DATABASE_URL")
    if external:
        yield external, None, "the PostgreSQL server of " + (
            "CRM_ES_BENCH_DATABASE_URL" if os.environ.get("CRM_ES_BENCH_DATABASE_URL") else "CRM_ES_DATABASE_URL")
        return
    server = EmbeddedPostgres(workdir / "pg")
    try:
        conninfo = server.start()
        pid_file = server.pgdata / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        yield conninfo, pid, "embedded PostgreSQL in a temporary directory"
    finally:
        server.stop()


@contextlib.contextmanager
def fresh_database(maintenance: str, prefix: str) -> Iterator[str]:
    from crm_es.store import Database, create_database, drop_database

    root = Database(maintenance, embedded=False)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    created = create_database(root, name)
    try:
        yield created.conninfo
    finally:
        drop_database(root, name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so that everything started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    processes = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="crm-es-bench-http-"))
    stack = contextlib.ExitStack()
    try:
        return run(args, wrk, processes, workdir, stack)
    except KeyboardInterrupt:
        print("interrupted; stopping what the benchmark started", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"HTTP benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        # Cleaning up must not be cut short by a second Ctrl-C or SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            processes.stop_all()
            stack.close()  # drops the databases it created, stops the embedded PostgreSQL
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, wrk: str, processes: Processes, workdir: Path, stack: contextlib.ExitStack) -> int:
    started = time.monotonic()
    maintenance, db_pid, where = stack.enter_context(postgres(workdir))
    crm_db = stack.enter_context(fresh_database(maintenance, "crm_es_bench"))
    plain_db = stack.enter_context(fresh_database(maintenance, "plain_bench"))
    print(f"{where}, a database for crm-es and one for the plain app; {load_note()}", flush=True)

    print(f"crm-es seed-demo --size {args.size} ...", flush=True)
    seed = processes.start("seed-demo", [*crm_es_command(), "seed-demo", "--size", args.size],
                           workdir / "seed.log", crm_es_env(crm_db))  # fmt: skip
    if seed.wait() != 0:
        raise RuntimeError(f"crm-es seed-demo failed:\n{(workdir / 'seed.log').read_text(errors='replace')[-3000:]}")

    serve = [*crm_es_command(), "serve"]
    workers_note = "crm-es serve with its default workers"
    if args.workers is not None:
        if serve_has_workers():
            serve += ["--workers", str(args.workers)]
            workers_note = f"crm-es serve --workers {args.workers}"
        else:
            workers_note = f"crm-es serve (it has no --workers option yet: --workers {args.workers} ignored)"
            print(f"note: crm-es serve has no --workers option yet; running it without", flush=True)
    crm_port, plain_port = free_port(), free_port()
    crm = App("crm-es", f"http://127.0.0.1:{crm_port}",
              processes.start("crm-es", serve, workdir / "crm-es.log", crm_es_env(crm_db, crm_port)),
              workdir / "crm-es.log")  # fmt: skip
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_ES_")}
    plain_env["PLAIN_DATABASE_URL"] = plain_db
    # uvicorn's defaults (one process), without an access log line per request: crm-es serve
    # writes none either.
    plain_argv = [sys.executable, "-m", "uvicorn", "ops.bench.plain_app:app", "--host", "127.0.0.1",
                  "--port", str(plain_port), "--no-access-log"]  # fmt: skip
    plain = App("plain", f"http://127.0.0.1:{plain_port}",
                processes.start("plain", plain_argv, workdir / "plain.log", plain_env), workdir / "plain.log")  # fmt: skip
    apps = {"plain": plain, "crm-es": crm}
    wait_until_up(crm, "/readyz")
    wait_until_up(plain, "/docs")
    token = login(crm)

    have = count_customers(crm_db)
    if have < args.count:
        print(f"{have} customers from seed-demo; registering {args.count - have} more through the API ...", flush=True)
        top_up(crm, token, args.count - have)
    caught_up(crm)
    customers, changes = copy_to_plain(crm_db, plain_db)
    analyze(crm_db, plain_db)
    print(f"both apps hold {customers} customers ({changes} events / change rows); "
          f"set up in {time.monotonic() - started:.0f} s", flush=True)  # fmt: skip

    crm_count, plain_count = len(tree(crm.process.pid)), len(tree(plain.process.pid))
    shown = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split()
    setup = {
        "wrk": " ".join(shown[:2]) or "wrk",
        "customers": f"{customers:,}",
        "processes": f"{workers_note}: {crm_count} process{'es' if crm_count > 1 else ''}; plain app: "
                     f"uvicorn, {plain_count} process{'es' if plain_count > 1 else ''}; {where}",
    }  # fmt: skip
    workload = build_workload(plain_db)
    sizes = answer_sizes(apps, token, workload, args.scenarios)
    print("measuring:", flush=True)
    runs = benchmark(wrk, apps, token, workload, args, workdir, processes, db_pid)
    report(runs, args, setup, workload, sizes)
    return 1 if any(r.errors for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
