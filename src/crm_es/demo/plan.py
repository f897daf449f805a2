"""The demo data's plan: ids, planned records, the layout, and the generators of each chunk."""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid5

from crm_es.demo.data import (
    ACTIVITY_KIND_WEIGHTS,
    ACTIVITY_WINDOW_DAYS,
    BRANDS,
    CHINA_TIME,
    CITIES,
    COMPANY_MAILBOXES,
    CONTACT_COUNT_WEIGHTS,
    CONTACT_LINK_CHANCE,
    CREDIT_LIMIT_BY_LEVEL,
    DECISION_MAKERS,
    EMPLOYEES_BY_LEVEL,
    GIVEN_NAMES,
    HOBBIES,
    INDUSTRIES,
    KIND_WEIGHTS,
    LEVEL_WEIGHTS,
    MAX_ACTIVITIES_BY_KIND,
    MOBILE_PREFIXES,
    NEXT_STEP_CHANCE,
    NEXT_STEPS,
    NOTES_BY_KIND,
    OTHER_TITLES,
    SALESPEOPLE,
    SIZES,
    SOURCE_WEIGHTS,
    SUMMARIES,
    SURNAMES,
    TAGS_BY_KIND,
    UNNAMED_CONTACT,
    City,
    Size,
    team_assignment,
    teams_of,
)

T = TypeVar("T")

DEFAULT_SEED = 20261124
ID_NAMESPACE = UUID("5d0f3c8e-7b8a-4f0e-9a52-3c1e6b2d9f47")
"""uuid5 namespace of the demo data's customer, contact and activity ids."""


# The plan --------------------------------------------------------------------------------------


def customer_id(size: Size, seed: int, index: int) -> UUID:
    """The id of the customer numbered ``index`` in the data set of this size and seed."""
    return uuid5(ID_NAMESPACE, f"{seed}:{size.name}:{index}")


def _part_id(customer: UUID, part: str, number: int) -> UUID:
    return uuid5(customer, f"{part}:{number}")


@dataclass(frozen=True)
class PlannedContact:
    id: UUID
    fields: dict[str, Any]


@dataclass(frozen=True)
class PlannedActivity:
    id: UUID
    kind: str
    occurred_at: datetime
    summary: str
    next_step: str | None
    contact: int | None  # index into the customer's contacts


@dataclass(frozen=True)
class PlannedCustomer:
    id: UUID
    owner: str  # the salesperson's username
    name: str
    kind: str
    profile: dict[str, Any]
    contacts: tuple[PlannedContact, ...]
    activities: tuple[PlannedActivity, ...]

    @property
    def events(self) -> int:
        return 1 + len(self.contacts) + len(self.activities)


@dataclass(frozen=True)
class Layout:
    """Where each customer of a data set is (an index into CITIES) and which brand it trades
    under (an index into BRANDS): drawn for the whole data set at once, a brand at most once
    per city, so that names and web domains are unique however the chunks are planned. Two
    compact arrays: 100,000 customers take less than a megabyte."""

    cities: array[int]
    brands: array[int]


def make_layout(size: Size, seed: int) -> Layout:
    cities = CITIES[: size.cities]
    rng = random.Random(f"{seed}:{size.name}:cities")
    city_of = rng.choices(range(len(cities)), weights=[c.weight for c in cities], k=size.customers)
    brands: dict[int, Iterator[int]] = {}
    for city, count in Counter(city_of).items():
        if count > len(BRANDS):
            raise ValueError(
                f"{size.name}: {count} customers in {cities[city].city}, more than the {len(BRANDS)} brands there are"
            )
        brands[city] = iter(random.Random(f"{seed}:{size.name}:brands:{city}").sample(range(len(BRANDS)), count))
    return Layout(array("B", city_of), array("I", (next(brands[city]) for city in city_of)))


