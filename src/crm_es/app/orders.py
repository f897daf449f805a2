"""Orders (合同/订单), payments (收款登记), instalments (回款计划) and invoices (发票).

Every command on an order goes through ``visible``: an order outside the caller's ``orders``
data scope does not exist for them (404). Commands that change what the customer owes save the
order together with the customer's ``Account`` (aggregates/account.py), and commands that move
stock save the stock items too, all in one transaction (``Kernel.execute``): a concurrent change
to any of them retries the whole command. Customers, opportunities and stock are reached only
through the kernel's interfaces.

Dates are the company's (``CRM_ES_TIMEZONE``): an order confirmed at 23:30 in Shanghai is
confirmed that day, whatever the server's clock zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from crm_es.aggregates.account import Account, account_id
from crm_es.aggregates.base import CrmAggregate
from crm_es.aggregates.order import Order
from crm_es.aggregates.order_numbers import PREFIX, OrderNumbers, sequence_id
from crm_es.app.kernel import (
    Commands, Context, CustomerDirectory, Kernel, Outcome, StockReservations, UserDirectory, Written,
)  # fmt: skip
from crm_es.errors import Conflict, Forbidden, InvalidInput, NotFound

OVERRIDE_CREDIT = "orders:override_credit"


class Orders(Commands):
    snapshotting = {Order: 100, Account: 200, OrderNumbers: 500}  # noqa: RUF012

    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        kernel.register_kind("order", Order)
        self.number_prefix = "SO"
        self.clock: Callable[[], datetime] = lambda: datetime.now(kernel.zone)
        """Now (tests set another clock); its day in the company's time zone is "today"."""

    def configure(self, *, number_prefix: str) -> None:
        if not PREFIX.match(number_prefix):
            raise ValueError(f"the order number prefix must be 1 to 10 capital letters or digits, got {number_prefix!r}")
        self.number_prefix = number_prefix

    def today(self) -> date:
        """Today in the company's time zone: confirmation, delivery, return and due dates."""
        return self.clock().astimezone(self.kernel.zone).date()

    # Reads -------------------------------------------------------------------------------------

    def order(self, order_id: UUID) -> Order:
        return self.kernel.get(Order, order_id, "order")

    def visible(self, ctx: Context, order_id: UUID) -> Order:
        """The order, if the caller's data scope reaches it; otherwise it does not exist for them."""
        order = self.order(order_id)
        if not ctx.sees("orders", order.owner_id):
            raise NotFound(f"no order with id {order_id}")
        return order

    def account(self, customer_id: UUID) -> Account:
        """The customer's account, or a new one (saved with the command that first needs it)."""
        try:
            account = self.kernel.repository.get(account_id(customer_id))
        except AggregateNotFoundError:
            return Account.open(customer_id)
        assert isinstance(account, Account)
        return account

    def outstanding(self, customer_id: UUID) -> Decimal:
        """What the customer owes on all their orders now, less their credit (write side)."""
        return self.account(customer_id).outstanding

    def _stock(self) -> StockReservations | None:
        try:
            return self.kernel.need(StockReservations)
        except LookupError:
            return None

    # Checks across contexts --------------------------------------------------------------------

    def _check_customer(self, ctx: Context, customer_id: UUID) -> UUID:
        """The customer's owner; 422 if the customer is unknown or outside the caller's scope."""
        self.kernel.check_record("customer", customer_id, "customer_id")
        directory = self.kernel.need(CustomerDirectory)
        owner = directory.owner_of(customer_id)
        if not ctx.sees("customers", owner):
            raise InvalidInput.on("customer_id", f"no customer with id {customer_id}")
        kind = directory.kind_of(customer_id)
        if kind in ("blacklist", "competitor"):
            raise Conflict(f"customer {customer_id} is a {kind}: crm-es takes no orders from it")
        return owner

    def _check_lines(self, lines: Sequence[dict[str, Any]] | None) -> None:
        for n, line in enumerate(lines or ()):
            item = line.get("stock_item_id") if isinstance(line, dict) else None
            if item is not None:
                self.kernel.check_record("stock_item", item, f"lines[{n}].stock_item_id")

    def _check_owner(self, ctx: Context, owner_id: UUID) -> None:
        self.kernel.need(UserDirectory).check_user(owner_id, "owner_id")
        if not ctx.sees("orders", owner_id):
            raise Forbidden("you can only give orders to people within your data scope")

    # Drafting ----------------------------------------------------------------------------------

    def draft(  # noqa: PLR0913
        self, *, ctx: Context, customer_id: UUID, lines: Sequence[dict[str, Any]], opportunity_id: UUID | None = None,
        currency: str = "CNY", payment_terms_days: int = 30, owner_id: UUID | None = None, note: str | None = None,
    ) -> Written:  # fmt: skip
        """A draft order with the next number of the year. Its owner is ``owner_id``, else the
        customer's owner (who chases the money), else (when the caller's scope does not reach
        the customer's owner) the caller."""
        customer_owner = self._check_customer(ctx, customer_id)
        if owner_id is not None:
            self._check_owner(ctx, owner_id)
            owner = owner_id
        elif ctx.sees("orders", customer_owner):
            owner = customer_owner
        elif ctx.user_id is not None:
            owner = ctx.user_id
        else:
            raise InvalidInput.on("owner_id", "is required when a process drafts an order")
        if opportunity_id is not None:
            opportunity: Any = self.kernel.check_record("opportunity", opportunity_id, "opportunity_id")
            if opportunity.customer_id != customer_id:
                raise InvalidInput.on("opportunity_id", f"opportunity {opportunity_id} is another customer's")
        self._check_lines(lines)
        order_id = uuid4()
        year = self.today().year

        def load() -> list[CrmAggregate]:
            try:
                return [self.kernel.get(OrderNumbers, sequence_id(year), "order number sequence")]
            except NotFound:
                return [OrderNumbers.start(year)]

        def act(aggregates: list[CrmAggregate]) -> Outcome:
            numbers = aggregates[0]
            assert isinstance(numbers, OrderNumbers)
            number = numbers.issue(self.number_prefix, order_id)
            order = Order.draft(
                order_id=order_id, number=number, customer_id=customer_id, owner_id=owner, lines=lines,
                opportunity_id=opportunity_id, currency=currency, payment_terms_days=payment_terms_days, note=note,
            )  # fmt: skip
            aggregates.append(order)
            return order.id, order.version, True

        return self.kernel.execute(ctx, load, act, lock=sequence_id(year))

    def draft_from_opportunity(
        self, *, ctx: Context, opportunity_id: UUID, lines: Sequence[dict[str, Any]] | None = None,
        payment_terms_days: int = 30, note: str | None = None,
    ) -> Written:  # fmt: skip
        """A draft order from a won opportunity (赢单转合同): its customer and currency, and
        ``lines`` or else one line of the opportunity's title at its won amount."""
        opportunity: Any = self.kernel.check_record("opportunity", opportunity_id, "opportunity_id")
        if not ctx.sees("opportunities", opportunity.owner_id):
            raise NotFound(f"no opportunity with id {opportunity_id}")
        if opportunity.status != "won":
            raise Conflict(f"opportunity {opportunity_id} is {opportunity.status}: only a won opportunity becomes an order")
        if lines is None:
            lines = [{"description": opportunity.title, "quantity": Decimal("1"), "unit_price": opportunity.amount}]
        return self.draft(
            ctx=ctx, customer_id=opportunity.customer_id, lines=lines, opportunity_id=opportunity_id,
            currency=opportunity.currency, payment_terms_days=payment_terms_days, note=note,
        )  # fmt: skip

    def _mutate(self, ctx: Context, order_id: UUID, change: Callable[[Order], Any], expected_version: int | None, **answer: Any) -> Written:
        return self.kernel.mutate(ctx, order_id, lambda: self.visible(ctx, order_id), change, expected_version=expected_version, **answer)

    def update(self, *, ctx: Context, order_id: UUID, expected_version: int | None = None, **changes: Any) -> Written:
        """Change a draft's lines or payment terms."""
        unknown = set(changes) - {"lines", "payment_terms_days"}
        if unknown:
            raise InvalidInput.on(sorted(unknown)[0], "cannot be changed here")
        if "lines" in changes:
            self._check_lines(changes["lines"])

        def change(order: Order) -> None:
            if "lines" in changes:
                order.change_lines(changes["lines"])
            if "payment_terms_days" in changes:
                order.change_terms(changes["payment_terms_days"])

        return self._mutate(ctx, order_id, change, expected_version)

    def reassign(
        self, *, ctx: Context, order_id: UUID, owner_id: UUID, reason: str | None = None, expected_version: int | None = None
    ) -> Written:
        self._check_owner(ctx, owner_id)
        return self._mutate(ctx, order_id, lambda o: o.reassign(owner_id=owner_id, reason=reason), expected_version)

    # Commands that touch the account and stock -------------------------------------------------

    def _with_account(
        self, ctx: Context, order_id: UUID, change: Callable[[Order, Account, list[CrmAggregate]], Any],
        expected_version: int | None, *, stock: Callable[[Order], Sequence[UUID]] | None = None,
        answer: UUID | None = None, created: bool = False,
    ) -> Written:  # fmt: skip
        """Load the order, the customer's account and (``stock``) the stock items the command
        touches; ``change`` them; record the order's new balance on the account; save all."""

        def load() -> list[CrmAggregate]:
            order = self.visible(ctx, order_id)
            loaded: list[CrmAggregate] = [order, self.account(order.customer_id)]
            item_ids = list(stock(order)) if stock is not None else []
            if item_ids:
                reservations = self._stock()
                if reservations is None:
                    raise Conflict("stock is not available in this version of crm-es")
                loaded += reservations.load(item_ids, "lines")
            return loaded

        def act(aggregates: list[CrmAggregate]) -> Outcome:
            order, account = aggregates[0], aggregates[1]
            assert isinstance(order, Order) and isinstance(account, Account)
            change(order, account, aggregates[2:])
            order.complete_if_done(self.today())
            account.record(order.id, order.balance)
            if not account.balances:  # a new account with nothing to record yet: not saved
                aggregates.remove(account)
            return answer or order.id, order.version, created

        # The customer's account is shared by all their orders, and a stock item by every order
        # of it: commands on them queue (and take turns across processes) rather than racing,
        # from the first try on a busy item (docs/stock.md). A customer never changes.
        current = self.order(order_id)
        items = list(stock(current)) if stock is not None else []
        return self.kernel.execute(
            ctx, load, act, expected_version=expected_version,
            lock=[order_id, account_id(current.customer_id), *items], turns=bool(items),
        )  # fmt: skip

    def confirm(self, *, ctx: Context, order_id: UUID, expected_version: int | None = None) -> Written:
        """Confirm the order: stock reserved, the receivable started (due today + payment terms),
        within the customer's credit limit unless the caller may override it."""
        may_override = ctx.access is None or ctx.access.allows(OVERRIDE_CREDIT)

        def change(order: Order, account: Account, items: list[CrmAggregate]) -> None:
            limit = self.kernel.need(CustomerDirectory).credit_limit_of(order.customer_id)
            order.confirm(on=self.today(), credit_limit=limit, outstanding=account.outstanding, override=may_override)
            lines = [(line["stock_item_id"], line["quantity"]) for line in order.stock_lines]
            if lines:
                self._need_stock().reserve(items, order.id, lines)

        return self._with_account(ctx, order_id, change, expected_version, stock=_stock_items)

    def _need_stock(self) -> StockReservations:
        stock = self._stock()
        if stock is None:
            raise Conflict("stock is not available in this version of crm-es")
        return stock

    def plan_instalments(
        self, *, ctx: Context, order_id: UUID, instalments: Sequence[dict[str, Any]], expected_version: int | None = None
    ) -> Written:
        return self._with_account(
            ctx, order_id, lambda o, a, i: o.plan_instalments(instalments, on=self.today()), expected_version
        )

    def deliver(
        self, *, ctx: Context, order_id: UUID, lines: Sequence[dict[str, Any]], note: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Record a delivery (出货): the stock reserved for it is shipped."""
        delivery_id = uuid4()

        def change(order: Order, account: Account, items: list[CrmAggregate]) -> None:
            shipped = order.record_delivery(delivery_id=delivery_id, lines=lines, on=self.today(), note=note)
            if shipped:
                self._need_stock().ship(items, order.id, shipped)

        return self._with_account(ctx, order_id, change, expected_version, stock=_stock_items)

    def return_goods(
        self, *, ctx: Context, order_id: UUID, lines: Sequence[dict[str, Any]], reason: str, restock: bool = True,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Record a return (退货): stock comes back, the difference is a credit on the receivable."""
        return_id = uuid4()

        def change(order: Order, account: Account, items: list[CrmAggregate]) -> None:
            back = order.record_return(return_id=return_id, lines=lines, reason=reason, on=self.today(), restock=restock)
            if back:
                self._need_stock().take_back(items, order.id, back, restock=restock, reason=reason)

        return self._with_account(ctx, order_id, change, expected_version, stock=_stock_items)

    def adjust_price(
        self, *, ctx: Context, order_id: UUID, line: int, unit_price: Any, reason: str, expected_version: int | None = None
    ) -> Written:
        return self._with_account(
            ctx, order_id, lambda o, a, i: o.adjust_price(line=line, unit_price=unit_price, reason=reason, on=self.today()),
            expected_version,
        )  # fmt: skip

    def cancel(self, *, ctx: Context, order_id: UUID, reason: str, expected_version: int | None = None) -> Written:
        """Cancel before delivery: reservations released; payments stay as the customer's credit."""

        def change(order: Order, account: Account, items: list[CrmAggregate]) -> None:
            confirmed = order.status != "draft"
            order.cancel(reason=reason, on=self.today())
            if confirmed and order.stock_lines:
                self._need_stock().release(items, order.id)

        return self._with_account(ctx, order_id, change, expected_version, stock=_stock_items)

    def record_payment(  # noqa: PLR0913
        self, *, ctx: Context, order_id: UUID, amount: Any, received_on: date, method: str | None = None,
        reference: str | None = None, expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """A payment against the order (收款登记): answers with the payment's id."""
        payment_id = uuid4()
        return self._with_account(
            ctx, order_id,
            lambda o, a, i: o.record_payment(payment_id=payment_id, amount=amount, received_on=received_on,
                                             method=method, reference=reference, today=self.today()),
            expected_version, answer=payment_id, created=True,
        )  # fmt: skip

    def record_invoice(self, *, ctx: Context, order_id: UUID, expected_version: int | None = None, **fields: Any) -> Written:
        """An invoice issued against the order (发票): answers with the invoice's id."""
        invoice_id = uuid4()
        return self._mutate(
            ctx, order_id, lambda o: o.record_invoice(invoice_id=invoice_id, **fields), expected_version,
            answer=invoice_id, created=True,
        )  # fmt: skip


def _stock_items(order: Order) -> list[UUID]:
    return [line["stock_item_id"] for line in order.stock_lines]

