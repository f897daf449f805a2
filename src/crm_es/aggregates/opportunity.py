"""The opportunity (商机, R-S1/R-S2): a possible sale to a customer, moving through the stages
of the sales pipeline until it is won or lost (and perhaps reopened)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput

OPEN, WON, LOST = "open", "won", "lost"
STATUSES = (OPEN, WON, LOST)
MAX_COMPETITORS = 20
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def check_amount(field: str, value: Any) -> Decimal:
    """A non-negative amount with at most two decimal places (never rounded), as a Decimal."""
    if value is None:
        raise InvalidInput.on(field, "is required")
    if isinstance(value, float):
        raise InvalidInput.on(field, 'must be a decimal string such as "1234.50", not a float')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput.on(field, 'must be a decimal amount such as "1234.50"') from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput.on(field, "must be a non-negative amount")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput.on(field, "must have at most two decimal places")
    if amount >= Decimal("1e15"):
        raise InvalidInput.on(field, "is too large")
    return abs(amount).quantize(Decimal("0.01"))  # abs: "-0" is zero, not negative zero


def check_currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise InvalidInput.on("currency", "must be an ISO 4217 code of three capital letters, such as CNY")
    return value


def check_date(field: str, value: Any) -> date:
    if not isinstance(value, date):
        raise InvalidInput.on(field, "must be a date (YYYY-MM-DD)")
    return value


def check_stage(stage: Any, stages: Sequence[str], field: str = "stage") -> str:
    """``stage`` must be one of the pipeline's stages (won and lost are reached by win and lose)."""
    if stage in stages:
        return stage
    if stage in (WON, LOST):
        raise InvalidInput.on(field, f"{stage!r} is reached by winning or losing, not by a stage change")
    raise InvalidInput.on(field, f"{stage!r} is not a stage of the pipeline; the stages are {', '.join(stages)}")


