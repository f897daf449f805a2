"""The domain-error family. The API maps each kind to one HTTP status in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """A command was refused. ``title`` is short and stable; ``detail`` explains this case."""

    status = 409
    title = "Request conflicts with the current state"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, **extra: object):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"

    @classmethod
    def on(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", errors=[FieldError(field, message)])


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    """A business rule forbids the command in the record's current state."""

    status = 409
    title = "Business rule conflict"


class ConcurrentModification(DomainError):
    status = 409
    title = "Concurrent modification"


class PreconditionFailed(DomainError):
    status = 412
    title = "Version mismatch"


class Unauthorized(DomainError):
    status = 401
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class ReadModelBehind(DomainError):
    """A read asked for a position the read model did not reach in time."""

    status = 503
    title = "Read model not yet at the requested position"


class TooManyAttempts(DomainError):
    """Repeated failed logins locked the username for a while."""

    status = 429
    title = "Too many failed attempts"
