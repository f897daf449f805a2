"""Staff read model: users, departments, roles, and the access each user has.

Authorisation reads this model on every request, so it is kept current synchronously: every
staff command catches it up before answering (see ``Runtime.staff_changed``). ``generation``
counts staff events applied; access computed for a user stays valid while it is unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from crm_es.access import RESOURCES, Access, widest
from crm_es.aggregates.department import Department
from crm_es.aggregates.role import Role
from crm_es.aggregates.user import User
from crm_es.projections.base import Projection, live_schema, q
from crm_es.projections.paging import Page, decode_cursor, encode_cursor, like_pattern

SCHEMA = live_schema("staff")

USER_COLUMNS = ("id", "username", "display_name", "department_id", "role_ids", "status", "created_at", "updated_at", "version")
ADMIN_ROLE = Role.create_id("admin")
DEPARTMENT_COLUMNS = ("id", "name", "parent_id", "manager_id", "created_at", "updated_at", "version")
ROLE_COLUMNS = ("id", "name", "description", "permissions", "data_scope", "scopes", "created_at", "updated_at", "version")


class StaffProjection(Projection):
    name = "staff"
    version = 2
    ddl = """
    CREATE TABLE {s}.users (
        id uuid PRIMARY KEY,
        username text NOT NULL,
        display_name text NOT NULL,
        department_id uuid,
        role_ids uuid[] NOT NULL DEFAULT '{}',
        status text NOT NULL,
        successor_id uuid,
        tokens_after timestamptz,  -- tokens issued before this moment are refused
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
    );
    CREATE UNIQUE INDEX users_username ON {s}.users (lower(username));
    CREATE INDEX users_department ON {s}.users (department_id);
    CREATE TABLE {s}.departments (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        parent_id uuid,
        manager_id uuid,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
    );
    CREATE INDEX departments_parent ON {s}.departments (parent_id);
    CREATE TABLE {s}.roles (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        description text,
        permissions text[] NOT NULL,
        data_scope text NOT NULL,
        scopes jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
    );
    CREATE TABLE {s}.meta (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        generation bigint NOT NULL
    );
    INSERT INTO {s}.meta (generation) VALUES (0);
    """

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    @staticmethod
    def _changed(cur: Cursor[Any], schema: str) -> None:
        cur.execute(q(schema, "UPDATE {s}.meta SET generation = generation + 1"))

    @staticmethod
    def _update(cur: Cursor[Any], schema: str, table: str, e: Any, values: dict[str, Any]) -> None:
        assignments = ", ".join([*(f"{c} = %s" for c in values), "updated_at = %s", "version = %s"])
        cur.execute(
            q(schema, f"UPDATE {{s}}.{table} SET {assignments} WHERE id = %s"),
            [*values.values(), e.timestamp, e.originator_version, e.originator_id],
        )
        StaffProjection._changed(cur, schema)

    # Users

    @apply.register
    def _user_registered(self, e: User.Registered, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.users (id, username, display_name, department_id, role_ids, status, "
                      "created_at, updated_at, version) VALUES (%s, %s, %s, %s, %s, 'active', %s, %s, %s) "
                      "ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.username, e.display_name, e.department_id, list(e.role_ids), e.timestamp,
             e.timestamp, e.originator_version),
        )  # fmt: skip
        self._changed(cur, schema)

    @apply.register
    def _user_disabled(self, e: User.Disabled, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"status": "disabled", "tokens_after": e.timestamp})

    @apply.register
    def _user_enabled(self, e: User.Enabled, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"status": "active"})

    @apply.register
    def _user_departed(self, e: User.Departed, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"status": "departed", "successor_id": e.successor_id, "tokens_after": e.timestamp})

    @apply.register
    def _user_roles(self, e: User.RolesAssigned, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"role_ids": list(e.role_ids)})

    @apply.register
    def _user_moved(self, e: User.MovedDepartment, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"department_id": e.department_id})

    @apply.register
    def _user_renamed(self, e: User.Renamed, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"display_name": e.display_name})

    @apply.register
    def _user_password(self, e: User.PasswordReset, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"tokens_after": e.timestamp})

    @apply.register
    def _user_password_changed(self, e: User.PasswordChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "users", e, {"tokens_after": e.timestamp})

    # Departments

    @apply.register
    def _department_created(self, e: Department.Created, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.departments (id, name, parent_id, created_at, updated_at, version) "
                      "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.name, e.parent_id, e.timestamp, e.timestamp, e.originator_version),
        )  # fmt: skip
        self._changed(cur, schema)

    @apply.register
    def _department_renamed(self, e: Department.Renamed, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "departments", e, {"name": e.name})

    @apply.register
    def _department_moved(self, e: Department.Moved, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "departments", e, {"parent_id": e.parent_id})

    @apply.register
    def _department_manager(self, e: Department.ManagerSet, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "departments", e, {"manager_id": e.manager_id})

    # Roles

    @apply.register
    def _role_created(self, e: Role.Created, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.roles (id, name, description, permissions, data_scope, scopes, created_at, "
                      "updated_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.name, e.description, list(e.permissions), e.data_scope, Jsonb(e.scopes),
             e.timestamp, e.timestamp, e.originator_version),
        )  # fmt: skip
        self._changed(cur, schema)

    @apply.register
    def _role_permissions(self, e: Role.PermissionsChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "roles", e, {"permissions": list(e.permissions)})

    @apply.register
    def _role_scope(self, e: Role.ScopeChanged, cur: Cursor[Any], schema: str, position: int) -> None:
        self._update(cur, schema, "roles", e, {"data_scope": e.data_scope, "scopes": Jsonb(e.scopes)})


# Queries ---------------------------------------------------------------------------------------


def get_user(cur: Cursor[Any], user_id: UUID) -> dict[str, Any] | None:
    return cur.execute(q(SCHEMA, f"SELECT {', '.join(USER_COLUMNS)} FROM {{s}}.users WHERE id = %s"), (user_id,)).fetchone()


def list_users(
    cur: Cursor[Any], *, limit: int, cursor: str | None = None, department_id: UUID | None = None,
    status: str | None = None, q_text: str | None = None,
) -> Page:  # fmt: skip
    where, params = [], []
    if department_id is not None:
        where.append("department_id = %s")
        params.append(department_id)
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if q_text:
        where.append("(lower(username) LIKE %s OR lower(display_name) LIKE %s)")
        params += [like_pattern(q_text.lower())] * 2
    if cursor:
        where.append("lower(username) > %s")
        params += decode_cursor(cursor, "users", str)
    rows = cur.execute(
        q(SCHEMA, f"SELECT {', '.join(USER_COLUMNS)} FROM {{s}}.users"
                  + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY lower(username) LIMIT %s"),
        [*params, limit + 1],
    ).fetchall()  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("users", [rows[-1]["username"].lower()])
    return Page(rows, next_cursor)


def display_names(cur: Cursor[Any], user_ids: list[UUID]) -> dict[UUID, str]:
    """The display names of these users (reports show people by name)."""
    rows = cur.execute(q(SCHEMA, "SELECT id, display_name FROM {s}.users WHERE id = ANY(%s)"), (user_ids,)).fetchall()
    return {row["id"]: row["display_name"] for row in rows}


def get_department(cur: Cursor[Any], department_id: UUID) -> dict[str, Any] | None:
    return cur.execute(
        q(SCHEMA, f"SELECT {', '.join(DEPARTMENT_COLUMNS)} FROM {{s}}.departments WHERE id = %s"), (department_id,)
    ).fetchone()


def list_departments(cur: Cursor[Any]) -> list[dict[str, Any]]:
    return cur.execute(q(SCHEMA, f"SELECT {', '.join(DEPARTMENT_COLUMNS)} FROM {{s}}.departments ORDER BY name, id")).fetchall()


def department_members(cur: Cursor[Any], department_id: UUID) -> list[UUID]:
    """Ids of the users in the department or any department below it (reports by department)."""
    rows = cur.execute(
        q(SCHEMA, """
        WITH RECURSIVE tree AS (
            SELECT id FROM {s}.departments WHERE id = %s
            UNION
            SELECT d.id FROM {s}.departments d JOIN tree t ON d.parent_id = t.id
        )
        SELECT u.id FROM {s}.users u WHERE u.department_id IN (SELECT id FROM tree)
        """),
        (department_id,),
    ).fetchall()  # fmt: skip
    return [r["id"] for r in rows]


def department_tree(cur: Cursor[Any], department_id: UUID) -> list[UUID]:
    """Ids of the department and every department below it."""
    rows = cur.execute(
        q(SCHEMA, """
        WITH RECURSIVE tree AS (
            SELECT id FROM {s}.departments WHERE id = %s
            UNION
            SELECT d.id FROM {s}.departments d JOIN tree t ON d.parent_id = t.id
        )
        SELECT id FROM tree
        """),
        (department_id,),
    ).fetchall()  # fmt: skip
    return [r["id"] for r in rows]


def get_role(cur: Cursor[Any], role_id: UUID) -> dict[str, Any] | None:
    return cur.execute(q(SCHEMA, f"SELECT {', '.join(ROLE_COLUMNS)} FROM {{s}}.roles WHERE id = %s"), (role_id,)).fetchone()


def list_roles(cur: Cursor[Any]) -> list[dict[str, Any]]:
    return cur.execute(q(SCHEMA, f"SELECT {', '.join(ROLE_COLUMNS)} FROM {{s}}.roles ORDER BY name")).fetchall()


def generation(cur: Cursor[Any]) -> int:
    return cur.connection.cursor(row_factory=tuple_row).execute(q(SCHEMA, "SELECT generation FROM {s}.meta")).fetchone()[0]


def compute_access(cur: Cursor[Any], user_id: UUID) -> tuple[dict[str, Any], Access] | None:
    """The user's row (with ``tokens_after``) and rights; None for an unknown user."""
    user = cur.execute(
        q(SCHEMA, f"SELECT {', '.join(USER_COLUMNS)}, tokens_after FROM {{s}}.users WHERE id = %s"), (user_id,)
    ).fetchone()
    if user is None:
        return None
    roles = cur.execute(
        q(SCHEMA, "SELECT permissions, data_scope, scopes FROM {s}.roles WHERE id = ANY(%s)"), (user["role_ids"],)
    ).fetchall()
    permissions = frozenset(p for role in roles for p in role["permissions"])
    scopes: dict[str, str] = {}
    for resource in RESOURCES:
        granting = [r for r in roles if any(p.split(":")[0] == resource for p in r["permissions"])]
        scope = widest(r["scopes"].get(resource, r["data_scope"]) for r in granting)
        if scope is not None:
            scopes[resource] = scope
    visible: dict[str, frozenset[UUID] | None] = {}
    resolved: dict[str, frozenset[UUID] | None] = {}
    for resource, scope in scopes.items():
        if scope not in resolved:
            resolved[scope] = _owners(cur, user, scope)
        visible[resource] = resolved[scope]
    access = Access(
        user_id=user_id, permissions=permissions, scopes=scopes, visible_owners=visible,
        admin=ADMIN_ROLE in user["role_ids"],
    )  # fmt: skip
    return user, access


