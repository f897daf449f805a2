"""Customers read model: the customer list with fuzzy search, contacts and activities."""

from __future__ import annotations

import math
from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor

from crm_es.aggregates.customer import MONEY_FIELDS, PROFILE_FIELDS, TEXT_FIELDS, Customer
from crm_es.projections.base import Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor, like_pattern

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

SIMILARITY_THRESHOLD = 0.45
"""Word similarity (pg_trgm) above which a customer matches ``q`` without containing it."""


class CustomersProjection(Projection):
    name = "customers"
    version = 2
    ddl = """
    CREATE TABLE {s}.customers (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        kind text NOT NULL,
        owner_id uuid NOT NULL,
        industry text, source text, level text, country text, province text, city text,
        address text, phone text, fax text, email text, website text, notes text,
        annual_revenue numeric(17, 2), credit_limit numeric(17, 2), employees integer,
        tags text[] NOT NULL DEFAULT '{}',
        contact_search text NOT NULL DEFAULT '',
        contact_count integer NOT NULL DEFAULT 0,
        activity_count integer NOT NULL DEFAULT 0,
        last_activity_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL,
        search text GENERATED ALWAYS AS (
            lower(name || ' ' || coalesce(phone, '') || ' ' || contact_search)
        ) STORED
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
    indexes = """
    CREATE INDEX customers_search ON {s}.customers USING gin (search gin_trgm_ops);
    CREATE INDEX customers_recent ON {s}.customers (created_at DESC, id DESC);
    CREATE INDEX customers_owner ON {s}.customers (owner_id, created_at DESC, id DESC);
    CREATE INDEX customers_region ON {s}.customers (province, city);
    CREATE INDEX customers_kind ON {s}.customers (kind);
    CREATE INDEX customers_industry ON {s}.customers (industry);
    CREATE INDEX contacts_birthday ON {s}.contacts (extract(month FROM birthday), extract(day FROM birthday));
    CREATE INDEX activities_customer ON {s}.activities (customer_id, occurred_at DESC, id DESC);
    """

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    @apply.register
    def _registered(self, e: Customer.Registered, cur: Cursor[Any], schema: str, position: int) -> None:
        values = {f: getattr(e, f) for f in PROFILE_FIELDS}
        values["tags"] = list(values["tags"])
        columns = ["id", "kind", "owner_id", *values, "created_at", "updated_at", "version"]
        cur.execute(
            q(schema, f"INSERT INTO {{s}}.customers ({', '.join(columns)}) "
                      f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT (id) DO NOTHING"),
            [e.originator_id, e.kind, e.owner_id, *values.values(), e.timestamp, e.timestamp, e.originator_version],
        )  # fmt: skip

    @apply.register
    def _profile_updated(self, e: Customer.ProfileUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        changes = {f: (list(v) if f == "tags" else v) for f, v in e.changes.items() if f in PROFILE_FIELDS}
        self._touch(cur, schema, e, changes)

    @apply.register
    def _reclassified(self, e: Customer.Reclassified, cur: Cursor[Any], schema: str, position: int) -> None:
        self._touch(cur, schema, e, {"kind": e.kind})

    @apply.register
    def _reassigned(self, e: Customer.Reassigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._touch(cur, schema, e, {"owner_id": e.owner_id})

    @apply.register
    def _contact_added(self, e: Customer.ContactAdded, cur: Cursor[Any], schema: str, position: int) -> None:
        if e.primary:
            cur.execute(q(schema, "UPDATE {s}.contacts SET is_primary = false WHERE customer_id = %s"), (e.originator_id,))
        cur.execute(
            q(schema, "INSERT INTO {s}.contacts (id, customer_id, name, title, department, phone, mobile, email, "
                      "address, hobbies, birthday, is_primary, created_at, updated_at) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.contact_id, e.originator_id, e.name, e.title, e.department, e.phone, e.mobile, e.email,
             e.address, e.hobbies, e.birthday, e.primary, e.timestamp, e.timestamp),
        )  # fmt: skip
        cur.execute(
            q(schema, "UPDATE {s}.customers SET contact_search = ltrim(contact_search || ' ' || %s), "
                      "contact_count = contact_count + 1, updated_at = %s, version = %s WHERE id = %s"),
            (_contact_search(e.name, e.mobile, e.phone), e.timestamp, e.originator_version, e.originator_id),
        )  # fmt: skip

    @apply.register
    def _contact_updated(self, e: Customer.ContactUpdated, cur: Cursor[Any], schema: str, position: int) -> None:
        changes = {("is_primary" if f == "primary" else f): v for f, v in e.changes.items()}
        if changes.get("is_primary"):
            cur.execute(q(schema, "UPDATE {s}.contacts SET is_primary = false WHERE customer_id = %s"), (e.originator_id,))
        assignments = ", ".join(f"{column} = %s" for column in changes)
        cur.execute(
            q(schema, f"UPDATE {{s}}.contacts SET {assignments}, updated_at = %s WHERE id = %s"),
            [*changes.values(), e.timestamp, e.contact_id],
        )
        self._touch(cur, schema, e, {}, contacts_changed=True)

    @apply.register
    def _activity_logged(self, e: Customer.ActivityLogged, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.activities (id, customer_id, kind, occurred_at, summary, contact_id, "
                      "opportunity_id, next_step, recorded_by, recorded_at) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.activity_id, e.originator_id, e.kind, e.occurred_at, e.summary, e.contact_id,
             e.opportunity_id, e.next_step, e.actor, e.timestamp),
        )  # fmt: skip
        cur.execute(
            q(schema, "UPDATE {s}.customers SET activity_count = activity_count + 1, "
                      "last_activity_at = greatest(last_activity_at, %s), updated_at = %s, version = %s WHERE id = %s"),
            (e.occurred_at, e.timestamp, e.originator_version, e.originator_id),
        )

    @staticmethod
    def _touch(
        cur: Cursor[Any], schema: str, e: Any, changes: dict[str, Any], *, contacts_changed: bool = False
    ) -> None:
        assignments = [f"{column} = %s" for column in changes]
        params: list[Any] = list(changes.values())
        if contacts_changed:
            assignments.append(
                "contact_search = (SELECT coalesce(string_agg(c.name || ' ' || coalesce(c.mobile, '') || ' ' "
                "|| coalesce(c.phone, ''), ' ' ORDER BY c.created_at, c.id), '') FROM {s}.contacts c "
                "WHERE c.customer_id = %s)"
            )
            assignments.append("contact_count = (SELECT count(*) FROM {s}.contacts c WHERE c.customer_id = %s)")
            params += [e.originator_id, e.originator_id]
        assignments += ["updated_at = %s", "version = %s"]
        params += [e.timestamp, e.originator_version, e.originator_id]
        cur.execute(q(schema, f"UPDATE {{s}}.customers SET {', '.join(assignments)} WHERE id = %s"), params)


def _contact_search(name: str, mobile: str | None, phone: str | None) -> str:
    """A contact's part of the customer's search text (as the recomputation in ``_touch`` builds it)."""
    return f"{name} {mobile or ''} {phone or ''}"


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
    """Customers newest first, or best match first when searching with ``q_text``; only those
    owned by ``owners`` when given (the caller's data scope)."""
    where: list[str] = []
    params: list[Any] = []
    if owners is not None:
        where.append("owner_id = ANY(%s)")
        params.append(list(owners))
    for column, value in (("owner_id", owner_id), ("kind", kind), ("province", province),
                          ("city", city), ("industry", industry)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if q_text:
        needle = q_text.strip().lower()
        pattern = like_pattern(needle)
        score = "(CASE WHEN search LIKE %s THEN 1.0 ELSE word_similarity(%s, search) END)::float8"
        select = f"SELECT {', '.join(CUSTOMER_COLUMNS)}, {score} AS score FROM {{s}}.customers"
        select_params: list[Any] = [pattern, needle]
        where.append(f"(search LIKE %s OR word_similarity(%s, search) >= {SIMILARITY_THRESHOLD})")
        params += [pattern, needle]
        order, key = "score DESC, id DESC", ("score", "id")
        if cursor:
            after = decode_cursor(cursor, "search", _finite_float, UUID)
            where.append(f"({score}, id) < (%s, %s)")
            params += [pattern, needle, *after]
    else:
        select, select_params = _SELECT_CUSTOMER, []
        order, key = "created_at DESC, id DESC", ("created_at", "id")
        if cursor:
            where.append("(created_at, id) < (%s, %s)")
            params += decode_cursor(cursor, "recent", _aware, UUID)
    statement = select + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order} LIMIT %s"
    rows = cur.execute(q(SCHEMA, statement), [*select_params, *params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("search" if q_text else "recent", [_cursor_value(last[k]) for k in key])
    for row in rows:
        row.pop("score", None)
    return Page(rows, next_cursor)


def _finite_float(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def list_contacts(cur: Cursor[Any], customer_id: UUID) -> list[dict[str, Any]]:
    return cur.execute(
        q(SCHEMA, "SELECT " + ", ".join(CONTACT_COLUMNS) + " FROM {s}.contacts WHERE customer_id = %s "
                  "ORDER BY created_at, id"),
        (customer_id,),
    ).fetchall()


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