def plan_chunk(
    size: Size, seed: int, chunk: int, *, today: date, layout: Layout | None = None
) -> tuple[PlannedCustomer, ...]:
    """The customers of one chunk, with their contacts and activities; activities end before
    ``today``. ``layout`` is the size's (computed if not given: pass it when planning many)."""
    spread = layout or make_layout(size, seed)
    teams = team_assignment(size)
    members: dict[str, list[str]] = {}
    for username, team in teams.items():
        members.setdefault(team, []).append(username)
    rng = random.Random(f"{seed}:{size.name}:chunk:{chunk}")
    customers = []
    for index in size.indexes(chunk):
        city = CITIES[spread.cities[index]]
        first, second = BRANDS[spread.brands[index]]
        owner = rng.choice(members[city.team])
        brand = (first[0] + second[0], first[1] + second[1])
        customers.append(
            _plan_customer(rng, customer_id(size, seed, index), city, brand, owner=owner, today=today)
        )
    return tuple(customers)


@dataclass(frozen=True)
class Plan:
    salespeople: tuple[tuple[str, str], ...]
    teams: tuple[str, ...]
    customers: tuple[PlannedCustomer, ...]

    def summary(self) -> dict[str, int]:
        return {
            "departments": 1 + len(self.teams),
            "users": len(self.salespeople) + 1,
            "customers": len(self.customers),
            "contacts": sum(len(c.contacts) for c in self.customers),
            "activities": sum(len(c.activities) for c in self.customers),
        }


def make_plan(size: str | Size = "small", *, seed: int = DEFAULT_SEED, today: date) -> Plan:
    """The whole data set of ``size``, the same for the same seed; activities end before
    ``today``. All of it at once: for the small sizes and for tests (``seed`` plans a chunk
    at a time)."""
    size = get_size(size)
    spread = make_layout(size, seed)
    customers = [c for chunk in range(size.chunks) for c in plan_chunk(size, seed, chunk, today=today, layout=spread)]
    return Plan(SALESPEOPLE[: size.salespeople], teams_of(size), tuple(customers))


def get_size(size: str | Size) -> Size:
    if isinstance(size, Size):
        return size
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}") from None


