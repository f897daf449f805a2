"""Stock commands on real PostgreSQL: reservations for an order are all or nothing, many buyers
of one item at once never oversell it (threads of one process, and two applications standing
for two processes), and a SKU is unique however many create it at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from crm_es.app import CRM, Context
from crm_es.errors import ConcurrentModification, Conflict, DomainError, InvalidInput
from crm_es.runtime import Runtime
from crm_es.settings import Settings

WAREHOUSE = Context(actor="process:test-stock")


def _sku(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _item(app: CRM, on_hand: str = "0", cost: str = "10.00", **fields: Any) -> uuid.UUID:
    item_id = app.stock.create_item(ctx=WAREHOUSE, sku=_sku(), name="测试商品", **fields).id
    if Decimal(on_hand):
        app.stock.receive(ctx=WAREHOUSE, item_id=item_id, quantity=on_hand, unit_cost=cost)
    return item_id


def _race(count: int, task: Callable[[int], Any], threads: int = 32) -> list[Any]:
    """Run ``task(n)`` for n < count on many threads released at once; results or exceptions."""
    start = threading.Barrier(min(count, threads))

    def run(n: int) -> Any:
        if n < threads:
            start.wait()
        try:
            return task(n)
        except DomainError as refused:
            return refused

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(count)))


@pytest.fixture
def second(fresh: Runtime) -> Iterator[CRM]:
    """Another application on the same database: its own cache, locks and group commit, as a
    second API process has."""
    app = CRM(env=fresh.database.eventsourcing_env(Settings(database_url=fresh.database.conninfo)))
    try:
        yield app
    finally:
        app.close()


def test_a_reservation_for_an_order_is_all_or_nothing(fresh: Runtime) -> None:
    app = fresh.app
    bolts, nuts = _item(app, "10"), _item(app, "3")
    order = uuid.uuid4()
    with pytest.raises(Conflict) as refused:
        app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=order, lines=[(bolts, "4"), (nuts, "2"), (nuts, "2")])
    assert refused.value.extra["short_items"] == [
        {"stock_item_id": str(nuts), "sku": app.stock.item(nuts).sku, "requested": "4", "available": "3"}
    ]
    assert (app.stock.item(bolts).reserved, app.stock.item(nuts).reserved) == (0, 0)
    touched = app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=order, lines=[(bolts, "4"), (nuts, "1"), (nuts, "2")])
    assert touched.written.id == order
    assert dict(touched.items) == {bolts: 3, nuts: 3}
    assert (app.stock.item(bolts).reservations, app.stock.item(nuts).reservations) == ({order: 4}, {order: 3})
    with pytest.raises(InvalidInput) as unknown:
        app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=order, lines=[(uuid.uuid4(), "1")])
    assert unknown.value.errors[0].field == "lines"
    app.stock.ship_for_order(ctx=WAREHOUSE, order_id=order, lines=[(bolts, "4")])
    app.stock.release_for_order(ctx=WAREHOUSE, order_id=order, stock_item_ids=[bolts, nuts])
    assert (app.stock.item(bolts).on_hand, app.stock.item(bolts).reserved, app.stock.item(nuts).reserved) == (6, 0, 0)


def test_many_buyers_of_one_item_at_once_never_oversell_it(fresh: Runtime) -> None:
    app = fresh.app
    item = _item(app, "40")
    answers = _race(60, lambda n: app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=uuid.uuid4(), lines=[(item, "1")]))
    refused = [a for a in answers if isinstance(a, DomainError)]
    assert len(answers) - len(refused) == 40
    assert all(type(r) is Conflict and r.extra["short_items"][0]["available"] == "0" for r in refused), refused[:3]
    stock = app.stock.item(item)
    assert (stock.on_hand, stock.reserved, len(stock.reservations), stock.version) == (40, 40, 40, 42)


def test_two_processes_selling_one_item_take_turns_and_never_oversell_it(fresh: Runtime, second: CRM) -> None:
    apps = [fresh.app, second]
    item = _item(fresh.app, "150")
    orders = [uuid.uuid4() for _ in range(200)]

    def buy(n: int) -> Any:
        return apps[n % 2].stock.reserve_for_order(ctx=WAREHOUSE, order_id=orders[n], lines=[(item, "1")])

    answers = _race(200, buy, threads=40)
    refused = [a for a in answers if isinstance(a, DomainError)]
    assert not [r for r in refused if isinstance(r, ConcurrentModification)], "a buyer gave up on a busy item"
    assert len(refused) == 50 and all(isinstance(r, Conflict) for r in refused)
    sold = {orders[n] for n, a in enumerate(answers) if not isinstance(a, DomainError)}
    for app in apps:
        stock = app.stock.item(item)
        assert (stock.on_hand, stock.reserved, set(stock.reservations)) == (150, 150, sold)


def test_a_sku_is_unique_however_many_create_it_at_once(fresh: Runtime, second: CRM) -> None:
    apps = [fresh.app, second]
    sku = _sku("U")
    answers = _race(20, lambda n: apps[n % 2].stock.create_item(ctx=WAREHOUSE, sku=sku.lower() if n % 3 else sku, name=f"商品{n}"))
    created = [a for a in answers if not isinstance(a, DomainError)]
    assert len(created) == 1
    assert all(isinstance(a, Conflict) and a.extra["stock_item_id"] == str(created[0].id) for a in answers if a not in created)


def test_receipts_from_two_processes_at_once_lose_no_update(fresh: Runtime, second: CRM) -> None:
    """Single-item commands are optimistic; one that loses a race takes turns for its next tries."""
    apps = [fresh.app, second]
    item = _item(fresh.app)
    answers = _race(80, lambda n: apps[n % 2].stock.receive(ctx=WAREHOUSE, item_id=item, quantity="1", unit_cost=str(n % 7)))
    assert not [a for a in answers if isinstance(a, DomainError)]
    stock = fresh.app.stock.item(item)
    assert (stock.on_hand, stock.version) == (80, 81)
    assert sorted(a.version for a in answers) == list(range(2, 82))


def test_a_buyer_who_cannot_get_a_turn_in_time_is_told_to_try_again(fresh: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_es.app import kernel

    monkeypatch.setattr(kernel, "TURN_WAIT_SECONDS", 1)
    item = _item(fresh.app, "5")
    fresh.app._hot_spots.collided([item])  # as after a collision: buyers take turns from the first try
    with fresh.database.connect() as other, other.transaction():  # another process holds the item's turn
        other.execute("SELECT pg_advisory_xact_lock(%s, %s)", (kernel.TURN_LOCK_CLASS, kernel.advisory_key(item)))
        with pytest.raises(ConcurrentModification) as busy:
            fresh.app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=uuid.uuid4(), lines=[(item, "1")])
    assert busy.value.extra == {"retry_after": 1} and "busy" in busy.value.detail
    fresh.app.stock.reserve_for_order(ctx=WAREHOUSE, order_id=uuid.uuid4(), lines=[(item, "1")])  # free again
    assert fresh.app.stock.item(item).reserved == 1
