"""The common aggregate base: every event carries actor, correlation id and causation id."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import field
from datetime import datetime, timezone
from typing import Any

from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo

from crm_es.errors import InvalidInput

actor_var: ContextVar[str] = ContextVar("crm_es_actor", default="system")
correlation_var: ContextVar[str | None] = ContextVar("crm_es_correlation", default=None)
causation_var: ContextVar[str | None] = ContextVar("crm_es_causation", default=None)
clock_var: ContextVar[datetime | None] = ContextVar("crm_es_clock", default=None)


@contextlib.contextmanager
def recording(
    actor: str, correlation_id: str | None = None, causation_id: str | None = None
) -> Iterator[None]:
    """Within this block, new events are stamped with this actor, correlation and causation."""
    tokens = (
        actor_var.set(actor),
        correlation_var.set(correlation_id),
        causation_var.set(causation_id),
    )
    try:
        yield
    finally:
        causation_var.reset(tokens[2])
        correlation_var.reset(tokens[1])
        actor_var.reset(tokens[0])


@contextlib.contextmanager
def occurring_at(moment: datetime) -> Iterator[None]:
    """Within this block, new events are stamped with ``moment`` (UTC) instead of the time of
    recording. Only for loading a history that happened before it is recorded, as seed-demo's
    opportunities do; commands never use it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an event's moment needs a time zone")
    token = clock_var.set(moment.astimezone(timezone.utc))
    try:
        yield
    finally:
        clock_var.reset(token)


class CrmAggregate(Aggregate):
    """Base of every crm-es aggregate."""

    class Event(Aggregate.Event):
        actor: str = field(default_factory=actor_var.get, kw_only=True)
        correlation_id: str | None = field(default_factory=correlation_var.get, kw_only=True)
        causation_id: str | None = field(default_factory=causation_var.get, kw_only=True)

        @staticmethod
        def create_timestamp() -> datetime:
            """Now, unless the event is recorded within ``occurring_at``."""
            moment = clock_var.get()
            return datetime_now_with_tzinfo() if moment is None else moment

    class Created(Event, Aggregate.Created):
        pass


def check_text(field: str, value: Any, max_len: int, *, required: bool = False) -> str | None:
    """``value`` trimmed; None for a missing or blank optional value; 422 on the field otherwise."""
    if value is None:
        if required:
            raise InvalidInput.on(field, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput.on(field, "must be a string")
    value = value.strip()
    if not value:
        if required:
            raise InvalidInput.on(field, "must not be blank")
        return None
    if len(value) > max_len:
        raise InvalidInput.on(field, f"must be at most {max_len} characters")
    return value



METADATA_FIELDS = ("actor", "correlation_id", "causation_id")
"""Event attributes that describe the recording, not the fact."""

_NOT_DATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", *METADATA_FIELDS})


def describe_event(position: int, event: Any) -> dict[str, Any]:
    """One stored event as auditors read it (history, operation log): what happened to which
    record, when, by whom, in which request, and its data. Fields named like a password
    (hashes included) are left out of the data."""
    aggregate_type, _, event_type = type(event).__qualname__.rpartition(".")
    return {
        "position": position,
        "aggregate_type": aggregate_type,
        "aggregate_id": event.originator_id,
        "version": event.originator_version,
        "event_type": f"{aggregate_type}.{event_type}",
        "occurred_at": event.timestamp,
        "actor": getattr(event, "actor", None),
        "correlation_id": getattr(event, "correlation_id", None),
        "causation_id": getattr(event, "causation_id", None),
        "data": _without_passwords({k: v for k, v in vars(event).items() if k not in _NOT_DATA}),
    }


def _without_passwords(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_passwords(v) for k, v in value.items() if "password" not in str(k).lower()}
    if isinstance(value, (list, tuple)):
        return [_without_passwords(v) for v in value]
    return value
