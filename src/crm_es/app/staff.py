"""Staff (系统管理): users, departments, roles, and logins.

Only an administrator (a holder of the built-in admin role) may grant the admin role or change
an administrator's account: ``users:admin`` alone manages everyone else. Logins of one username
are serialised across every process with an advisory lock, so parallel guesses never get more
tries than the failure limit allows; failures lock the username for the address they came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from crm_es.access import DEFAULT_ROLES
from crm_es.aggregates.base import recording
from crm_es.aggregates.department import Department
from crm_es.aggregates.role import Role
from crm_es.aggregates.user import LoginRecord, User, Username, check_display_name, check_password, check_username
from crm_es.app.kernel import Commands, Context, Kernel, UserDirectory, Written
from crm_es.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooManyAttempts, Unauthorized

password_hasher = PasswordHasher()

ADMIN_ROLE = Role.create_id("admin")


class Staff(Commands):
    def __init__(self, kernel: Kernel, *, max_failures: int = 5, lock_for: timedelta = timedelta(minutes=15)):
        super().__init__(kernel)
        self.max_failures = max_failures
        self.lock_for = lock_for
        kernel.provide(UserDirectory, self)
        kernel.register_kind("department", Department)

    # Lookups -----------------------------------------------------------------------------------

    def user(self, user_id: UUID) -> User:
        return self.kernel.get(User, user_id, "user")

    def user_by_username(self, username: str) -> User | None:
        try:
            claim = self.kernel.repository.get(Username.create_id(username))
        except AggregateNotFoundError:
            return None
        return self.user(claim.user_id)

    def check_user(self, user_id: UUID, field_name: str) -> User:
        try:
            user = self.user(user_id)
        except NotFound:
            raise InvalidInput.on(field_name, f"no user with id {user_id}") from None
        if not user.is_active:
            raise InvalidInput.on(field_name, f"user {user.username} is {user.status}")
        return user

    def check_department(self, department_id: UUID, field_name: str) -> Department:
        return self._ref(Department, department_id, field_name, "department")

    def _ref(self, cls: type[Any], aggregate_id: UUID, field_name: str, what: str) -> Any:
        try:
            return self.kernel.get(cls, aggregate_id, what)
        except NotFound:
            raise InvalidInput.on(field_name, f"no {what} with id {aggregate_id}") from None

    def _change_user(self, ctx: Context, user_id: UUID, change: Callable[[User], Any], expected_version: int | None = None) -> Written:
        def guarded(user: User) -> None:
            if ADMIN_ROLE in user.role_ids and not ctx.is_admin:
                raise Forbidden(f"{user.username} is an administrator; only an administrator can change their account")
            change(user)

        return self.kernel.mutate(ctx, user_id, lambda: self.user(user_id), guarded, expected_version=expected_version)

    @staticmethod
    def _check_grant(ctx: Context, role_ids: Sequence[UUID]) -> None:
        if ADMIN_ROLE in role_ids and not ctx.is_admin:
            raise Forbidden("only an administrator can grant the admin role")

    # Start-up ----------------------------------------------------------------------------------

    def ensure_default_roles(self) -> int:
        """Create the default roles that do not exist yet; returns how many were created."""
        created = 0
        with recording("process:bootstrap"):
            for template in DEFAULT_ROLES:
                if self.exists(self.kernel, Role.create_id(template.name)):
                    continue
                role = Role.create(
                    name=template.name, description=template.description,
                    permissions=template.permissions, data_scope=template.data_scope,
                )  # fmt: skip
                created += self.save_new(role)
        return created

    def ensure_admin(self, *, username: str, password: str) -> tuple[User, str]:
        """Create the administrator, or reset its password if it differs (idempotent), and lift
        any login lock on the username: whoever runs this owns the installation."""
        ctx = Context.system("create-admin")
        existing = self.user_by_username(username)
        if existing is None:
            written = self.register_user(
                ctx=ctx, username=username, password=password, display_name="Administrator", role_ids=(ADMIN_ROLE,)
            )
            return self.user(written.id), "created"
        outcome = "unchanged"
        try:
            password_hasher.verify(existing.password_hash, password)
        except (VerificationError, InvalidHashError):
            self.reset_password(ctx=ctx, user_id=existing.id, password=password)
            outcome = "password reset"
        if ADMIN_ROLE not in existing.role_ids:
            self._change_user(ctx, existing.id, lambda u: u.assign_roles((*u.role_ids, ADMIN_ROLE)))
            outcome = "admin role given" if outcome == "unchanged" else f"{outcome}, admin role given"
        if self._unlock(ctx, username):
            outcome = "login unlocked" if outcome == "unchanged" else f"{outcome}, login unlocked"
        return self.user(existing.id), outcome

    # Departments -------------------------------------------------------------------------------

    def create_department(self, *, ctx: Context, name: str, parent_id: UUID | None = None) -> Written:
        if parent_id is not None:
            self._ref(Department, parent_id, "parent_id", "department")
        return self.kernel.create(ctx, lambda: Department.create(name=name, parent_id=parent_id))

    def change_department(
        self, *, ctx: Context, department_id: UUID, expected_version: int | None = None, **changes: Any
    ) -> Written:
        """Rename, move under another parent (never under itself or a descendant), set the manager."""
        if changes.get("parent_id") is not None:
            self._check_no_cycle(department_id, changes["parent_id"])
        if changes.get("manager_id") is not None:
            self.check_user(changes["manager_id"], "manager_id")

        def change(department: Department) -> None:
            if "name" in changes:
                department.rename(changes["name"])
            if "parent_id" in changes:
                department.move_under(changes["parent_id"])
            if "manager_id" in changes:
                department.set_manager(changes["manager_id"])

        load = lambda: self.kernel.get(Department, department_id, "department")  # noqa: E731
        return self.kernel.mutate(ctx, department_id, load, change, expected_version=expected_version)

    def _check_no_cycle(self, department_id: UUID, parent_id: UUID) -> None:
        seen: set[UUID] = set()
        current: UUID | None = parent_id
        while current is not None:
            if current == department_id:
                raise InvalidInput.on("parent_id", "a department cannot move under itself or its own sub-department")
            if current in seen:
                break
            seen.add(current)
            current = self._ref(Department, current, "parent_id", "department").parent_id

    def department(self, department_id: UUID) -> Department:
        return self.kernel.get(Department, department_id, "department")

    # Roles -------------------------------------------------------------------------------------

    def create_role(
        self, *, ctx: Context, name: str, permissions: Sequence[str], data_scope: str,
        description: str | None = None, scopes: dict[str, str] | None = None,
    ) -> Written:  # fmt: skip
        try:
            return self.kernel.create(ctx, lambda: Role.create(
                name=name, description=description, permissions=permissions, data_scope=data_scope, scopes=scopes))  # fmt: skip
        except IntegrityError:
            raise Conflict(f"a role named {name!r} exists already") from None

    def change_role(
        self, *, ctx: Context, role_id: UUID, expected_version: int | None = None,
        permissions: Sequence[str] | None = None, data_scope: str | None = None, scopes: dict[str, str] | None = None,
    ) -> Written:  # fmt: skip
        if role_id == ADMIN_ROLE:
            # Someone must always be able to administer crm-es: the built-in role stays whole.
            raise Conflict("the built-in admin role cannot be changed; create another role instead")

        def change(role: Role) -> None:
            if permissions is not None:
                role.change_permissions(permissions)
            if data_scope is not None or scopes is not None:
                role.change_scope(data_scope=data_scope, scopes=scopes)

        load = lambda: self.kernel.get(Role, role_id, "role")  # noqa: E731
        return self.kernel.mutate(ctx, role_id, load, change, expected_version=expected_version)

    # Users -------------------------------------------------------------------------------------

    def register_user(
        self, *, ctx: Context, username: str, password: str, display_name: str | None = None,
        department_id: UUID | None = None, role_ids: Sequence[UUID] = (),
    ) -> Written:  # fmt: skip
        username = check_username(username)
        display_name = check_display_name(display_name or username)
        if department_id is not None:
            self._ref(Department, department_id, "department_id", "department")
        for role_id in role_ids:
            self._ref(Role, role_id, "role_ids", "role")
        self._check_grant(ctx, role_ids)
        password_hash = password_hasher.hash(check_password(password))

        def make() -> list[Any]:
            user = User(
                username=username, display_name=display_name, password_hash=password_hash,
                department_id=department_id, role_ids=tuple(dict.fromkeys(role_ids)),
            )  # fmt: skip
            return [user, Username(username, user.id)]

        try:
            return self.kernel.create(ctx, make)
        except IntegrityError:
            raise Conflict(f"the username {username!r} is taken") from None

    def disable_user(self, *, ctx: Context, user_id: UUID) -> Written:
        if user_id == ctx.user_id:
            raise Conflict("you cannot disable your own account")
        return self._change_user(ctx, user_id, User.disable)

    def enable_user(self, *, ctx: Context, user_id: UUID) -> Written:
        return self._change_user(ctx, user_id, User.enable)

    def reset_password(self, *, ctx: Context, user_id: UUID, password: str) -> Written:
        password_hash = password_hasher.hash(check_password(password))
        return self._change_user(ctx, user_id, lambda u: u.reset_password(password_hash))

    def change_user(self, *, ctx: Context, user_id: UUID, expected_version: int | None = None, **changes: Any) -> Written:
        """Rename, move to another department, assign roles: whichever are given."""
        if changes.get("department_id") is not None:
            self._ref(Department, changes["department_id"], "department_id", "department")
        for role_id in changes.get("role_ids") or ():
            self._ref(Role, role_id, "role_ids", "role")
        if "role_ids" in changes and user_id == ctx.user_id:
            raise Conflict("you cannot change your own roles")
        self._check_grant(ctx, changes.get("role_ids") or ())

        def change(user: User) -> None:
            if "display_name" in changes:
                user.rename(changes["display_name"])
            if "department_id" in changes:
                user.move_to(changes["department_id"])
            if "role_ids" in changes:
                user.assign_roles(tuple(changes["role_ids"] or ()))

        return self._change_user(ctx, user_id, change, expected_version)

    def depart_user(self, *, ctx: Context, user_id: UUID, successor_id: UUID | None = None) -> Written:
        """The user leaves: sign-in stops at once; the handover process moves their business."""
        if user_id == ctx.user_id:
            raise Conflict("you cannot mark yourself as departed")
        if successor_id is not None:
            self.check_user(successor_id, "successor_id")
        return self._change_user(ctx, user_id, lambda u: u.depart(successor_id))

    # Logins ------------------------------------------------------------------------------------

    def login(self, *, username: str, password: str, client: str | None) -> User:
        """The active user with these credentials. Every attempt is recorded; repeated failures
        from one address lock the username for that address for a while."""
        name = username.strip() if isinstance(username, str) else ""
        user: User | None = None

        def verify() -> str | None:
            nonlocal user
            user = self.user_by_username(name) if name else None
            if user is None:
                password_hasher.hash(password or "-")  # spend the time a real check takes
                return "unknown username"
            try:
                password_hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                return "wrong password"
            return None if user.is_active else f"account {user.status}"

        reason = self._attempt(name, client, verify, lambda: user)
        if reason is not None:
            raise Unauthorized("unknown username, wrong password, or the account is not active")
        assert user is not None
        return user

    def change_own_password(self, *, ctx: Context, current_password: str, new_password: str) -> Written:
        """The signed-in user replaces their password, proving they know the current one. Wrong
        guesses count against the same limit as logins (and lock the same way)."""
        if ctx.user_id is None:
            raise Forbidden("only a signed-in user can change their password")
        user = self.user(ctx.user_id)

        def verify() -> str | None:
            try:
                password_hasher.verify(user.password_hash, current_password)
            except (VerificationError, InvalidHashError):
                return "wrong current password"
            return None

        if self._attempt(user.username, ctx.client, verify, lambda: user, record_success=False) is not None:
            raise InvalidInput.on("current_password", "is not your current password")
        if new_password == current_password:
            raise InvalidInput.on("new_password", "must differ from the current password")
        password_hash = password_hasher.hash(check_password(new_password))
        return self._change_user(ctx, ctx.user_id, lambda u: u.change_password(password_hash))

    def _attempt(
        self, name: str, client: str | None, verify: Callable[[], str | None], who: Callable[[], User | None],
        *, record_success: bool = True,
    ) -> str | None:  # fmt: skip
        """Check the lock, verify, record the attempt: all under a lock on the username that
        every process shares, so no two guesses of one username are ever judged at once."""
        record_id = LoginRecord.create_id(name or "-")
        with self.kernel.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crm-es:login:{record_id}",))
            try:
                record = self.kernel.repository.get(record_id)
            except AggregateNotFoundError:
                with recording(f"login:{name}"):
                    record = LoginRecord(name or "-")
            now = datetime.now(timezone.utc)
            locked = record.locked_at(now, client)
            if locked is not None:
                seconds = max(1, int((locked - now).total_seconds()))
                raise TooManyAttempts(
                    f"too many failed attempts; {name} is locked for {seconds} more seconds from this address",
                    retry_after=seconds,
                )
            reason = verify()
            if reason is None and not record_success and not record.has_failures(client):
                return None
            user = who()
            with recording(str(user.id) if user is not None else f"login:{name}"):
                if reason is None:
                    record.succeeded(user_id=user.id, client=client)  # type: ignore[union-attr]
                else:
                    record.fail(reason=reason, client=client, now=now, max_failures=self.max_failures, lock_for=self.lock_for)
            try:
                self.kernel.save(record)
            except IntegrityError as error:  # only a writer that skipped the lock can collide
                raise DomainError("the login attempt could not be recorded; try again") from error
            return reason

    def _unlock(self, ctx: Context, username: str) -> bool:
        record_id = LoginRecord.create_id(username)
        try:
            record = self.kernel.get(LoginRecord, record_id, "login record")
        except NotFound:
            return False
        if not record.is_locked_anywhere(datetime.now(timezone.utc)):
            return False
        self.kernel.mutate(ctx, record_id, lambda: self.kernel.get(LoginRecord, record_id, "login record"), LoginRecord.unlock)
        return True
