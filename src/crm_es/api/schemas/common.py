"""Types and shapes shared by every resource's schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("must not contain control characters")
    return value


Text = Annotated[str, AfterValidator(_no_control_characters)]
"""A string PostgreSQL can store: no NUL or other control characters but tab and newlines."""


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class WriteResult(BaseModel):
    id: UUID = Field(description="Id of the record written (for a contact or activity: its own id).")
    version: int = Field(description="Version of the aggregate after the command; send it back in If-Match.")
    position: int = Field(description="Global event position of the last event written; pass as min_position to read your write.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "6f1c2b1e-8d1a-4c55-9a43-0c1f1d5c2b10", "version": 3, "position": 1042}]}
    )


class EventRecord(BaseModel):
    """One stored event as auditors read it."""

    position: int = Field(description="Global position in the event log.")
    aggregate_type: str = Field(examples=["Customer"])
    aggregate_id: UUID
    version: int = Field(description="The record's version after this event.")
    event_type: str = Field(examples=["Customer.ContactAdded"])
    occurred_at: datetime
    actor: str | None = Field(description='User id, or "process:<name>".')
    correlation_id: str | None = Field(None, description="The request (X-Request-ID) or process run.")
    causation_id: str | None = Field(None, description="The event that caused this one, for processes.")
    data: dict[str, Any] = Field(description="The event's own fields (password hashes left out).")


class EventPage(BaseModel):
    items: list[EventRecord]
    next_cursor: str | None = None


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    suggestions: list[dict[str, str | None]] | None = Field(
        None, description="A refused customer province or city: the places the person may have meant, "
        "as {province, city} (city null for a province).",
    )  # fmt: skip

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://crm-es.dev/problems/invalid-input",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "email: 'wang@' is not a well-formed email address",
                    "errors": [{"field": "email", "message": "'wang@' is not a well-formed email address"}],
                }
            ]
        }
    )


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    descriptions = {
        401: "Missing or invalid bearer token",
        403: "The role lacks the permission, or the record is outside the data scope",
        404: "Unknown id",
        409: "Business-rule conflict or concurrent modification",
        412: "If-Match names another version than the current one",
        415: "The body is not JSON",
        422: "Invalid input",
        429: "Too many failed logins: the account is locked for a while (Retry-After)",
        503: "The read model has not reached min_position in time",
    }
    return {
        s: {"model": Problem, "description": descriptions[s], "content": {"application/problem+json": {}}}
        for s in statuses
    }
