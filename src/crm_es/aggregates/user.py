"""Staff who sign in: credentials, status, department and roles; and their login record."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput

_USERNAME = re.compile(r"^[A-Za-z0-9_.\-@]{3,64}$")
USERNAME_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:username")
LOGIN_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:login")
STATUSES = ("active", "disabled", "departed")


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username.strip()):
        raise InvalidInput.on("username", "3 to 64 letters, digits or . _ - @ (no spaces)")
    return username.strip()


def check_password(password: Any) -> str:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput.on("password", "must be at least 8 characters")
    if len(password) > 256:
        raise InvalidInput.on("password", "must be at most 256 characters")
    return password


def check_display_name(display_name: Any) -> str:
    return check_text("display_name", display_name, 100, required=True)  # type: ignore[return-value]


class User(CrmAggregate):
    """Someone who can sign in. The password is kept only as an argon2 hash."""

    @event("Registered")
    def __init__(
        self,
        *,
        username: str,
        display_name: str,
        password_hash: str,
        department_id: UUID | None,
        role_ids: tuple[UUID, ...],
    ) -> None:
        self.username = username
        self.display_name = display_name
        self.password_hash = password_hash
        self.department_id = department_id
        self.role_ids = tuple(role_ids)
        self.status = "active"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def _check_not_departed(self) -> None:
        if self.status == "departed":
            raise Conflict(f"{self.username} has departed; their account cannot change")

    @event("PasswordReset")
    def reset_password(self, password_hash: str) -> None:
        """An administrator set a new password."""
        self.password_hash = password_hash

    def change_password(self, password_hash: str) -> None:
        """The user chose a new password (having proved they know the current one)."""
        self._check_not_departed()
        self._password_changed(password_hash=password_hash)

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str) -> None:
        self.password_hash = password_hash

    def disable(self) -> None:
        self._check_not_departed()
        if self.status != "disabled":
            self._disabled()

    @event("Disabled")
    def _disabled(self) -> None:
        self.status = "disabled"

    def enable(self) -> None:
        self._check_not_departed()
        if self.status != "active":
            self._enabled()

    @event("Enabled")
    def _enabled(self) -> None:
        self.status = "active"

    def assign_roles(self, role_ids: tuple[UUID, ...]) -> None:
        self._check_not_departed()
        role_ids = tuple(dict.fromkeys(role_ids))
        if set(role_ids) != set(self.role_ids):
            self._roles_assigned(role_ids=role_ids)

    @event("RolesAssigned")
    def _roles_assigned(self, role_ids: tuple[UUID, ...]) -> None:
        self.role_ids = role_ids

    def move_to(self, department_id: UUID | None) -> None:
        self._check_not_departed()
        if department_id != self.department_id:
            self._moved_department(department_id=department_id, previous_department_id=self.department_id)

    @event("MovedDepartment")
    def _moved_department(self, department_id: UUID | None, previous_department_id: UUID | None) -> None:
        self.department_id = department_id

    def rename(self, display_name: str) -> None:
        display_name = check_display_name(display_name)
        if display_name != self.display_name:
            self._renamed(display_name=display_name)

    @event("Renamed")
    def _renamed(self, display_name: str) -> None:
        self.display_name = display_name

    def depart(self, successor_id: UUID | None) -> None:
        """The user leaves the company: login stops at once; their business moves on (handover)."""
        self._check_not_departed()
        if successor_id == self.id:
            raise InvalidInput.on("successor_id", "a departing user cannot be their own successor")
        self._departed(successor_id=successor_id)

    @event("Departed")
    def _departed(self, successor_id: UUID | None) -> None:
        self.status = "departed"


class Username(CrmAggregate):
    """Index aggregate that makes usernames unique (case-insensitively): its id derives from
    the username, so a second registration of the same name collides on save."""

    @staticmethod
    def create_id(username: str) -> UUID:  # type: ignore[override]
        return uuid5(USERNAME_NAMESPACE, username.lower())

    @event("Claimed")
    def __init__(self, username: str, user_id: UUID) -> None:
        self.username = username
        self.user_id = user_id


class LoginRecord(CrmAggregate):
    """Sign-in attempts for one username (known or not): the operation log of logins, and the
    locks that repeated failures put on the username, each for the address the failures came
    from (so one address cannot lock a user out everywhere)."""

    @staticmethod
    def create_id(username: str) -> UUID:  # type: ignore[override]
        return uuid5(LOGIN_NAMESPACE, username.lower())

    @event("Opened")
    def __init__(self, username: str) -> None:
        self.username = username
        self.failures: dict[str, int] = {}
        self.locked_until: dict[str, datetime] = {}

    @staticmethod
    def _key(client: str | None) -> str:
        return client or "-"

    def locked_at(self, now: datetime, client: str | None) -> datetime | None:
        """Until when the username is locked for ``client`` at ``now``, or None."""
        until = self.locked_until.get(self._key(client))
        return until if until is not None and now < until else None

    def is_locked_anywhere(self, now: datetime) -> bool:
        return any(now < until for until in self.locked_until.values())

    def has_failures(self, client: str | None) -> bool:
        return self.failures.get(self._key(client), 0) > 0

    @event("Succeeded")
    def succeeded(self, user_id: UUID, client: str | None) -> None:
        self.failures.pop(self._key(client), None)
        self.locked_until.pop(self._key(client), None)

    def fail(self, *, reason: str, client: str | None, now: datetime, max_failures: int, lock_for: timedelta) -> None:
        failures = self.failures.get(self._key(client), 0) + 1
        locked_until = now + lock_for if failures >= max_failures else None
        self._failed(reason=reason, client=client, locked_until=locked_until)

    @event("Failed")
    def _failed(self, reason: str, client: str | None, locked_until: datetime | None) -> None:
        key = self._key(client)
        if locked_until is not None:
            self.failures.pop(key, None)
            self.locked_until[key] = locked_until
        else:
            self.failures[key] = self.failures.get(key, 0) + 1

    @event("Unlocked")
    def unlock(self) -> None:
        """An operator lifted every lock (``crm-es create-admin``)."""
        self.failures = {}
        self.locked_until = {}