def _owners(cur: Cursor[Any], user: dict[str, Any], scope: str) -> frozenset[UUID] | None:
    """Whose records a scope reaches: the user's department(s) are their own and those they manage."""
    if scope == "all":
        return None
    if scope == "own":
        return frozenset({user["id"]})
    recursive = scope == "department_tree"
    rows = cur.execute(
        q(SCHEMA, """
        WITH RECURSIVE base AS (
            SELECT id FROM {s}.departments WHERE id = %(department)s OR manager_id = %(user)s
        ), tree AS (
            SELECT id FROM base
            UNION
            SELECT d.id FROM {s}.departments d JOIN tree t ON d.parent_id = t.id WHERE %(recursive)s
        )
        SELECT u.id FROM {s}.users u WHERE u.department_id IN (SELECT id FROM tree)
        """),
        {"department": user["department_id"], "user": user["id"], "recursive": recursive},
    ).fetchall()  # fmt: skip
    return frozenset({user["id"], *(r["id"] for r in rows)})


class AccessCache:
    """Access per user, valid while the staff model's generation is unchanged. Authorising a
    request costs one query (the generation) while nothing in the staff model changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = -1
        self._entries: dict[UUID, tuple[dict[str, Any], Access]] = {}
        self._generations = _SharedReads()

    def get(self, cur: Cursor[Any], user_id: UUID) -> tuple[dict[str, Any], Access] | None:
        current = generation(cur)
        with self._lock:
            if current != self._generation:
                self._entries.clear()
                self._generation = current
            cached = self._entries.get(user_id)
        if cached is not None:
            return cached
        computed = compute_access(cur, user_id)
        if computed is not None:
            with self._lock:
                if self._generation == current:
                    self._entries[user_id] = computed
        return computed

    async def aget(self, pool: Any, user_id: UUID, compute: Any) -> tuple[dict[str, Any], Access] | None:
        """``get`` for the asyncio request path. The generation is read by a query that started
        after this request arrived (so a staff change committed before it is seen), shared by
        every request that arrived meanwhile: under load one query authorises many requests.
        On a miss, ``compute(user_id)`` (blocking) runs in a worker thread."""
        current = await self._generations.read(pool)
        with self._lock:
            if current != self._generation:
                self._entries.clear()
                self._generation = current
            cached = self._entries.get(user_id)
        if cached is not None:
            return cached
        computed = await asyncio.to_thread(compute, user_id)
        if computed is not None:
            with self._lock:
                if self._generation == current:
                    self._entries[user_id] = computed
        return computed


class _SharedReads:
    """One query of the generation at a time per event loop, on a connection of its own; a
    caller waits for the next query to start after it asked (never for one already under way,
    which may predate its request)."""

    def __init__(self) -> None:
        self._next: dict[Any, asyncio.Future[int]] = {}
        self._running: set[Any] = set()
        self._connections: dict[Any, Any] = {}

    async def read(self, pool: Any) -> int:
        loop = asyncio.get_running_loop()
        future = self._next.get(loop)
        if future is None:
            future = self._next[loop] = loop.create_future()
            if loop not in self._running:
                self._running.add(loop)
                loop.create_task(self._run(loop, pool))
        return await asyncio.shield(future)

    async def _run(self, loop: Any, pool: Any) -> None:
        try:
            while (future := self._next.pop(loop, None)) is not None:
                try:
                    future.set_result(await self._query(loop, pool))
                except Exception as error:  # noqa: BLE001 - every waiting request learns of it
                    future.set_exception(error)
        finally:
            self._running.discard(loop)

    async def _query(self, loop: Any, pool: Any) -> int:
        conn = self._connections.get(loop)
        if conn is None or conn.closed:
            # Taken from the pool for good: the pool's bookkeeping per query costs more than the query.
            conn = self._connections[loop] = await pool.getconn()
        try:
            cur = await conn.execute(_GENERATION, prepare=True)
            return (await cur.fetchone())[0]
        except Exception:
            self._connections.pop(loop, None)
            await pool.putconn(conn)  # a broken connection is discarded by the pool
            raise

    async def close(self, pool: Any) -> None:
        conn = self._connections.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            await pool.putconn(conn)


_GENERATION = q(SCHEMA, "SELECT generation FROM {s}.meta")
