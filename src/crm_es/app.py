"""The crm-es application: commands load aggregates, call them, and save their events atomically.

Every command takes a ``Context`` (who asks, which request, which idempotency key) and returns a
``Written`` result ``{id, version, position}``. Queries live in the projections' modules.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from uuid import UUID, uuid4

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg import Cursor

from crm_es.aggregates.base import CrmAggregate, recording
from crm_es.aggregates.customer import Customer
from crm_es.access import DEFAULT_ROLES, Access
from crm_es.aggregates.department import Department
from crm_es.aggregates.reference import LISTS, ReferenceList
from crm_es.aggregates.role import Role
from crm_es.aggregates.user import LoginRecord, User, Username, check_display_name, check_password, check_username
from crm_es.errors import (
    ConcurrentModification,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    TooManyAttempts,
    Unauthorized,
)
from crm_es.store import OrjsonTranscoder

log = logging.getLogger("crm_es.app")

A = TypeVar("A", bound=CrmAggregate)

password_hasher = PasswordHasher()


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and a fingerprint of the request it came with."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: Any) -> Idempotency:
        canonical = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
        return cls(key, hashlib.sha256(canonical).hexdigest())


@dataclass(frozen=True)
class Context:
    """Who issues a command, in which request, and under which idempotency key."""

    actor: str
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    causation_id: str | None = None
    idempotency: Idempotency | None = None
    user_id: UUID | None = None
    access: Access | None = None
    """What the caller may see and do; None for crm-es's own processes (unrestricted)."""

    def sees(self, resource: str, owner_id: UUID) -> bool:
        return self.access is None or self.access.sees(resource, owner_id)

    @classmethod
    def system(cls, name: str) -> Context:
        return cls(actor=f"process:{name}")


@dataclass(frozen=True)
class Written:
    """What a command wrote: the record's id, its version, and the position of the last event."""

    id: UUID
    version: int
    position: int
    created: bool = False
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {"id": str(self.id), "version": self.version, "position": self.position}


Remember = Callable[[int], tuple[str, str, str, str]]
"""Given the position of a command's last event, the idempotency row that answers a repeat."""


class CrmRecorder(PostgresApplicationRecorder):
    """Writes idempotency records in the same transaction as the events they answer for.
    ``remember`` is a list of (first, stop, row-maker) over the events inserted together."""

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        remember: list[tuple[int, int, Remember]] = kwargs.get("remember") or []
        if remember and ids:
            curs.executemany(
                "INSERT INTO crm.idempotency (key, actor, request_hash, response) VALUES (%s, %s, %s, %s::jsonb)",
                [row(max(ids[first:stop])) for first, stop, row in remember],
            )
        return ids


@dataclass
class _Append:
    """One command's events waiting to be appended."""

    stored: list[StoredEvent]
    remember: Remember | None
    done: threading.Event = field(default_factory=threading.Event)
    ids: Sequence[int] = ()
    error: BaseException | None = None
    lead: bool = False


class GroupCommit:
    """Appends the events of concurrent commands in one transaction (group commit).

    The event store serialises writers on a table lock (that is what keeps notification ids in
    commit order), so one transaction per command caps throughput at one lock hold per command.
    Here the first command to arrive leads: it appends everything queued behind it in one
    transaction, hands leadership to a waiting command, and returns. If a batch collides (two
    commands wrote the same aggregate version, or an idempotency key twice), each command of
    it is appended on its own, so only the colliding one fails and is retried by its caller."""

    def __init__(self, recorder: CrmRecorder, max_batch: int = 100):
        self.recorder = recorder
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Append] = []
        self._leading = False

    def append(self, stored: list[StoredEvent], remember: Remember | None) -> Sequence[int]:
        job = _Append(stored, remember)
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.done.wait()
        while not job.done.is_set() or job.lead:
            job.lead = False
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.ids

    def _lead(self, own: _Append) -> None:
        with self._lock:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        self._commit(batch)
        with self._lock:
            if self._queue and own.done.is_set():
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()  # wakes it as the next leader
            elif not self._queue:
                self._leading = False

    def _commit(self, batch: list[_Append]) -> None:
        try:
            self._insert(batch)
        except IntegrityError as collision:
            if len(batch) == 1:
                batch[0].error = collision
            else:
                for job in batch:
                    try:
                        self._insert([job])
                    except Exception as error:  # noqa: BLE001 - handed to the command that caused it
                        job.error = error
        except Exception as error:  # noqa: BLE001 - every command of the batch learns of it
            for job in batch:
                job.error = error
        finally:
            for job in batch:
                if not job.lead:
                    job.done.set()

    def _insert(self, batch: list[_Append]) -> None:
        stored: list[StoredEvent] = []
        remember: list[tuple[int, int, Remember]] = []
        for job in batch:
            first = len(stored)
            stored += job.stored
            if job.remember is not None and job.stored:
                remember.append((first, len(stored), job.remember))
        ids = list(self.recorder.insert_events(stored, remember=remember) or []) if stored else []
        start = 0
        for job in batch:
            job.ids = ids[start : start + len(job.stored)]
            start += len(job.stored)


