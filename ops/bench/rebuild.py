#!/usr/bin/env python
"""Rebuild benchmark: how fast the customers read model is rebuilt from the event store,
compared with merely reading and decoding every event.

Loads N events into a fresh database (embedded PostgreSQL in a temporary directory, or a fresh
database on the server named by CRM_ES_BENCH_DATABASE_URL): customers with contacts, activity
records, profile edits, contact edits, reassignments and reclassifications, recorded through
the customer aggregate with the application's save. Then measures, alternately:

- raw decode: ``SELECT notification_id, originator_id, originator_version, topic, state FROM
  <events table> ORDER BY notification_id`` with a server-side cursor, 500 rows per fetch,
  every row turned into its domain event by the application's mapper (``CRM.decode``). The
  floor of any rebuild: what reading and decoding alone cost;
- rebuild: ``ReadSide.rebuild("customers")``, the blue-green rebuild operators run (fresh
  schema, batches of 500 events each applied and committed with its tracking position, swap).

Each is run --repeats times (after one untimed run of each); the medians are compared.

Usage: python ops/bench/rebuild.py [--events 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Notification
from psycopg import sql
from tqdm import tqdm

from crm_es.aggregates.base import recording
from crm_es.aggregates.customer import Customer
from crm_es.app import Context
from crm_es.runtime import Runtime, connect
from crm_es.settings import Settings
from crm_es.store import Database, EmbeddedPostgres, create_database, drop_database

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cndata as cndata  # noqa: E402

TARGET_RATE = 10_000
TARGET_RATIO = 0.3
FETCH = 500
SALESPEOPLE = 4


# Loading ----------------------------------------------------------------------------------------


def load(runtime: Runtime, events: int, seed: int, save_every: int) -> Counter[str]:
    """Write exactly ``events`` events: a few users (through the register-user command), then
    customers and their histories, ``save_every`` customers per save. Returns events by type."""
    rng = random.Random(seed)
    app = runtime.app
    kinds: Counter[str] = Counter()
    owners = []
    for i in range(SALESPEOPLE):
        user = app.register_user(
            ctx=Context.system("bench"), username=f"sales{i + 1}", password="bench-password-1",
            display_name=rng.choice(cndata.SURNAMES) + rng.choice(cndata.GIVEN),
        )  # fmt: skip
        owners.append(user.id)
    head = app.recorder.max_notification_id() or 0
    kinds["set-up events (users and what the application creates)"] = head
    budget = events - head
    if budget <= 0:
        raise SystemExit(f"--events must be more than the {head} set-up events")
    now = datetime.now(timezone.utc)
    bar = tqdm(total=events, initial=head, unit="ev", desc="loading events", dynamic_ncols=True, mininterval=0.5)
    batch: list[Customer] = []
    written = pending = 0
    while written < budget:
        customer, count = _customer_history(rng, owners, now, budget - written, kinds)
        batch.append(customer)
        written += count
        pending += count
        if len(batch) >= save_every or written >= budget:
            app.save(*batch)
            bar.update(pending)
            batch, pending = [], 0
    bar.close()
    return kinds


def _customer_history(
    rng: random.Random, owners: list[Any], now: datetime, budget: int, kinds: Counter[str]
) -> tuple[Customer, int]:
    """One customer with a plausible history of at most ``budget`` events (not yet saved)."""
    owner = rng.choice(owners)
    actor = str(owner)

    def command() -> Any:
        return recording(actor, str(uuid.uuid4()))

    profile = cndata.company(rng)
    with command():
        customer = Customer.register(owner_id=owner, **profile)
    plan: list[str] = ["contact"] * rng.choices((1, 2, 3, 4), (35, 35, 20, 10))[0]
    plan += ["activity"] * rng.choices(range(9), (8, 10, 14, 16, 16, 12, 10, 8, 6))[0]
    plan += ["profile"] * rng.choices((0, 1, 2), (45, 40, 15))[0]
    plan += ["contact_update"] * (rng.random() < 0.25)
    plan += ["reassign"] * (rng.random() < 0.1)
    plan += ["reclassify"] * (rng.random() < 0.1)
    first, rest = plan[:1], plan[1:]  # a customer's first contact comes first
    rng.shuffle(rest)
    for step in first + rest:
        if len(customer.pending_events) >= budget:
            break
        with command():
            if step == "contact":
                customer.add_contact(contact_id=uuid.uuid4(), **cndata.contact(rng))
            elif step == "activity":
                contact_id = rng.choice([None, *customer.contacts])
                customer.log_activity(activity_id=uuid.uuid4(), contact_id=contact_id, **cndata.activity(rng, now))
            elif step == "profile":
                customer.update_profile(**cndata.profile_change(rng))
            elif step == "contact_update":
                contact_id = rng.choice(list(customer.contacts))
                customer.update_contact(contact_id, **rng.choice([{"title": rng.choice(cndata.TITLES)},
                                                                  {"mobile": cndata.mobile(rng)},
                                                                  {"primary": True}]))  # fmt: skip
            elif step == "reassign":
                customer.reassign(owner_id=rng.choice(owners), reason="区域调整")
            elif step == "reclassify":
                customer.reclassify("customer" if customer.kind != "customer" else "partner")
    for e in customer.pending_events:
        kinds[type(e).__name__] += 1
    return customer, len(customer.pending_events)


# Measuring --------------------------------------------------------------------------------------


def raw_decode(runtime: Runtime, progress: Callable[[int], None]) -> int:
    """Stream every event in order, 500 rows per fetch, and decode each. Returns the count."""
    statement = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} ORDER BY notification_id"
    ).format(sql.Identifier(runtime.app.events_table))
    decode = runtime.app.decode
    count = 0
    with runtime.database.connect() as conn, conn.cursor(name="bench_raw_decode") as cur:
        cur.itersize = FETCH
        cur.execute(statement)
        while rows := cur.fetchmany(FETCH):
            for notification_id, originator_id, originator_version, topic, state in rows:
                decode(Notification(
                    id=notification_id, originator_id=originator_id, originator_version=originator_version,
                    topic=topic, state=bytes(state),
                ))  # fmt: skip
            count += len(rows)
            progress(count)
    return count


def timed_raw(runtime: Runtime, events: int, label: str) -> float:
    bar = tqdm(total=events, unit="ev", desc=label, dynamic_ncols=True, leave=False, mininterval=0.5)

    def progress(done: int) -> None:
        bar.n = done
        bar.refresh()

    started = time.perf_counter()
    count = raw_decode(runtime, progress)
    seconds = time.perf_counter() - started
    bar.close()
    if count != events:
        raise RuntimeError(f"raw decode read {count} events, expected {events}")
    return seconds


def timed_rebuild(runtime: Runtime, events: int, label: str) -> float:
    bar = tqdm(total=events, unit="ev", desc=label, dynamic_ncols=True, leave=False, mininterval=0.5)

    def progress(position: int, head: int) -> None:
        bar.total = head
        bar.n = position
        bar.refresh()

    started = time.perf_counter()
    position = runtime.read_side.rebuild("customers", progress)
    seconds = time.perf_counter() - started
    bar.close()
    if position != events:
        raise RuntimeError(f"the rebuild reached position {position}, expected {events}")
    return seconds


def read_model_counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.database.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM read_customers.{table}").fetchone()[0]
            for table in ("customers", "contacts", "activities")
        )


def load_note() -> str:
    """The machine's load average: other work running beside the benchmark skews it."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events to load (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each measurement (default 3)")
    parser.add_argument("--save-every", type=int, default=50, help="customers per save while loading (default 50)")
    parser.add_argument("--seed", type=int, default=20261124, help="random seed of the data")
    parser.add_argument("--check", action="store_true", help="exit with status 3 when a target is missed")
    args = parser.parse_args(argv)
    if args.events < 100 or args.repeats < 1 or args.save_every < 1:
        parser.error("--events must be at least 100, --repeats and --save-every at least 1")

    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="crm-es-bench-rebuild-"))
    external_url = os.environ.get("CRM_ES_BENCH_DATABASE_URL")
    embedded: EmbeddedPostgres | None = None
    dbname = f"crm_es_bench_{uuid.uuid4().hex[:12]}"
    server: Database | None = None
    try:
        if external_url:
            server, where = Database(external_url, embedded=False), "a fresh database on CRM_ES_BENCH_DATABASE_URL"
        else:
            embedded = EmbeddedPostgres(workdir)
            server, where = Database(embedded.start(), embedded=True), "embedded PostgreSQL in a temporary directory"
        database = create_database(server, dbname)
        print(f"rebuild benchmark on {where}; {load_note()}", flush=True)
        runtime = connect(Settings(database_url=database.conninfo, projection_batch_size=FETCH), database)
        try:
            return run(runtime, args)
        finally:
            runtime.close()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        try:
            if server is not None:
                drop_database(server, dbname)
        finally:
            if embedded is not None:
                embedded.stop()
            shutil.rmtree(workdir, ignore_errors=True)


