"""Stock (库存管理): items, receipts, issues, stocktakes, stock on its way, reservations for
orders; the category tree and the warehouses.

Stock items have no owner: they are the company's, and every holder of ``stock:read`` /
``stock:write`` sees and changes all of them (docs/stock.md). This context also offers the
orders context ``StockReservations`` (``Kernel.provide``): an order's confirmation loads the
stock items it touches, reserves in memory, and the kernel saves the order and every item in
one transaction. ``reserve_for_order`` goes through exactly that call, for reservations made by
hand (an order taken by phone) and for the tests that prove stock is never oversold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from crm_es.aggregates.base import CrmAggregate, recording
from crm_es.aggregates.stock import StockItem
from crm_es.aggregates.stock_catalogue import CATALOGUE_ID, DEFAULT_WAREHOUSE, StockCatalogue, check_code, warehouse_id
from crm_es.app.kernel import Commands, Context, Kernel, Outcome, StockReservations, UserDirectory, Written
from crm_es.errors import Conflict, InvalidInput, NotFound

Line = tuple[UUID, Any]
"""A line of an order as stock sees it: (stock item id, quantity)."""

DEFAULT_WAREHOUSE_ID = warehouse_id(str(DEFAULT_WAREHOUSE["code"]))


@dataclass(frozen=True)
class Touched:
    """What a command on several stock items wrote: the position, and each item's new version."""

    written: Written
    items: list[tuple[UUID, int]]


