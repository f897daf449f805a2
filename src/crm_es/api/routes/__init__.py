"""One router per resource, and the one way a command's result is answered."""

from __future__ import annotations

from fastapi import Response

from crm_es.api.schemas.common import WriteResult
from crm_es.app import Written


def answer(response: Response, written: Written, location: str | None = None) -> WriteResult:
    """``{id, version, position}`` with the record's ETag; 201 and ``Location`` when the
    command created the record (``location`` may name it with ``{id}``)."""
    if written.created and location:
        response.status_code = 201
        response.headers["Location"] = location.format(id=written.id)
    response.headers["ETag"] = f'"{written.version}"'
    return WriteResult(**written.body())