def run(runtime: Runtime, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    kinds = load(runtime, args.events, args.seed, args.save_every)
    load_seconds = time.perf_counter() - started
    events = args.events
    with runtime.database.connect(autocommit=True) as conn:
        stored = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(runtime.app.events_table))).fetchone()[0]
        if stored != events:
            raise RuntimeError(f"{stored} events in the store, expected {events}")
        # Start every measurement from the same state: statistics and visibility bits set.
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(runtime.app.events_table)))
    print(f"loaded {events:,} events in {load_seconds:.1f} s ({events / load_seconds:,.0f} events/s): "
          + ", ".join(f"{n:,} {k}" for k, n in kinds.most_common()), flush=True)  # fmt: skip

    # One untimed run of each (caches, the first swap), then alternate so noise hits both.
    timed_raw(runtime, events, "warm-up raw decode")
    timed_rebuild(runtime, events, "warm-up rebuild")
    raw_rates: list[float] = []
    rebuild_rates: list[float] = []
    for i in range(1, args.repeats + 1):
        seconds = timed_raw(runtime, events, f"raw decode {i}/{args.repeats}")
        raw_rates.append(events / seconds)
        print(f"run {i}: raw decode {seconds:6.2f} s = {events / seconds:9,.0f} events/s", flush=True)
        seconds = timed_rebuild(runtime, events, f"rebuild {i}/{args.repeats}")
        rebuild_rates.append(events / seconds)
        print(f"run {i}: rebuild    {seconds:6.2f} s = {events / seconds:9,.0f} events/s", flush=True)
    customers, contacts, activities = read_model_counts(runtime)

    raw, rebuild = statistics.median(raw_rates), statistics.median(rebuild_rates)
    ratio = rebuild / raw
    rate_ok, ratio_ok = rebuild >= TARGET_RATE, ratio >= TARGET_RATIO
    print()
    print("=" * 78)
    print(f"rebuild benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"median of {args.repeats} runs each, batches of {FETCH}")  # fmt: skip
    print(f"  events:             {events:,} ({customers:,} customers, {contacts:,} contacts, "
          f"{activities:,} activities in the rebuilt read model)")  # fmt: skip
    print(f"  raw decode:         {raw:9,.0f} events/s")
    print(f"  rebuild customers:  {rebuild:9,.0f} events/s")
    print(f"  ratio rebuild/raw:  {ratio:9.2f}")
    print(f"  target rebuild ≥ {TARGET_RATE:,} events/s: {'met' if rate_ok else 'MISSED'}")
    print(f"  target ratio ≥ {TARGET_RATIO}:              {'met' if ratio_ok else 'MISSED'}")
    print(f"  the benchmark process and PostgreSQL share this machine's CPUs; {load_note()}")
    print("=" * 78)
    return 0 if (rate_ok and ratio_ok) or not args.check else 3


if __name__ == "__main__":
    sys.exit(main())