class Opportunity(CrmAggregate):
    """A possible sale: on one customer, owned by one salesperson, at one stage of the pipeline."""

    @classmethod
    def open(  # noqa: PLR0913 - one parameter per field of the fact
        cls,
        *,
        customer_id: UUID,
        title: Any,
        amount: Any,
        expected_close_date: Any,
        owner_id: UUID,
        stages: Sequence[str],
        stage: str | None = None,
        currency: str = "CNY",
        source: str | None = None,
        competitor_ids: Sequence[UUID] = (),
        opportunity_id: UUID | None = None,
    ) -> Opportunity:
        """A new opportunity; ``stages`` are the pipeline's stage keys (it starts at the first
        one unless ``stage`` names another). Its id is random unless ``opportunity_id`` gives one
        (demo data derives its ids from the seed)."""
        if not stages:
            raise Conflict("the pipeline has no stages")
        competitors = tuple(dict.fromkeys(competitor_ids))
        if len(competitors) > MAX_COMPETITORS:
            raise InvalidInput.on("competitor_ids", f"at most {MAX_COMPETITORS} competitors")
        kwargs: dict[str, Any] = dict(
            customer_id=customer_id,
            title=check_text("title", title, 200, required=True),
            amount=check_amount("amount", amount),
            currency=check_currency(currency),
            expected_close_date=check_date("expected_close_date", expected_close_date),
            owner_id=owner_id,
            source=check_text("source", source, 100),
            stage=stages[0] if stage is None else check_stage(stage, stages),
            competitor_ids=competitors,
        )
        if opportunity_id is None:
            return cls(**kwargs)
        # The same "Opened" event, with the given id as its originator id.
        return cls._create(cls.Opened, id=opportunity_id, **kwargs)  # type: ignore[attr-defined]

    @event("Opened")
    def __init__(  # noqa: PLR0913
        self,
        *,
        customer_id: UUID,
        title: str,
        amount: Decimal,
        currency: str,
        expected_close_date: date,
        owner_id: UUID,
        source: str | None,
        stage: str,
        competitor_ids: tuple[UUID, ...],
    ) -> None:
        self.customer_id = customer_id
        self.title = title
        self.amount = amount
        self.currency = currency
        self.expected_close_date = expected_close_date
        self.owner_id = owner_id
        self.source = source
        self.stage = stage
        self.competitor_ids = tuple(competitor_ids)
        self.status = OPEN
        self.closed_stage: str | None = None
        """The stage it was in when it was won or lost (where a reopen takes it back)."""

    # Invariants ------------------------------------------------------------------------------

    def _check_open(self, doing: str) -> None:
        if self.status != OPEN:
            raise Conflict(f"the opportunity is {self.status}: reopen it before you {doing}")

    # Changes ---------------------------------------------------------------------------------

    def move_to(self, stage: Any, stages: Sequence[str]) -> None:
        """Move to another stage of the pipeline (forwards, backwards or skipping stages)."""
        self._check_open("change its stage")
        stage = check_stage(stage, stages)
        if stage != self.stage:
            self._stage_changed(from_stage=self.stage, to_stage=stage)

    @event("StageChanged")
    def _stage_changed(self, from_stage: str, to_stage: str) -> None:
        self.stage = to_stage

    def change_amount(self, amount: Any) -> None:
        self._check_open("change its amount")
        amount = check_amount("amount", amount)
        if amount != self.amount:
            self._amount_changed(amount=amount, previous_amount=self.amount)

    @event("AmountChanged")
    def _amount_changed(self, amount: Decimal, previous_amount: Decimal) -> None:
        self.amount = amount

    def change_close_date(self, expected_close_date: Any) -> None:
        self._check_open("change its expected close date")
        expected = check_date("expected_close_date", expected_close_date)
        if expected != self.expected_close_date:
            self._close_date_changed(expected_close_date=expected, previous_close_date=self.expected_close_date)

    @event("CloseDateChanged")
    def _close_date_changed(self, expected_close_date: date, previous_close_date: date) -> None:
        self.expected_close_date = expected_close_date

    def retitle(self, title: Any) -> None:
        title = check_text("title", title, 200, required=True)
        if title != self.title:
            self._retitled(title=title, previous_title=self.title)

    @event("Retitled")
    def _retitled(self, title: str, previous_title: str) -> None:
        self.title = title

    def reassign(self, *, owner_id: UUID, reason: Any = None) -> None:
        reason = check_text("reason", reason, 500)
        if owner_id != self.owner_id:
            self._reassigned(owner_id=owner_id, previous_owner_id=self.owner_id, reason=reason)

    @event("Reassigned")
    def _reassigned(self, owner_id: UUID, previous_owner_id: UUID, reason: str | None) -> None:
        self.owner_id = owner_id

    # Closing and reopening -------------------------------------------------------------------

    def win(self, amount: Any = None) -> None:
        """Won, at ``amount`` (the final, signed amount; the current amount if not given)."""
        self._check_open("win it again")
        final = self.amount if amount is None else check_amount("amount", amount)
        self._won(amount=final, from_stage=self.stage)

    @event("Won")
    def _won(self, amount: Decimal, from_stage: str) -> None:
        self.amount = amount
        self.status = WON
        self.closed_stage = from_stage

    def lose(self, *, reason: str, competitor_id: UUID | None = None, note: Any = None) -> None:
        """Lost, for ``reason`` (a key of the lost_reasons list, checked by the caller), perhaps
        to ``competitor_id`` (a competitor customer)."""
        self._check_open("lose it again")
        reason = check_text("reason", reason, 100, required=True)  # type: ignore[assignment]
        self._lost(reason=reason, competitor_id=competitor_id, note=check_text("note", note, 2000), from_stage=self.stage)

    @event("Lost")
    def _lost(self, reason: str, competitor_id: UUID | None, note: str | None, from_stage: str) -> None:
        self.status = LOST
        self.closed_stage = from_stage

    def reopen(self, stages: Sequence[str], stage: Any = None) -> None:
        """Open again, at ``stage`` or at the stage it was closed from (if the pipeline still has it)."""
        if self.status == OPEN:
            raise Conflict("the opportunity is open already")
        if stage is None:
            if self.closed_stage not in stages:
                raise InvalidInput.on(
                    "stage", f"the stage it was closed from ({self.closed_stage}) is no longer in the pipeline; "
                    f"name one of {', '.join(stages)}",
                )  # fmt: skip
            stage = self.closed_stage
        self._reopened(stage=check_stage(stage, stages), previous_status=self.status)

    @event("Reopened")
    def _reopened(self, stage: str, previous_status: str) -> None:
        self.status = OPEN
        self.stage = stage
        self.closed_stage = None
