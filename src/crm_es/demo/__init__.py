"""Demo data: a sales department with its teams, a sales manager, salespeople, and the Chinese
SME customers they look after (``crm-es seed-demo``), from 60 customers for a tour to 100,000
for measurements.

One seed always gives the same data. Customers come in chunks (``Size.chunk``, 250 by default);
each chunk is planned from its own ``random.Random`` (seeded with the seed, the size and the
chunk's number), so a chunk can be planned without the ones before it and the whole data set
never needs to be in memory. Where each customer is and which brand it trades under is fixed
for the whole data set first (``make_layout``), so no two companies of a city share a brand,
and no two companies share a name or a web domain. The ids of customers, contacts and activity
records are derived from the seed, the size and the customer's number (uuid5), so the same seed
gives the same records with the same ids. Activity dates follow the day of seeding: they lie
within the 180 days before it (a seed resumed on a later day dates the rest from that day).

Loading: the staff goes through the application's commands (departments with an idempotency
key, users only if their username is not taken yet): the department 华东销售部 with a team per
region (宁波, 杭州, 上海, …), its manager 赵敏 (``zhaomin``, role sales_manager: she sees every
team's customers) and the salespeople (role salesperson: each sees their own customers); every user's password is
``demo-password``. The customers are built as ``Customer`` aggregates (every invariant of
registering, adding a contact and logging an activity is checked, and the reference fields are
checked against the reference lists like a command does) and saved a chunk per transaction,
with their events recorded under the actor ``process:seed-demo`` and one correlation id per
chunk. Before a chunk is saved, the customers of it that are already in the event store are
left out, so seeding again writes nothing new, and a seed that was interrupted continues where
it stopped: a chunk is either stored whole or not at all.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from time import monotonic
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from psycopg import sql

from crm_es.aggregates.base import recording
from crm_es.aggregates.customer import Customer
from crm_es.aggregates.role import Role
from crm_es.app import CRM, Context, Idempotency
from crm_es.app.customers import REFERENCES
from crm_es.demo import tickets as demo_tickets
from crm_es.demo.data import (
    BRANDS,
    CHINA_TIME,
    CITIES,
    KEEPER,
    MANAGER,
    SALES_DEPARTMENT,
    SALESPEOPLE,
    SIZES,
    WAREHOUSE_DEPARTMENT,
    City,
    Size,
    team_assignment,
    teams_of,
)
from crm_es.demo.orders import seed_orders
from crm_es.demo.plan import (
    DEFAULT_SEED,
    ID_NAMESPACE,
    Layout,
    Plan,
    PlannedActivity,
    PlannedContact,
    PlannedCustomer,
    customer_id,
    get_size,
    make_layout,
    make_plan,
    plan_chunk,
)
from crm_es.demo.stock import StockSeeded, seed_stock

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

__all__ = [  # the loader, and the data and plan it loads from
    "ACTOR", "BRANDS", "CHINA_TIME", "CITIES", "DEFAULT_SEED", "ID_NAMESPACE", "KEEPER", "MANAGER", "PASSWORD",
    "SALES_DEPARTMENT", "SALESPEOPLE", "SIZES", "City", "Layout", "Plan", "PlannedActivity", "PlannedContact",
    "PlannedCustomer", "Seeded", "Size", "customer_id", "get_size", "make_layout", "make_plan", "plan_chunk",
    "seed", "team_assignment", "teams_of",
]  # fmt: skip


# Loading ---------------------------------------------------------------------------------------

ACTOR = "process:seed-demo"
PASSWORD = "demo-password"


@dataclass
class Seeded:
    """What a seed-demo run found and did."""

    departments: int
    users: int
    customers: int  # of the data set: all of them are there now
    existing: int = 0  # of those, found stored by an earlier run (and not written again)
    contacts: int = 0  # written by this run
    activities: int = 0  # written by this run
    events: int = 0  # customer events written by this run (registrations, contacts, activities)
    orders: int = 0  # of the data set (demo/orders.py)
    seconds: float = 0.0  # spent on the customers (planning, building, saving), staff left out
    kept_passwords: list[str] = field(default_factory=list)
    """Demo usernames that existed already with another password than the demo's: kept as they are."""
    tickets: demo_tickets.SeededTickets | None = None
    """The service tickets of the customers (``demo/tickets.py``)."""
    stock: StockSeeded | None = None
    """The stock catalogue and its movements (demo/stock.py), for sizes that have one."""
    opportunities: Any = None
    """What seeding the opportunities did (``demo.opportunities.OpportunitiesSeeded``)."""

    @property
    def written(self) -> int:
        """Customers written by this run."""
        return self.customers - self.existing


