#!/usr/bin/env python
"""Authorisation benchmark: what authenticating and authorising one request costs.

In one process, against a fresh database (embedded PostgreSQL in a temporary directory, or a
fresh database on CRM_ES_BENCH_DATABASE_URL), with a company of departments and users:

- baseline: take a pooled connection and run one trivial query (``SELECT 1``): the least any
  request that touches the database pays;
- authorise (cached): ``get_principal`` for a bearer token — JWT check, the staff model's
  generation read, the cached access of the user; what every request pays;
- authorise (cold): the same after a staff change, which recomputes the user's access (roles,
  department tree, visible owners): what the first request after a change pays.

Prints microseconds per call and the overhead relative to the baseline.

Usage: python ops/bench/auth.py [--calls 3000] [--users 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from crm_es.aggregates.role import Role
from crm_es.api.deps import get_principal
from crm_es.api.security import issue_token
from crm_es.app import Context
from crm_es.projections.staff import compute_access
from crm_es.runtime import Runtime, connect
from crm_es.settings import Settings
from crm_es.store import Database, EmbeddedPostgres, create_database, drop_database


def timed(calls: int, work: Callable[[], object]) -> float:
    """Median microseconds per call over five rounds of ``calls // 5`` calls."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls // 5):
            work()
        rounds.append((time.perf_counter() - start) / (calls // 5) * 1e6)
    return statistics.median(rounds)


def build_company(runtime: Runtime, users: int) -> uuid.UUID:
    """Departments three levels deep with ``users`` salespeople; returns a manager's id."""
    app = runtime.app
    ctx = Context.system("bench")
    top = app.create_department(ctx=ctx, name="销售中心").id
    regions = [app.create_department(ctx=ctx, name=f"区域{i}", parent_id=top).id for i in range(4)]
    teams = [app.create_department(ctx=ctx, name=f"小组{i}", parent_id=regions[i % 4]).id for i in range(12)]
    seller = Role.create_id("salesperson")
    for i in range(users):
        app.register_user(ctx=ctx, username=f"seller{i}", password="bench-password-1", display_name=f"销售{i}",
                          department_id=teams[i % len(teams)], role_ids=(seller,))  # fmt: skip
    manager = app.register_user(ctx=ctx, username="manager", password="bench-password-1", display_name="经理",
                                department_id=top, role_ids=(Role.create_id("sales_manager"),)).id  # fmt: skip
    runtime.staff_changed()
    return manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()

    external = os.environ.get("CRM_ES_BENCH_DATABASE_URL")
    directory = None
    server = None
    if external:
        root = Database(external, embedded=False)
    else:
        directory = Path(tempfile.mkdtemp(prefix="crm-es-bench-auth-"))
        server = EmbeddedPostgres(directory)
        root = Database(server.start(), embedded=True)
    name = f"crm_es_bench_{uuid.uuid4().hex[:12]}"
    try:
        database = create_database(root, name)
        runtime = connect(Settings(database_url=database.conninfo), database)
        try:
            manager = build_company(runtime, args.users)
            header = "Bearer " + issue_token(manager, runtime.secret_key, 3600)
            pool = runtime.app.recorder.datastore

            def baseline() -> None:
                with pool.get_connection() as conn:
                    conn.execute("SELECT 1").fetchone()

            def cached() -> None:
                get_principal(runtime, header)

            def cold() -> None:
                with pool.get_connection() as conn, conn.cursor() as cur:
                    compute_access(cur, manager)

            principal = get_principal(runtime, header)
            owners = principal.access.owners("customers")
            base, warm, fresh = timed(args.calls, baseline), timed(args.calls, cached), timed(args.calls // 3, cold)
        finally:
            runtime.close()
        drop_database(root, name)
    finally:
        if server is not None:
            server.stop()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    print(f"authorisation: a sales manager over {args.users} salespeople in 17 departments "
          f"(sees {len(owners or [])} owners)")  # fmt: skip
    print(f"  baseline  SELECT 1 on a pooled connection   {base:8.1f} µs")
    print(f"  authorise (cached access)                  {warm:8.1f} µs   {warm / base:5.2f}× baseline")
    print(f"  authorise (after a staff change, cold)     {fresh + warm:8.1f} µs   {(fresh + warm) / base:5.2f}× baseline")


if __name__ == "__main__":
    main()
