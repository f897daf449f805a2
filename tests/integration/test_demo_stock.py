"""The demo stock catalogue: the same seed gives the same items and movements, loaded a chunk
per transaction (resumably), with every invariant of the stock item kept and realistic figures
on the read side: a category tree, two warehouses, alerts, an ABC spread."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from crm_es.demo import KEEPER, Size, seed
from crm_es.demo.stock import CHUNK, plan_catalogue
from crm_es.projections import stock
from crm_es.runtime import Runtime, running
from tests.conftest import settings_for

STOCKY = Size("stocky", customers=0, salespeople=4, cities=3, stock_items=CHUNK + 20)
"""No customers, two chunks of stock items."""


def _items(runtime: Runtime) -> dict[str, tuple[Any, ...]]:
    runtime.read_side.catch_up("stock")
    with runtime.app.connection() as conn, conn.cursor() as cur:
        page = stock.list_items(cur, limit=500)
    return {i["sku"]: (i["name"], i["category_id"] is not None, i["on_hand"], i["reserved"], i["in_transit"], i["average_cost"],
                       i["version"]) for i in page.items}  # fmt: skip


@pytest.fixture(scope="module")
def seeded(make_database) -> Iterator[tuple[Runtime, Any, list[tuple[int, int]]]]:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    with running(settings_for(make_database()), start_projections=False) as runtime:
        report = seed(runtime, size=STOCKY, stock_progress=lambda done, total: calls.append((done, total)))
        yield runtime, report, calls


def test_the_catalogue_is_planned_the_same_for_the_same_seed() -> None:
    assert plan_catalogue(200, 7, "small") == plan_catalogue(200, 7, "small")
    assert plan_catalogue(200, 7, "small") != plan_catalogue(200, 8, "small")
    skus = [p.sku for p in plan_catalogue(380, 7, "large")]
    assert len(set(skus)) == 380


def test_seeding_loads_the_items_in_chunks_with_a_warehouse_keeper(seeded) -> None:  # type: ignore[no-untyped-def]
    runtime, report, calls = seeded
    assert calls == [(0, CHUNK + 20), (CHUNK, CHUNK + 20), (CHUNK + 20, CHUNK + 20)]
    assert (report.stock.items, report.stock.existing, report.stock.warehouses) == (CHUNK + 20, 0, 2)
    assert report.stock.events > 20 * (CHUNK + 20)
    keeper = runtime.app.staff.user_by_username(KEEPER[0])
    assert keeper is not None
    items = _items(runtime)
    assert len(items) == CHUNK + 20 and all(has_category for _, has_category, *_ in items.values())
    with runtime.app.connection() as conn, conn.cursor() as cur:
        assert {w["code"] for w in stock.list_warehouses(cur) if w["items"]} == {"MAIN", "HZ"}
        assert all(c["depth"] in (1, 2) for c in stock.list_categories(cur))
        counted = cur.execute(f'SELECT DISTINCT counted_by FROM "{stock.SCHEMA}".movements WHERE kind = %s', ("stocktake",)).fetchall()
        assert [r["counted_by"] for r in counted] == [keeper.id]
        abc = stock.abc(cur, since=datetime(2000, 1, 1, tzinfo=timezone.utc), before=datetime(2200, 1, 1, tzinfo=timezone.utc))
        classes = {c["class"]: c["items"] for c in abc["classes"]}
        assert classes["A"] < classes["B"] + classes["C"]  # a few items make most of the value


def test_seeding_again_or_after_an_interruption_gives_the_same_items(seeded, make_database) -> None:  # type: ignore[no-untyped-def]
    runtime, _, _ = seeded
    again = seed(runtime, size=STOCKY)
    assert (again.stock.existing, again.stock.events) == (CHUNK + 20, 0)
    whole = _items(runtime)
    with running(settings_for(make_database()), start_projections=False) as other:

        def stop_after_the_first_chunk(done: int, total: int) -> None:
            if done == CHUNK:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            seed(other, size=STOCKY, stock_progress=stop_after_the_first_chunk)
        assert len(_items(other)) == CHUNK
        resumed = seed(other, size=STOCKY)
        assert (resumed.stock.existing, resumed.stock.items) == (CHUNK, CHUNK + 20)
        assert _items(other) == whole
