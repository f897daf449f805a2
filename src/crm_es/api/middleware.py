"""Plain ASGI middleware: request ids, and the checks every request body passes before parsing."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any
from uuid import uuid4

from crm_es.api.errors import problem

MAX_BODY_BYTES = 1024 * 1024
"""A request body may be at most 1 MiB (a customer with every field full is under 20 KiB)."""
MAX_JSON_DEPTH = 32
"""JSON bodies may nest objects and arrays at most this deep (the API's own bodies need 2)."""
NO_STORE_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/me", "/api/v1/me/password"})
"""Answers that carry credentials or the caller's identity: never stored by a cache."""

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` if sane), echoed in the response
    and recorded as the correlation id of the events it causes. Reads the request body before
    the application does: 415 to a body that is not JSON, 413 to one over ``max_body_bytes``
    (counting the bytes as they arrive, whatever ``Content-Length`` says), 422 to JSON that is
    not UTF-8 or nests deeper than ``max_json_depth``. Answers on ``no_store_paths`` get
    ``Cache-Control: no-store``."""

    def __init__(
        self,
        app: Any,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
        no_store_paths: frozenset[str] = NO_STORE_PATHS,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.no_store_paths = no_store_paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id", "")
        if not _REQUEST_ID.match(request_id):
            request_id = str(uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        extra_headers = [(b"x-request-id", request_id.encode())]
        replaced: tuple[bytes, ...] = ()
        if scope["path"] in self.no_store_paths:
            extra_headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
            replaced = (b"cache-control", b"pragma")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in replaced]
                message["headers"] = kept + extra_headers
            await send(message)

        if not _has_body(headers):
            await self.app(scope, receive, send_with_headers)
            return
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = media_type == "application/json" or media_type.endswith("+json")
        if scope["method"] in _BODY_METHODS and scope["path"].startswith("/api/") and not is_json:
            response = problem(
                415, "Unsupported media type",
                f"send the body as application/json, not {media_type or 'without a Content-Type'}",
            )  # fmt: skip
            await response(scope, receive, send_with_headers)
            return
        body = await self._read_body(headers, receive)
        if body is None:
            await self._too_large(scope, receive, send_with_headers)
            return
        if is_json:
            refusal = self._check_json(body)
            if refusal is not None:
                await refusal(scope, receive, send_with_headers)
                return
        await self.app(scope, _replay(body, receive), send_with_headers)

    async def _read_body(self, headers: dict[str, str], receive: Any) -> bytes | None:
        """The whole body, or None as soon as it is larger than the limit."""
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left; the app will see it too
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limit = self.max_body_bytes
        size = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
        response = problem(
            413, "Request body too large", f"a request body may be at most {size} ({limit} bytes)",
            headers={"Connection": "close"},
        )  # fmt: skip
        await response(scope, receive, send)

    def _check_json(self, body: bytes) -> Any:
        """A 422 problem if the body is not UTF-8 or nests too deeply for the JSON parser, else None."""
        try:
            body.decode("utf-8")
            utf8 = b"\x00" not in body  # a NUL byte: UTF-16 or UTF-32, never JSON in UTF-8
        except UnicodeDecodeError:
            utf8 = False
        if not utf8:
            return problem(422, "Malformed JSON", "the request body must be JSON encoded as UTF-8",
                           errors=[{"field": "body", "message": "is not UTF-8"}])  # fmt: skip
        if _nests_deeper(body, self.max_json_depth):
            return problem(
                422, "Malformed JSON", f"the request body nests objects and arrays more than {self.max_json_depth} levels deep",
                errors=[{"field": "body", "message": f"nests more than {self.max_json_depth} levels deep"}],
            )  # fmt: skip
        return None


def _nests_deeper(body: bytes, limit: int) -> bool:
    """Whether the JSON text opens more than ``limit`` objects or arrays at some point (brackets
    inside strings do not count). Exact for well-formed JSON; malformed JSON the parser refuses."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depth, chunk = 0, 64 * 1024
    for start in range(0, len(brackets), chunk):
        depths = list(accumulate(map(_STEP.__getitem__, brackets[start : start + chunk]), initial=depth))
        if max(depths) > limit:
            return True
        depth = depths[-1]
    return False


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the application the body already read, then the client's messages."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in headers.get("transfer-encoding", "")
