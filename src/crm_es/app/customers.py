"""Customers (客户档案): profile, kind, owner, contacts (联系人) and activity records (行动记录).

Every command and single read goes through ``visible``: a customer outside the caller's data
scope does not exist for them (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from crm_es.aggregates.customer import Customer
from crm_es.app.kernel import Commands, Context, CustomerDirectory, Kernel, ReferenceChecks, UserDirectory, Written
from crm_es.errors import Forbidden, InvalidInput, NotFound

REFERENCES = (("industry", "industries"), ("source", "sources"), ("level", "customer_levels"))
"""Profile fields picked from reference lists: field → list key."""


class Customers(Commands):
    snapshotting = {Customer: 200}  # noqa: RUF012

    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        kernel.register_kind("customer", Customer)
        kernel.provide(CustomerDirectory, self)

    # Reads -------------------------------------------------------------------------------------

    def customer(self, customer_id: UUID) -> Customer:
        return self.kernel.get(Customer, customer_id, "customer")

    def owner_of(self, customer_id: UUID) -> UUID:
        return self.customer(customer_id).owner_id

    def kind_of(self, customer_id: UUID) -> str:
        return self.customer(customer_id).kind

    def credit_limit_of(self, customer_id: UUID) -> Any:
        return self.customer(customer_id).profile["credit_limit"]

    def check_contact(self, customer_id: UUID, contact_id: UUID, field_name: str) -> None:
        if contact_id not in self.customer(customer_id).contacts:
            raise InvalidInput.on(field_name, f"contact {contact_id} is not a contact of customer {customer_id}")

    def visible(self, ctx: Context, customer_id: UUID) -> Customer:
        """The customer, if the caller's data scope reaches it; otherwise it does not exist for them."""
        customer = self.customer(customer_id)
        if not ctx.sees("customers", customer.owner_id):
            raise NotFound(f"no customer with id {customer_id}")
        return customer

    def as_of(self, ctx: Context, customer_id: UUID, at: datetime) -> Customer:
        """The customer as it was at ``at``, if the caller sees it now."""
        self.visible(ctx, customer_id)
        return self.kernel.as_of(Customer, customer_id, at, "customer")

    def history(
        self, ctx: Context, customer_id: UUID, linked: tuple[Sequence[UUID], Sequence[int]] = ((), ())
    ) -> Any:
        """Every event of the customer and of what is linked to it (``linked``: the streams and
        the single events of other records that belong to it), in order, a page at a time."""
        self.visible(ctx, customer_id)
        streams, positions = linked
        return self.kernel.iter_history([customer_id, *streams], positions)

    # Commands ----------------------------------------------------------------------------------

    def _check_owner(self, ctx: Context, owner_id: UUID) -> None:
        self.kernel.need(UserDirectory).check_user(owner_id, "owner_id")
        if not ctx.sees("customers", owner_id):
            raise Forbidden("you can only give customers to people within your data scope")

    def _references(self, values: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.kernel.need(ReferenceChecks).check_profile(values, current, REFERENCES)

    def register(self, *, ctx: Context, name: str, kind: str, owner_id: UUID | None = None, **profile: Any) -> Written:
        owner = owner_id or ctx.user_id
        if owner is None:
            raise InvalidInput.on("owner_id", "is required when a process registers a customer")
        if owner != ctx.user_id:  # the caller was authenticated as an active user just now
            self._check_owner(ctx, owner)

        def make() -> Customer:
            checked = self._references(profile)
            return Customer.register(name=name, kind=kind, owner_id=owner, **checked)

        return self.kernel.create(ctx, make)

    def _mutate(self, ctx: Context, customer_id: UUID, change: Any, expected_version: int | None, **answer: Any) -> Written:
        return self.kernel.mutate(
            ctx, customer_id, lambda: self.visible(ctx, customer_id), change, expected_version=expected_version, **answer
        )

    def update(self, *, ctx: Context, customer_id: UUID, expected_version: int | None = None, **changes: Any) -> Written:
        def change(customer: Customer) -> None:
            customer.update_profile(**self._references(changes, current=customer.profile))

        return self._mutate(ctx, customer_id, change, expected_version)

    def reassign(
        self, *, ctx: Context, customer_id: UUID, owner_id: UUID, reason: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        self._check_owner(ctx, owner_id)
        return self._mutate(ctx, customer_id, lambda c: c.reassign(owner_id=owner_id, reason=reason), expected_version)

    def add_contact(self, *, ctx: Context, customer_id: UUID, expected_version: int | None = None, **fields: Any) -> Written:
        contact_id = uuid4()
        return self._mutate(
            ctx, customer_id, lambda c: c.add_contact(contact_id=contact_id, **fields), expected_version,
            answer=contact_id, created=True,
        )  # fmt: skip

    def update_contact(
        self, *, ctx: Context, customer_id: UUID, contact_id: UUID, expected_version: int | None = None, **changes: Any,
    ) -> Written:  # fmt: skip
        return self._mutate(ctx, customer_id, lambda c: c.update_contact(contact_id, **changes), expected_version, answer=contact_id)

    def log_activity(
        self, *, ctx: Context, customer_id: UUID, opportunity_id: UUID | None = None,
        expected_version: int | None = None, **fields: Any,
    ) -> Written:  # fmt: skip
        if opportunity_id is not None:
            self.kernel.check_record("opportunity", opportunity_id, "opportunity_id")
        activity_id = uuid4()
        return self._mutate(
            ctx, customer_id,
            lambda c: c.log_activity(activity_id=activity_id, opportunity_id=opportunity_id, **fields),
            expected_version, answer=activity_id, created=True,
        )  # fmt: skip

