"""Dependencies shared by the routes: runtime, caller, command context, If-Match, reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Query, Request, Response
from psycopg import Cursor

from crm_es.api.security import Principal, read_token
from crm_es.app import Context, Idempotency
from crm_es.errors import Forbidden, InvalidInput, Unauthorized
from crm_es.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The caller, from the bearer token, with their current rights: a disabled user's tokens,
    or a changed role, take effect on the very next request."""
    if not authorization:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/auth/login gives one)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    claims = read_token(token.strip(), runtime.secret_key)
    user_id = claims.user_id
    with runtime.app.connection() as conn, conn.cursor() as cur:
        found = runtime.access_cache.get(cur, user_id)
    if found is None:
        raise Unauthorized("the token names no user")
    user, access = found
    if user["status"] != "active":
        raise Unauthorized(f"the account {user['username']} is {user['status']}")
    if user["tokens_after"] is not None and claims.issued_at < user["tokens_after"]:
        raise Unauthorized("the token was issued before the password changed or the account was disabled; log in again")
    return Principal(user_id=user_id, username=user["username"], access=access)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission: str) -> Any:
    """A dependency that lets the request through only if the caller has ``permission``."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.access.allows(permission):
            raise Forbidden(f"this needs the permission {permission}")
        return principal

    return Depends(check)


async def get_context(
    request: Request,
    principal: PrincipalDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Repeat a POST safely: the same key and body return the first result and write nothing."),
    ] = None,
) -> Context:
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


def get_expected_version(
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


class Reader:
    """Reads from a read model at or after the position the client asks for (read-your-writes),
    and reports the position the answer reflects in ``X-Position``."""

    def __init__(self, runtime: Runtime, response: Response, min_position: int | None):
        self.runtime = runtime
        self.response = response
        self.min_position = min_position

    @contextlib.contextmanager
    def at(self, projection: str) -> Iterator[Cursor[Any]]:
        with self.runtime.app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            read_side = self.runtime.read_side
            if self.min_position:
                position = read_side.wait_for(projection, self.min_position, conn, self.runtime.settings.read_wait_seconds)
            else:
                position = read_side.position(projection, conn)
            self.response.headers["X-Position"] = str(position)
            with conn.cursor() as cur:
                yield cur

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Cursor[Any]]:
        """A cursor on a pooled connection, for one query (the position is already settled)."""
        with self.runtime.app.connection() as conn, conn.cursor() as cur:
            yield cur


def get_reader(
    runtime: RuntimeDep,
    response: Response,
    min_position: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Wait (up to 5 s) until the read model has applied this position."),
    ] = None,
    x_min_position: Annotated[int | None, Header(ge=0, le=2**62)] = None,
) -> Reader:
    return Reader(runtime, response, min_position if min_position is not None else x_min_position)


ReaderDep = Annotated[Reader, Depends(get_reader)]


def limit_param(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (default 50, at most 500).")] = 50,
) -> int:
    return limit


LimitDep = Annotated[int, Depends(limit_param)]