def seed(
    runtime: Runtime,
    *,
    size: str | Size = "small",
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
    opportunity_progress: Callable[[int, int], None] | None = None,
    ticket_progress: Callable[[int, int], None] | None = None,
    stock_progress: Callable[[int, int], None] | None = None,
) -> Seeded:
    """Load the demo data of ``size``: the staff through the application's commands, then the
    customers a chunk per transaction, leaving out those already stored; then their service
    tickets, and the stock catalogue and its movements, the same way.

    ``progress(done, total)`` counts customers (stored now or before) after each chunk,
    ``opportunity_progress`` the customers whose opportunities are stored (demo/opportunities.py,
    a second pass), ``ticket_progress`` the customers whose service tickets are there (a third),
    and ``stock_progress`` the demo's stock items (demo/stock.py, a fourth). ``today`` (default:
    the date in China now) ends the activities', opportunities' and tickets' window."""
    size = get_size(size)
    today = today or datetime.now(CHINA_TIME).date()
    app = runtime.app
    teams = teams_of(size)
    department = _department(app, SALES_DEPARTMENT, None)
    team_ids = {team: _department(app, team, department) for team in teams}
    kept: list[str] = []
    manager = _user(app, *MANAGER, role="sales_manager", department_id=department, kept=kept)
    app.staff.change_department(ctx=_once("manager"), department_id=department, manager_id=manager)
    assignment = team_assignment(size)
    owners = {
        username: _user(app, username, display_name, role="salesperson", department_id=team_ids[assignment[username]],
                        kept=kept)
        for username, display_name in SALESPEOPLE[: size.salespeople]
    }
    service = demo_tickets.seed_staff(app, size, once=_once, user=_user)
    keeper = None
    if size.stock_items:
        stores = _department(app, WAREHOUSE_DEPARTMENT, None)
        keeper = _user(app, *KEEPER, role="warehouse", department_id=stores, kept=kept)
    runtime.staff_changed()
    for owner in owners.values():
        app.staff.check_user(owner, "owner_id")  # a command would refuse a disabled owner too

    report = Seeded(departments=1 + len(teams), users=1 + len(owners), customers=size.customers, kept_passwords=kept)
    spread = make_layout(size, seed)
    references = _ReferenceCheck(app)
    started = monotonic()
    if progress is not None:
        progress(0, size.customers)
    for chunk in range(size.chunks):
        indexes = size.indexes(chunk)
        stored = _stored(app, [customer_id(size, seed, index) for index in indexes])
        report.existing += len(stored)
        if len(stored) < len(indexes):
            planned = [c for c in plan_chunk(size, seed, chunk, today=today, layout=spread) if c.id not in stored]
            with recording(ACTOR, correlation_id=str(uuid5(ID_NAMESPACE, f"{seed}:{size.name}:chunk:{chunk}"))):
                customers = [_build(planned_customer, owners, references) for planned_customer in planned]
            app.save(*customers)  # one transaction: the chunk is stored whole or not at all
            report.contacts += sum(len(c.contacts) for c in planned)
            report.activities += sum(len(c.activities) for c in planned)
            report.events += sum(c.events for c in planned)
        report.seconds = monotonic() - started
        if progress is not None:
            progress(indexes.stop, size.customers)
    from crm_es.demo.opportunities import seed_opportunities

    report.opportunities = seed_opportunities(
        app, size=size, seed=seed, today=today, owners=owners, layout=spread, progress=opportunity_progress
    )
    report.tickets = demo_tickets.seed(
        runtime, size=size, seed=seed, today=today, layout=spread, staff=service,
        stored=lambda ids: _stored(app, ids), actor=ACTOR, progress=ticket_progress,
    )  # fmt: skip
    if keeper is not None:
        report.stock = seed_stock(
            app, count=size.stock_items, seed=seed, size_name=size.name, actor=ACTOR, counter=keeper,
            stored=lambda ids: _stored(app, ids), progress=stock_progress,
        )  # fmt: skip
    report.orders = seed_orders(runtime, size=size, seed=seed, today=today)
    return report