class Stock(Commands):
    snapshotting = {StockItem: 200}  # noqa: RUF012

    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        kernel.register_kind("stock_item", StockItem)
        kernel.provide(StockReservations, self)

    # The catalogue: categories and warehouses ------------------------------------------------------

    def ensure_catalogue(self) -> bool:
        """Create the catalogue (with the default warehouse) if it does not exist yet."""
        if self.exists(self.kernel, CATALOGUE_ID):
            return False
        with recording("process:bootstrap"):
            return self.save_new(StockCatalogue.create())

    def catalogue(self) -> StockCatalogue:
        """The catalogue as it is now: the cached instance, for reading only (never change it)."""
        try:
            catalogue = self.kernel.repository.get(CATALOGUE_ID, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise Conflict("the stock catalogue is not set up yet") from None
        assert isinstance(catalogue, StockCatalogue)
        return catalogue

    def _change_catalogue(
        self, ctx: Context, change: Callable[[StockCatalogue], Any], *, answer: UUID | None = None, created: bool = False,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        load = lambda: self.kernel.get(StockCatalogue, CATALOGUE_ID, "stock catalogue")  # noqa: E731
        return self.kernel.mutate(
            ctx, CATALOGUE_ID, load, change, answer=answer, created=created, expected_version=expected_version
        )

    def add_category(self, *, ctx: Context, name: Any, parent_id: UUID | None = None) -> Written:
        category_id = uuid4()
        return self._change_catalogue(
            ctx, lambda c: c.add_category(category_id=category_id, name=name, parent_id=parent_id),
            answer=category_id, created=True,
        )  # fmt: skip

    def update_category(self, *, ctx: Context, category_id: UUID, **changes: Any) -> Written:
        """Rename the category and/or move it under another parent (``parent_id`` None: to the top)."""
        unknown = set(changes) - {"name", "parent_id"}
        if unknown:
            raise InvalidInput.on(sorted(unknown)[0], "cannot be changed here")
        if category_id not in self.catalogue().categories:
            raise NotFound(f"no stock category with id {category_id}")

        def change(catalogue: StockCatalogue) -> None:
            if "name" in changes:
                catalogue.rename_category(category_id, changes["name"])
            if "parent_id" in changes:
                catalogue.move_category(category_id, changes["parent_id"])

        return self._change_catalogue(ctx, change, answer=category_id)

    def add_warehouse(self, *, ctx: Context, code: Any, name: Any, address: Any = None) -> Written:
        added: list[UUID] = []

        def change(catalogue: StockCatalogue) -> None:
            added[:] = [catalogue.add_warehouse(code=code, name=name, address=address)]

        written = self._change_catalogue(ctx, change, created=True)
        new_id = added[0] if added else warehouse_id(check_code(code))  # a replay ran nothing
        return Written(new_id, written.version, written.position, created=True, replayed=written.replayed)

    def update_warehouse(self, *, ctx: Context, warehouse_id: UUID, **changes: Any) -> Written:
        unknown = set(changes) - {"name", "address"}
        if unknown:
            raise InvalidInput.on(sorted(unknown)[0], "cannot be changed here")
        return self._change_catalogue(ctx, lambda c: c.update_warehouse(warehouse_id, **changes), answer=warehouse_id)

    def resolve_category(self, value: Any, field: str = "category") -> UUID | None:
        """A category named by its id or by its path of names (五金/紧固件); None for none."""
        if value is None:
            return None
        catalogue = self.catalogue()
        if isinstance(value, UUID):
            catalogue.category(value, field)
            return value
        if not isinstance(value, str):
            raise InvalidInput.on(field, "must be a category id or a path of category names")
        try:
            category_id = UUID(value.strip())
        except ValueError:
            return catalogue.find_path(value, field)
        catalogue.category(category_id, field)
        return category_id

    # Stock items -----------------------------------------------------------------------------------

    def item(self, item_id: UUID) -> StockItem:
        return self.kernel.get(StockItem, item_id, "stock item")

    def create_item(  # noqa: PLR0913 - one parameter per field
        self, *, ctx: Context, sku: Any, name: Any, category: Any = None, warehouse_id: UUID | None = None,
        unit: Any = "件", decimals: Any = None, reorder_level: Any = None, max_level: Any = None,
        unit_cost: Any = None,
    ) -> Written:  # fmt: skip
        category_id = self.resolve_category(category)
        warehouse = warehouse_id or DEFAULT_WAREHOUSE_ID
        self.catalogue().warehouse(warehouse)

        def make() -> StockItem:
            return StockItem.create(
                sku=sku, name=name, category_id=category_id, warehouse_id=warehouse, unit=unit, decimals=decimals,
                reorder_level=reorder_level, max_level=max_level, unit_cost=unit_cost,
            )  # fmt: skip

        try:
            return self.kernel.create(ctx, make)
        except IntegrityError:
            pass  # the SKU's id is taken: say by which item
        existing = self.item(StockItem.create_id(str(sku)))
        raise Conflict(f"SKU {existing.sku} is taken by stock item {existing.id} ({existing.name})", stock_item_id=str(existing.id))

    def _mutate(self, ctx: Context, item_id: UUID, change: Callable[[StockItem], Any], expected_version: int | None,
                **answer: Any) -> Written:  # fmt: skip
        return self.kernel.mutate(ctx, item_id, lambda: self.item(item_id), change, expected_version=expected_version, **answer)

    def update_item(self, *, ctx: Context, item_id: UUID, expected_version: int | None = None, **changes: Any) -> Written:
        """Rename, recategorise, change the reorder and maximum levels (each its own fact)."""
        unknown = set(changes) - {"name", "category", "reorder_level", "max_level"}
        if unknown:
            raise InvalidInput.on(sorted(unknown)[0], "cannot be changed here")
        category_id = self.resolve_category(changes["category"]) if "category" in changes else None
        levels = {k: changes[k] for k in ("reorder_level", "max_level") if k in changes}

        def change(item: StockItem) -> None:
            if "name" in changes:
                item.rename(changes["name"])
            if "category" in changes:
                item.recategorise(category_id)
            if levels:
                item.change_levels(**levels)

        return self._mutate(ctx, item_id, change, expected_version)

    def receive(
        self, *, ctx: Context, item_id: UUID, quantity: Any, unit_cost: Any = None, reference: Any = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._mutate(
            ctx, item_id, lambda i: i.receive(quantity=quantity, unit_cost=unit_cost, reference=reference), expected_version
        )

    def issue(self, *, ctx: Context, item_id: UUID, quantity: Any, reason: Any, expected_version: int | None = None) -> Written:
        return self._mutate(ctx, item_id, lambda i: i.issue(quantity=quantity, reason=reason), expected_version)

    def count(
        self, *, ctx: Context, item_id: UUID, counted_quantity: Any, counted_by: UUID | None = None, note: Any = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """A stocktake: ``counted_by`` is who counted (the caller unless named; an active user)."""
        counter = counted_by or ctx.user_id
        if counter is None:
            raise InvalidInput.on("counted_by", "is required when a process records a count")
        if counted_by is not None and counted_by != ctx.user_id:
            self.kernel.need(UserDirectory).check_user(counted_by, "counted_by")
        return self._mutate(
            ctx, item_id, lambda i: i.count(counted_quantity=counted_quantity, counted_by=counter, note=note), expected_version
        )

    def announce_inbound(
        self, *, ctx: Context, item_id: UUID, quantity: Any, kind: Any = "purchase", unit_cost: Any = None,
        expected_on: date | None = None, reference: Any = None, expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        inbound_id = uuid4()
        return self._mutate(
            ctx, item_id,
            lambda i: i.announce_inbound(inbound_id=inbound_id, quantity=quantity, kind=kind, unit_cost=unit_cost,
                                         expected_on=expected_on, reference=reference),
            expected_version, answer=inbound_id, created=True,
        )  # fmt: skip

    def arrive(
        self, *, ctx: Context, item_id: UUID, inbound_id: UUID, quantity: Any = None, unit_cost: Any = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._mutate(
            ctx, item_id, lambda i: i.arrive(inbound_id=inbound_id, quantity=quantity, unit_cost=unit_cost), expected_version
        )

    def cancel_inbound(
        self, *, ctx: Context, item_id: UUID, inbound_id: UUID, reason: Any, expected_version: int | None = None
    ) -> Written:
        return self._mutate(ctx, item_id, lambda i: i.cancel_inbound(inbound_id=inbound_id, reason=reason), expected_version)

    # Orders, by hand (the same calls the orders context makes) ------------------------------------

    def _for_order(
        self, ctx: Context, order_id: UUID, item_ids: Sequence[UUID], act: Callable[[list[StockItem]], None]
    ) -> Touched:
        """Load every item, ``act`` on them, save them all in one transaction (retried as a
        whole on a concurrent change to any of them)."""
        touched: list[StockItem] = []

        def load() -> list[CrmAggregate]:
            return self.load(item_ids, "lines")

        def run(aggregates: list[CrmAggregate]) -> Outcome:
            items = [a for a in aggregates if isinstance(a, StockItem)]
            act(items)
            touched[:] = items
            return order_id, max((i.version for i in items), default=0), False

        written = self.kernel.execute(ctx, load, run, lock=sorted(set(item_ids)), turns=True)
        if written.replayed or not touched:
            return Touched(written, [(item.id, item.version) for item in (self.item(i) for i in dict.fromkeys(item_ids))])
        return Touched(written, [(item.id, item.version) for item in touched])

    def reserve_for_order(self, *, ctx: Context, order_id: UUID, lines: Sequence[Line]) -> Touched:
        """Reserve every line for the order, or nothing (409 naming each short item)."""
        self._check_lines(lines)
        return self._for_order(ctx, order_id, [i for i, _ in lines], lambda items: self.reserve(items, order_id, lines))

    def release_for_order(self, *, ctx: Context, order_id: UUID, stock_item_ids: Sequence[UUID]) -> Touched:
        if not stock_item_ids:
            raise InvalidInput.on("stock_item_ids", "name at least one stock item")
        return self._for_order(ctx, order_id, stock_item_ids, lambda items: self.release(items, order_id))

    def ship_for_order(self, *, ctx: Context, order_id: UUID, lines: Sequence[Line]) -> Touched:
        self._check_lines(lines)
        return self._for_order(ctx, order_id, [i for i, _ in lines], lambda items: self.ship(items, order_id, lines))

    def return_for_order(
        self, *, ctx: Context, order_id: UUID, lines: Sequence[Line], restock: bool, reason: Any = None
    ) -> Touched:
        self._check_lines(lines)
        return self._for_order(
            ctx, order_id, [i for i, _ in lines],
            lambda items: self.take_back(items, order_id, lines, restock=restock, reason=reason),
        )  # fmt: skip

    @staticmethod
    def _check_lines(lines: Sequence[Line]) -> None:
        if not lines:
            raise InvalidInput.on("lines", "name at least one line")
        if len(lines) > MAX_LINES:
            raise InvalidInput.on("lines", f"at most {MAX_LINES} lines")

    # StockReservations: what the orders context uses -------------------------------------------------

    def load(self, stock_item_ids: Sequence[UUID], field_name: str) -> list[CrmAggregate]:
        """The stock items, in the order given, each once (an id named twice is loaded once:
        two copies of one item could not both be saved); 422 on ``field_name`` for an unknown id."""
        items: list[CrmAggregate] = []
        for item_id in dict.fromkeys(stock_item_ids):
            try:
                items.append(self.item(item_id))
            except NotFound:
                raise InvalidInput.on(field_name, f"no stock item with id {item_id}") from None
        return items

    def reserve(self, items: Sequence[CrmAggregate], order_id: UUID, lines: Sequence[Line]) -> None:
        wanted = self._grouped(items, lines)
        short = [conflict for item, quantity in wanted if (conflict := item.check_reserve(quantity)) is not None]
        if short:
            details = "; ".join(
                f"{c.extra['sku']} (requested {c.extra['requested']}, available {c.extra['available']})" for c in short
            )
            raise Conflict(
                f"not enough stock for order {order_id}: {details}",
                short_items=[{k: c.extra[k] for k in ("stock_item_id", "sku", "requested", "available")} for c in short],
            )
        for item, quantity in wanted:
            item.reserve(order_id=order_id, quantity=quantity)

    def release(self, items: Sequence[CrmAggregate], order_id: UUID) -> None:
        for item in self._items(items):
            item.release(order_id=order_id)

    def ship(self, items: Sequence[CrmAggregate], order_id: UUID, lines: Sequence[Line]) -> None:
        for item, quantity in self._grouped(items, lines):
            item.ship(order_id=order_id, quantity=quantity)

    def take_back(
        self, items: Sequence[CrmAggregate], order_id: UUID, lines: Sequence[Line], *, restock: bool, reason: Any = None
    ) -> None:
        for item, quantity in self._grouped(items, lines):
            item.take_back(order_id=order_id, quantity=quantity, restock=restock, reason=reason)

    @staticmethod
    def _items(items: Sequence[CrmAggregate]) -> list[StockItem]:
        for item in items:
            if not isinstance(item, StockItem):
                raise TypeError(f"not a stock item: {item!r}")
        return list(items)  # type: ignore[arg-type]

    def _grouped(self, items: Sequence[CrmAggregate], lines: Sequence[Line]) -> list[tuple[StockItem, Decimal]]:
        """Each item with the total quantity of its lines (each line checked in the item's unit)."""
        by_id = {item.id: item for item in self._items(items)}
        totals: dict[UUID, Decimal] = {}
        for n, (item_id, quantity) in enumerate(lines):
            item = by_id.get(item_id)
            if item is None:
                raise InvalidInput.on(f"lines[{n}].stock_item_id", f"stock item {item_id} was not loaded")
            checked = item.quantity(f"lines[{n}].quantity", quantity)
            totals[item_id] = totals.get(item_id, checked * 0) + checked
        return [(by_id[item_id], total) for item_id, total in totals.items()]


MAX_LINES = 200
"""Lines of one reservation, shipment or return by hand."""
