"""Catch-up: how fast the live runner applies the log to every read model at once.

Applies the whole event log, in the live runner's batches (``CRM_ES_PROJECTION_BATCH_SIZE``,
500 events; every projection in one transaction per batch, as ``serve`` does), to fresh copies
of every read model (``read_<name>__next`` schemas, dropped at the end), on the database of
``CRM_ES_DATABASE_URL``, which it does not change otherwise. Then rebuilds each projection the
way ``crm-es projections rebuild`` does, into the same kind of copies. Prints events per second.

    CRM_ES_DATABASE_URL=postgresql://… ops/bench/run catchup     # after crm-es seed-demo --size large
    … ops/bench/run catchup --rebuild-only
    … ops/bench/run catchup --only opportunities               # some projections (comma-separated)
"""

from __future__ import annotations

import sys
import time

from psycopg import sql

from crm_es.projections.base import next_schema
from crm_es.runtime import connect
from crm_es.settings import Settings
from crm_es.store import open_database


def main() -> int:
    settings = Settings.from_env().with_(log_level="warning")
    if not settings.database_url:
        print("catchup: set CRM_ES_DATABASE_URL to a database holding events (e.g. after seed-demo)", file=sys.stderr)
        return 2
    with open_database(settings) as database:
        runtime = connect(settings, database)
        read_side = runtime.read_side
        projections = list(read_side.projections.values())
        if "--only" in sys.argv:
            wanted = sys.argv[sys.argv.index("--only") + 1].split(",")
            unknown = set(wanted) - {p.name for p in projections}
            if unknown:
                print(f"catchup: no projection named {', '.join(sorted(unknown))}", file=sys.stderr)
                return 2
            projections = [p for p in projections if p.name in wanted]
        with database.connect(autocommit=True) as conn:
            head = read_side.head(conn)

            def fresh(*, with_indexes: bool = True) -> None:
                for p in projections:
                    with conn.transaction():
                        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(next_schema(p.name))))
                        p.create_tables(conn.cursor(), next_schema(p.name), with_indexes=with_indexes)

            print(f"{head:,} events in the log; batches of {read_side.batch_size} events")
            if "--rebuild-only" not in sys.argv:
                fresh()
                targets = [(p, next_schema(p.name)) for p in projections]
                started = time.monotonic()
                position = 0
                while position < head:
                    position, _, failures = read_side._apply_batch(conn, targets, lock=False)
                    if failures:
                        raise failures[0]
                seconds = time.monotonic() - started
                which = "every projection" if len(projections) == len(read_side.projections) else ", ".join(
                    p.name for p in projections
                )
                print(f"live catch-up, {which} together: {head / seconds:,.0f} events/s ({seconds:.1f} s)")
            for p in projections:
                # As a rebuild does: tables without the query-only indexes, filled in big batches,
                # then the indexes (their time counts).
                fresh(with_indexes=False)
                started = time.monotonic()
                position = 0
                while position < head:
                    position, _ = read_side._rebuild_batch(conn, [(p, next_schema(p.name))])
                with conn.transaction():
                    p.create_indexes(conn.cursor(), next_schema(p.name))
                seconds = time.monotonic() - started
                print(f"rebuild {p.name:<14} {head / seconds:>9,.0f} events/s ({seconds:.1f} s)")
            for p in projections:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(next_schema(p.name))))
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
