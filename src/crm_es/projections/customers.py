"""Customers read model: the customer list with search (``projections/search.py``), contacts
and activities."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import dict_row

from crm_es.aggregates.customer import MONEY_FIELDS, PROFILE_FIELDS, TEXT_FIELDS, Customer
from crm_es.projections import search
from crm_es.projections.base import OVERVIEW_LATEST, Batch, FoldingProjection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from crm_es.access import Access

SCHEMA = live_schema("customers")

CUSTOMER_COLUMNS = (
    "id", "name", "kind", "owner_id", *TEXT_FIELDS, *MONEY_FIELDS, "employees", "tags",
    "contact_count", "activity_count", "last_activity_at", "created_at", "updated_at", "version",
)  # fmt: skip
CONTACT_COLUMNS = (
    "id", "customer_id", "name", "title", "department", "phone", "mobile", "email", "address",
    "hobbies", "birthday", "is_primary", "created_at", "updated_at",
)  # fmt: skip
ACTIVITY_COLUMNS = (
    "id", "customer_id", "kind", "occurred_at", "summary", "contact_id", "opportunity_id",
    "next_step", "recorded_by", "recorded_at",
)  # fmt: skip

_STORED_CUSTOMER = (
    "id", "name", "kind", "owner_id", *TEXT_FIELDS, *MONEY_FIELDS, "employees", "tags", *search.COLUMNS,
    "contact_count", "activity_count", "last_activity_at", "created_at", "updated_at", "version",
)  # fmt: skip
_STORED_CONTACT = CONTACT_COLUMNS


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {{s}}.{table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns if c != 'id')}"
    )


_UPSERT_CUSTOMER = _upsert("customers", _STORED_CUSTOMER)
_UPSERT_CONTACT = _upsert("contacts", _STORED_CONTACT)


_CHANGED, _SEARCH_CHANGED, _NAME_CHANGED = "_changed", "_search", "_name"
"""Marks on a row in memory (not columns): it changed; what it is found by changed (name, short
name, phone or its contacts: search columns and contact count recomputed); its name changed
(pinyin initials recomputed too)."""

_SEARCHED_FIELDS = frozenset({"name", "short_name", "phone"})


class _Batch(Batch):
    """The rows one batch of events touches, loaded once, changed in memory, written once."""

    def __init__(self) -> None:
        self.stored: set[UUID] = set()
        """Ids of the customers and contacts that were already in the tables."""
        self.customers: dict[UUID, dict[str, Any]] = {}
        self.contacts: dict[UUID, dict[UUID, dict[str, Any]]] = {}
        self.changed_contacts: set[UUID] = set()
        self.activities: list[tuple[Any, ...]] = []

    @classmethod
    def load(cls, cur: Cursor[Any], schema: str, items: list[tuple[int, Any]]) -> _Batch:
        customer_ids = list({e.originator_id for _, e in items})
        batch = cls()
        rows = cur.connection.cursor(row_factory=dict_row)
        for row in rows.execute(
            q(schema, f"SELECT {', '.join(_STORED_CUSTOMER)} FROM {{s}}.customers WHERE id = ANY(%s)"), (customer_ids,)
        ):
            batch.customers[row["id"]] = row
            batch.stored.add(row["id"])
        for row in rows.execute(
            q(schema, f"SELECT {', '.join(_STORED_CONTACT)} FROM {{s}}.contacts WHERE customer_id = ANY(%s)"),
            (customer_ids,),
        ):
            batch.contacts.setdefault(row["customer_id"], {})[row["id"]] = row
            batch.stored.add(row["id"])
        return batch

    def touch(self, e: Any, *, contacts_changed: bool = False) -> dict[str, Any]:
        """The customer's row, marked changed by event ``e`` (its version and time)."""
        row = self.customers[e.originator_id]
        row["updated_at"] = e.timestamp
        row["version"] = e.originator_version
        row[_CHANGED] = True
        if contacts_changed:
            row[_SEARCH_CHANGED] = True
        return row

    def demote_primary(self, customer_id: UUID) -> None:
        for contact in self.contacts.get(customer_id, {}).values():
            if contact["is_primary"]:
                contact["is_primary"] = False
                self.changed_contacts.add(contact["id"])

    def write(self, cur: Cursor[Any], schema: str) -> None:
        customers = [row for row in self.customers.values() if _CHANGED in row]
        for row in customers:
            if _SEARCH_CHANGED in row:
                contacts = sorted(self.contacts.get(row["id"], {}).values(), key=lambda c: (c["created_at"], c["id"]))
                row["contact_count"] = len(contacts)
                row.update(search.columns(
                    row["name"], short_name=row["short_name"],
                    phones=[row["phone"], *(p for c in contacts for p in (c["mobile"], c["phone"]))],
                    names=[c["name"] for c in contacts],
                    initials=None if _NAME_CHANGED in row else row["search_initials"],
                ))  # fmt: skip
        self._store(cur, schema, "customers", _STORED_CUSTOMER, _UPSERT_CUSTOMER, customers)
        by_id = {cid: c for contacts in self.contacts.values() for cid, c in contacts.items()}
        contacts = [by_id[i] for i in self.changed_contacts]
        self._store(cur, schema, "contacts", _STORED_CONTACT, _UPSERT_CONTACT, contacts)
        if self.activities:
            _copy(cur, schema, "activities", ACTIVITY_COLUMNS, self.activities)

    def _store(
        self, cur: Cursor[Any], schema: str, table: str, columns: tuple[str, ...], upsert: str,
        rows: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        """New rows go in with COPY (a rebuild writes mostly new rows); changed ones are updated."""
        new = [[row[c] for c in columns] for row in rows if row["id"] not in self.stored]
        changed = [[row[c] for c in columns] for row in rows if row["id"] in self.stored]
        if new:
            _copy(cur, schema, table, columns, new)
        if changed:
            cur.executemany(q(schema, upsert), changed)


_TYPES = {
    **{c: "text" for c in (*TEXT_FIELDS, "name", "kind", "title", "department", "mobile", "hobbies", "summary",
                           "next_step", "recorded_by")},
    **search.TYPES,
    **{c: "uuid" for c in ("id", "owner_id", "customer_id", "contact_id", "opportunity_id")},
    **{c: "numeric" for c in MONEY_FIELDS},
    **{c: "int4" for c in ("employees", "contact_count", "activity_count", "version")},
    **{c: "timestamptz" for c in ("last_activity_at", "created_at", "updated_at", "occurred_at", "recorded_at")},
    "tags": "text[]", "birthday": "date", "is_primary": "bool",
}  # fmt: skip
"""Column types, for binary COPY."""


def _copy(cur: Cursor[Any], schema: str, table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
    with cur.copy(q(schema, f"COPY {{s}}.{table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)")) as copy:
        copy.set_types([_TYPES[c] for c in columns])
        for row in rows:
            copy.write_row(row)


class CustomersProjection(FoldingProjection):
    name = "customers"
    version = 5
    batch = _Batch
    ddl = """
    CREATE TABLE {s}.customers (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        kind text NOT NULL,
        owner_id uuid NOT NULL,
        short_name text, industry text, source text, level text, country text, province text, city text,
        address text, phone text, fax text, email text, website text, notes text,
        annual_revenue numeric(17, 2), credit_limit numeric(17, 2), employees integer,
        tags text[] NOT NULL DEFAULT '{}',
        contact_count integer NOT NULL DEFAULT 0,
        activity_count integer NOT NULL DEFAULT 0,
        last_activity_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL,
    """ + search.DDL + """
    ) WITH (fillfactor = 80);  -- room on each page, so counter updates stay heap-only

    CREATE TABLE {s}.contacts (
        id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        name text NOT NULL,
        title text, department text, phone text, mobile text, email text, address text,
        hobbies text, birthday date,
        is_primary boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX contacts_customer ON {s}.contacts (customer_id, created_at, id);

    CREATE TABLE {s}.activities (
        id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        kind text NOT NULL,
        occurred_at timestamptz NOT NULL,
        summary text NOT NULL,
        contact_id uuid,
        opportunity_id uuid,
        next_step text,
        recorded_by text,
        recorded_at timestamptz NOT NULL
    );
    """
    indexes = search.indexes("{s}", "customers") + """
    CREATE INDEX customers_recent ON {s}.customers (created_at DESC, id DESC);
    CREATE INDEX customers_owner ON {s}.customers (owner_id, created_at DESC, id DESC);
    CREATE INDEX customers_region ON {s}.customers (province, city);
    CREATE INDEX customers_kind ON {s}.customers (kind);
    CREATE INDEX customers_industry ON {s}.customers (industry);
    CREATE INDEX contacts_birthday ON {s}.contacts (extract(month FROM birthday), extract(day FROM birthday));
    CREATE INDEX activities_customer ON {s}.activities (customer_id, occurred_at DESC, id DESC);
    CREATE INDEX activities_opportunity ON {s}.activities (opportunity_id, occurred_at DESC, id DESC)
        WHERE opportunity_id IS NOT NULL;
    """

    def overview(self, cur: Cursor[Any], customer_id: UUID, access: Access) -> dict[str, Any]:
        """Contacts (the primary one first) and activities (newest first): counts and the latest few."""
        counts = cur.execute(
            q(SCHEMA, "SELECT contact_count, activity_count, last_activity_at FROM {s}.customers WHERE id = %s"),
            (customer_id,),
        ).fetchone()  # fmt: skip
        if counts is None:
            return {}
        contacts = cur.execute(
            q(SCHEMA, "SELECT " + ", ".join(CONTACT_COLUMNS) + " FROM {s}.contacts WHERE customer_id = %s "
                      "ORDER BY is_primary DESC, created_at DESC, id DESC LIMIT %s"),
            (customer_id, OVERVIEW_LATEST),
        ).fetchall()  # fmt: skip
        activities = list_activities(cur, customer_id, limit=OVERVIEW_LATEST).items
        return {
            "contacts": {"count": counts["contact_count"], "latest": contacts},
            "activities": {"count": counts["activity_count"], "last_at": counts["last_activity_at"], "latest": activities},
        }

    @singledispatchmethod
    def fold(self, event: Any, batch: _Batch) -> None:
        """Events this projection does not handle change nothing."""

    @fold.register
    def _registered(self, e: Customer.Registered, batch: _Batch) -> None:
        if e.originator_id in batch.customers:
            return  # already projected
        row = {f: getattr(e, f) for f in PROFILE_FIELDS}
        row.update(
            id=e.originator_id, kind=e.kind, owner_id=e.owner_id, tags=list(e.tags), contact_count=0,
            activity_count=0, last_activity_at=None, created_at=e.timestamp,
        )  # fmt: skip
        row[_SEARCH_CHANGED] = row[_NAME_CHANGED] = True
        batch.customers[e.originator_id] = row
        batch.touch(e)

    @fold.register
    def _profile_updated(self, e: Customer.ProfileUpdated, batch: _Batch) -> None:
        changes = {f: (list(v) if f == "tags" else v) for f, v in e.changes.items() if f in PROFILE_FIELDS}
        row = batch.touch(e)
        row.update(changes)
        if not _SEARCHED_FIELDS.isdisjoint(changes):
            row[_SEARCH_CHANGED] = True
            if "name" in changes:
                row[_NAME_CHANGED] = True

    @fold.register
    def _reclassified(self, e: Customer.Reclassified, batch: _Batch) -> None:
        batch.touch(e)["kind"] = e.kind

    @fold.register
    def _reassigned(self, e: Customer.Reassigned, batch: _Batch) -> None:
        batch.touch(e)["owner_id"] = e.owner_id

    @fold.register
    def _contact_added(self, e: Customer.ContactAdded, batch: _Batch) -> None:
        contacts = batch.contacts.setdefault(e.originator_id, {})
        if e.contact_id in contacts:
            return  # already projected
        if e.primary:
            batch.demote_primary(e.originator_id)
        contacts[e.contact_id] = {
            "id": e.contact_id, "customer_id": e.originator_id, "name": e.name, "title": e.title,
            "department": e.department, "phone": e.phone, "mobile": e.mobile, "email": e.email,
            "address": e.address, "hobbies": e.hobbies, "birthday": e.birthday, "is_primary": e.primary,
            "created_at": e.timestamp, "updated_at": e.timestamp,
        }  # fmt: skip
        batch.changed_contacts.add(e.contact_id)
        batch.touch(e, contacts_changed=True)

    @fold.register
    def _contact_updated(self, e: Customer.ContactUpdated, batch: _Batch) -> None:
        changes = {("is_primary" if f == "primary" else f): v for f, v in e.changes.items()}
        if changes.get("is_primary"):
            batch.demote_primary(e.originator_id)
        contact = batch.contacts.setdefault(e.originator_id, {})[e.contact_id]
        contact.update(changes, updated_at=e.timestamp)
        batch.changed_contacts.add(e.contact_id)
        batch.touch(e, contacts_changed=True)

    @fold.register
    def _activity_logged(self, e: Customer.ActivityLogged, batch: _Batch) -> None:
        # Not idempotent (a counter, and a COPY that refuses a second row with the same id):
        # safe because the runner applies every event exactly once.
        batch.activities.append((
            e.activity_id, e.originator_id, e.kind, e.occurred_at, e.summary, e.contact_id,
            e.opportunity_id, e.next_step, e.actor, e.timestamp,
        ))  # fmt: skip
        row = batch.touch(e)
        row["activity_count"] += 1
        if row["last_activity_at"] is None or e.occurred_at > row["last_activity_at"]:
            row["last_activity_at"] = e.occurred_at


# Queries ---------------------------------------------------------------------------------------

_SELECT_CUSTOMER = "SELECT " + ", ".join(CUSTOMER_COLUMNS) + " FROM {s}.customers"


def get_customer(cur: Cursor[Any], customer_id: UUID) -> dict[str, Any] | None:
    return cur.execute(q(SCHEMA, _SELECT_CUSTOMER + " WHERE id = %s"), (customer_id,)).fetchone()


def list_customers(
    cur: Cursor[Any],
    *,
    limit: int,
    cursor: str | None = None,
    owner_id: UUID | None = None,
    kind: str | None = None,
    province: str | None = None,
    city: str | None = None,
    industry: str | None = None,
    q_text: str | None = None,
    owners: frozenset[UUID] | None = None,
) -> Page:
    """Customers newest first, or when searching with ``q_text`` best match first (exact, prefix,
    contains, fuzzy; newest first within each); only those owned by ``owners`` when given (the
    caller's data scope)."""
    where: list[str] = []
    params: list[Any] = []
    if owners is not None:
        if len(owners) == 1:  # a salesperson's own: the owner index gives them newest first
            where.append("owner_id = %s")
            params.append(next(iter(owners)))
        else:
            where.append("owner_id = ANY(%s)")
            params.append(list(owners))
    for column, value in (("owner_id", owner_id), ("kind", kind), ("province", province),
                          ("city", city), ("industry", industry)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if q_text:
        return search.page(
            cur, table=f'"{SCHEMA}".customers', columns=CUSTOMER_COLUMNS, filters=where, params=params,
            q=q_text, limit=limit, cursor=cursor,
        )  # fmt: skip
    if cursor:
        where.append("(created_at, id) < (%s, %s)")
        params += decode_cursor(cursor, "recent", _aware, UUID)
    statement = _SELECT_CUSTOMER + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, id DESC LIMIT %s"
    rows = cur.execute(q(SCHEMA, statement), [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("recent", [rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])])
    return Page(rows, next_cursor)


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment


def list_contacts(cur: Cursor[Any], customer_id: UUID) -> list[dict[str, Any]]:
    return cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(CONTACT_COLUMNS) + " FROM {s}.contacts WHERE customer_id = %s "
                  "ORDER BY created_at, id"),
        (customer_id,),
    ).fetchall()


def get_contact(cur: Cursor[Any], customer_id: UUID, contact_id: UUID) -> dict[str, Any] | None:
    return cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(CONTACT_COLUMNS) + " FROM {s}.contacts WHERE id = %s AND customer_id = %s"),
        (contact_id, customer_id),
    ).fetchone()


def list_activities(cur: Cursor[Any], customer_id: UUID, *, limit: int, cursor: str | None = None) -> Page:
    where, params = ["customer_id = %s"], [customer_id]
    if cursor:
        where.append("(occurred_at, id) < (%s, %s)")
        params += decode_cursor(cursor, "activities", _aware, UUID)
    rows = cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(ACTIVITY_COLUMNS) + " FROM {s}.activities WHERE "
                  + " AND ".join(where) + " ORDER BY occurred_at DESC, id DESC LIMIT %s"),
        [*params, limit + 1],
    ).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("activities", [rows[-1]["occurred_at"].isoformat(), str(rows[-1]["id"])])
    return Page(rows, next_cursor)


def opportunity_activities(cur: Cursor[Any], opportunity_id: UUID, *, limit: int = 200) -> list[dict[str, Any]]:
    """The activities logged on an opportunity, newest first (its timeline)."""
    return cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(ACTIVITY_COLUMNS) + " FROM {s}.activities WHERE opportunity_id = %s "
                  "ORDER BY occurred_at DESC, id DESC LIMIT %s"),
        (opportunity_id, limit),
    ).fetchall()  # fmt: skip


def owned_by(cur: Cursor[Any], owner_id: UUID) -> list[UUID]:
    """Ids of the customers ``owner_id`` owns, oldest first (for a handover)."""
    rows = cur.execute(
        q(SCHEMA, "SELECT id FROM {s}.customers WHERE owner_id = %s ORDER BY created_at, id"), (owner_id,)
    ).fetchall()
    return [row["id"] for row in rows]
