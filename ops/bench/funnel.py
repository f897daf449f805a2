#!/usr/bin/env python
"""Funnel benchmark: crm-es's sales reports at scale, over HTTP, beside a plain FastAPI +
psycopg app that computes the same numbers with hand-written SQL straight on its tables
(ops/bench/plain_funnel.py), under wrk.

Data: ``crm-es seed-demo --size large`` (100,000 customers, about 233,000 opportunities over
three years, about 940,000 opportunity events), on a fresh database (embedded PostgreSQL in a
temporary directory, or the server of CRM_ES_BENCH_DATABASE_URL, else CRM_ES_DATABASE_URL), or
on a database seeded before (``--database URL``: seeding again there writes nothing, and the
database is kept). The plain app gets a database of its own with a copy of the opportunities,
their stage history and amounts, the competitors' names and the department members, each
indexed on what its queries filter by.

Scenarios (the same requests to both apps; the plain app gets the caller's scope as a
parameter, crm-es from the token):

    funnel             GET /reports/funnel, now, as the administrator (every opportunity)
    funnel-past        the same as of moments a year back
    funnel-owner       ?owner_id= each salesperson in turn, now and a year back
    funnel-department  ?department_id= each sales team in turn, now and a year back
    funnel-period      ?from&to: this year so far, a quarter, a month, odd days
    funnel-manager     as the sales manager (her department tree), now and a year back
    funnel-salesperson as a salesperson (their own), now and a year back
    forecast           GET /reports/forecast, as the administrator
    forecast-past      the same as of moments a year back
    lost-reasons       GET /reports/lost-reasons, all time and this year
    competitors        GET /reports/competitors, all time and this year

Before measuring, every request of every scenario (at most 40 of each) is sent to both apps
with the same ``as_of``, and the answers must be the same numbers. Then a few requests of each
scenario go to each app one at a time (``--alone``: the median time of one request, without
queueing), and per scenario and concurrency wrk runs against each app in turn. The report
prints requests per second, the ratio crm-es/plain (a lower bound when the plain app answered
nothing within a run), p50 and p95 of each, and the times alone. ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS)
of crm-es's funnel statements and of the opportunity search ``q`` at that scale.

Usage: ops/bench/run funnel [--size large] [--database URL] [--duration 10] [--concurrency 16]
           [--scenarios funnel,funnel-past,...] [--alone 5] [--workers N] [--explain] [--explain-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_bench import (  # noqa: E402
    APPS,
    App,
    Processes,
    Run,
    caught_up,
    crm_es_command,
    crm_es_env,
    ensure_wrk,
    free_port,
    fresh_database,
    load_note,
    login,
    measure,
    postgres,
    run_wrk,
    serve_has_workers,
    tree,
    wait_until_up,
    write_lua,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "funnel", "funnel-past", "funnel-owner", "funnel-department", "funnel-period", "funnel-manager",
    "funnel-salesperson", "forecast", "forecast-past", "lost-reasons", "competitors",
)  # fmt: skip
MANAGER, SALESPERSON, DEMO_PASSWORD = "zhaomin", "wangli", "demo-password"
ZONE = timezone(timedelta(hours=8))
CHECKED = 40
"""Requests of each scenario whose answers are compared before measuring."""
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)
"""A connection per request: a plain app's query can outlast the other server's keep-alive."""


# Setting up -------------------------------------------------------------------------------------


def copy_to_plain(crm: str, plain: str) -> dict[str, int]:
    """crm-es's opportunities, stage history, amounts, customer names of competitors and
    department members, copied into the plain app's tables."""
    tables = {
        "plain_opportunities": (
            "SELECT id, customer_id, owner_id, title, amount, expected_close_date, stage, status, competitor_ids, "
            "lost_reason, lost_competitor_id, closed_at, created_at FROM read_opportunities.opportunities"
        ),
        "plain_stage_history": "SELECT opportunity_id, version, stage, entered_at, left_at FROM read_opportunities.stage_history",
        "plain_amounts": "SELECT opportunity_id, version, amount, valid_from FROM read_opportunities.amounts",
        "plain_close_dates": (
            "SELECT opportunity_id, version, expected_close_date, valid_from FROM read_opportunities.close_dates"
        ),
        "plain_customers": (
            "SELECT c.id, c.name FROM read_opportunities.customers c WHERE c.id IN "
            "(SELECT unnest(competitor_ids) FROM read_opportunities.opportunities "
            "UNION SELECT lost_competitor_id FROM read_opportunities.opportunities)"
        ),
        "plain_department_members": (
            "WITH RECURSIVE tree AS (SELECT id AS top, id FROM read_staff.departments "
            "UNION SELECT t.top, d.id FROM read_staff.departments d JOIN tree t ON d.parent_id = t.id) "
            "SELECT DISTINCT t.top, u.id FROM tree t JOIN read_staff.users u ON u.department_id = t.id"
        ),
    }
    counts = {}
    with psycopg.connect(crm) as source, psycopg.connect(plain) as target:
        for table, select in tables.items():
            target.execute(f"TRUNCATE {table}")
            with source.cursor(name=table) as rows, target.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                rows.execute(select)
                for row in rows:
                    copy.write_row(row)
            counts[table] = target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        target.commit()
    return counts


