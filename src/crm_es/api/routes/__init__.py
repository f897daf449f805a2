"""One router per resource, and the one way a command's result is answered."""

from __future__ import annotations

from fastapi import Response

from crm_es.api.deps import JSONAnswer
from crm_es.app import Written


def answer(
    response: Response | None, written: Written, location: str | None = None, *, status: int = 200, **extra: object
) -> JSONAnswer:
    """``{id, version, position}`` (and ``extra`` fields) with the record's ETag; 201 and
    ``Location`` when the command created the record (``location`` may name it with ``{id}``).
    Headers a route set on ``response`` are kept."""
    headers = {k: v for k, v in (response.headers.items() if response is not None else ()) if k != "content-length"}
    headers["ETag"] = f'"{written.version}"'
    if written.created and location:
        status = 201
        headers["Location"] = location.format(id=written.id)
    return JSONAnswer({**written.body(), **extra}, status_code=status, headers=headers)
