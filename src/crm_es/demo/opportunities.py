"""Demo opportunities (商机): three years of sales on the demo's customers, each opportunity
told as a story and recorded through the ``Opportunity`` aggregate.

An opportunity is opened on a customer by the customer's owner (a salesperson), at the first
stage of the pipeline or, for some, the second; it moves through the stages (forwards, now and
then skipping one, sometimes backwards), its amount and expected close date change, and it is
won, lost (for a reason of the ``lost_reasons`` list, often to a competitor) or still open;
a few lost ones are reopened and go on. Competitors named on opportunities and in losses are
the demo's competitor customers (those of the first chunk; a few are registered here when the
data set has none).

Dates: every event carries the moment it happens in its story (``occurring_at``): opportunities
are opened over the three years (``YEARS``) before the day of seeding, a little more often as
the years go by, and each step follows the one before after some days, on a weekday between
9:00 and 18:00 China time. A story stops at the start of the day of seeding: what would come
later has not happened yet, so recent opportunities are mostly still open. The funnel's
``as_of`` and the stage history read these moments. The events are recorded (and get their
positions in the log) when seeding runs, after the customers' registrations.

Determinism and resuming: the opportunities of a chunk of customers (``Size.chunk``) are
planned from their own random generator (seed, size, chunk), with ids derived from the
customer's id, and saved in one transaction. How many each customer may have comes from a
generator of its own per chunk, so the ids a chunk can have are known without planning it:
when any of them is stored, the chunk is (it was saved whole), and it is skipped.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from crm_es.aggregates.base import occurring_at, recording
from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.reference_defaults import LOST_REASONS
from crm_es.demo.data import BRANDS, CHINA_TIME, CITIES, INDUSTRIES, SOURCE_WEIGHTS, Size, team_assignment
from crm_es.demo.plan import (
    ID_NAMESPACE,
    Layout,
    PlannedCustomer,
    _company_profile,
    _plan_contacts,
    customer_id,
    make_layout,
    plan_chunk,
)

if TYPE_CHECKING:
    from crm_es.app import CRM

YEARS = 3
WINDOW_DAYS = 365 * YEARS
GROWTH = 0.6
"""Opportunities opened at the end of the window are this much more frequent than at its start."""

MEAN_PER_CUSTOMER = 2.8
"""Opportunities a customer may have, on average (a Poisson draw); fewer for some kinds (CAPS)."""
DENSITY = {"small": 2.5}
"""Sizes with more opportunities per customer: the small tour size gets a few hundred."""
CAPS = {"customer": None, "partner": 4, "potential": 3, "target": 2, "competitor": 0, "blacklist": 0}
"""At most so many opportunities on a customer of this kind (None: no limit)."""

AMOUNTS_BY_LEVEL = {"A": (80_000, 3_000_000), "B": (20_000, 600_000), "C": (5_000, 120_000), None: (20_000, 400_000)}
"""Yuan, drawn log-uniformly: what a deal with such a customer is worth."""

TITLES = (
    "{product}采购项目", "{year}年度{product}框架合同", "{product}试单", "扩产配套{product}", "替换现有{product}供应商",
    "{product}二期项目", "{product}备货订单", "{year}年{product}招标", "{product}年度集采", "新厂区{product}配套",
)  # fmt: skip

STAGE_DAYS = (10.0, 14.0, 18.0, 12.0)
"""Mean days before the next step, by stage (the last value for any later stage)."""
STALLED_CHANCE, STALLED_FACTOR = 0.08, 6.0
"""Some opportunities stall: their steps take this many times longer."""

LOST_REASON_WEIGHTS = {"价格过高": 25, "竞争对手胜出": 25, "需求取消": 10, "预算不足": 15, "决策延期": 12, "产品不符合需求": 8, "其他": 5}
LOST_NOTES = {
    "价格过高": "客户最终选择了报价更低的供应商，差价约百分之八",
    "竞争对手胜出": "对方给出了更长的账期和免费安装调试",
    "需求取消": "客户项目暂停，采购计划取消",
    "预算不足": "客户今年预算被削减，明年再议",
    "决策延期": "客户高层变动，决策推迟到下个财年",
    "产品不符合需求": "客户需要的规格我们暂时做不了",
    "其他": "客户转向集团统一采购",
}
LOST_NOTE_CHANCE = 0.4
REOPEN_LOST_CHANCE, REOPEN_WON_CHANCE = 0.06, 0.01
COMPETITOR_COUNT_WEIGHTS = {0: 50, 1: 35, 2: 15}
FALLBACK_COMPETITORS = 3
"""Competitor customers registered here when the data set has none."""

assert set(LOST_REASON_WEIGHTS) == set(LOST_REASONS), "a lost reason of the demo is not in the default list"


# The plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str  # stage, amount, close_date, won, lost, reopened
    value: Any = None  # stage key, amount, date, final amount (won), (reason, competitor, note) (lost)


@dataclass(frozen=True)
class PlannedOpportunity:
    id: UUID
    customer_id: UUID
    owner: str  # the customer's owner (a salesperson's username)
    title: str
    amount: str
    expected_close_date: date
    source: str | None
    stage: str
    competitor_ids: tuple[UUID, ...]
    opened_at: datetime
    steps: tuple[Step, ...]

    @property
    def events(self) -> int:
        return 1 + len(self.steps)


@dataclass(frozen=True)
class Competitor:
    id: UUID
    industry: str


def opportunity_id(customer: UUID, number: int) -> UUID:
    return uuid5(customer, f"opportunity:{number}")


def allowances(size: Size, seed: int, chunk: int) -> list[int]:
    """How many opportunities each customer of the chunk may have (before its kind's cap)."""
    rng = random.Random(f"{seed}:{size.name}:opportunity-counts:{chunk}")
    mean = MEAN_PER_CUSTOMER * DENSITY.get(size.name, 1.0)
    return [_poisson(rng, mean) for _ in size.indexes(chunk)]


def candidate_ids(size: Size, seed: int, chunk: int) -> list[UUID]:
    """Every id the chunk's opportunities can have (those it has are among them)."""
    counts = allowances(size, seed, chunk)
    return [
        opportunity_id(customer_id(size, seed, index), n) for index, count in zip(size.indexes(chunk), counts)
        for n in range(count)
    ]  # fmt: skip


def plan_opportunities(
    size: Size, seed: int, chunk: int, *, today: date, stages: Sequence[str], competitors: Sequence[Competitor],
    layout: Layout | None = None, customers: Sequence[PlannedCustomer] | None = None,
) -> tuple[PlannedOpportunity, ...]:  # fmt: skip
    """The opportunities of one chunk's customers, for a pipeline with ``stages``; none of their
    steps happens on or after ``today`` (China time). ``customers``: the chunk's plan, if at hand."""
    if customers is None:
        customers = plan_chunk(size, seed, chunk, today=today, layout=layout)
    rng = random.Random(f"{seed}:{size.name}:opportunities:{chunk}")
    end = datetime.combine(today, time(), CHINA_TIME)
    start = end - timedelta(days=WINDOW_DAYS)
    planned = []
    for customer, allowed in zip(customers, allowances(size, seed, chunk)):
        cap = CAPS.get(customer.kind)
        for number in range(allowed if cap is None else min(allowed, cap)):
            opportunity = _plan_opportunity(
                rng, opportunity_id(customer.id, number), customer, stages, competitors, start, end
            )
            if opportunity is not None:
                planned.append(opportunity)
    return tuple(planned)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _working_moment(rng: random.Random, moment: datetime) -> datetime:
    """The first weekday working moment (9:00 to 18:00 China time) at or after ``moment``, at a
    random minute when it has to move to a morning."""
    local = moment.astimezone(CHINA_TIME)
    if local.hour >= 18:
        local = datetime.combine(local.date() + timedelta(days=1), time(9), CHINA_TIME)
    elif local.hour < 9:
        local = datetime.combine(local.date(), time(9), CHINA_TIME)
    if local.weekday() >= 5:  # Saturday or Sunday: Monday morning
        local = datetime.combine(local.date() + timedelta(days=7 - local.weekday()), time(9), CHINA_TIME)
    if local.hour == 9 and local.minute == 0 and local.second == 0:
        local += timedelta(minutes=rng.randrange(60), seconds=rng.randrange(60))
    return local


def _after(rng: random.Random, moment: datetime, mean_days: float) -> datetime:
    """The next step's moment: some days after ``moment`` (at least a couple of hours)."""
    gap = timedelta(days=rng.expovariate(1 / mean_days)) + timedelta(hours=2)
    return _working_moment(rng, moment + gap)


def _amount(rng: random.Random, low: float, high: float) -> int:
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    step = 1000 if value >= 20_000 else 100
    return max(step, round(value / step) * step)


def _yuan(amount: int) -> str:
    return f"{amount}.00"


def _pick_competitors(rng: random.Random, industry: str, pool: Sequence[Competitor], count: int) -> tuple[UUID, ...]:
    same = [c.id for c in pool if c.industry == industry]
    chosen: list[UUID] = []
    for _ in range(min(count, len(pool))):
        candidates = [c for c in same if c not in chosen] if same and rng.random() < 0.7 else []
        candidates = candidates or [c.id for c in pool if c.id not in chosen]
        chosen.append(rng.choice(candidates))
    return tuple(chosen)


def _plan_opportunity(  # noqa: PLR0912, PLR0915 - one story, told step by step
    rng: random.Random, opportunity: UUID, customer: PlannedCustomer, stages: Sequence[str],
    pool: Sequence[Competitor], start: datetime, end: datetime,
) -> PlannedOpportunity | None:  # fmt: skip
    industry = customer.profile.get("industry") or "外贸"
    products = INDUSTRIES[industry].products if industry in INDUSTRIES else ("产品",)
    while True:  # the business grows: later moments are a little more likely
        share = rng.random()
        if rng.random() * (1 + GROWTH) < 1 + GROWTH * share:
            break
    opened = _working_moment(rng, start + (end - start - timedelta(days=1)) * share)
    if opened >= end:
        return None
    amount = opening_amount = _amount(rng, *AMOUNTS_BY_LEVEL.get(customer.profile.get("level"), AMOUNTS_BY_LEVEL[None]))
    close_date = opening_close_date = opened.date() + timedelta(days=rng.randint(30, 150))
    title = rng.choice(TITLES).format(product=rng.choice(products), year=opened.year)
    source = customer.profile.get("source")
    if source is None or rng.random() < 0.3:
        source = rng.choices(list(SOURCE_WEIGHTS), weights=list(SOURCE_WEIGHTS.values()))[0]
    count = rng.choices(list(COMPETITOR_COUNT_WEIGHTS), weights=list(COMPETITOR_COUNT_WEIGHTS.values()))[0]
    competitors = _pick_competitors(rng, industry, pool, count)
    last = len(stages) - 1
    at = 1 if last >= 1 and rng.random() < 0.2 else 0
    first_stage = stages[at]
    slow = STALLED_FACTOR if rng.random() < STALLED_CHANCE else 1.0

    steps: list[Step] = []
    moment, status, amount_changes = opened, "open", 0
    while True:
        mean = STAGE_DAYS[min(at, len(STAGE_DAYS) - 1)] * slow
        if status != "open":  # closed: perhaps reopened, some months later
            chance = REOPEN_LOST_CHANCE if status == "lost" else REOPEN_WON_CHANCE
            if rng.random() >= chance:
                break
            moment = _after(rng, moment, 60.0)
            if moment >= end:
                break
            steps.append(Step(moment, "reopened"))
            status = "open"
            continue
        moment = _after(rng, moment, mean)
        if moment >= end:
            break  # the rest of the story has not happened yet
        if at * 2 >= last and amount_changes < 2 and rng.random() < 0.25:
            new = _amount(rng, amount * 0.8, amount * 1.3)
            if new != amount:
                steps.append(Step(moment, "amount", _yuan(new)))
                amount, amount_changes = new, amount_changes + 1
                continue
        if moment.date() > close_date and rng.random() < 0.6:  # slipping: a new expected date
            close_date = moment.date() + timedelta(days=rng.randint(20, 90))
            steps.append(Step(moment, "close_date", close_date))
            continue
        # What happens next, by how far along the pipeline the opportunity is.
        if at == last:
            moves = {"win": 58, "back": 10 if at else 0, "lose": 32}
        elif at == last - 1:
            moves = {"advance": 60, "back": 6 if at else 0, "win": 10, "lose": 24}
        else:
            moves = {"advance": 62, "skip": 8, "back": 5 if at else 0, "lose": 25 if at else 30}
        move = rng.choices(list(moves), weights=list(moves.values()))[0]
        if move in ("advance", "skip", "back"):
            at = {"advance": at + 1, "skip": min(at + 2, last), "back": at - 1}[move]
            steps.append(Step(moment, "stage", stages[at]))
        elif move == "win":
            final = None
            if rng.random() < 0.4:
                final = _yuan(max(100, round(amount * rng.uniform(0.9, 1.05) / 100) * 100))
                amount = int(Decimal(final))
            steps.append(Step(moment, "won", final))
            status = "won"
        else:
            reason = rng.choices(list(LOST_REASON_WEIGHTS), weights=list(LOST_REASON_WEIGHTS.values()))[0]
            rival = None
            if pool and (reason == "竞争对手胜出" or (reason == "价格过高" and rng.random() < 0.5)):
                rival = rng.choice(competitors) if competitors else rng.choice(pool).id
            note = LOST_NOTES[reason] if rng.random() < LOST_NOTE_CHANCE else None
            steps.append(Step(moment, "lost", (reason, rival, note)))
            status = "lost"
    return PlannedOpportunity(
        id=opportunity, customer_id=customer.id, owner=customer.owner, title=title, amount=_yuan(opening_amount),
        expected_close_date=opening_close_date, source=source, stage=first_stage, competitor_ids=competitors,
        opened_at=opened, steps=tuple(steps),
    )


# Competitors -----------------------------------------------------------------------------------


def competitor_pool(
    size: Size, seed: int, *, today: date, layout: Layout | None = None
) -> tuple[tuple[Competitor, ...], tuple[PlannedCustomer, ...]]:
    """The competitors opportunities name: the competitor customers of the first chunk that has
    any. When the data set has none, FALLBACK_COMPETITORS competitor customers planned here (to
    be registered: the second value), in the first cities, each under a brand no customer of
    its city has."""
    spread = layout or make_layout(size, seed)
    for chunk in range(size.chunks):
        found = [c for c in plan_chunk(size, seed, chunk, today=today, layout=spread) if c.kind == "competitor"]
        if found:
            return tuple(Competitor(c.id, c.profile["industry"]) for c in found), ()
    planned = tuple(_fallback_competitor(size, seed, n, spread) for n in range(FALLBACK_COMPETITORS))
    return tuple(Competitor(c.id, c.profile["industry"]) for c in planned), planned


def _fallback_competitor(size: Size, seed: int, number: int, layout: Layout) -> PlannedCustomer:
    rng = random.Random(f"{seed}:{size.name}:competitor:{number}")
    city_index = number % size.cities
    city = CITIES[city_index]
    taken = {b for c, b in zip(layout.cities, layout.brands) if c == city_index}
    free = [b for b in range(len(BRANDS)) if b not in taken]
    first, second = BRANDS[free[number // size.cities]]
    industry = list(INDUSTRIES)[number % len(INDUSTRIES)]
    domain = f"{city.code}{first[1]}{second[1]}.example.cn"
    profile = _company_profile(rng, "competitor", city, industry, domain)
    customer = uuid5(ID_NAMESPACE, f"{seed}:{size.name}:competitor:{number}")
    contacts = _plan_contacts(rng, customer, "competitor", domain, company_phone=profile["phone"])
    owner = sorted(u for u, team in team_assignment(size).items() if team == city.team)[0]
    name = f"{city.short}{first[0]}{second[0]}{rng.choice(INDUSTRIES[industry].name_words)}有限公司"
    return PlannedCustomer(customer, owner, name, "competitor", profile, contacts, ())


# Loading ---------------------------------------------------------------------------------------


@dataclass
class OpportunitiesSeeded:
    """What seeding the opportunities found and did."""

    opportunities: int = 0  # written by this run
    events: int = 0  # opportunity events written by this run
    chunks: int = 0  # of customers, whose opportunities are there now
    existing_chunks: int = 0  # of those, found stored by an earlier run
    competitors: int = 0  # competitor customers the opportunities name
    registered_competitors: int = 0  # competitor customers registered by this run (none exist in the data set)
    outcomes: dict[str, int] = field(default_factory=dict)  # written by this run: open, won, lost
    seconds: float = 0.0


def seed_opportunities(
    app: CRM, *, size: Size, seed: int, today: date, owners: Mapping[str, UUID], layout: Layout,
    progress: Callable[[int, int], None] | None = None,
) -> OpportunitiesSeeded:  # fmt: skip
    """Load the opportunities of every chunk of customers not stored yet, a chunk per
    transaction, recorded through the aggregate with the moments of their stories.
    ``progress(done, total)`` counts customers whose opportunities are stored."""
    from crm_es.app.opportunities import LOST_REASONS as LOST_REASON_LIST
    from crm_es.demo import ACTOR, _build, _ReferenceCheck, _stored

    stages = app.opportunities.pipeline().keys
    for reason in LOST_REASON_WEIGHTS:  # as the lose command checks them, once each
        app.reference.check_profile({"reason": reason}, None, LOST_REASON_LIST)
    for source in SOURCE_WEIGHTS:
        app.reference.check_profile({"source": source}, None, (("source", "sources"),))
    report = OpportunitiesSeeded()
    started = monotonic()
    pool, to_register = competitor_pool(size, seed, today=today, layout=layout)
    report.competitors = len(pool)
    missing = [c for c in to_register if c.id not in _stored(app, [c.id for c in to_register])]
    if missing:
        references = _ReferenceCheck(app)
        with recording(ACTOR, correlation_id=str(uuid5(ID_NAMESPACE, f"{seed}:{size.name}:competitors"))):
            app.save(*(_build(c, owners, references) for c in missing))
        report.registered_competitors = len(missing)
    if progress is not None:
        progress(0, size.customers)
    for chunk in range(size.chunks):
        if _stored(app, candidate_ids(size, seed, chunk)):
            report.existing_chunks += 1
        else:
            planned = plan_opportunities(
                size, seed, chunk, today=today, stages=stages, competitors=pool, layout=layout
            )
            correlation = str(uuid5(ID_NAMESPACE, f"{seed}:{size.name}:opportunities:{chunk}"))
            with recording(ACTOR, correlation_id=correlation):
                opportunities = [_open(p, owners, stages) for p in planned]
            if opportunities:
                app.save(*opportunities)  # one transaction: the chunk is stored whole or not at all
            report.opportunities += len(planned)
            report.events += sum(p.events for p in planned)
            for o in opportunities:
                report.outcomes[o.status] = report.outcomes.get(o.status, 0) + 1
        report.chunks += 1
        report.seconds = monotonic() - started
        if progress is not None:
            progress(size.indexes(chunk).stop, size.customers)
    return report


def _open(planned: PlannedOpportunity, owners: Mapping[str, UUID], stages: Sequence[str]) -> Opportunity:
    """The opportunity as its story makes it: the aggregate's own methods, each event stamped
    with its moment in the story; pending until it is saved."""
    with occurring_at(planned.opened_at):
        opportunity = Opportunity.open(
            customer_id=planned.customer_id, title=planned.title, amount=planned.amount,
            expected_close_date=planned.expected_close_date, owner_id=owners[planned.owner], stages=stages,
            stage=planned.stage, source=planned.source, competitor_ids=planned.competitor_ids,
            opportunity_id=planned.id,
        )  # fmt: skip
    for step in planned.steps:
        with occurring_at(step.at):
            if step.kind == "stage":
                opportunity.move_to(step.value, stages)
            elif step.kind == "amount":
                opportunity.change_amount(step.value)
            elif step.kind == "close_date":
                opportunity.change_close_date(step.value)
            elif step.kind == "won":
                opportunity.win(step.value)
            elif step.kind == "lost":
                reason, competitor, note = step.value
                opportunity.lose(reason=reason, competitor_id=competitor, note=note)
            elif step.kind == "reopened":
                opportunity.reopen(stages)
            else:
                raise ValueError(f"unknown step {step.kind!r}")
    return opportunity