class StripedLocks:
    """A fixed set of locks; an aggregate id picks one. Cheap mutual exclusion per aggregate."""

    def __init__(self, stripes: int = 256):
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def hold(self, key: UUID | None) -> Iterator[None]:
        if key is None:
            yield
            return
        with self._locks[key.int % len(self._locks)]:
            yield


class CRM(Application):
    """The one crm-es application: one event store, one notification log."""

    name = "CRM"
    snapshotting_intervals = {Customer: 200}  # noqa: RUF012 - the library reads a class attribute
    env = {  # noqa: RUF012
        "APPLICATION_RECORDER_TOPIC": get_topic(CrmRecorder),
        "AGGREGATE_CACHE_MAXSIZE": "5000",
    }

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self._locks = StripedLocks()
        self._appender = GroupCommit(self.recorder)  # type: ignore[arg-type]
        self._reference_cache: dict[UUID, ReferenceList] = {}

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    @property
    def events_table(self) -> str:
        return self.recorder.events_table_name  # type: ignore[attr-defined]

    def decode(self, notification: Notification) -> Any:
        return self.mapper.to_domain_event(notification)

    # The command cycle -------------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {what} with id {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what} with id {aggregate_id}")
        return aggregate

    def _replay(self, ctx: Context) -> Written | None:
        """The stored answer to a repeated idempotent request, if this is one."""
        if ctx.idempotency is None:
            return None
        with self.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            row = conn.execute(
                "SELECT request_hash, response FROM crm.idempotency WHERE actor = %s AND key = %s",
                (ctx.actor, ctx.idempotency.key),
            ).fetchone()
        if row is None:
            return None
        if row["request_hash"] != ctx.idempotency.request_hash:
            raise InvalidInput.on(
                "Idempotency-Key", "was already used with a different request; use a new key"
            )
        r = row["response"]
        return Written(UUID(r["id"]), r["version"], r["position"], created=r["created"], replayed=True)

    def _save(self, ctx: Context, outcome: tuple[UUID, int, bool], *aggregates: CrmAggregate) -> Written:
        """Save the aggregates' new events (with the idempotency record, if any) in one transaction."""
        result_id, version, created = outcome
        remember: Remember | None = None
        if ctx.idempotency is not None:
            idem = ctx.idempotency

            def remember(position: int) -> tuple[str, str, str, str]:
                response = {"id": str(result_id), "version": version, "position": position, "created": created}
                return (idem.key, ctx.actor, idem.request_hash, orjson.dumps(response).decode())

        processing = ProcessingEvent()
        processing.collect_events(*aggregates)
        ids = self._appender.append([self.mapper.to_stored_event(e) for e in processing.events], remember)
        self._take_snapshots(processing)
        position = max(ids) if ids else self.recorder.max_notification_id() or 0
        return Written(result_id, version, position, created=created)

    def _execute(
        self,
        ctx: Context,
        load: Callable[[], list[CrmAggregate]],
        act: Callable[[list[CrmAggregate]], tuple[UUID, int, bool]],
        *,
        expected_version: int | None = None,
        lock: UUID | None = None,
    ) -> Written:
        """Load, act, save; retry on a concurrent write unless the caller pinned a version.
        ``act`` may append new aggregates to the list it is given; all are saved together.
        Commands on the same aggregate (``lock``) queue up within this process, so they do
        not spend their retries on each other; writers in other processes are retried."""
        replay = self._replay(ctx)
        if replay is not None:
            return replay
        with self._locks.hold(lock):
            return self._attempt(ctx, load, act, expected_version)

    def _attempt(
        self,
        ctx: Context,
        load: Callable[[], list[CrmAggregate]],
        act: Callable[[list[CrmAggregate]], tuple[UUID, int, bool]],
        expected_version: int | None,
    ) -> Written:
        for attempt in range(8):
            if attempt:
                time.sleep(random.uniform(0.002, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
            aggregates = load()
            created_only = not aggregates
            if expected_version is not None and aggregates and aggregates[0].version != expected_version:
                raise PreconditionFailed(
                    f"the record is at version {aggregates[0].version}, not {expected_version}",
                    current_version=aggregates[0].version,
                )
            with recording(ctx.actor, ctx.correlation_id, ctx.causation_id):
                outcome = act(aggregates)
            try:
                return self._save(ctx, outcome, *aggregates)
            except IntegrityError:
                replay = self._replay(ctx)
                if replay is not None:
                    return replay
                if created_only:
                    raise  # a new aggregate collided with an existing one: retrying cannot help
                if expected_version is not None:
                    raise PreconditionFailed("the record was changed by someone else meanwhile") from None
                log.info("concurrent write on %s; retrying", [a.id for a in aggregates])
        raise ConcurrentModification("the record is being changed by others; try again")

    # Customers -------------------------------------------------------------------------------

    def register_customer(self, *, ctx: Context, name: str, kind: str, owner_id: UUID | None = None, **profile: Any) -> Written:
        owner = owner_id or ctx.user_id
        if owner is None:
            raise InvalidInput.on("owner_id", "is required when a process registers a customer")
        if owner != ctx.user_id:  # the caller was authenticated as an active user just now
            self.check_user(owner, "owner_id")
            self._check_owner_in_scope(ctx, owner)

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            values = self.check_customer_references(profile)
            customer = Customer.register(name=name, kind=kind, owner_id=owner, **values)
            aggs.append(customer)
            return customer.id, customer.version, True

        return self._execute(ctx, list, act)

    def update_customer(self, *, ctx: Context, customer_id: UUID, expected_version: int | None = None, **changes: Any) -> Written:
        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            customer = aggs[0]
            assert isinstance(customer, Customer)
            values = self.check_customer_references(changes, current=customer.profile)
            customer.update_profile(**values)
            return customer.id, customer.version, False

        return self._execute(ctx, lambda: [self._customer_for(ctx, customer_id)], act, expected_version=expected_version, lock=customer_id)

    def reassign_customer(
        self, *, ctx: Context, customer_id: UUID, owner_id: UUID, reason: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        self.check_user(owner_id, "owner_id")
        self._check_owner_in_scope(ctx, owner_id)

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            customer = aggs[0]
            assert isinstance(customer, Customer)
            customer.reassign(owner_id=owner_id, reason=reason)
            return customer.id, customer.version, False

        return self._execute(ctx, lambda: [self._customer_for(ctx, customer_id)], act, expected_version=expected_version, lock=customer_id)

    def add_contact(self, *, ctx: Context, customer_id: UUID, expected_version: int | None = None, **fields: Any) -> Written:
        contact_id = uuid4()

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            customer = aggs[0]
            assert isinstance(customer, Customer)
            customer.add_contact(contact_id=contact_id, **fields)
            return contact_id, customer.version, True

        return self._execute(ctx, lambda: [self._customer_for(ctx, customer_id)], act, expected_version=expected_version, lock=customer_id)

    def update_contact(
        self, *, ctx: Context, customer_id: UUID, contact_id: UUID, expected_version: int | None = None,
        **changes: Any,
    ) -> Written:  # fmt: skip
        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            customer = aggs[0]
            assert isinstance(customer, Customer)
            customer.update_contact(contact_id, **changes)
            return contact_id, customer.version, False

        return self._execute(ctx, lambda: [self._customer_for(ctx, customer_id)], act, expected_version=expected_version, lock=customer_id)

    def log_activity(
        self, *, ctx: Context, customer_id: UUID, opportunity_id: UUID | None = None,
        expected_version: int | None = None, **fields: Any,
    ) -> Written:  # fmt: skip
        if opportunity_id is not None:
            self._check_exists(opportunity_id, "opportunity_id", "crm_es.aggregates.opportunity:Opportunity")
        activity_id = uuid4()

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            customer = aggs[0]
            assert isinstance(customer, Customer)
            customer.log_activity(activity_id=activity_id, opportunity_id=opportunity_id, **fields)
            return activity_id, customer.version, True

        return self._execute(ctx, lambda: [self._customer_for(ctx, customer_id)], act, expected_version=expected_version, lock=customer_id)

    def customer(self, customer_id: UUID) -> Customer:
        return self._get(Customer, customer_id, "customer")

    def _customer_for(self, ctx: Context, customer_id: UUID) -> Customer:
        """The customer, if the caller's data scope reaches it; otherwise it does not exist for them."""
        customer = self.customer(customer_id)
        if not ctx.sees("customers", customer.owner_id):
            raise NotFound(f"no customer with id {customer_id}")
        return customer

    @staticmethod
    def _check_owner_in_scope(ctx: Context, owner_id: UUID) -> None:
        if not ctx.sees("customers", owner_id):
            raise Forbidden("you can only give customers to people within your data scope")

    def customer_as_of(self, customer_id: UUID, at: datetime) -> Customer:
        """The customer as it was at ``at``: its events up to that moment, replayed."""
        aggregate: Customer | None = None
        for domain_event in self.events.get(customer_id):
            if domain_event.timestamp > at:
                break
            aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is None or not isinstance(aggregate, Customer):
            raise NotFound(f"customer {customer_id} did not exist at {at.isoformat()}")
        return aggregate

    def _check_exists(self, aggregate_id: UUID, field_name: str, topic_prefix: str) -> None:
        first = list(self.recorder.select_events(aggregate_id, limit=1))
        if not first or not first[0].topic.startswith(topic_prefix):
            raise InvalidInput.on(field_name, f"no such record: {aggregate_id}")

    # History ---------------------------------------------------------------------------------

    def history(self, aggregate_ids: Sequence[UUID]) -> Iterator[tuple[Notification, Any]]:
        """Every event of these aggregates in global order, with its notification."""
        statement = (
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{self.events_table}" '
            "WHERE originator_id = ANY(%s) ORDER BY notification_id"
        )
        with self.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            with conn.cursor() as cur:
                for row in cur.stream(statement, (list(aggregate_ids),)):
                    notification = Notification(
                        id=row["notification_id"],
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                    yield notification, self.decode(notification)

    # Staff: users, departments, roles ----------------------------------------------------------

    def _mutate(self, ctx: Context, cls: type[A], aggregate_id: UUID, what: str, change: Callable[[A], None],
                expected_version: int | None = None) -> Written:  # fmt: skip
        """Load one aggregate, apply ``change``, save (the common shape of staff commands)."""

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            change(aggs[0])  # type: ignore[arg-type]
            return aggs[0].id, aggs[0].version, False

        return self._execute(
            ctx, lambda: [self._get(cls, aggregate_id, what)], act, expected_version=expected_version, lock=aggregate_id
        )

    def register_user(
        self, *, ctx: Context, username: str, password: str, display_name: str | None = None,
        department_id: UUID | None = None, role_ids: Sequence[UUID] = (),
    ) -> Written:  # fmt: skip
        username = check_username(username)
        display_name = check_display_name(display_name or username)
        if department_id is not None:
            self._check_ref(Department, department_id, "department_id", "department")
        for role_id in role_ids:
            self._check_ref(Role, role_id, "role_ids", "role")
        password_hash = password_hasher.hash(check_password(password))

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            user = User(
                username=username, display_name=display_name, password_hash=password_hash,
                department_id=department_id, role_ids=tuple(dict.fromkeys(role_ids)),
            )  # fmt: skip
            aggs += [user, Username(username, user.id)]
            return user.id, user.version, True

        try:
            return self._execute(ctx, list, act)
        except IntegrityError:
            raise Conflict(f"the username {username!r} is taken") from None

    def user_by_username(self, username: str) -> User | None:
        try:
            claim = self.repository.get(Username.create_id(username))
        except AggregateNotFoundError:
            return None
        return self._get(User, claim.user_id, "user")

    def user(self, user_id: UUID) -> User:
        return self._get(User, user_id, "user")

    def check_user(self, user_id: UUID, field_name: str) -> User:
        try:
            user = self.user(user_id)
        except NotFound:
            raise InvalidInput.on(field_name, f"no user with id {user_id}") from None
        if not user.is_active:
            raise InvalidInput.on(field_name, f"user {user.username} is {user.status}")
        return user

    def _check_ref(self, cls: type[CrmAggregate], aggregate_id: UUID, field_name: str, what: str) -> Any:
        try:
            return self._get(cls, aggregate_id, what)
        except NotFound:
            raise InvalidInput.on(field_name, f"no {what} with id {aggregate_id}") from None

    def disable_user(self, *, ctx: Context, user_id: UUID) -> Written:
        if user_id == ctx.user_id:
            raise Conflict("you cannot disable your own account")
        return self._mutate(ctx, User, user_id, "user", User.disable)

    def enable_user(self, *, ctx: Context, user_id: UUID) -> Written:
        return self._mutate(ctx, User, user_id, "user", User.enable)

    def reset_password(self, *, ctx: Context, user_id: UUID, password: str) -> Written:
        password_hash = password_hasher.hash(check_password(password))
        return self._mutate(ctx, User, user_id, "user", lambda u: u.reset_password(password_hash))

    def change_own_password(self, *, ctx: Context, current_password: str, new_password: str) -> Written:
        """The signed-in user replaces their password, proving they know the current one."""
        if ctx.user_id is None:
            raise Forbidden("only a signed-in user can change their password")
        user = self.user(ctx.user_id)
        try:
            password_hasher.verify(user.password_hash, current_password)
        except (VerificationError, InvalidHashError):
            raise InvalidInput.on("current_password", "is not your current password") from None
        if new_password == current_password:
            raise InvalidInput.on("new_password", "must differ from the current password")
        password_hash = password_hasher.hash(check_password(new_password))
        return self._mutate(ctx, User, ctx.user_id, "user", lambda u: u.change_password(password_hash))

    def change_user(
        self, *, ctx: Context, user_id: UUID, expected_version: int | None = None, **changes: Any
    ) -> Written:
        """Rename, move to another department, assign roles: whichever are given."""
        if changes.get("department_id") is not None:
            self._check_ref(Department, changes["department_id"], "department_id", "department")
        for role_id in changes.get("role_ids") or ():
            self._check_ref(Role, role_id, "role_ids", "role")
        if "role_ids" in changes and user_id == ctx.user_id:
            raise Conflict("you cannot change your own roles")

        def change(user: User) -> None:
            if "display_name" in changes:
                user.rename(changes["display_name"])
            if "department_id" in changes:
                user.move_to(changes["department_id"])
            if "role_ids" in changes:
                user.assign_roles(tuple(changes["role_ids"] or ()))

        return self._mutate(ctx, User, user_id, "user", change, expected_version)

    def depart_user(self, *, ctx: Context, user_id: UUID, successor_id: UUID | None = None) -> Written:
        """The user leaves: sign-in stops at once. Moving their business is the handover process."""
        if user_id == ctx.user_id:
            raise Conflict("you cannot mark yourself as departed")
        if successor_id is not None:
            self.check_user(successor_id, "successor_id")
        return self._mutate(ctx, User, user_id, "user", lambda u: u.depart(successor_id))

    def login(self, *, username: str, password: str, client: str | None, max_failures: int, lock_for: timedelta) -> User:
        """The active user with these credentials; every attempt is recorded, and repeated
        failures lock the username for ``lock_for``."""
        name = username.strip() if isinstance(username, str) else ""
        record_id = LoginRecord.create_id(name or "-")
        with self._locks.hold(record_id):
            try:
                record = self.repository.get(record_id)
            except AggregateNotFoundError:
                with recording(f"login:{name}"):
                    record = LoginRecord(name or "-")
            now = datetime.now(timezone.utc)
            locked = record.locked_at(now)
            if locked is not None:
                seconds = max(1, int((locked - now).total_seconds()))
                raise TooManyAttempts(
                    f"too many failed logins; {name} is locked for {seconds} more seconds", retry_after=seconds
                )
            user = self.user_by_username(name) if name else None
            reason = None
            if user is None:
                password_hasher.hash(password or "-")  # spend the time a real check takes
                reason = "unknown username"
            else:
                try:
                    password_hasher.verify(user.password_hash, password)
                except (VerificationError, InvalidHashError):
                    reason = "wrong password"
                else:
                    if not user.is_active:
                        reason = f"account {user.status}"
            actor = str(user.id) if user is not None else f"login:{name}"
            for _attempt in range(5):
                with recording(actor):
                    if reason is None:
                        record.succeeded(user_id=user.id, client=client)  # type: ignore[union-attr]
                    else:
                        record.fail(reason=reason, client=client, now=now, max_failures=max_failures, lock_for=lock_for)
                try:
                    self.save(record)
                    break
                except IntegrityError:
                    # Another process recorded an attempt of this username at the same moment:
                    # record this one on top of it.
                    record = self.repository.get(record_id)
        if reason is not None:
            raise Unauthorized("unknown username, wrong password, or the account is not active")
        return user  # type: ignore[return-value]

    def ensure_admin(self, *, username: str, password: str) -> tuple[User, str]:
        """Create the administrator, or reset its password if it differs (idempotent)."""
        ctx = Context.system("create-admin")
        admin_role = Role.create_id("admin")
        existing = self.user_by_username(username)
        if existing is None:
            written = self.register_user(
                ctx=ctx, username=username, password=password, display_name="Administrator", role_ids=(admin_role,)
            )
            return self.user(written.id), "created"
        try:
            password_hasher.verify(existing.password_hash, password)
            return existing, "unchanged"
        except (VerificationError, InvalidHashError):
            self.reset_password(ctx=ctx, user_id=existing.id, password=password)
            return self.user(existing.id), "password reset"

    def ensure_default_roles(self) -> int:
        """Create the default roles that do not exist yet; returns how many were created."""
        created = 0
        with recording("process:bootstrap"):
            for template in DEFAULT_ROLES:
                try:
                    self.repository.get(Role.create_id(template.name))
                    continue
                except AggregateNotFoundError:
                    pass
                role = Role.create(
                    name=template.name, description=template.description,
                    permissions=template.permissions, data_scope=template.data_scope,
                )  # fmt: skip
                try:
                    self.save(role)
                    created += 1
                except IntegrityError:
                    pass  # another process created it at the same moment
        return created

    def create_department(self, *, ctx: Context, name: str, parent_id: UUID | None = None) -> Written:
        if parent_id is not None:
            self._check_ref(Department, parent_id, "parent_id", "department")

        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            department = Department.create(name=name, parent_id=parent_id)
            aggs.append(department)
            return department.id, department.version, True

        return self._execute(ctx, list, act)

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

        return self._mutate(ctx, Department, department_id, "department", change, expected_version)

    def _check_no_cycle(self, department_id: UUID, parent_id: UUID) -> None:
        seen: set[UUID] = set()
        current: UUID | None = parent_id
        while current is not None:
            if current == department_id:
                raise InvalidInput.on("parent_id", "a department cannot move under itself or its own sub-department")
            if current in seen:
                break
            seen.add(current)
            current = self._check_ref(Department, current, "parent_id", "department").parent_id

    def create_role(
        self, *, ctx: Context, name: str, permissions: Sequence[str], data_scope: str,
        description: str | None = None, scopes: dict[str, str] | None = None,
    ) -> Written:  # fmt: skip
        def act(aggs: list[CrmAggregate]) -> tuple[UUID, int, bool]:
            role = Role.create(name=name, description=description, permissions=permissions, data_scope=data_scope, scopes=scopes)
            aggs.append(role)
            return role.id, role.version, True

        try:
            return self._execute(ctx, list, act)
        except IntegrityError:
            raise Conflict(f"a role named {name!r} exists already") from None

    def change_role(
        self, *, ctx: Context, role_id: UUID, expected_version: int | None = None,
        permissions: Sequence[str] | None = None, data_scope: str | None = None, scopes: dict[str, str] | None = None,
    ) -> Written:  # fmt: skip
        if role_id == Role.create_id("admin"):
            # Someone must always be able to administer crm-es: the built-in role stays whole.
            raise Conflict("the built-in admin role cannot be changed; create another role instead")

        def change(role: Role) -> None:
            if permissions is not None:
                role.change_permissions(permissions)
            if data_scope is not None or scopes is not None:
                role.change_scope(data_scope=data_scope, scopes=scopes)

        return self._mutate(ctx, Role, role_id, "role", change, expected_version)

    # Reference data (基础信息) -----------------------------------------------------------------
    # The lists that fields are picked from (aggregates/reference.py). Validation reads the list
    # aggregate through the repository, whose cache is fast-forwarded to the list's last event,
    # so an administrator's change governs the very next command, in every process.

    _CUSTOMER_REFERENCES = (("industry", "industries"), ("source", "sources"), ("level", "customer_levels"))
    _CHINA = frozenset({"中国", "中华人民共和国", "china", "cn", "prc"})
    """Country values under which province and city are checked against the regions list."""

    def ensure_reference_data(self) -> int:
        """Create the reference lists that do not exist yet, and add default items an existing
        list lacks (defaults introduced by a later version; retired items are never revived).
        Returns how many events were written."""
        written = 0
        with recording("process:bootstrap"):
            for spec in LISTS.values():
                try:
                    aggregate = self.repository.get(ReferenceList.create_id(spec.key))
                    assert isinstance(aggregate, ReferenceList)
                    aggregate.add_missing_defaults(spec)
                except AggregateNotFoundError:
                    aggregate = ReferenceList.create(spec)
                pending = len(aggregate.pending_events)
                if not pending:
                    continue
                try:
                    self.save(aggregate)
                    written += pending
                except IntegrityError:
                    pass  # another process wrote it at the same moment
        return written

    def reference_list(self, list_key: str) -> ReferenceList:
        """The list as it is now: the cached instance, for reading only (never change it)."""
        if list_key not in LISTS:
            raise NotFound(f"no reference list {list_key!r}; the lists are {', '.join(LISTS)}")
        try:
            aggregate = self.repository.get(ReferenceList.create_id(list_key), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise Conflict(f"the reference list {list_key} is not set up yet") from None
        assert isinstance(aggregate, ReferenceList)
        return aggregate

    def _reference_lists(self, keys: set[str]) -> dict[str, ReferenceList]:
        """Several lists as they are now, in one query: the versions of all of them are read at
        once, and a list is loaded again only when its version moved (lists are read-only here)."""
        ids = {ReferenceList.create_id(key): key for key in keys}
        with self.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            versions = {
                row["originator_id"]: row["version"]
                for row in conn.execute(
                    f'SELECT originator_id, max(originator_version) AS version FROM "{self.events_table}" '
                    "WHERE originator_id = ANY(%s) GROUP BY originator_id",
                    (list(ids),),
                )
            }
        lists = {}
        for list_id, key in ids.items():
            cached = self._reference_cache.get(list_id)
            if cached is None or cached.version != versions.get(list_id):
                cached = self.reference_list(key)
                self._reference_cache[list_id] = cached
            lists[key] = cached
        return lists

    def _change_reference(
        self, ctx: Context, list_key: str, change: Callable[[ReferenceList], None], expected_version: int | None
    ) -> Written:
        self.reference_list(list_key)  # 404 for an unknown list
        return self._mutate(
            ctx, ReferenceList, ReferenceList.create_id(list_key), "reference list", change, expected_version
        )

    def add_reference_item(
        self, *, ctx: Context, list_key: str, key: str, label: str | None = None, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Add an item (with ``parent_key``: a city under that province of the regions list)."""
        return self._change_reference(ctx, list_key, lambda r: r.add_item(key, label, parent_key), expected_version)

    def relabel_reference_item(
        self, *, ctx: Context, list_key: str, key: str, label: str, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._change_reference(ctx, list_key, lambda r: r.relabel_item(key, label, parent_key), expected_version)

    def retire_reference_item(
        self, *, ctx: Context, list_key: str, key: str, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._change_reference(ctx, list_key, lambda r: r.retire_item(key, parent_key), expected_version)

    def reinstate_reference_item(
        self, *, ctx: Context, list_key: str, key: str, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._change_reference(ctx, list_key, lambda r: r.reinstate_item(key, parent_key), expected_version)

    @staticmethod
    def _reference_value(field_name: str, value: Any) -> str | None:
        """The value as records store it (trimmed; a number as its digits), None for "not set"."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise InvalidInput.on(field_name, "must be a string")
        return value.strip() or None

    @staticmethod
    def _known(items: Any, more: str = "") -> str:
        """A short list of accepted values for an error message."""
        shown = [i.key if i.label == i.key else f"{i.key} ({i.label})" for i in items]
        text = ", ".join(shown[:20])
        if len(shown) > 20:
            text += f", … ({len(shown) - 20} more{more})"
        return text or "none"

    def check_reference(
        self, ctx: Context | None, field: str, list_key: str, value: Any, *, previous: Any = None,
        reference: ReferenceList | None = None,
    ) -> None:  # fmt: skip
        """Refuse ``value`` for ``field`` unless it is an active key of the list. ``previous`` is
        the record's current value: keeping it is fine even if it was retired since. ``ctx`` is
        the caller's (None for processes); reference data is the same for everyone."""
        value = self._reference_value(field, value)
        if value is None or value == self._reference_value(field, previous):
            return
        reference = reference or self.reference_list(list_key)
        if reference.is_active(value):
            return
        known = self._known(reference.active(), f"; GET /api/v1/reference/{list_key}")
        state = "is retired and no longer accepted" if reference.find(value) is not None else "is not a known value"
        raise InvalidInput.on(field, f"{value!r} {state}; known values: {known}")

    def check_customer_references(self, values: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check a customer's industry, source, level, province and city against the reference
        lists: the fields given in ``values``, on top of the ``current`` profile (an update).
        Province and city are checked when the country is not set or is China, and written as
        people write them (浙江, 宁波); the answer is ``values`` with them in their official form
        (浙江省, 宁波市), and with the province of a city given alone. A city must belong to the
        province. Values the record already has are kept even if they were retired since."""
        before = current or {}
        needed = {list_key for name, list_key in self._CUSTOMER_REFERENCES if values.get(name) is not None}
        if {"country", "province", "city"} & values.keys():
            needed.add("regions")
        if not needed:
            return values
        lists = self._reference_lists(needed)
        for name, list_key in self._CUSTOMER_REFERENCES:
            if name in values:
                self.check_reference(
                    None, name, list_key, values[name], previous=before.get(name), reference=lists.get(list_key)
                )
        if "regions" not in needed:
            return values

        def effective(field: str) -> str | None:
            return self._reference_value(field, values[field] if field in values else before.get(field))

        country, province, city = effective("country"), effective("province"), effective("city")
        if country is not None and country.lower() not in self._CHINA:
            return values
        was_abroad = before.get("country") is not None and str(before["country"]).lower() not in self._CHINA
        new_province = province is not None and (was_abroad or province != before.get("province"))
        new_city = city is not None and (was_abroad or city != before.get("city"))
        if not (new_province or new_city):
            return values
        kept = (None, None) if was_abroad else (before.get("province"), before.get("city"))
        province, city = lists["regions"].resolve_region(province, city, current=kept)
        official = {"province": province, "city": city}
        return {**values, **{f: v for f, v in official.items() if f in values or v != before.get(f)}}
