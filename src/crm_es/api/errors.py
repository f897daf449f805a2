"""Every error answer is RFC 9457 problem+json; domain errors map to statuses here, in one place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import psycopg
from eventsourcing import persistence as es
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles

from crm_es.errors import DomainError

log = logging.getLogger("crm_es.api")

PROBLEM_TYPES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "too-many-requests",
    503: "unavailable",
    500: "internal-error",
}


MAX_ERRORS = 20
"""A 422 lists at most this many field errors (and counts all of them), so it stays small."""
_MAX_FIELD = 100
"""Field names are cut to this length: an unknown key may be as long as the body."""
_BODY_PARSE_FAILED = "There was an error parsing the body"
"""FastAPI's 400 detail when the JSON parser fails other than on syntax."""


def problem(status: int, title: str, detail: str, *, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:  # fmt: skip
    body: dict[str, Any] = {
        "type": f"https://crm-es.dev/problems/{PROBLEM_TYPES.get(status, 'error')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    try:
        content = orjson.dumps(body)
    except orjson.JSONEncodeError:
        # Text that echoes the request (an unknown key, a value in a domain error) may hold
        # unpaired surrogates, which UTF-8 cannot carry: answer with U+FFFD in their place.
        content = orjson.dumps(_well_formed(body))
    return Response(content, status_code=status, media_type="application/problem+json", headers=headers)


def _well_formed(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {_well_formed(k): _well_formed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_well_formed(v) for v in value]
    return value


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    path = ".".join(parts) or (str(loc[0]) if loc else "body")
    return path if len(path) <= _MAX_FIELD else path[: _MAX_FIELD - 1] + "…"


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    found = exc.errors()
    errors = []
    for err in found[:MAX_ERRORS]:
        if err.get("type") == "json_invalid":
            return problem(422, "Malformed JSON", f"the request body is not valid JSON: {err.get('ctx', {}).get('error', 'syntax error')}",
                           errors=[{"field": "body", "message": "is not valid JSON"}])  # fmt: skip
        message = err.get("msg", "is invalid")
        if err.get("type") == "extra_forbidden":
            message = "is not a field of this request"
        errors.append({"field": _field_path(tuple(err.get("loc", ()))), "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    if len(found) > len(errors):
        more = len(found) - len(errors)
        detail += f"; and {more} more error{'s' if more > 1 else ''}"
        return problem(422, "Invalid input", detail, errors=errors, error_count=len(found))
    return problem(422, "Invalid input", detail, errors=errors)


async def _domain(request: Request, exc: DomainError) -> Response:
    headers = {}
    extra = dict(exc.extra)
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    errors = [{"field": e.field, "message": e.message} for e in exc.errors] or None
    return problem(exc.status, exc.title, exc.detail, errors=errors, headers=headers, **extra)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed"}
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 400 and detail == _BODY_PARSE_FAILED:
        # FastAPI's answer when the JSON parser fails other than on syntax (an integer of more
        # than 4300 digits, say): the body is malformed JSON like any other.
        cause = exc.__cause__
        reason = f": {cause}" if isinstance(cause, ValueError) and str(cause) else ""
        return problem(422, "Malformed JSON", f"the request body could not be parsed as JSON{reason}"[:300],
                       errors=[{"field": "body", "message": "is not valid JSON"}])  # fmt: skip
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    if exc.status_code == 405:
        allowed = _allowed_methods(request) or [m.strip() for m in headers.get("Allow", "").split(",") if m.strip()]
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow'] or 'none'}"
    return problem(exc.status_code, titles.get(exc.status_code, detail), detail, headers=headers or None)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path: the router stops at the first route
    whose path matches, so its 405 names only that route's methods."""
    allowed = []
    for method in _METHODS:
        probe = {k: (dict(v) if isinstance(v, dict) else v) for k, v in request.scope.items()}
        probe["method"] = method
        for route in request.app.router.routes:
            match, _ = route.matches(probe)
            if isinstance(route, Mount):
                if match is not Match.NONE and isinstance(route.app, StaticFiles) and method in ("GET", "HEAD"):
                    allowed.append(method)
                    break
                continue  # a mount takes every method; what it answers is up to its app
            if match is Match.FULL:
                allowed.append(method)
                break
    return allowed


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(503, "Database unavailable", "the database did not answer; retry shortly",
                   headers={"Retry-After": "1"})  # fmt: skip


async def _collision(request: Request, exc: Exception) -> Response:
    # Commands retry or translate their collisions; this is the net under anything that does not.
    log.warning("unhandled write collision on %s %s: %s", request.method, request.url.path, exc)
    return problem(409, "Concurrent modification", "the record was changed by someone else meanwhile; try again")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the server failed to answer this request; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    for unavailable in (psycopg.OperationalError, psycopg.InterfaceError, es.OperationalError, es.InterfaceError):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(es.IntegrityError, _collision)
    app.add_exception_handler(Exception, _unexpected)
