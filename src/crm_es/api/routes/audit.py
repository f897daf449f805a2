"""The operation log: who did what to which record, when, from which request; list and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from crm_es.api.deps import LimitDep, Reader, reads, require
from crm_es.api.schemas.common import EventPage, Text, problems
from crm_es.api.security import Principal
from crm_es.errors import InvalidInput
from crm_es.projections import audit

router = APIRouter(tags=["audit"])

CanRead = Annotated[Principal, require("audit:read")]
Read = Annotated[Reader, reads("audit")]
EXPORT_PAGE = 1000

CSV_COLUMNS = (
    "position", "occurred_at", "actor", "aggregate_type", "aggregate_id", "version", "event_type",
    "correlation_id", "causation_id", "data",
)  # fmt: skip


def audit_filters(
    actor_id: Annotated[
        Text | None, Query(max_length=200, description='Who acted: a user id, or "process:<name>" for the system.')
    ] = None,
    aggregate_type: Annotated[Text | None, Query(max_length=100, description="e.g. Customer, User.")] = None,
    aggregate_id: Annotated[UUID | None, Query(description="The record the events belong to.")] = None,
    since: Annotated[AwareDatetime | None, Query(description="Events at or after this moment.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Events before this moment.")] = None,
) -> Any:
    if since is not None and until is not None and since > until:
        raise InvalidInput.on("since", "must not be after until")
    return {
        "actor": actor_id, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id,
        "since": since, "until": until,
    }  # fmt: skip


FiltersDep = Annotated[dict[str, Any], Depends(audit_filters)]


@router.get(
    "/audit", response_model=EventPage, operation_id="audit-list",
    summary="The operation log, newest first", responses=problems(401, 403, 422, 503),
)  # fmt: skip
def list_audit(
    filters: FiltersDep, reader: Read, limit: LimitDep, principal: CanRead,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:  # fmt: skip
    with reader.cursor() as cur:
        page = audit.list_entries(cur, limit=limit, cursor=cursor, actors=principal.access.actors("audit"), **filters)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/audit.csv", operation_id="audit-export", summary="Export the operation log as CSV, oldest first",
    response_class=StreamingResponse,
    responses={**problems(401, 403, 422, 503), 200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a BOM"}},
)  # fmt: skip
def export_audit(filters: FiltersDep, reader: Read, principal: CanRead) -> StreamingResponse:
    return StreamingResponse(
        _csv(reader, {**filters, "actors": principal.access.actors("audit")}),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "X-Position": str(reader.position),
        },
    )


def _csv(reader: Reader, filters: dict[str, Any]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # Excel reads the file as UTF-8 only with a byte order mark
    writer.writerow(CSV_COLUMNS)
    after = 0
    while True:
        # A page at a time, each from a connection taken and given back at once: a slow
        # client never holds a pooled connection while it reads.
        with reader.cursor() as cur:
            rows = audit.entries_after(cur, after=after, limit=EXPORT_PAGE, **filters)
        for row in rows:
            writer.writerow([
                row["position"], row["occurred_at"].isoformat(), row["actor"], row["aggregate_type"],
                row["aggregate_id"], row["version"], row["event_type"], row["correlation_id"],
                row["causation_id"], orjson.dumps(row["data"]).decode(),
            ])  # fmt: skip
        yield _drain(buffer)
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1]["position"]


def _drain(buffer: io.StringIO) -> bytes:
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk
