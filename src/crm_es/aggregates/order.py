"""The sales order (合同/订单, R-O1..R-O5): lines, confirmation, deliveries (出货), returns
(退货), price adjustments after delivery (the reverse flow of R-O1), the payment plan (回款计划),
payments (收款登记) and invoices (发票).

Money rules, one place (docs/orders.md):

- A line's amount is ``(quantity − returned) × unit_price × (1 − discount_rate)`` rounded to
  the cent with ROUND_HALF_UP; the order's receivable is the sum of its lines' amounts.
- Every change of the receivable (a return, a price adjustment) is recorded as the difference
  between the receivable after and before, so returns and adjustments always add up to the
  change of the total, whatever the rounding.
- Debits are the instalments of the payment plan (and an upward adjustment's own instalment);
  credits are payments, return credits and downward adjustments. Credits settle the
  instalments oldest due date first; what the credits exceed the debits by is the customer's
  credit (never lost).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DRAFT, CONFIRMED, PARTIALLY_DELIVERED, DELIVERED, COMPLETED, CANCELLED = (
    "draft", "confirmed", "partially_delivered", "delivered", "completed", "cancelled",
)  # fmt: skip
STATUSES = (DRAFT, CONFIRMED, PARTIALLY_DELIVERED, DELIVERED, COMPLETED, CANCELLED)
METHODS = ("bank_transfer", "cash", "cheque", "acceptance_bill", "card", "alipay", "wechat", "offset", "other")
"""Ways a payment arrives: transfer, cash, cheque, bank acceptance bill (承兑汇票), card, Alipay,
WeChat Pay, offset against a debt (冲抵), other."""

MAX_LINES = 200
MAX_INSTALMENTS = 60
MAX_TERMS_DAYS = 3650
MAX_AMOUNT = Decimal("1e15")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to the cent, half up (0.005 → 0.01)."""
    return value.quantize(CENT, ROUND_HALF_UP) + ZERO  # + ZERO: never "-0.00"


def _decimal(field: str, value: Any, places: int, what: str) -> Decimal:
    if value is None:
        raise InvalidInput.on(field, "is required")
    if isinstance(value, (float, bool)):
        raise InvalidInput.on(field, f'must be a decimal string such as "{what}", not a {type(value).__name__}')
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput.on(field, f'must be a decimal number such as "{what}"') from None
    if not number.is_finite():
        raise InvalidInput.on(field, "must be a finite number")
    if number.as_tuple().exponent < -places:  # type: ignore[operator]
        raise InvalidInput.on(field, f"must have at most {places} decimal places")
    if abs(number) >= MAX_AMOUNT:
        raise InvalidInput.on(field, "is too large")
    return number + 0  # normalises "-0" to 0


def check_money(field: str, value: Any, *, positive: bool = False) -> Decimal:
    """An amount of money: at most two places, never negative (positive if asked), as cents."""
    amount = _decimal(field, value, 2, "1234.50")
    if amount < 0 or (positive and amount == 0):
        raise InvalidInput.on(field, "must be a positive amount" if positive else "must not be negative")
    return amount.quantize(CENT)


def check_price(field: str, value: Any) -> Decimal:
    """A unit price: at most four places (单价 to 0.0001), not negative."""
    price = _decimal(field, value, 4, "12.5000")
    if price < 0:
        raise InvalidInput.on(field, "must not be negative")
    return price


def check_quantity(field: str, value: Any) -> Decimal:
    """A quantity: positive, at most three places (kilograms, metres)."""
    quantity = _decimal(field, value, 3, "10")
    if quantity <= 0:
        raise InvalidInput.on(field, "must be positive")
    return quantity


def check_discount(field: str, value: Any) -> Decimal:
    """The share taken off the price: 0 (none) up to but not including 1; "0.10" is 10% off (九折)."""
    if value is None:
        return Decimal("0")
    rate = _decimal(field, value, 4, "0.10")
    if not 0 <= rate < 1:
        raise InvalidInput.on(field, 'must be at least 0 and below 1 ("0.10" takes 10% off)')
    return rate


def check_date(field: str, value: Any) -> date:
    if not isinstance(value, date):
        raise InvalidInput.on(field, "must be a date (YYYY-MM-DD)")
    if not date(2000, 1, 1) <= value <= date(2199, 12, 31):
        raise InvalidInput.on(field, "must be between 2000-01-01 and 2199-12-31")
    return value


def check_terms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TERMS_DAYS:
        raise InvalidInput.on("payment_terms_days", f"must be a whole number of days from 0 to {MAX_TERMS_DAYS}")
    return value


def line_amount(line: dict[str, Any]) -> Decimal:
    """What a line is sold for now: its quantity less returns, at its price less its discount."""
    return cents((line["quantity"] - line["returned"]) * line["unit_price"] * (1 - line["discount_rate"]))


def line_gross(line: dict[str, Any]) -> Decimal:
    """The line at list price, before its discount (the whole quantity)."""
    return cents(line["quantity"] * line["unit_price"])


def check_lines(lines: Any) -> tuple[dict[str, Any], ...]:
    """Order lines as given (``stock_item_id`` or a free-text ``description``, quantity, unit
    price, discount rate), checked and numbered from 1."""
    if not isinstance(lines, (list, tuple)) or not lines:
        raise InvalidInput.on("lines", "must list at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidInput.on("lines", f"an order has at most {MAX_LINES} lines")
    out, items = [], set()
    for n, given in enumerate(lines):
        at = f"lines[{n}]"
        if not isinstance(given, dict):
            raise InvalidInput.on(at, "must be an object")
        unknown = set(given) - {"stock_item_id", "description", "quantity", "unit_price", "discount_rate"}
        if unknown:
            raise InvalidInput.on(f"{at}.{sorted(unknown)[0]}", "is not a field of an order line")
        item = given.get("stock_item_id")
        if item is not None and not isinstance(item, UUID):
            raise InvalidInput.on(f"{at}.stock_item_id", "must be a UUID")
        description = check_text(f"{at}.description", given.get("description"), 500)
        if item is None and description is None:
            raise InvalidInput.on(f"{at}.stock_item_id", "give a stock item, or a description for a line without one (a service)")
        if item is not None:
            if item in items:
                raise InvalidInput.on(f"{at}.stock_item_id", "is on another line already: one line per stock item")
            items.add(item)
        out.append({
            "line": n + 1, "stock_item_id": item, "description": description,
            "quantity": check_quantity(f"{at}.quantity", given.get("quantity")),
            "unit_price": check_price(f"{at}.unit_price", given.get("unit_price")),
            "discount_rate": check_discount(f"{at}.discount_rate", given.get("discount_rate")),
            "delivered": Decimal("0"), "returned": Decimal("0"),
        })  # fmt: skip
    total = sum((line_amount(line) for line in out), ZERO)
    if total >= MAX_AMOUNT:
        raise InvalidInput.on("lines", "the order's total is too large")
    return tuple(out)


def totals(lines: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    """Subtotal at list prices, the discount, and the total of lines as first sold (no returns)."""
    lines = list(lines)
    subtotal = sum((line_gross(line) for line in lines), ZERO)
    total = sum((line_amount({**line, "returned": Decimal("0")}) for line in lines), ZERO)
    return {"subtotal": subtotal, "discount": subtotal - total, "total": total}


def settle(instalments: Sequence[dict[str, Any]], credits: Decimal) -> list[dict[str, Any]]:
    """The instalments with what ``credits`` settle of each, oldest due date first (then by
    number): ``paid`` and ``open`` per instalment. The same rule as the aging report's SQL."""
    left = credits
    out = []
    for instalment in sorted(instalments, key=lambda i: (i["due_date"], i["seq"])):
        paid = min(max(left, ZERO), instalment["amount"])
        left -= paid
        out.append({**instalment, "paid": paid, "open": instalment["amount"] - paid})
    return sorted(out, key=lambda i: i["seq"])


class Order(CrmAggregate):
    """A sales order of one customer, owned by one salesperson, numbered ``SO-2026-000123``."""

    @classmethod
    def draft(  # noqa: PLR0913 - one parameter per field of the fact
        cls,
        *,
        order_id: UUID,
        number: str,
        customer_id: UUID,
        owner_id: UUID,
        lines: Any,
        opportunity_id: UUID | None = None,
        currency: Any = "CNY",
        payment_terms_days: Any = 30,
        note: Any = None,
    ) -> Order:
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise InvalidInput.on("currency", "must be an ISO 4217 code of three capital letters, such as CNY")
        checked = check_lines(lines)
        return cls(
            id=order_id, number=number, customer_id=customer_id, owner_id=owner_id, opportunity_id=opportunity_id,
            currency=currency, payment_terms_days=check_terms(payment_terms_days), lines=checked,
            note=check_text("note", note, 2000), **totals(checked),
        )  # fmt: skip

    @event("Drafted")
    def __init__(  # noqa: PLR0913
        self,
        *,
        id: UUID,  # noqa: A002 - the library takes the new aggregate's id by this name
        number: str,
        customer_id: UUID,
        owner_id: UUID,
        opportunity_id: UUID | None,
        currency: str,
        payment_terms_days: int,
        lines: tuple[dict[str, Any], ...],
        note: str | None,
        subtotal: Decimal,
        discount: Decimal,
        total: Decimal,
    ) -> None:
        self.number = number
        self.customer_id = customer_id
        self.owner_id = owner_id
        self.opportunity_id = opportunity_id
        self.currency = currency
        self.payment_terms_days = payment_terms_days
        self.lines = [dict(line) for line in lines]
        self.note = note
        self.status = DRAFT
        self.confirmed_on: date | None = None
        self.due_date: date | None = None
        self.instalments: list[dict[str, Any]] = []
        self.paid = ZERO
        self.credited = ZERO
        """Return credits and downward adjustments: credits that are not payments."""
        self.debited = ZERO
        """What the instalments add up to: the total at confirmation plus upward adjustments."""
        self.invoices: dict[UUID, dict[str, Any]] = {}
        self.deliveries = 0
        self.payments: set[UUID] = set()
        self.returns: set[UUID] = set()

    # Figures ---------------------------------------------------------------------------------

    @property
    def receivable(self) -> Decimal:
        """What the customer owes for the order as it stands (returns and adjustments included)."""
        return sum((line_amount(line) for line in self.lines), ZERO)

    @property
    def balance(self) -> Decimal:
        """Receivable less payments; negative when the customer paid more (their credit)."""
        if self.status in (DRAFT,):
            return ZERO
        if self.status == CANCELLED:
            return -self.paid
        return self.debited - self.credited - self.paid

    @property
    def amount_due(self) -> Decimal:
        return max(self.balance, ZERO)

    @property
    def credit(self) -> Decimal:
        """Paid beyond what is owed: the customer's credit."""
        return max(-self.balance, ZERO)

    def settled_instalments(self) -> list[dict[str, Any]]:
        return settle(self.instalments, self.paid + self.credited)

    @property
    def fully_delivered(self) -> bool:
        return all(line["delivered"] >= line["quantity"] for line in self.lines)

    @property
    def stock_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["stock_item_id"] is not None]

    def line(self, number: int | None = None, stock_item_id: UUID | None = None, field: str = "line") -> dict[str, Any]:
        for line in self.lines:
            if (number is not None and line["line"] == number) or (
                stock_item_id is not None and line["stock_item_id"] == stock_item_id
            ):
                return line
        what = f"line {number}" if number is not None else f"stock item {stock_item_id}"
        raise InvalidInput.on(field, f"{what} is not on order {self.number}")

    # Invariants ------------------------------------------------------------------------------

    def _check_status(self, doing: str, *allowed: str) -> None:
        if self.status not in allowed:
            raise Conflict(f"order {self.number} is {self.status.replace('_', ' ')}: it cannot {doing}")

    def _check_date(self, field: str, on: date) -> date:
        on = check_date(field, on)
        if self.confirmed_on is not None and on < self.confirmed_on:
            raise InvalidInput.on(field, f"must not be before the order's confirmation ({self.confirmed_on})")
        return on

    # The draft -------------------------------------------------------------------------------

    def change_lines(self, lines: Any) -> None:
        self._check_status("change its lines (only a draft can)", DRAFT)
        checked = check_lines(lines)
        if [self._comparable(line) for line in checked] != [self._comparable(line) for line in self.lines]:
            self._lines_changed(lines=checked, **totals(checked))

    @staticmethod
    def _comparable(line: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(line[k] for k in ("stock_item_id", "description", "quantity", "unit_price", "discount_rate"))

    @event("LinesChanged")
    def _lines_changed(self, lines: tuple[dict[str, Any], ...], subtotal: Decimal, discount: Decimal, total: Decimal) -> None:
        self.lines = [dict(line) for line in lines]

    def change_terms(self, payment_terms_days: Any) -> None:
        self._check_status("change its payment terms (only a draft can)", DRAFT)
        days = check_terms(payment_terms_days)
        if days != self.payment_terms_days:
            self._terms_changed(payment_terms_days=days, previous_days=self.payment_terms_days)

    @event("PaymentTermsChanged")
    def _terms_changed(self, payment_terms_days: int, previous_days: int) -> None:
        self.payment_terms_days = payment_terms_days

    # Confirmation ----------------------------------------------------------------------------

    def confirm(self, *, on: date, credit_limit: Decimal | None, outstanding: Decimal, override: bool) -> None:
        """Confirm on ``on`` (the company's date): the receivable starts, due ``on`` + payment
        terms, as one instalment. Beyond the customer's credit limit (``outstanding`` is what
        the customer owes on other orders) it is refused unless ``override``."""
        self._check_status("be confirmed", DRAFT)
        on = check_date("confirmed_on", on)
        total = self.receivable
        beyond = credit_limit is not None and outstanding + total > credit_limit
        if beyond and not override:
            raise Conflict(
                f"confirming order {self.number} ({total}) would take the customer's outstanding receivable "
                f"({outstanding}) above their credit limit ({credit_limit})",
                credit_limit=str(credit_limit), outstanding=str(outstanding), order_amount=str(total),
                excess=str(outstanding + total - credit_limit),  # type: ignore[operator]
            )  # fmt: skip
        due = on + timedelta(days=self.payment_terms_days)
        instalments = ({"seq": 1, "due_date": due, "amount": total},) if total > 0 else ()
        self._confirmed(
            confirmed_on=on, due_date=due, total=total, instalments=instalments,
            credit_limit=credit_limit, outstanding=outstanding, credit_override=beyond,
        )  # fmt: skip

    @event("Confirmed")
    def _confirmed(  # noqa: PLR0913
        self,
        confirmed_on: date,
        due_date: date,
        total: Decimal,
        instalments: tuple[dict[str, Any], ...],
        credit_limit: Decimal | None,
        outstanding: Decimal,
        credit_override: bool,
    ) -> None:
        self.status = CONFIRMED
        self.confirmed_on = confirmed_on
        self.due_date = due_date
        self.debited = total
        self.instalments = [dict(i) for i in instalments]

    # The payment plan ------------------------------------------------------------------------

    def plan_instalments(self, instalments: Any, *, on: date) -> None:
        """Split what the order bills into instalments with their own due dates (回款计划). They
        must add up to the instalments they replace; payments already made stay applied,
        oldest due date first."""
        self._check_status("change its payment plan", CONFIRMED, PARTIALLY_DELIVERED, DELIVERED)
        if not isinstance(instalments, (list, tuple)) or not instalments:
            raise InvalidInput.on("instalments", "must list at least one instalment")
        if len(instalments) > MAX_INSTALMENTS:
            raise InvalidInput.on("instalments", f"at most {MAX_INSTALMENTS} instalments")
        planned = []
        for n, given in enumerate(instalments):
            at = f"instalments[{n}]"
            if not isinstance(given, dict):
                raise InvalidInput.on(at, "must be an object")
            due = self._check_date(f"{at}.due_date", given.get("due_date"))
            planned.append({"seq": n + 1, "due_date": due, "amount": check_money(f"{at}.amount", given.get("amount"), positive=True)})
        total = sum((i["amount"] for i in planned), ZERO)
        if total != self.debited:
            raise InvalidInput.on("instalments", f"must add up to {self.debited} (the order bills that much), not {total}")
        self._instalments_planned(instalments=tuple(planned), planned_on=self._check_date("planned_on", on))

    @event("InstalmentsPlanned")
    def _instalments_planned(self, instalments: tuple[dict[str, Any], ...], planned_on: date) -> None:
        self.instalments = [dict(i) for i in instalments]

    # Deliveries and returns ------------------------------------------------------------------

    def _quantities(self, lines: Any, field: str) -> list[tuple[dict[str, Any], Decimal]]:
        """Delivery or return lines (``line`` number or ``stock_item_id``, quantity), each line of
        the order at most once."""
        if not isinstance(lines, (list, tuple)) or not lines:
            raise InvalidInput.on(field, "must list at least one line")
        out, seen = [], set()
        for n, given in enumerate(lines):
            at = f"{field}[{n}]"
            if not isinstance(given, dict):
                raise InvalidInput.on(at, "must be an object")
            number, item = given.get("line"), given.get("stock_item_id")
            if (number is None) == (item is None):
                raise InvalidInput.on(at, "name the order line by its line number or by its stock_item_id (one of them)")
            line = self.line(number, item, f"{at}.{'line' if number is not None else 'stock_item_id'}")
            if line["line"] in seen:
                raise InvalidInput.on(at, f"line {line['line']} is named twice")
            seen.add(line["line"])
            out.append((line, check_quantity(f"{at}.quantity", given.get("quantity"))))
        return out

    def record_delivery(self, *, delivery_id: UUID, lines: Any, on: date, note: Any = None) -> list[tuple[UUID, Decimal]]:
        """Deliver (出货) some or all of what is still to deliver; returns the stock lines to ship."""
        self._check_status("deliver", CONFIRMED, PARTIALLY_DELIVERED)
        wanted = self._quantities(lines, "lines")
        for line, quantity in wanted:
            left = line["quantity"] - line["delivered"]
            if quantity > left:
                raise Conflict(f"line {line['line']} has {left} left to deliver, not {quantity}")
        delivered = tuple({"line": line["line"], "stock_item_id": line["stock_item_id"], "quantity": q} for line, q in wanted)
        after = {line["line"]: line["delivered"] for line in self.lines}
        for line, quantity in wanted:
            after[line["line"]] += quantity
        full = all(after[line["line"]] >= line["quantity"] for line in self.lines)
        self._delivered(
            delivery_id=delivery_id, delivered_on=self._check_date("delivered_on", on), lines=delivered,
            note=check_text("note", note, 1000), status=DELIVERED if full else PARTIALLY_DELIVERED,
        )  # fmt: skip
        return [(d["stock_item_id"], d["quantity"]) for d in delivered if d["stock_item_id"] is not None]

    @event("DeliveryRecorded")
    def _delivered(
        self, delivery_id: UUID, delivered_on: date, lines: tuple[dict[str, Any], ...], note: str | None, status: str
    ) -> None:
        for d in lines:
            self.line(d["line"])["delivered"] += d["quantity"]
        self.deliveries += 1
        self.status = status

    def record_return(self, *, return_id: UUID, lines: Any, reason: Any, on: date, restock: bool = True) -> list[tuple[UUID, Decimal]]:
        """Goods delivered come back (退货): the sale shrinks, the difference is a credit on the
        receivable. Returns the stock lines to take back."""
        self._check_status("take goods back", PARTIALLY_DELIVERED, DELIVERED, COMPLETED)
        reason = check_text("reason", reason, 500, required=True)
        wanted = self._quantities(lines, "lines")
        for line, quantity in wanted:
            left = line["delivered"] - line["returned"]
            if quantity > left:
                raise Conflict(f"line {line['line']} has {left} delivered and not returned, not {quantity}")
        before = self.receivable
        coming = {line["line"]: q for line, q in wanted}
        after = sum((line_amount({**line, "returned": line["returned"] + coming.get(line["line"], 0)}) for line in self.lines), ZERO)
        returned = tuple({"line": line["line"], "stock_item_id": line["stock_item_id"], "quantity": q} for line, q in wanted)
        self._returned(
            return_id=return_id, returned_on=self._check_date("returned_on", on), lines=returned, reason=reason,
            restock=restock, credit=before - after, receivable=after,
        )  # fmt: skip
        return [(r["stock_item_id"], r["quantity"]) for r in returned if r["stock_item_id"] is not None]

    @event("ReturnRecorded")
    def _returned(  # noqa: PLR0913
        self, return_id: UUID, returned_on: date, lines: tuple[dict[str, Any], ...], reason: str, restock: bool,
        credit: Decimal, receivable: Decimal,
    ) -> None:  # fmt: skip
        for r in lines:
            self.line(r["line"])["returned"] += r["quantity"]
        self.credited += credit
        self.returns.add(return_id)

    # Price adjustment (the reverse flow) -----------------------------------------------------

    def adjust_price(self, *, line: Any, unit_price: Any, reason: Any, on: date) -> None:
        """After delivery, the price of a line is agreed anew (价格下浮 at payment time, or a
        surcharge): the difference flows back to the order and its receivable. A reduction is a
        credit; an increase is billed as an instalment of its own, due after the payment terms."""
        self._check_status("have its price adjusted (deliver first)", PARTIALLY_DELIVERED, DELIVERED, COMPLETED)
        if isinstance(line, bool) or not isinstance(line, int):
            raise InvalidInput.on("line", "must be a line number")
        target = self.line(line)
        if target["delivered"] <= 0:
            raise Conflict(f"line {line} has not been delivered yet: change the price before delivery by a new order")
        price = check_price("unit_price", unit_price)
        reason = check_text("reason", reason, 500, required=True)
        if price == target["unit_price"]:
            raise InvalidInput.on("unit_price", f"is the line's price already ({price})")
        on = self._check_date("adjusted_on", on)
        before = self.receivable
        after = before - line_amount(target) + line_amount({**target, "unit_price": price})
        amount = after - before
        if amount > 0 and self.status == COMPLETED:
            raise Conflict(f"order {self.number} is completed: a price increase needs a new order")
        instalment = None
        if amount > 0:
            seq = max((i["seq"] for i in self.instalments), default=0) + 1
            instalment = {"seq": seq, "due_date": on + timedelta(days=self.payment_terms_days), "amount": amount}
        self._price_adjusted(
            line=line, unit_price=price, previous_unit_price=target["unit_price"], amount=amount, receivable=after,
            reason=reason, adjusted_on=on, instalment=instalment,
        )  # fmt: skip

    @event("PriceAdjusted")
    def _price_adjusted(  # noqa: PLR0913
        self, line: int, unit_price: Decimal, previous_unit_price: Decimal, amount: Decimal, receivable: Decimal,
        reason: str, adjusted_on: date, instalment: dict[str, Any] | None,
    ) -> None:  # fmt: skip
        self.line(line)["unit_price"] = unit_price
        if instalment is not None:
            self.instalments.append(dict(instalment))
            self.debited += amount
        else:
            self.credited -= amount

    # Payments and invoices -------------------------------------------------------------------

    def record_payment(
        self, *, payment_id: UUID, amount: Any, received_on: Any, method: Any = None, reference: Any = None,
        today: date,
    ) -> None:  # fmt: skip
        """A payment received against the order (收款登记), settling instalments oldest first;
        beyond what is owed it is the customer's credit."""
        self._check_status("take payments", CONFIRMED, PARTIALLY_DELIVERED, DELIVERED, COMPLETED)
        if payment_id in self.payments:
            raise Conflict(f"payment {payment_id} is recorded already")
        amount = check_money("amount", amount, positive=True)
        received_on = check_date("received_on", received_on)
        if received_on > today:
            raise InvalidInput.on("received_on", f"must not be in the future (today is {today})")
        if method is not None and method not in METHODS:
            raise InvalidInput.on("method", f"must be one of {', '.join(METHODS)}")
        self._paid(
            payment_id=payment_id, amount=amount, received_on=received_on, method=method,
            reference=check_text("reference", reference, 200), paid=self.paid + amount,
            balance=self.balance - amount,
        )  # fmt: skip

    @event("PaymentRecorded")
    def _paid(  # noqa: PLR0913
        self, payment_id: UUID, amount: Decimal, received_on: date, method: str | None, reference: str | None,
        paid: Decimal, balance: Decimal,
    ) -> None:  # fmt: skip
        self.paid += amount
        self.payments.add(payment_id)

    def record_invoice(  # noqa: PLR0913
        self, *, invoice_id: UUID, number: Any, title: Any, amount: Any, issued_on: Any, taxpayer_id: Any = None,
        kind: Any = None,
    ) -> None:  # fmt: skip
        """An invoice (发票) issued against the order: recorded, shown beside the payments."""
        self._check_status("be invoiced", CONFIRMED, PARTIALLY_DELIVERED, DELIVERED, COMPLETED)
        number = check_text("number", number, 50, required=True)
        if any(i["number"] == number for i in self.invoices.values()):
            raise Conflict(f"invoice {number} is recorded on this order already")
        if kind is not None and kind not in ("special", "ordinary", "electronic"):
            raise InvalidInput.on("kind", "must be special (增值税专用发票), ordinary (普通发票) or electronic")
        self._invoiced(
            invoice_id=invoice_id, number=number, title=check_text("title", title, 200, required=True),
            taxpayer_id=check_text("taxpayer_id", taxpayer_id, 20), amount=check_money("amount", amount, positive=True),
            issued_on=check_date("issued_on", issued_on), kind=kind,
        )  # fmt: skip

    @event("InvoiceRecorded")
    def _invoiced(  # noqa: PLR0913
        self, invoice_id: UUID, number: str, title: str, taxpayer_id: str | None, amount: Decimal, issued_on: date,
        kind: str | None,
    ) -> None:  # fmt: skip
        self.invoices[invoice_id] = {"number": number, "amount": amount}

    # Cancelling and completing ---------------------------------------------------------------

    def cancel(self, *, reason: Any, on: date) -> None:
        """Cancel before anything is delivered; what was paid stays as the customer's credit."""
        self._check_status("be cancelled", DRAFT, CONFIRMED)
        self._cancelled(
            reason=check_text("reason", reason, 500, required=True), cancelled_on=check_date("cancelled_on", on),
            previous_status=self.status, paid=self.paid,
        )  # fmt: skip

    @event("Cancelled")
    def _cancelled(self, reason: str, cancelled_on: date, previous_status: str, paid: Decimal) -> None:
        self.status = CANCELLED

    def complete_if_done(self, on: date) -> None:
        """Completed once everything is delivered and nothing is owed (交付并回款)."""
        if self.status == DELIVERED and self.balance <= 0:
            self._completed(completed_on=on)

    @event("Completed")
    def _completed(self, completed_on: date) -> None:
        self.status = COMPLETED

    # Ownership -------------------------------------------------------------------------------

    def reassign(self, *, owner_id: UUID, reason: Any = None) -> None:
        reason = check_text("reason", reason, 500)
        if owner_id != self.owner_id:
            self._reassigned(owner_id=owner_id, previous_owner_id=self.owner_id, reason=reason)

    @event("Reassigned")
    def _reassigned(self, owner_id: UUID, previous_owner_id: UUID, reason: str | None) -> None:
        self.owner_id = owner_id