def _once(key: str) -> Context:
    """A context whose idempotency key makes the command happen once, however often seeding runs."""
    key = f"seed-demo:{key}"
    return Context(actor=ACTOR, idempotency=Idempotency(key, key))


def _department(app: CRM, name: str, parent_id: UUID | None) -> UUID:
    return app.staff.create_department(ctx=_once(f"department:{name}"), name=name, parent_id=parent_id).id


def _user(
    app: CRM, username: str, display_name: str, *, role: str, department_id: UUID, kept: list[str] | None = None
) -> UUID:
    """The id of the user with this username, registered if there is none yet. An existing
    user keeps their password; ``kept`` learns of those whose password is not the demo's."""
    existing = app.staff.user_by_username(username)
    if existing is not None:
        if kept is not None and not _has_password(existing.password_hash, PASSWORD):
            kept.append(username)
        return existing.id
    written = app.staff.register_user(
        ctx=Context(actor=ACTOR),
        username=username,
        password=PASSWORD,
        display_name=display_name,
        department_id=department_id,
        role_ids=(Role.create_id(role),),
    )
    return written.id


def _has_password(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    from crm_es.app.staff import password_hasher

    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _stored(app: CRM, ids: list[UUID]) -> set[UUID]:
    """Which of these aggregates are in the event store: one query."""
    statement = sql.SQL("SELECT originator_id FROM {} WHERE originator_id = ANY(%s) AND originator_version = 1").format(
        sql.Identifier(app.events_table)
    )
    with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        return {row["originator_id"] for row in conn.execute(statement, (ids,))}


class _ReferenceCheck:
    """The reference-data check of the register-customer command: the industry, the source and
    the level against their lists, the country, province and city against the regions. Each of
    the four is checked on its own (as the command does), once for each value it takes."""

    GROUPS = (("industry",), ("source",), ("level",), ("country", "province", "city"))

    def __init__(self, app: CRM):
        self.app = app
        self.passed: set[tuple[tuple[str, Any], ...]] = set()

    def __call__(self, profile: Mapping[str, Any]) -> None:
        for group in self.GROUPS:
            values = tuple((field, profile[field]) for field in group if field in profile)
            if values and values not in self.passed:
                self.app.reference.check_profile(dict(values), None, REFERENCES)
                self.passed.add(values)


def _build(planned: PlannedCustomer, owners: Mapping[str, UUID], check_references: _ReferenceCheck) -> Customer:
    """The customer as its registration, contacts and activities make it: the aggregate's own
    methods, so every invariant is checked, and its events are pending until it is saved."""
    check_references(planned.profile)
    customer = Customer.register(
        customer_id=planned.id, name=planned.name, kind=planned.kind, owner_id=owners[planned.owner], **planned.profile
    )
    for contact in planned.contacts:
        customer.add_contact(contact_id=contact.id, **contact.fields)
    for activity in planned.activities:
        customer.log_activity(
            activity_id=activity.id,
            kind=activity.kind,
            occurred_at=activity.occurred_at,
            summary=activity.summary,
            next_step=activity.next_step,
            contact_id=None if activity.contact is None else planned.contacts[activity.contact].id,
        )
    return customer
