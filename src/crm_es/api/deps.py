"""Dependencies shared by the routes: runtime, caller, command context, If-Match, reads.

Every dependency here is ``async`` and does no blocking work, so FastAPI resolves it on the
event loop instead of handing it to the thread pool: a request costs one thread hop (the
route's own body, where psycopg and eventsourcing block) and one database round trip to
authorise (``AccessCache.aget``). Reads that wait for a position (``min_position``) wait here,
on the positions each process keeps in memory (projections/watch.py), holding no connection
and no thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Query, Request
from psycopg import Cursor
from starlette.responses import Response

from crm_es.api.security import Principal, read_token
from crm_es.app import Context, Idempotency
from crm_es.errors import Forbidden, InvalidInput, Unauthorized
from crm_es.projections.staff import compute_access
from crm_es.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_principal(request: Request) -> Principal:
    """The caller, from the bearer token, with their current rights: a disabled user's tokens,
    or a changed role, take effect on the very next request, in every process."""
    principal = request.scope.get("crm_es.principal")
    if principal is not None:
        return principal  # resolved once per request, whichever dependency asks first
    runtime: Runtime = request.app.state.runtime
    authorization = request.headers.get("authorization")
    if not authorization:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/auth/login gives one)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    claims = read_token(token.strip(), runtime.secret_key)
    found = await runtime.access_cache.aget(await runtime.aio_pool(), claims.user_id, _compute(runtime))
    if found is None:
        raise Unauthorized("the token names no user")
    user, access = found
    if user["status"] != "active":
        raise Unauthorized(f"the account {user['username']} is {user['status']}")
    if user["tokens_after"] is not None and claims.issued_at < user["tokens_after"]:
        raise Unauthorized("the token was issued before the password changed or the account was disabled; log in again")
    principal = Principal(user_id=claims.user_id, username=user["username"], access=access)
    request.scope["crm_es.principal"] = principal
    return principal


def _compute(runtime: Runtime) -> Any:
    def compute(user_id: Any) -> Any:
        with runtime.app.connection() as conn, conn.cursor() as cur:
            return compute_access(cur, user_id)

    return compute


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission: str) -> Any:
    """A dependency that lets the request through only if the caller has ``permission``."""

    async def check(request: Request) -> Principal:
        principal = await get_principal(request)
        if not principal.access.allows(permission):
            raise Forbidden(f"this needs the permission {permission}")
        return principal

    return Depends(check)


def require_any(*permissions: str) -> Any:
    """A dependency that lets the request through if the caller has any of ``permissions``."""

    async def check(request: Request) -> Principal:
        principal = await get_principal(request)
        if not any(principal.access.allows(p) for p in permissions):
            raise Forbidden(f"this needs one of the permissions {', '.join(permissions)}")
        return principal

    return Depends(check)


async def get_context(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(description="Repeat a POST safely: the same key and body return the first result and write nothing."),
    ] = None,
) -> Context:
    principal = await get_principal(request)
    idempotency = None
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > 200:
            raise InvalidInput.on("Idempotency-Key", "must be 1 to 200 characters")
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        idempotency = Idempotency.of(key, request.method, request.url.path, body)
    return Context(
        actor=principal.actor,
        correlation_id=request.state.request_id,
        idempotency=idempotency,
        user_id=principal.user_id,
        access=principal.access,
        client=request.client.host if request.client else None,
    )


ContextDep = Annotated[Context, Depends(get_context)]


async def get_expected_version(
    if_match: Annotated[
        str | None,
        Header(description='Only apply the command if the record is at this version: the ETag, e.g. "3".'),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit() or len(value) > 12:
        raise InvalidInput.on("If-Match", 'must be a version in quotes as given by ETag, e.g. "3"')
    return int(value)


ExpectedVersionDep = Annotated[int | None, Depends(get_expected_version)]


def _default(value: Any) -> Any:
    """JSON for what orjson lacks: Decimal amounts as strings ("1234.50"), sets as lists."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


class JSONAnswer(Response):
    """A JSON response serialised once, with orjson, from what the read model returned."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


class Reader:
    """Reads from one read model at or after the position the client asked for (read-your-
    writes); ``answer`` reports the position the answer reflects in ``X-Position``."""

    def __init__(self, runtime: Runtime, projection: str, position: int):
        self.runtime = runtime
        self.projection = projection
        self.position = position

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Cursor[Any]]:
        """A cursor on a pooled connection, held only for the queries inside the block."""
        with self.runtime.app.connection() as conn, conn.cursor() as cur:
            yield cur


    def answer(self, content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONAnswer:
        return JSONAnswer(content, status_code=status_code, headers={"X-Position": str(self.position), **(headers or {})})


_POSITION_QUERY = Query(ge=0, le=2**62, description="Wait (up to 5 s) until the read model has applied this position.")


def reads(projection: str, *others: str) -> Any:
    """A ``Reader`` of read model ``projection`` for the route (waits for ``min_position`` or
    the ``X-Min-Position`` header first). A route that reads several read models names them
    all (``"*"``: every one), and waits for each."""

    async def reader(
        request: Request,
        min_position: Annotated[int | None, _POSITION_QUERY] = None,
        x_min_position: Annotated[int | None, Header(ge=0, le=2**62)] = None,
    ) -> Reader:
        runtime: Runtime = request.app.state.runtime
        wanted = min_position if min_position is not None else x_min_position
        names = list(runtime.read_side.projections) if projection == "*" else [projection, *others]
        watch = runtime.positions()
        positions = [await watch.reached(name, wanted, runtime.settings.read_wait_seconds) for name in names]
        return Reader(runtime, projection, min(positions))

    return Depends(reader)


async def limit_param(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (default 50, at most 500).")] = 50,
) -> int:
    return limit


LimitDep = Annotated[int, Depends(limit_param)]
