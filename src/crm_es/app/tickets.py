"""Service tickets (客户服务) and their service levels: open, assign, transfer, note progress,
resolve, reopen, close, return visits, fees and costs, escalation.

A ticket has two owners for data scope: its customer's owner and its assignee. A caller whose
``tickets`` scope reaches either sees it; otherwise it does not exist for them (404). The
customer it is opened on must be within the caller's ``customers`` scope, as for
opportunities. Tickets can be given to anyone active: transferring to the responsible
department or person (转交) is the point, and the customer's owner keeps seeing the ticket.

Due dates are counted on the Chinese working calendar in the company's time zone
(``Kernel.zone``, from ``CRM_ES_TIMEZONE``), which the ticket records when it is opened.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from crm_es.aggregates.base import recording
from crm_es.aggregates.ticket import SERVICE_LEVELS_ID, ServiceLevels, Ticket
from crm_es.app.kernel import Commands, Context, CustomerDirectory, Kernel, UserDirectory, Written
from crm_es.errors import Conflict, InvalidInput, NotFound

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
SKEW = timedelta(minutes=5)
"""A given moment may be this far ahead of the server's clock (clients' clocks differ)."""


class Tickets(Commands):
    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        kernel.register_kind("ticket", Ticket)

    # Service levels ----------------------------------------------------------------------------

    def ensure_service_levels(self) -> bool:
        """Create the service levels with the default rules if they do not exist yet."""
        if self.exists(self.kernel, SERVICE_LEVELS_ID):
            return False
        with recording("process:bootstrap"):
            return self.save_new(ServiceLevels.create())

    def service_levels(self) -> ServiceLevels:
        """The service levels as they are now: the cached instance, for reading only."""
        try:
            levels = self.kernel.repository.get(SERVICE_LEVELS_ID, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise Conflict("the service levels are not set up yet") from None
        assert isinstance(levels, ServiceLevels)
        return levels

    def change_service_levels(self, *, ctx: Context, rules: list[Any], expected_version: int | None = None) -> Written:
        load = lambda: self.kernel.get(ServiceLevels, SERVICE_LEVELS_ID, "service levels")  # noqa: E731
        return self.kernel.mutate(ctx, SERVICE_LEVELS_ID, load, lambda s: s.change_rules(rules), expected_version=expected_version)

    # Reads -------------------------------------------------------------------------------------

    def ticket(self, ticket_id: UUID) -> Ticket:
        return self.kernel.get(Ticket, ticket_id, "ticket")

    def sees(self, ctx: Context, ticket: Ticket) -> bool:
        """The scope rule of a ticket: its customer's owner or its assignee is within the caller's scope."""
        if ctx.access is None:
            return True
        owner = self.kernel.need(CustomerDirectory).owner_of(ticket.customer_id)
        return ctx.sees("tickets", owner) or (ticket.assignee_id is not None and ctx.sees("tickets", ticket.assignee_id))

    def visible(self, ctx: Context, ticket_id: UUID) -> Ticket:
        """The ticket, if the caller's data scope reaches it; otherwise it does not exist for them."""
        ticket = self.ticket(ticket_id)
        if not self.sees(ctx, ticket):
            raise NotFound(f"no ticket with id {ticket_id}")
        return ticket

    # Checks across contexts --------------------------------------------------------------------

    def _check_customer(self, ctx: Context, customer_id: UUID) -> None:
        self.kernel.check_record("customer", customer_id, "customer_id")
        if not ctx.sees("customers", self.kernel.need(CustomerDirectory).owner_of(customer_id)):
            raise InvalidInput.on("customer_id", f"no customer with id {customer_id}")

    def _user(self, user_id: UUID, field: str) -> Any:
        return self.kernel.need(UserDirectory).check_user(user_id, field)

    def _manager_of(self, department_id: UUID | None, *, besides: UUID | None = None) -> UUID | None:
        """The active manager of the department, or of the nearest one above that has one."""
        directory = self.kernel.need(UserDirectory)
        seen: set[UUID] = set()
        while department_id is not None and department_id not in seen:
            seen.add(department_id)
            department = directory.check_department(department_id, "department_id")
            manager = department.manager_id
            if manager is not None and manager != besides:
                try:
                    directory.check_user(manager, "manager_id")
                    return manager
                except InvalidInput:
                    pass  # a disabled or departed manager: look further up
            department_id = department.parent_id
        return None

    @staticmethod
    def _moment(field: str, value: datetime | None, now: datetime) -> datetime:
        if value is None:
            return now
        if value.tzinfo is None:
            raise InvalidInput.on(field, "must include a time zone offset")
        if value > now + SKEW:
            raise InvalidInput.on(field, "must not be in the future")
        if value < EARLIEST:
            raise InvalidInput.on(field, f"must not be before {EARLIEST.date().isoformat()}")
        return value.astimezone(timezone.utc)

    # Commands ----------------------------------------------------------------------------------

    def open(  # noqa: PLR0913
        self, *, ctx: Context, customer_id: UUID, kind: str, subject: str, description: str | None = None,
        priority: str = "normal", channel: str = "phone", contact_id: UUID | None = None,
        assignee_id: UUID | None = None, opened_at: datetime | None = None,
    ) -> Written:  # fmt: skip
        """Open a ticket, due by the service level of its kind and priority; ``opened_at`` is
        when the customer reported it (now by default; earlier for a report taken offline)."""
        at = self._moment("opened_at", opened_at, datetime.now(timezone.utc))
        self._check_customer(ctx, customer_id)
        if contact_id is not None:
            self.kernel.need(CustomerDirectory).check_contact(customer_id, contact_id, "contact_id")
        assignee = None if assignee_id is None else self._user(assignee_id, "assignee_id")

        def make() -> Ticket:
            ticket = Ticket.open(
                customer_id=customer_id, kind=kind, subject=subject, description=description, priority=priority,
                channel=channel, contact_id=contact_id, rules=self.service_levels().rules, zone=self.kernel.zone.key, at=at,
            )  # fmt: skip
            if assignee is not None:
                ticket.assign(assignee_id=assignee.id, department_id=assignee.department_id, at=at)
            return ticket

        return self.kernel.create(ctx, make)

    def _mutate(self, ctx: Context, ticket_id: UUID, change: Any, expected_version: int | None) -> Written:
        return self.kernel.mutate(ctx, ticket_id, lambda: self.visible(ctx, ticket_id), change, expected_version=expected_version)

    @staticmethod
    def _now(ticket: Ticket) -> datetime:
        """Now, or the ticket's last moment if a clock elsewhere ran ahead of this one."""
        return max(datetime.now(timezone.utc), ticket.last_at)

    def assign(
        self, *, ctx: Context, ticket_id: UUID, assignee_id: UUID, reason: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Give the ticket to someone (their department becomes the ticket's)."""
        assignee = self._user(assignee_id, "assignee_id")
        return self._mutate(
            ctx, ticket_id,
            lambda t: t.assign(assignee_id=assignee.id, department_id=assignee.department_id, reason=reason, at=self._now(t)),
            expected_version,
        )  # fmt: skip

    def transfer(
        self, *, ctx: Context, ticket_id: UUID, note: str, department_id: UUID | None = None,
        assignee_id: UUID | None = None, expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Transfer to the responsible department and/or person (转交). A department alone goes
        to its manager (or the nearest manager above) when it has one, else waits unassigned."""
        if department_id is None and assignee_id is None:
            raise InvalidInput.on("department_id", "name the department or the person (assignee_id) it goes to")
        if department_id is not None:
            self.kernel.need(UserDirectory).check_department(department_id, "department_id")
        if assignee_id is not None:
            assignee = self._user(assignee_id, "assignee_id")
            department_id = department_id or assignee.department_id
        else:
            assignee_id = self._manager_of(department_id)
        return self._mutate(
            ctx, ticket_id,
            lambda t: t.transfer(department_id=department_id, assignee_id=assignee_id, note=note, at=self._now(t)),
            expected_version,
        )  # fmt: skip

    def note_progress(self, *, ctx: Context, ticket_id: UUID, note: str, expected_version: int | None = None) -> Written:
        return self._mutate(ctx, ticket_id, lambda t: t.note_progress(note=note, at=self._now(t)), expected_version)

    def resolve(
        self, *, ctx: Context, ticket_id: UUID, resolution: str, resolved_by: UUID | None = None,
        resolved_at: datetime | None = None, expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Resolved by ``resolved_by`` (the caller by default) at ``resolved_at`` (now by default)."""
        by = resolved_by or ctx.user_id
        if by is None:
            raise InvalidInput.on("resolved_by", "is required when a process resolves a ticket")
        if by != ctx.user_id:
            self._user(by, "resolved_by")
        given = None if resolved_at is None else self._moment("resolved_at", resolved_at, datetime.now(timezone.utc))
        return self._mutate(
            ctx, ticket_id, lambda t: t.resolve(resolution=resolution, resolved_by=by, at=given or self._now(t)),
            expected_version,
        )  # fmt: skip

    def reopen(self, *, ctx: Context, ticket_id: UUID, reason: str | None = None, expected_version: int | None = None) -> Written:
        return self._mutate(
            ctx, ticket_id, lambda t: t.reopen(rules=self.service_levels().rules, reason=reason, at=self._now(t)),
            expected_version,
        )  # fmt: skip

    def close(self, *, ctx: Context, ticket_id: UUID, note: str | None = None, expected_version: int | None = None) -> Written:
        return self._mutate(ctx, ticket_id, lambda t: t.close(note=note, at=self._now(t)), expected_version)

    def record_return_visit(
        self, *, ctx: Context, ticket_id: UUID, satisfaction: Any, note: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._mutate(
            ctx, ticket_id, lambda t: t.record_return_visit(satisfaction=satisfaction, note=note, at=self._now(t)),
            expected_version,
        )  # fmt: skip

    def record_fee(
        self, *, ctx: Context, ticket_id: UUID, amount: Any, note: str | None = None, incurred_on: date | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._mutate(
            ctx, ticket_id, lambda t: t.record_fee(amount=amount, note=note, incurred_on=incurred_on, at=self._now(t)),
            expected_version,
        )  # fmt: skip

    def record_cost(
        self, *, ctx: Context, ticket_id: UUID, amount: Any, note: str | None = None, incurred_on: date | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._mutate(
            ctx, ticket_id, lambda t: t.record_cost(amount=amount, note=note, incurred_on=incurred_on, at=self._now(t)),
            expected_version,
        )  # fmt: skip

    def escalate(
        self, *, ctx: Context, ticket_id: UUID, reason: str, to_user_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Raise the ticket to ``to_user_id``, by default the manager of the assignee's department
        (or the nearest one above; nobody when there is none)."""
        if to_user_id is not None:
            self._user(to_user_id, "to_user_id")

        def change(t: Ticket) -> None:
            target = to_user_id
            if target is None and t.department_id is not None:
                target = self._manager_of(t.department_id, besides=t.assignee_id)
            t.escalate(to_user_id=target, reason=reason, at=self._now(t))

        return self._mutate(ctx, ticket_id, change, expected_version)
