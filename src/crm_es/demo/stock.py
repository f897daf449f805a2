"""Demo stock: the catalogue of a Ningbo trader of industrial supplies (五金, 紧固件, 电子元件,
包装材料, 涂料, 劳保, 面料, 电线电缆, 管件阀门), hundreds of items in a category tree across two
warehouses, and half a year of their movements.

The same seed gives the same catalogue and movements. Categories and the second warehouse are
made through the application's commands with idempotency keys (once, however often seeding
runs). Each item is built as a ``StockItem`` aggregate through its own methods, so every
invariant holds (never more issued, reserved or shipped than available), and its whole history
is planned from a ``random.Random`` of its own (seeded with the seed, the size and its SKU):
an opening stock, 26 weeks of demand (issues to production and sales, orders reserved and
shipped), purchases when available falls to the reorder level at costs that drift, returns
(restocked or scrapped), a stocktake with small differences, and goods on their way. Demand
follows a long tail, so a few items make most of the consumption value (the ABC report shows
it); some items end short and some overstocked (the alerts show them). Items come in chunks
(``CHUNK``) saved one transaction each; items already stored are left out, so seeding again
writes nothing and an interrupted seed continues where it stopped.

Events are recorded when the seed runs (an event's time is when it was written, as for any
import); purchase references carry the week they stand for (``PO-W07-…``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from crm_es.aggregates.base import recording
from crm_es.aggregates.stock import StockItem, unit_decimals
from crm_es.aggregates.stock_catalogue import warehouse_id
from crm_es.app import CRM, Context, Idempotency
from crm_es.app.stock import DEFAULT_WAREHOUSE_ID
from crm_es.errors import InvalidInput

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

CHUNK = 50
"""Items per transaction."""
WEEKS = 26
SECOND_WAREHOUSE = ("HZ", "杭州萧山仓", "杭州市萧山区经济技术开发区建设一路 66 号")
ISSUE_REASONS = ("生产领料", "生产领料", "车间领用", "样品", "内部领用", "维修领用")
ORDER_SHARE = 0.45
"""Share of the weeks' demand that comes as orders (reserved, then shipped)."""


@dataclass(frozen=True)
class Family:
    """Products of one kind: SKU prefix, name pattern, unit, cost range, variants."""

    category: str  # path
    prefix: str
    name: str  # with {v}
    unit: str
    cost: tuple[float, float]
    variants: tuple[str, ...]
    demand: float = 1.0  # relative weekly demand


