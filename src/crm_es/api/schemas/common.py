"""Types and shapes shared by every resource's schemas."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters (Unicode category Cc: C0, DEL and C1) but tab, line feed and carriage return."""
_SURROGATE = re.compile("[\ud800-\udfff]")
"""Halves of UTF-16 surrogate pairs: JSON can spell them alone (``"\\ud800"``), UTF-8 cannot."""


def _checked_text(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("must not contain unpaired surrogates (\\ud800-\\udfff): send well-formed Unicode")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (only tab and line breaks are allowed)")
    return value


def _checked_password(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("must not contain unpaired surrogates (\\ud800-\\udfff): send well-formed Unicode")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_checked_text)]
"""Every free-text field of a request: well-formed Unicode without control characters, so it can
be encoded as UTF-8 for the event store and PostgreSQL, and printed or exported safely. Tab, line
feed and carriage return are allowed."""

Password = Annotated[str, AfterValidator(_checked_password)]
"""A password: any character a person can type is kept as it is (no trimming), except what cannot
be hashed as UTF-8 (unpaired surrogates) and NUL."""


Money = Annotated[Decimal, Field(ge=0, lt=Decimal("1e15"), decimal_places=2, examples=["500000.00"])]
"""An amount of money: a decimal string with at most two places, never negative, never rounded."""


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
        413: "The request body is larger than 1 MiB",
        415: "The body is not JSON",
        422: "Invalid input: a field, malformed JSON, JSON not in UTF-8 or nested more than 32 levels "
             "(errors lists at most 20 fields; error_count counts them all)",
        429: "Too many failed logins: the account is locked for a while (Retry-After)",
        503: "The read model has not reached min_position in time",
    }
    return {
        s: {"model": Problem, "description": descriptions[s], "content": {"application/problem+json": {}}}
        for s in statuses
    }
