"""A member of staff who signs in: credentials, status and roles (widened by the access issue)."""

from __future__ import annotations

import re
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate
from crm_es.errors import Conflict, InvalidInput

_USERNAME = re.compile(r"^[A-Za-z0-9_.\-@]{3,64}$")
USERNAME_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:username")


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username.strip()):
        raise InvalidInput.on(
            "username", "3 to 64 letters, digits or . _ - @ (no spaces)"
        )
    return username.strip()


def check_password(password: Any) -> str:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput.on("password", "must be at least 8 characters")
    if len(password) > 256:
        raise InvalidInput.on("password", "must be at most 256 characters")
    return password


class User(CrmAggregate):
    """Someone who can sign in. The password is kept only as an argon2 hash."""

    @event("Registered")
    def __init__(
        self, *, username: str, display_name: str, password_hash: str, roles: tuple[str, ...]
    ) -> None:
        self.username = username
        self.display_name = display_name
        self.password_hash = password_hash
        self.roles = tuple(roles)
        self.status = "active"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @event("PasswordReset")
    def reset_password(self, password_hash: str) -> None:
        self.password_hash = password_hash

    def disable(self) -> None:
        if self.status == "departed":
            raise Conflict("a departed user cannot be disabled again")
        if self.status != "disabled":
            self._disabled()

    @event("Disabled")
    def _disabled(self) -> None:
        self.status = "disabled"

    def enable(self) -> None:
        if self.status == "departed":
            raise Conflict("a departed user cannot be enabled")
        if self.status != "active":
            self._enabled()

    @event("Enabled")
    def _enabled(self) -> None:
        self.status = "active"


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