def _sizes(*values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def _grid(pattern: str, firsts: tuple[Any, ...], seconds: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(pattern.format(a, b) for a in firsts for b in seconds)


FAMILIES: tuple[Family, ...] = (
    Family("紧固件/螺栓", "LS", "六角螺栓 {v} 镀锌", "件", (0.06, 1.8), _grid("M{}×{}", (4, 5, 6, 8, 10, 12), (12, 16, 20, 25, 30, 40, 50)), 40),
    Family("紧固件/螺栓", "LSB", "不锈钢六角螺栓 {v}", "件", (0.2, 3.5), _grid("M{}×{}", (6, 8, 10, 12), (20, 30, 40, 60)), 12),
    Family("紧固件/螺母", "LM", "六角螺母 {v}", "件", (0.02, 0.6), _grid("M{}{}", (4, 5, 6, 8, 10, 12, 16), ("", " 不锈钢")), 35),
    Family("紧固件/螺钉", "ZG", "十字自攻螺钉 {v}", "件", (0.01, 0.15), _grid("ST{}×{}", (2.9, 3.5, 4.2, 4.8), (13, 16, 19, 25, 32)), 50),
    Family("紧固件/垫圈", "DQ", "平垫圈 {v}", "件", (0.005, 0.12), _grid("M{}{}", (4, 5, 6, 8, 10, 12), ("", " 弹簧")), 30),
    Family("紧固件/膨胀螺栓", "PZ", "膨胀螺栓 {v}", "套", (0.5, 4.5), _grid("M{}×{}", (6, 8, 10, 12), (60, 80, 100)), 8),
    Family("五金工具/手动工具", "BS", "开口扳手 {v}", "把", (6, 28), _sizes("8-10", "10-12", "12-14", "14-17", "17-19", "19-22", "22-24"), 1.2),
    Family("五金工具/手动工具", "HD", "活动扳手 {v}", "把", (12, 45), _sizes("6寸", "8寸", "10寸", "12寸", "15寸"), 1),
    Family("五金工具/手动工具", "LSD", "螺丝刀 {v}", "把", (3, 18), _grid("{} {}", ("十字", "一字"), ("PH0", "PH1", "PH2", "3×75", "5×100", "6×150")), 2),
    Family("五金工具/手动工具", "QZ", "{v}", "把", (9, 38), _grid("{}钳 {}", ("钢丝", "尖嘴", "斜口"), ("6寸", "7寸", "8寸")), 1.2),
    Family("五金工具/电动工具", "DZ", "{v}", "台", (120, 980), _sizes("充电手电钻 12V", "充电手电钻 20V", "冲击钻 710W", "角磨机 100型",
                                                              "角磨机 125型", "电锤 26mm", "电圆锯 185mm", "热风枪 2000W"), 0.15),
    Family("五金工具/耗材", "QG", "树脂切割片 {v}", "片", (1.2, 6), _sizes("105×1.2", "105×2.5", "125×1.2", "350×3"), 10),
    Family("五金工具/耗材", "ZT", "{v}", "支", (1.5, 22), _grid("{}钻头 {}", ("麻花", "冲击"), ("3mm", "4mm", "5mm", "6mm", "8mm", "10mm", "12mm")), 6),
    Family("电子元件/电阻", "R", "贴片电阻 0805 {v}", "个", (0.002, 0.01), _sizes("10Ω", "100Ω", "220Ω", "470Ω", "1kΩ", "2.2kΩ", "4.7kΩ",
                                                                          "10kΩ", "47kΩ", "100kΩ"), 120),
    Family("电子元件/电容", "C", "{v}", "个", (0.005, 0.8), _sizes("贴片电容 0805 100nF", "贴片电容 0805 1uF", "贴片电容 0805 10uF",
                                                            "电解电容 16V 100uF", "电解电容 25V 470uF", "电解电容 50V 1000uF"), 60),
    Family("电子元件/连接器", "LJ", "{v}", "个", (0.08, 3.5), _sizes("排针 2.54mm 1×40", "排母 2.54mm 1×40", "USB-C 母座 16P", "XH2.54 端子 4P",
                                                              "JST-PH 2P 线束", "DB9 公头", "RJ45 网口座", "接线端子 KF301-2P"), 25),
    Family("电子元件/继电器", "JD", "继电器 {v}", "个", (2.5, 18), _sizes("5V 10A", "12V 10A", "24V 10A", "12V 30A 汽车"), 4),
    Family("包装材料/纸箱", "ZX", "{v}", "个", (0.6, 6.5), _grid("{}瓦楞纸箱 {}", ("三层", "五层"), ("200×150×100", "300×200×150", "400×300×250",
                                                                                  "500×400×300", "600×400×400")), 20),
    Family("包装材料/胶带", "FX", "封箱胶带 {v}", "卷", (2.2, 6), _sizes("透明 48mm×100m", "米黄 48mm×100m", "透明 60mm×150m", "警示 48mm×33m"), 15),
    Family("包装材料/薄膜", "CR", "{v}", "kg", (11, 19), _sizes("缠绕膜 50cm 2.5kg/卷", "缠绕膜 50cm 手用"), 6),
    Family("包装材料/薄膜", "QP", "气泡膜 {v}", "米", (0.4, 1.6), _sizes("双层 60cm", "双层 100cm", "三层 120cm"), 30),
    Family("化工涂料/油漆", "YQ", "{v}", "桶", (65, 320), _grid("{} {}", ("醇酸调和漆", "环氧地坪漆", "防锈底漆"), ("白 15kg", "灰 15kg", "红 15kg")), 0.8),
    Family("化工涂料/胶粘剂", "JS", "{v}", "瓶", (2.5, 38), _sizes("502 瓦特胶 20g", "AB 胶 80ml", "玻璃胶 透明 300ml", "结构胶 590ml"), 5),
    Family("化工涂料/润滑油", "RH", "{v}", "升", (12, 48), _sizes("液压油 46#", "机械油 32#", "导轨油 68#", "切削液 乳化"), 4),
    Family("劳保用品/手套", "ST", "{v}", "双", (0.8, 12), _sizes("浸胶手套", "棉纱手套 600g", "丁腈手套", "防割手套 5级", "电焊手套"), 30),
    Family("劳保用品/防护", "AQ", "{v}", "顶", (9, 35), _grid("安全帽 {} {}", ("ABS", "玻璃钢"), ("白", "黄", "红", "蓝")), 1),
    Family("劳保用品/防护", "KZ", "{v}", "盒", (12, 60), _sizes("一次性口罩 50只", "KN95 口罩 20只", "防尘口罩 3M 9001 50只"), 3),
    Family("劳保用品/工作服", "GZ", "工作服 {v}", "套", (45, 120), _grid("{} {}", ("涤棉", "纯棉"), ("M", "L", "XL", "XXL")), 1),
    Family("纺织面料/涤纶", "DL", "涤纶面料 {v}", "米", (4.5, 18), _grid("{} {}", ("春亚纺", "牛津布 600D", "塔丝隆"), ("黑", "藏青", "卡其")), 35),
    Family("纺织面料/棉布", "MB", "纯棉布 {v}", "米", (9, 32), _sizes("平纹 40支", "斜纹 32支", "帆布 10安", "牛仔 12oz"), 20),
    Family("电线电缆/电线", "BV", "BV 铜芯线 {v}", "米", (0.9, 12), _sizes("1.5平方", "2.5平方", "4平方", "6平方", "10平方"), 60),
    Family("电线电缆/网线", "WX", "{v}", "箱", (210, 680), _sizes("超五类网线 305米", "六类网线 305米", "室外网线 305米"), 0.5),
    Family("管件阀门/阀门", "QF", "{v}", "个", (12, 260), _grid("{}球阀 {}", ("铜", "不锈钢"), ("DN15", "DN20", "DN25", "DN32", "DN40", "DN50")), 2),
    Family("管件阀门/管件", "WT", "{v}", "个", (0.6, 9), _grid("PVC {} {}", ("90°弯头", "三通", "直接"), ("20mm", "25mm", "32mm", "50mm")), 25),
    Family("管件阀门/管材", "PVC", "PVC 给水管 {v}", "根", (8, 55), _sizes("20mm×4m", "25mm×4m", "32mm×4m", "50mm×4m"), 6),
)


@dataclass(frozen=True)
class PlannedItem:
    sku: str
    name: str
    category: str
    unit: str
    warehouse: str  # code
    cost: Decimal
    demand: float  # mean weekly demand, in units

    @property
    def id(self) -> UUID:
        return StockItem.create_id(self.sku)


def plan_catalogue(count: int, seed: int, size_name: str) -> list[PlannedItem]:
    """The ``count`` items of the data set: every family's variants, most in the main warehouse,
    some in the second, some in both (another SKU), in a fixed order."""
    rng = random.Random(f"{seed}:{size_name}:stock:catalogue")
    items: list[PlannedItem] = []
    for family in FAMILIES:
        for n, variant in enumerate(family.variants):
            low, high = family.cost
            cost = Decimal(str(math.exp(rng.uniform(math.log(low), math.log(high))))).quantize(
                Decimal("0.0001") if high < 1 else Decimal("0.01"), ROUND_HALF_UP)  # fmt: skip
            # A long tail: a few variants sell far more than the rest.
            demand = family.demand * rng.paretovariate(1.3) * rng.uniform(0.3, 1.2)
            sku = f"{family.prefix}-{n + 1:03d}"
            name = family.name.format(v=variant)
            where = "HZ" if rng.random() < 0.25 else "MAIN"
            items.append(PlannedItem(f"{sku}-{where}" if where == "HZ" else sku, name, family.category, family.unit, where,
                                     cost, demand))  # fmt: skip
            if rng.random() < 0.3:  # kept in both warehouses
                other = "MAIN" if where == "HZ" else "HZ"
                items.append(PlannedItem(f"{sku}-{other}" if other == "HZ" else sku, name, family.category, family.unit,
                                         other, cost, demand * rng.uniform(0.3, 0.8)))  # fmt: skip
    assert len({i.sku for i in items}) == len(items), "two demo items share a SKU"
    if count > len(items):
        raise ValueError(f"the demo catalogue has {len(items)} items; {count} asked")
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def categories_of(items: list[PlannedItem]) -> list[str]:
    """Every category path the items need, parents first."""
    paths: dict[str, None] = {}
    for item in items:
        parts = item.category.split("/")
        for depth in range(1, len(parts) + 1):
            paths.setdefault("/".join(parts[:depth]))
    return list(paths)


# Building an item's history ------------------------------------------------------------------------


def _quantity(value: float, decimals: int) -> Decimal:
    step = Decimal(1).scaleb(-decimals)
    return max(Decimal(str(value)).quantize(step, ROUND_HALF_UP), Decimal(0))


def build_item(
    planned: PlannedItem, *, seed: int, size_name: str, category_id: UUID, warehouse: UUID, counter: UUID
) -> StockItem:
    """The item and half a year of its movements, through its own methods."""
    rng = random.Random(f"{seed}:{size_name}:stock:{planned.sku}")
    decimals = unit_decimals(planned.unit)

    def q(value: float) -> Decimal:
        return _quantity(value, decimals)

    weekly = planned.demand
    reorder = q(max(weekly * 2, 1)) if rng.random() < 0.9 else None
    maximum = q(max(weekly * 8, 5)) if reorder is not None else None
    if reorder is not None and maximum is not None and maximum <= reorder:
        maximum = reorder + q(max(weekly * 4, 1))
    item = StockItem.create(
        sku=planned.sku, name=planned.name, category_id=category_id, warehouse_id=warehouse, unit=planned.unit,
        reorder_level=reorder, max_level=maximum, unit_cost=planned.cost,
    )  # fmt: skip
    target = maximum if maximum is not None else q(max(weekly * 8, 5))
    item.receive(quantity=max(q(float(target) * rng.uniform(0.5, 0.95)), q(1)), unit_cost=planned.cost, reference="期初库存")
    cost = float(planned.cost)
    orders: list[UUID] = []
    fate = rng.random()  # the last weeks: ~8% end short, ~6% overstocked, ~10% with goods on the way
    for week in range(1, WEEKS + 1):
        demand = q(max(rng.gauss(weekly, weekly * 0.5), 0))
        if demand > 0 and item.available > 0:
            demand = min(demand, item.available)
            if rng.random() < ORDER_SHARE:
                order = uuid5(item.id, f"{seed}:{size_name}:order:{week}")
                item.reserve(order_id=order, quantity=demand)
                orders.append(order)
                if week < WEEKS - 1 or rng.random() < 0.5:  # the last orders may still wait for delivery
                    item.ship(order_id=order, quantity=demand)
            else:
                item.issue(quantity=demand, reason=rng.choice(ISSUE_REASONS))
        if orders and rng.random() < 0.04:  # a customer sends something back
            back = q(max(float(demand or 1) * rng.uniform(0.05, 0.3), 1))
            item.take_back(order_id=rng.choice(orders), quantity=back, restock=rng.random() < 0.7,
                           reason=rng.choice(("包装破损", "规格不符", "质量问题", "客户多订")))  # fmt: skip
        if week == 13 and item.on_hand > 0:  # the half-year stocktake: small differences
            counted = q(float(item.on_hand) * rng.uniform(0.985, 1.01))
            item.count(counted_quantity=max(counted, item.reserved), counted_by=counter, note="半年度盘点")
        cost *= rng.uniform(0.985, 1.02)  # prices drift
        last_weeks = week > WEEKS - 3
        if reorder is not None and item.available <= reorder and not (last_weeks and fate < 0.08):
            lot = q(float(target) - float(item.available)) or q(1)
            if last_weeks and 0.18 <= fate < 0.28:  # ordered, and on its way
                inbound = uuid5(item.id, f"{seed}:{size_name}:inbound:{week}")
                item.announce_inbound(inbound_id=inbound, quantity=lot, unit_cost=_cost(cost), reference=f"PO-W{week:02d}-{planned.sku}")
                if rng.random() < 0.4:
                    item.arrive(inbound_id=inbound, quantity=max(q(float(lot) / 2), q(1)) if lot > 1 else lot)
            else:
                item.receive(quantity=lot, unit_cost=_cost(cost), reference=f"PO-W{week:02d}-{planned.sku}")
    if maximum is not None and 0.08 <= fate < 0.14:  # a bulk buy at a good price: overstocked
        bulk = max(maximum - item.on_hand, q(0)) + q(float(maximum) * rng.uniform(0.1, 0.5)) + q(1)
        item.receive(quantity=bulk, unit_cost=_cost(cost * 0.9), reference="PO-BULK")
    return item


def _cost(value: float) -> Decimal:
    step = Decimal("0.0001") if value < 1 else Decimal("0.01")
    return Decimal(str(value)).quantize(step, ROUND_HALF_UP)


# Loading -------------------------------------------------------------------------------------------


@dataclass
class StockSeeded:
    items: int  # of the data set: all of them are there now
    existing: int = 0  # of those, found stored by an earlier run
    events: int = 0  # written by this run
    categories: int = 0
    warehouses: int = 2
    departments: int = 1  # the warehouse (仓储部)
    users: int = 1  # its keeper


def seed_stock(
    app: CRM,
    *,
    count: int,
    seed: int,
    size_name: str,
    actor: str,
    stored: Callable[[list[UUID]], set[UUID]],
    counter: UUID,
    progress: Callable[[int, int], None] | None = None,
) -> StockSeeded:
    """Load the demo catalogue: categories and the second warehouse once, then the items with
    their movements a chunk per transaction, leaving out those already stored."""
    report = StockSeeded(items=count)
    if not count:
        return report
    planned = plan_catalogue(count, seed, size_name)

    def once(key: str) -> Context:
        key = f"seed-demo:stock:{key}"
        return Context(actor=actor, idempotency=Idempotency(key, key))

    code, name, address = SECOND_WAREHOUSE
    if warehouse_id(code) not in app.stock.catalogue().warehouses:
        app.stock.add_warehouse(ctx=once(f"warehouse:{code}"), code=code, name=name, address=address)
    warehouses = {"MAIN": DEFAULT_WAREHOUSE_ID, code: warehouse_id(code)}
    categories: dict[str, UUID] = {}
    for path in categories_of(planned):
        parent, _, leaf = path.rpartition("/")
        existing = _find(app, path)
        categories[path] = existing or app.stock.add_category(
            ctx=once(f"category:{path}"), name=leaf, parent_id=categories[parent] if parent else None
        ).id
    report.categories = len(categories)
    if progress is not None:
        progress(0, count)
    for start, chunk in _chunks(planned):
        done = stored([p.id for p in chunk])
        report.existing += len(done)
        todo = [p for p in chunk if p.id not in done]
        if todo:
            with recording(actor, correlation_id=str(uuid5(todo[0].id, f"{seed}:{size_name}:stock-chunk:{start}"))):
                items = [build_item(p, seed=seed, size_name=size_name, category_id=categories[p.category],
                                    warehouse=warehouses[p.warehouse], counter=counter) for p in todo]  # fmt: skip
            report.events += sum(len(i.pending_events) for i in items)
            app.save(*items)  # one transaction: the chunk is stored whole or not at all
        if progress is not None:
            progress(start + len(chunk), count)
    return report


def _find(app: CRM, path: str) -> UUID | None:
    try:
        return app.stock.catalogue().find_path(path)
    except InvalidInput:  # not there yet
        return None


def _chunks(items: list[PlannedItem]) -> Iterator[tuple[int, list[PlannedItem]]]:
    for start in range(0, len(items), CHUNK):
        yield start, items[start : start + CHUNK]