def vacuum(*conninfos: str) -> None:
    for conninfo in conninfos:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def login_as(app: App, username: str, password: str) -> str:
    response = httpx.post(f"{app.url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login as {username} answered {response.status_code}: {response.text[:300]}")
    return response.json()["access_token"]


# The workload -----------------------------------------------------------------------------------


def _url(path: str, **params: Any) -> str:
    shown = {k: v for k, v in params.items() if v is not None}
    return path + ("?" + urlencode(shown) if shown else "")


def _with(url: str, **params: Any) -> str:
    """``url`` with more query parameters."""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def build_workload(crm: str, now: datetime) -> dict[str, dict[str, Any]]:
    """Per scenario: the user it runs as and its requests, as (crm-es path, plain app path)."""
    with psycopg.connect(crm, row_factory=dict_row) as conn:
        users = {r["username"]: r for r in conn.execute("SELECT id, username, department_id FROM read_staff.users")}
        departments = conn.execute(
            "SELECT d.id, d.name, d.parent_id FROM read_staff.departments d ORDER BY d.name"
        ).fetchall()
        sellers = [r["owner_id"] for r in conn.execute(
            "SELECT owner_id FROM read_opportunities.opportunities GROUP BY 1 ORDER BY count(*) DESC, 1"
        )]  # fmt: skip
        tree = [r["id"] for r in conn.execute(
            "WITH RECURSIVE tree AS (SELECT id FROM read_staff.departments WHERE id = %s UNION "
            "SELECT d.id FROM read_staff.departments d JOIN tree t ON d.parent_id = t.id) "
            "SELECT u.id FROM read_staff.users u WHERE u.department_id IN (SELECT id FROM tree) ORDER BY 1",
            (users[MANAGER]["department_id"],),
        )]  # fmt: skip
    year_back = [(now - timedelta(days=365, hours=7 * n)).isoformat() for n in range(24)]
    funnel, forecast = "/api/v1/reports/funnel", "/api/v1/reports/forecast"
    lost, rivals = "/api/v1/reports/lost-reasons", "/api/v1/reports/competitors"
    today = now.astimezone(ZONE).date()
    this_year = date(today.year, 1, 1)
    quarter = date(today.year, ((today.month - 1) // 3) * 3 + 1, 1)
    periods = [(this_year, today), (quarter, today), (date(today.year - 1, 4, 1), date(today.year - 1, 6, 30)),
               (date(today.year - 1, 3, 17), date(today.year - 1, 8, 9)), (today.replace(day=1), today),
               (date(today.year - 2, 1, 1), date(today.year - 2, 12, 31))]  # fmt: skip
    teams = [d["id"] for d in departments if d["parent_id"] is not None]
    seller = users[SALESPERSON]["id"]

    def same(urls: list[str], scope: list[Any] | None = None) -> list[tuple[str, str]]:
        """(crm-es path, plain app path): the plain app is told the caller's scope."""
        if scope is None:
            return [(url, url) for url in urls]
        return [(url, _with(url, scope=",".join(map(str, scope)))) for url in urls]

    both_times = [None, *year_back[:11]]
    return {
        "funnel": {"user": "admin", "requests": same([funnel])},
        "funnel-past": {"user": "admin", "requests": same([_url(funnel, as_of=t) for t in year_back])},
        "funnel-owner": {"user": "admin", "requests": same(
            [_url(funnel, owner_id=o, as_of=year_back[n % 24] if n % 2 else None) for n, o in enumerate(sellers)])},
        "funnel-department": {"user": "admin", "requests": same(
            [_url(funnel, department_id=d, as_of=year_back[n % 24] if n % 2 else None)
             for n, d in enumerate([*teams, *teams])])},
        "funnel-period": {"user": "admin", "requests": same(
            [_url(funnel, **{"from": a.isoformat(), "to": b.isoformat()}) for a, b in periods])},
        "funnel-manager": {"user": MANAGER, "requests": same([_url(funnel, as_of=t) for t in both_times], tree)},
        "funnel-salesperson": {"user": SALESPERSON, "requests": same([_url(funnel, as_of=t) for t in both_times], [seller])},
        "forecast": {"user": "admin", "requests": same([forecast])},
        "forecast-past": {"user": "admin", "requests": same([_url(forecast, as_of=t) for t in year_back])},
        "lost-reasons": {"user": "admin", "requests": same([lost, _url(lost, **{"from": this_year.isoformat()})])},
        "competitors": {"user": "admin", "requests": same([rivals, _url(rivals, **{"from": this_year.isoformat()})])},
    }


# Checking the answers ---------------------------------------------------------------------------

CENT = Decimal("0.01")


def _numbers(value: Any) -> Any:
    """An answer's numbers, comparable whichever way each app writes them (decimal strings,
    floats), without what only one app adds (names of stages, crm-es's extra fields)."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items() if k not in ("name", "probability", "as_of")}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            return value
        return number.quantize(Decimal("0.0001")) if number.is_finite() else value
    return value


def check_answers(apps: dict[str, App], tokens: dict[str, str], workload: dict[str, dict[str, Any]],
                  scenarios: list[str], as_of: datetime) -> int:  # fmt: skip
    """Every request of the scenarios (at most CHECKED each), to both apps, with a fixed
    as_of where the request has none: the same numbers, or RuntimeError."""
    compared = 0
    with httpx.Client(timeout=600, limits=NO_KEEPALIVE) as client:
        for scenario in scenarios:
            spec = workload[scenario]
            headers = {"Authorization": f"Bearer {tokens[spec['user']]}"}
            for crm_path, plain_path in spec["requests"][:CHECKED]:
                if "as_of=" not in crm_path and "/funnel" in crm_path:  # "now" would differ by a few ms
                    crm_path, plain_path = _with(crm_path, as_of=as_of.isoformat()), _with(plain_path, as_of=as_of.isoformat())
                es = client.get(apps["crm-es"].url + crm_path, headers=headers)
                plain = client.get(apps["plain"].url + plain_path)
                for name, answer in (("crm-es", es), ("plain", plain)):
                    if answer.status_code != 200:
                        raise RuntimeError(f"{name} answered {answer.status_code} to {crm_path}: {answer.text[:300]}")
                if _numbers(es.json()) != _numbers(plain.json()):
                    raise RuntimeError(
                        f"{scenario}: crm-es and the plain app disagree on {crm_path}:\n"
                        f"crm-es: {es.text[:2000]}\nplain:  {plain.text[:2000]}"
                    )
                compared += 1
    return compared


# EXPLAIN ----------------------------------------------------------------------------------------


def explain(crm: str, now: datetime) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements crm-es runs for the funnel's shapes and for
    the opportunity search, each run once before (warm cache), as the benchmark measures."""
    from crm_es.aggregates.pipeline import DEFAULT_STAGES
    from crm_es.projections import opportunities

    with psycopg.connect(crm, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.cursor()
        users = {r["username"]: r for r in cur.execute("SELECT id, username, department_id FROM read_staff.users")}
        team = cur.execute("SELECT id FROM read_staff.departments WHERE parent_id IS NOT NULL ORDER BY name LIMIT 1").fetchone()["id"]
        members = [r["id"] for r in cur.execute("SELECT id FROM read_staff.users WHERE department_id = %s", (team,))]
        everyone = [r["id"] for r in cur.execute("SELECT id FROM read_staff.users")]
        today = now.astimezone(ZONE).date()
        start = datetime(today.year, 1, 1, tzinfo=ZONE)
        odd = (datetime(today.year - 1, 3, 17, tzinfo=ZONE), datetime(today.year - 1, 8, 10, tzinfo=ZONE))
        shapes = {
            "now, every opportunity (administrator)": {},
            "a year back, every opportunity": {"as_of": now - timedelta(days=365)},
            "now, the sales manager (her department tree: every salesperson)": {"owners": frozenset(everyone)},
            "now, one salesperson (their own)": {"owners": frozenset({users[SALESPERSON]["id"]})},
            "a year back, one salesperson": {"owners": frozenset({users[SALESPERSON]["id"]}), "as_of": now - timedelta(days=365)},
            "now, one sales team (department_id)": {"members": members},
            "now, this year so far (from the first of January)": {"opened_from": start},
            "now, odd days (17 March to 9 August last year)": {"opened_from": odd[0], "opened_before": odd[1]},
        }
        for title, shape in shapes.items():
            args = {"stages": list(DEFAULT_STAGES), "as_of": now, **shape}
            trace: list[Any] = []
            opportunities.funnel(cur, **args)
            started = time.perf_counter()
            opportunities.funnel(cur, trace=trace, **args)
            took = (time.perf_counter() - started) * 1000
            statement, params = trace[0]
            plan = cur.execute(
                b"EXPLAIN (ANALYZE, BUFFERS) " + opportunities.q(opportunities.SCHEMA, statement), params, prepare=False
            ).fetchall()  # fmt: skip
            print(f"\n#### Funnel: {title} ({took:.1f} ms in all)\n\n```")
            print("\n".join(r["QUERY PLAN"] for r in plan))
            print("```")
        exact_args = {"stages": list(DEFAULT_STAGES), "as_of": now}
        started = time.perf_counter()
        opportunities.funnel_exact(cur, **exact_args)
        print(f"\n(the same funnel from every stay, funnel_exact: {(time.perf_counter() - started) * 1000:.0f} ms)")
        _explain_search(cur, users)


def _explain_search(cur: Any, users: dict[str, Any]) -> None:
    from crm_es.projections import opportunities

    title = cur.execute("SELECT title FROM read_opportunities.opportunities ORDER BY created_at DESC LIMIT 1").fetchone()["title"]
    name = cur.execute(
        "SELECT c.name FROM read_opportunities.customers c JOIN read_opportunities.opportunities o ON o.customer_id = c.id "
        "ORDER BY o.created_at DESC LIMIT 1"
    ).fetchone()["name"]
    queries = {
        "1 Chinese character (年)": ("年", None), "2 Chinese characters (机床)": ("机床", None),
        "3 Chinese characters (冷链配)": ("冷链配", None), "a customer's whole name": (name, None),
        "pinyin initials of a customer (nbcs)": ("nbcs", None), "Latin (erp)": ("erp", None),
        "Latin word, 6 letters (sensor)": ("sensor", None), f"a title ({title})": (title, None),
        "2 Chinese characters, one salesperson (机床)": ("机床", frozenset({users[SALESPERSON]["id"]})),
    }  # fmt: skip
    for label, (text, owners) in queries.items():
        trace: list[Any] = []
        opportunities.list_opportunities(cur, limit=50, q_text=text, owners=owners)
        started = time.perf_counter()
        page = opportunities.list_opportunities(cur, limit=50, q_text=text, owners=owners, trace=trace)
        took = (time.perf_counter() - started) * 1000
        print(f"\n#### Search: {label}: `q = '{text}'` ({len(page.items)} rows, {took:.1f} ms in all)")
        for statement, params, rows, plans in trace:
            with cur.connection.transaction():
                cur.execute(plans)
                plan = cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params, prepare=False).fetchall()
            print(f"\n{rows} rows; planner: {plans}\n```")
            print("\n".join(r["QUERY PLAN"] for r in plan))
            print("```")


# Measuring --------------------------------------------------------------------------------------


def one_at_a_time(apps: dict[str, App], tokens: dict[str, str], workload: dict[str, dict[str, Any]],
                  scenarios: list[str], count: int) -> dict[tuple[str, str], float]:  # fmt: skip
    """The median time of one request alone (``count`` of each scenario's requests, in turn, to
    each app): what a query costs without queueing behind others."""
    medians = {}
    with httpx.Client(timeout=600, limits=NO_KEEPALIVE) as client:
        for scenario in scenarios:
            spec = workload[scenario]
            headers = {"Authorization": f"Bearer {tokens[spec['user']]}"}
            for name in APPS:
                times = []
                for crm_path, plain_path in (spec["requests"] * count)[:count]:
                    started = time.perf_counter()
                    answer = client.get(apps[name].url + (crm_path if name == "crm-es" else plain_path),
                                        headers=headers if name == "crm-es" else None)  # fmt: skip
                    times.append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{name} answered {answer.status_code} to {crm_path}: {answer.text[:300]}")
                medians[(name, scenario)] = sorted(times)[len(times) // 2] * 1000
            print(f"  {scenario:<19} one at a time: plain {medians[('plain', scenario)]:8.1f} ms   "
                  f"crm-es {medians[('crm-es', scenario)]:8.1f} ms", flush=True)
    return medians


def benchmark(wrk: str, apps: dict[str, App], tokens: dict[str, str], workload: dict[str, dict[str, Any]],
              args: argparse.Namespace, workdir: Path, processes: Processes) -> list[Run]:  # fmt: skip
    runs: list[Run] = []
    for scenario in args.scenarios:
        spec = workload[scenario]
        scripts = {}
        for name in APPS:
            scripts[name] = workdir / f"{scenario}-{name}.lua"
            requests = [(crm if name == "crm-es" else plain, None) for crm, plain in spec["requests"]]
            write_lua(scripts[name], "GET", tokens[spec["user"]], requests)
        for turn, concurrency in enumerate(args.concurrency):
            order = APPS if turn % 2 == 0 else APPS[::-1]
            for name in order:
                app = apps[name]
                if turn == 0 and args.warmup > 0:
                    run_wrk(wrk, scripts[name], app.url, concurrency, args.warmup, workdir / "wrk.log", processes)
                run = measure(wrk, app, scenario, concurrency, args.duration, scripts[name], workdir, processes, None)
                runs.append(run)
                print(f"  {scenario:<19} c={concurrency:<3} {name:<7} {run.rate:8.1f} req/s   p50 {run.p50:8.1f}  "
                      f"p95 {run.p95:8.1f} ms   errors {run.describe_errors()}", flush=True)  # fmt: skip
    return runs


def report(runs: list[Run], args: argparse.Namespace, setup: dict[str, str], alone: dict[tuple[str, str], float]) -> None:
    by_key = {(r.app, r.scenario, r.concurrency): r for r in runs}
    print()
    print("=" * 132)
    print(f"Funnel benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {setup['data']}, "
          f"wrk {args.duration:g} s per run, warm-up {args.warmup:g} s")  # fmt: skip
    print(f"  {setup['processes']}")
    print()
    header = (f"{'scenario':<20}{'conc':>5}{'plain req/s':>13}{'crm-es req/s':>14}{'crm-es/plain':>14}"
              f"{'p50 plain':>12}{'p95 plain':>12}{'p50 crm-es':>12}{'p95 crm-es':>12}{'alone plain':>13}"
              f"{'alone crm-es':>14}   errors")  # fmt: skip
    print(header)
    print("-" * len(header))

    def ms(value: float, done: int) -> str:
        return f"{value:.1f} ms" if done else "none done"

    for scenario in args.scenarios:
        for concurrency in args.concurrency:
            plain, es = by_key.get(("plain", scenario, concurrency)), by_key.get(("crm-es", scenario, concurrency))
            if plain is None or es is None:
                continue
            if plain.requests:
                ratio = f"{es.rate / plain.rate:.2f}"
            else:  # not one answer within the run: its rate is below one per run
                ratio = f">{es.rate * plain.seconds:.0f}" if plain.seconds else "n/a"
            lone = [f"{alone[(n, scenario)]:.1f} ms" if (n, scenario) in alone else "-" for n in APPS]
            print(f"{scenario:<20}{concurrency:>5}{plain.rate:>13.1f}{es.rate:>14.1f}{ratio:>14}"
                  f"{ms(plain.p50, plain.requests):>12}{ms(plain.p95, plain.requests):>12}{ms(es.p50, es.requests):>12}"
                  f"{ms(es.p95, es.requests):>12}{lone[0]:>13}{lone[1]:>14}   "
                  f"{plain.describe_errors()} / {es.describe_errors()}")  # fmt: skip
    print()
    print("  alone: the median time of one request at a time (before the wrk runs).")
    print(f"  {load_note()}")
    print("=" * 132)


# Main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"], help="seed-demo size (default large)")
    parser.add_argument("--database", help="a crm-es database seeded before with seed-demo --size SIZE (kept)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per app and scenario (default 2)")
    parser.add_argument("--concurrency", default="16", help="open connections, comma-separated (default 16)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--workers", type=int, help="passed to crm-es serve --workers")
    parser.add_argument("--alone", type=int, default=5, help="requests of each scenario sent one at a time first (default 5)")
    parser.add_argument("--explain", action="store_true", help="also print EXPLAIN (ANALYZE, BUFFERS) of the shapes")
    parser.add_argument("--explain-only", action="store_true", help="only set up and print the plans, no wrk")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    wanted = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if not wanted or wanted - set(SCENARIOS):
        parser.error(f"--scenarios takes some of {', '.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in wanted]
    if args.duration <= 0 or not args.concurrency or min(args.concurrency) < 1:
        parser.error("--duration and --concurrency must be positive")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = "" if args.explain_only else ensure_wrk()
    signal.signal(signal.SIGTERM, _interrupt)
    processes = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="crm-es-bench-funnel-"))
    stack = contextlib.ExitStack()
    try:
        return run(args, wrk, processes, workdir, stack)
    except KeyboardInterrupt:
        print("interrupted; stopping what the benchmark started", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"funnel benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            processes.stop_all()
            stack.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, wrk: str, processes: Processes, workdir: Path, stack: contextlib.ExitStack) -> int:
    started = time.monotonic()
    if args.database:
        from crm_es.store import Database

        crm_db = args.database
        maintenance = Database(crm_db, embedded=False).with_dbname("postgres").conninfo
        where = "the PostgreSQL server of --database"
    else:
        maintenance, _, where = stack.enter_context(postgres(workdir))
        crm_db = stack.enter_context(fresh_database(maintenance, "crm_es_bench"))
    plain_db = stack.enter_context(fresh_database(maintenance, "plain_funnel"))
    print(f"{where}; {load_note()}", flush=True)

    print(f"crm-es seed-demo --size {args.size} ...", flush=True)
    seed = processes.start("seed-demo", [*crm_es_command(), "seed-demo", "--size", args.size], workdir / "seed.log",
                           crm_es_env(crm_db))  # fmt: skip
    if seed.wait() != 0:
        raise RuntimeError(f"crm-es seed-demo failed:\n{(workdir / 'seed.log').read_text(errors='replace')[-3000:]}")
    summary = [line for line in (workdir / "seed.log").read_text(errors="replace").splitlines() if "written" in line]
    print("  " + "\n  ".join(summary), flush=True)

    serve = [*crm_es_command(), "serve"]
    workers_note = "crm-es serve with its default workers"
    if args.workers is not None and serve_has_workers():
        serve += ["--workers", str(args.workers)]
        workers_note = f"crm-es serve --workers {args.workers}"
    crm_port, plain_port = free_port(), free_port()
    crm = App("crm-es", f"http://127.0.0.1:{crm_port}",
              processes.start("crm-es", serve, workdir / "crm-es.log", crm_es_env(crm_db, crm_port)), workdir / "crm-es.log")  # fmt: skip
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_ES_")}
    plain_env["PLAIN_DATABASE_URL"] = plain_db
    plain_argv = [sys.executable, "-m", "uvicorn", "ops.bench.plain_funnel:app", "--host", "127.0.0.1",
                  "--port", str(plain_port), "--no-access-log"]  # fmt: skip
    plain = App("plain", f"http://127.0.0.1:{plain_port}",
                processes.start("plain", plain_argv, workdir / "plain.log", plain_env), workdir / "plain.log")  # fmt: skip
    apps = {"plain": plain, "crm-es": crm}
    wait_until_up(crm, "/readyz", timeout=1800)
    wait_until_up(plain, "/docs")
    caught_up(crm, timeout=1800)
    counts = copy_to_plain(crm_db, plain_db)
    vacuum(crm_db, plain_db)
    data = (f"{counts['plain_opportunities']:,} opportunities, {counts['plain_stage_history']:,} stays, "
            f"{counts['plain_amounts']:,} amounts")  # fmt: skip
    print(f"both apps hold {data}; set up in {time.monotonic() - started:.0f} s", flush=True)

    now = datetime.now(timezone.utc)
    if args.explain or args.explain_only:
        explain(crm_db, now)
        if args.explain_only:
            return 0
    tokens = {"admin": login(crm), MANAGER: login_as(crm, MANAGER, DEMO_PASSWORD),
              SALESPERSON: login_as(crm, SALESPERSON, DEMO_PASSWORD)}  # fmt: skip
    workload = build_workload(crm_db, now)
    compared = check_answers(apps, tokens, workload, args.scenarios, now)
    print(f"the same numbers from both apps for {compared} requests (as of {now.isoformat()})", flush=True)
    crm_count, plain_count = len(tree(crm.process.pid)), len(tree(plain.process.pid))
    setup = {
        "data": f"seed-demo --size {args.size}: {data}",
        "processes": f"{workers_note}: {crm_count} processes; plain app: uvicorn, {plain_count} process; {where}",
    }
    print("measuring, one request at a time:", flush=True)
    alone = one_at_a_time(apps, tokens, workload, args.scenarios, args.alone) if args.alone > 0 else {}
    print("measuring under wrk:", flush=True)
    runs = benchmark(wrk, apps, tokens, workload, args, workdir, processes)
    report(runs, args, setup, alone)
    # The plain app's queries may outlast wrk's 10 s timeout: that is its slowness, not a failure.
    return 1 if any(r.non_2xx or (r.errors and r.app == "crm-es") for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
