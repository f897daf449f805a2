"""Plain ASGI middleware: request ids, and refusing bodies that are not JSON."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

from crm_es.api.errors import problem

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` if sane), echoed in the response
    and recorded as the correlation id of the events it causes; answers 415 to a body that is
    not JSON."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id", "")
        if not _REQUEST_ID.match(request_id):
            request_id = str(uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        raw_id = request_id.encode()

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", raw_id))
            await send(message)

        if scope["method"] in _BODY_METHODS and scope["path"].startswith("/api/") and _has_body(headers):
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "application/json" and not media_type.endswith("+json"):
                response = problem(
                    415, "Unsupported media type",
                    f"send the body as application/json, not {media_type or 'without a Content-Type'}",
                )  # fmt: skip
                await response(scope, receive, send_with_id)
                return
        await self.app(scope, receive, send_with_id)


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in headers.get("transfer-encoding", "")