def _weighted(rng: random.Random, weights: Mapping[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _chance(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


def _plan_customer(
    rng: random.Random, customer: UUID, city: City, brand: tuple[str, str], *, owner: str, today: date
) -> PlannedCustomer:
    kind = _weighted(rng, KIND_WEIGHTS)
    industry_name = _weighted(rng, city.industries)
    industry = INDUSTRIES[industry_name]
    brand_name, brand_pinyin = brand
    name = f"{city.short}{brand_name}{rng.choice(industry.name_words)}有限公司"
    domain = f"{city.code}{brand_pinyin}.example.cn"
    profile = _company_profile(rng, kind, city, industry_name, domain)
    contacts = _plan_contacts(rng, customer, kind, domain, company_phone=profile["phone"])
    activities = _plan_activities(rng, customer, kind, contacts, industry.products, today)
    return PlannedCustomer(customer, owner, name, kind, profile, contacts, activities)


def _company_profile(rng: random.Random, kind: str, city: City, industry: str, domain: str) -> dict[str, Any]:
    level = None if kind == "competitor" else _weighted(rng, LEVEL_WEIGHTS)
    employees = rng.randint(*EMPLOYEES_BY_LEVEL[level])
    district = rng.choice(list(city.districts))
    products = rng.sample(INDUSTRIES[industry].products, 2)
    profile: dict[str, Any] = {
        "industry": industry,
        "source": None if kind == "competitor" else _weighted(rng, SOURCE_WEIGHTS),
        "level": level,
        "country": "中国",
        "province": city.province,
        "city": city.city,
        "address": f"{district}{rng.choice(city.districts[district])}{rng.randint(1, 999)}号",
        "phone": _landline(rng, city),
        "fax": _landline(rng, city) if _chance(rng, 0.3) else None,
        "email": f"{rng.choice(COMPANY_MAILBOXES)}@{domain}" if _chance(rng, 0.7) else None,
        "website": f"https://www.{domain}" if _chance(rng, 0.8) else None,
        "employees": employees,
        "annual_revenue": _yuan(employees * rng.randint(25, 90) * 10_000) if _chance(rng, 0.6) else None,
        "credit_limit": _credit_limit(rng, kind, level),
        "tags": rng.sample(TAGS_BY_KIND[kind], rng.randint(0, 3)),
        "notes": NOTES_BY_KIND[kind].format(product=products[0], other=products[1]) if _chance(rng, 0.5) else None,
    }
    return {field: value for field, value in profile.items() if value is not None}


def _credit_limit(rng: random.Random, kind: str, level: str | None) -> str | None:
    granted = kind in ("customer", "partner") or (kind == "potential" and _chance(rng, 0.3))
    if not granted or level is None:
        return None
    return _yuan(rng.randint(*CREDIT_LIMIT_BY_LEVEL[level]) * 10_000)


def _yuan(amount: int) -> str:
    return f"{amount}.00"


def _landline(rng: random.Random, city: City) -> str:
    return f"{city.area_code}-{rng.choice(city.landline_leads)}{rng.randint(0, 9_999_999):07d}"


def _mobile(rng: random.Random) -> str:
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"


def _plan_contacts(
    rng: random.Random, customer: UUID, kind: str, domain: str, *, company_phone: str
) -> tuple[PlannedContact, ...]:
    count = rng.choices((1, 2, 3, 4), weights=CONTACT_COUNT_WEIGHTS[kind])[0]
    titles = [rng.choice(DECISION_MAKERS), *rng.sample(OTHER_TITLES, count - 1)]
    contacts: list[PlannedContact] = []
    taken: set[str] = set()  # pinyin names, which make the contacts' email addresses
    for number, (title, department) in enumerate(titles):
        name, pinyin = _person(rng)
        while pinyin in taken:
            name, pinyin = _person(rng)
        taken.add(pinyin)
        contact: dict[str, Any] = {
            "name": name,
            "title": title,
            "department": department,
            "mobile": _mobile(rng) if _chance(rng, 0.9) else None,
            "phone": f"{company_phone} 转 {rng.randint(801, 899)}" if _chance(rng, 0.4) else None,
            "email": f"{pinyin}@{domain}" if _chance(rng, 0.6) else None,
            "birthday": _birthday(rng) if _chance(rng, 0.35) else None,
            "hobbies": "、".join(rng.sample(HOBBIES, rng.randint(1, 2))) if _chance(rng, 0.25) else None,
        }
        fields = {field: value for field, value in contact.items() if value is not None}
        contacts.append(PlannedContact(_part_id(customer, "contact", number), fields))
    return tuple(contacts)


def _person(rng: random.Random) -> tuple[str, str]:
    surname, surname_pinyin = rng.choice(SURNAMES)
    given, given_pinyin = rng.choice(GIVEN_NAMES)
    return surname + given, surname_pinyin + given_pinyin


def _birthday(rng: random.Random) -> date:
    return date(1962, 1, 1) + timedelta(days=rng.randint(0, 365 * 36))


def _plan_activities(
    rng: random.Random, customer: UUID, kind: str, contacts: Sequence[PlannedContact],
    products: Sequence[str], today: date,
) -> tuple[PlannedActivity, ...]:  # fmt: skip
    drawn = []
    for _ in range(rng.randint(0, MAX_ACTIVITIES_BY_KIND[kind])):
        activity_kind = _weighted(rng, ACTIVITY_KIND_WEIGHTS)
        contact = rng.randrange(len(contacts)) if _chance(rng, CONTACT_LINK_CHANCE) else None
        if contact is None:
            who = UNNAMED_CONTACT
        else:
            who = f"{contacts[contact].fields['title']}{contacts[contact].fields['name']}"
        summary = rng.choice(SUMMARIES[activity_kind]).format(who=who, product=rng.choice(products))
        next_step = rng.choice(NEXT_STEPS) if _chance(rng, NEXT_STEP_CHANCE) else None
        drawn.append((activity_kind, _working_time(rng, today), summary, next_step, contact))
    drawn.sort(key=lambda a: a[1])
    return tuple(
        PlannedActivity(_part_id(customer, "activity", number), *activity) for number, activity in enumerate(drawn)
    )


def _working_time(rng: random.Random, today: date) -> datetime:
    """A weekday working hour in China time, within the activity window before ``today``."""
    day = today - timedelta(days=rng.randint(1, ACTIVITY_WINDOW_DAYS - 3))
    if day.weekday() >= 5:  # Saturday or Sunday: the Friday before
        day -= timedelta(days=day.weekday() - 4)
    at = time(rng.randint(9, 17), rng.choice((0, 10, 15, 20, 30, 40, 45, 50)))
    return datetime.combine(day, at, tzinfo=CHINA_TIME)
