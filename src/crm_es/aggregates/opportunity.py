"""The opportunity (商机, R-S1/R-S2): a possible sale to a customer, moving through the stages
of the sales pipeline until it is won or lost (and perhaps reopened)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput

OPEN, WON, LOST = "open", "won", "lost"
STATUSES = (OPEN, WON, LOST)
MAX_COMPETITORS = 20
MAX_QUOTE_LINES = 200
MAX_QUOTES = 100
CENT = Decimal("0.01")
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


def check_decimal(field: str, value: Any, *, places: int, low: Decimal, high: Decimal, low_open: bool = False) -> Decimal:
    """A decimal within [low, high] (or (low, high] with ``low_open``), at most ``places`` places."""
    if value is None:
        raise InvalidInput.on(field, "is required")
    if isinstance(value, float | bool):
        raise InvalidInput.on(field, 'must be a decimal string such as "12.5", not a float')
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput.on(field, 'must be a decimal number such as "12.5"') from None
    if not number.is_finite() or number < low or (low_open and number == low) or number > high:
        raise InvalidInput.on(field, f"must be {'above' if low_open else 'at least'} {low} and at most {high}")
    if number.as_tuple().exponent < -places:  # type: ignore[operator]
        raise InvalidInput.on(field, f"must have at most {places} decimal places")
    return abs(number) if number == 0 else number


def quote_line(n: int, line: Any) -> dict[str, Any]:
    """One checked line of a quote, with its total: quantity × unit price × (1 − discount rate),
    rounded half up to the cent. The discount rate is the share taken off (九折 is 0.1)."""
    if not isinstance(line, dict):
        raise InvalidInput.on(f"lines[{n}]", "must be an object")
    stock_item_id = line.get("stock_item_id")
    description = check_text(f"lines[{n}].description", line.get("description"), 500)
    if stock_item_id is None and description is None:
        raise InvalidInput.on(f"lines[{n}]", "needs a stock_item_id or a description")
    quantity = check_decimal(f"lines[{n}].quantity", line.get("quantity"), places=4, low=Decimal(0),
                             high=Decimal("1e9"), low_open=True)  # fmt: skip
    unit_price = check_amount(f"lines[{n}].unit_price", line.get("unit_price"))
    discount = check_decimal(f"lines[{n}].discount_rate", line.get("discount_rate", Decimal(0)) or Decimal(0),
                             places=4, low=Decimal(0), high=Decimal(1))  # fmt: skip
    total = (quantity * unit_price * (1 - discount)).quantize(CENT, rounding=ROUND_HALF_UP)
    return {"stock_item_id": stock_item_id, "description": description, "quantity": quantity,
            "unit_price": unit_price, "discount_rate": discount, "total": total}  # fmt: skip


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
        self.quotes: dict[int, tuple[Decimal, date]] = {}
        """Each quote by number: its total and the day it is valid until."""
        self.accepted_quote: int | None = None

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

    # Quotes (报价) ---------------------------------------------------------------------------

    def issue_quote(self, *, lines: Sequence[Any], valid_until: Any, note: Any = None, today: date) -> int:
        """A new version of the quote; returns its number (1, 2, …). Lines name a stock item
        (checked by the caller) or describe what is sold."""
        self._check_open("quote")
        if not lines:
            raise InvalidInput.on("lines", "a quote needs at least one line")
        if len(lines) > MAX_QUOTE_LINES:
            raise InvalidInput.on("lines", f"at most {MAX_QUOTE_LINES} lines")
        if len(self.quotes) >= MAX_QUOTES:
            raise Conflict(f"the opportunity has {MAX_QUOTES} quotes already")
        checked = tuple(quote_line(n, line) for n, line in enumerate(lines))
        until = check_date("valid_until", valid_until)
        if until < today:
            raise InvalidInput.on("valid_until", f"{until} has passed already")
        number = len(self.quotes) + 1
        self._quote_issued(number=number, lines=checked, total=sum((line["total"] for line in checked), Decimal("0.00")),
                           valid_until=until, note=check_text("note", note, 2000))  # fmt: skip
        return number

    @event("QuoteIssued")
    def _quote_issued(self, number: int, lines: tuple[dict[str, Any], ...], total: Decimal, valid_until: date,
                      note: str | None) -> None:  # fmt: skip
        self.quotes[number] = (total, valid_until)

    def accept_quote(self, number: Any, *, today: date) -> None:
        """The customer accepts quote ``number``: it becomes the one accepted quote (replacing an
        earlier acceptance), and the opportunity's amount becomes its total."""
        self._check_open("accept a quote")
        if not isinstance(number, int) or number not in self.quotes:
            raise InvalidInput.on("number", f"the opportunity has no quote {number}")
        if number == self.accepted_quote:
            raise Conflict(f"quote {number} is accepted already")
        total, valid_until = self.quotes[number]
        if valid_until < today:
            raise Conflict(f"quote {number} expired on {valid_until}; issue a new one")
        self._quote_accepted(number=number, total=total, replaces=self.accepted_quote)
        if total != self.amount:
            self._amount_changed(amount=total, previous_amount=self.amount)

    @event("QuoteAccepted")
    def _quote_accepted(self, number: int, total: Decimal, replaces: int | None) -> None:
        self.accepted_quote = number

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
