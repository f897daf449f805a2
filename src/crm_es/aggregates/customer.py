"""The customer (客户档案): profile, kind, owner, contacts (联系人) and activity records (行动记录)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import Conflict, InvalidInput, NotFound

EARLIEST = datetime(1900, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(2199, 12, 31, tzinfo=timezone.utc)

KINDS = ("customer", "target", "potential", "partner", "competitor", "blacklist")
ACTIVITY_KINDS = ("visit", "call", "email", "meeting", "other")

TEXT_FIELDS = {
    # field: maximum length
    "short_name": 50,  # 简称: what staff call the customer, e.g. 慈穗 for 宁波慈穗贸业有限公司
    "industry": 100,
    "source": 100,
    "level": 50,
    "country": 100,
    "province": 100,
    "city": 100,
    "address": 300,
    "phone": 40,
    "fax": 40,
    "email": 254,
    "website": 300,
    "notes": 4000,
}
MONEY_FIELDS = ("annual_revenue", "credit_limit")
PROFILE_FIELDS = ("name", *TEXT_FIELDS, *MONEY_FIELDS, "employees", "tags")

CONTACT_TEXT_FIELDS = {
    "title": 100,
    "department": 100,
    "phone": 40,
    "mobile": 40,
    "email": 254,
    "address": 300,
    "hobbies": 500,
}
CONTACT_FIELDS = ("name", *CONTACT_TEXT_FIELDS, "birthday", "primary")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
# Digits with the separators people type: +86 574-8765 4321, (0574)87654321, 138 0000 0000 转 8021.
_PHONE = re.compile(r"^\+?[\d\s\-()]+((转|ext\.?|x)\s*\d{1,6})?$", re.IGNORECASE)
_WEBSITE = re.compile(r"^(https?://)?[\w\-]+(\.[\w\-]+)+(:\d+)?(/\S*)?$", re.IGNORECASE)


def check_email(field: str, value: str | None) -> None:
    if value is not None and not _EMAIL.match(value):
        raise InvalidInput.on(field, f"{value!r} is not a well-formed email address")


def check_phone(field: str, value: str | None) -> None:
    if value is None:
        return
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.match(value) or not 5 <= digits <= 20:
        raise InvalidInput.on(field, f"{value!r} is not a well-formed phone number")


def _money(field: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput.on(field, "must be a decimal amount such as \"1234.50\"") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput.on(field, "must be a non-negative amount")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput.on(field, "must have at most two decimal places")
    if amount >= Decimal("1e15"):
        raise InvalidInput.on(field, "is too large")
    return abs(amount).quantize(Decimal("0.01"))  # abs: "-0" is zero, not negative zero


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InvalidInput.on("tags", "must be a list of strings")
    seen: dict[str, None] = {}
    for tag in value:
        cleaned = check_text("tags", tag, 30)
        if cleaned:
            seen[cleaned] = None
    if len(seen) > 30:
        raise InvalidInput.on("tags", "at most 30 tags")
    return tuple(seen)


def clean_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the given profile fields (only those present)."""
    cleaned: dict[str, Any] = {}
    for field, value in values.items():
        if field == "name":
            cleaned[field] = check_text("name", value, 200, required=True)
        elif field in TEXT_FIELDS:
            cleaned[field] = check_text(field, value, TEXT_FIELDS[field])
        elif field in MONEY_FIELDS:
            cleaned[field] = _money(field, value)
        elif field == "employees":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise InvalidInput.on("employees", "must be a non-negative integer")
            cleaned[field] = value
        elif field == "tags":
            cleaned[field] = _tags(value)
        else:
            raise InvalidInput.on(field, "is not a customer profile field")
    check_email("email", cleaned.get("email"))
    check_phone("phone", cleaned.get("phone"))
    check_phone("fax", cleaned.get("fax"))
    if cleaned.get("website") and not _WEBSITE.match(cleaned["website"]):
        raise InvalidInput.on("website", f"{cleaned['website']!r} is not a web address")
    return cleaned


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise InvalidInput.on("kind", f"must be one of {', '.join(KINDS)}")
    return kind


def clean_contact(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for field, value in values.items():
        if field == "name":
            cleaned[field] = check_text("name", value, 100, required=True)
        elif field in CONTACT_TEXT_FIELDS:
            cleaned[field] = check_text(field, value, CONTACT_TEXT_FIELDS[field])
        elif field == "birthday":
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise InvalidInput.on("birthday", "must be a date (YYYY-MM-DD)")
            if value is not None and value > datetime.now(timezone.utc).date():
                raise InvalidInput.on("birthday", "must not be in the future")
            cleaned[field] = value
        elif field == "primary":
            if not isinstance(value, bool):
                raise InvalidInput.on("primary", "must be true or false")
            cleaned[field] = value
        else:
            raise InvalidInput.on(field, "is not a contact field")
    check_email("email", cleaned.get("email"))
    check_phone("phone", cleaned.get("phone"))
    check_phone("mobile", cleaned.get("mobile"))
    return cleaned


class Customer(CrmAggregate):
    """A company or person the business sells to, competes with, or partners with."""

    @classmethod
    def register(
        cls, *, name: str, kind: str, owner_id: UUID, customer_id: UUID | None = None, **profile: Any
    ) -> Customer:
        """A new customer; its id is random unless ``customer_id`` gives one (demo data derives
        its ids from the seed, so that loading it again finds what is already there)."""
        values: dict[str, Any] = {f: None for f in PROFILE_FIELDS}
        values.update(clean_profile({"name": name, **profile}))
        values["tags"] = values["tags"] or ()
        kwargs = {"kind": check_kind(kind), "owner_id": owner_id, **values}
        if customer_id is None:
            return cls(**kwargs)
        # The same "Registered" event as above, with the given id as its originator id.
        return cls._create(cls.Registered, id=customer_id, **kwargs)  # type: ignore[attr-defined]

    class Registered(CrmAggregate.Created):
        """A customer is registered with all its profile fields (None where not given).

        Version 2 added ``short_name``; version 1 events read as having none."""

        class_version = 2

        name: str
        kind: str
        owner_id: UUID
        short_name: str | None
        industry: str | None
        source: str | None
        level: str | None
        country: str | None
        province: str | None
        city: str | None
        address: str | None
        phone: str | None
        fax: str | None
        email: str | None
        website: str | None
        notes: str | None
        annual_revenue: Decimal | None
        credit_limit: Decimal | None
        employees: int | None
        tags: tuple[str, ...]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["short_name"] = None

    @event(Registered)
    def __init__(  # noqa: PLR0913 - one parameter per profile field
        self,
        *,
        name: str,
        kind: str,
        owner_id: UUID,
        short_name: str | None = None,
        industry: str | None = None,
        source: str | None = None,
        level: str | None = None,
        country: str | None = None,
        province: str | None = None,
        city: str | None = None,
        address: str | None = None,
        phone: str | None = None,
        fax: str | None = None,
        email: str | None = None,
        website: str | None = None,
        notes: str | None = None,
        annual_revenue: Decimal | None = None,
        credit_limit: Decimal | None = None,
        employees: int | None = None,
        tags: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.owner_id = owner_id
        self.profile: dict[str, Any] = {f: None for f in PROFILE_FIELDS}
        self.profile.update(
            name=name, short_name=short_name, industry=industry, source=source, level=level,
            country=country, province=province, city=city, address=address, phone=phone, fax=fax,
            email=email, website=website, notes=notes, annual_revenue=annual_revenue,
            credit_limit=credit_limit, employees=employees, tags=tuple(tags),
        )  # fmt: skip
        self.contacts: dict[UUID, dict[str, Any]] = {}
        self.activity_count = 0

    @property
    def name(self) -> str:
        return self.profile["name"]

    # Profile ---------------------------------------------------------------------------------

    def update_profile(self, **changes: Any) -> None:
        """Record the fields that really change; a patch that changes nothing records nothing."""
        kind = check_kind(changes.pop("kind")) if "kind" in changes else None
        cleaned = clean_profile(changes)  # everything is checked before anything is recorded
        if kind is not None:
            self.reclassify(kind)
        diff = {f: v for f, v in cleaned.items() if self.profile.get(f) != v}
        if diff:
            self._profile_updated(changes=diff)

    @event("ProfileUpdated")
    def _profile_updated(self, changes: dict[str, Any]) -> None:
        self.profile.update(changes)

    def reclassify(self, kind: str) -> None:
        kind = check_kind(kind)
        if kind != self.kind:
            self._reclassified(kind=kind, previous_kind=self.kind)

    @event("Reclassified")
    def _reclassified(self, kind: str, previous_kind: str) -> None:
        self.kind = kind

    def reassign(self, *, owner_id: UUID, reason: str | None = None) -> None:
        reason = check_text("reason", reason, 500)
        if owner_id != self.owner_id:
            self._reassigned(owner_id=owner_id, previous_owner_id=self.owner_id, reason=reason)

    @event("Reassigned")
    def _reassigned(self, owner_id: UUID, previous_owner_id: UUID, reason: str | None) -> None:
        self.owner_id = owner_id

    # Contacts --------------------------------------------------------------------------------

    def add_contact(self, *, contact_id: UUID, name: str, **fields: Any) -> None:
        if contact_id in self.contacts:
            raise Conflict(f"contact {contact_id} already exists on this customer")
        if len(self.contacts) >= 500:
            raise Conflict("a customer has at most 500 contacts")
        values = clean_contact({"name": name, **fields})
        # The first contact of a customer is its primary contact unless the caller says otherwise.
        values.setdefault("primary", not self.contacts)
        for f in CONTACT_FIELDS:
            values.setdefault(f, None)
        self._contact_added(contact_id=contact_id, **values)

    @event("ContactAdded")
    def _contact_added(  # noqa: PLR0913
        self,
        contact_id: UUID,
        name: str,
        title: str | None,
        department: str | None,
        phone: str | None,
        mobile: str | None,
        email: str | None,
        address: str | None,
        hobbies: str | None,
        birthday: date | None,
        primary: bool,
    ) -> None:
        if primary:
            for contact in self.contacts.values():
                contact["primary"] = False
        self.contacts[contact_id] = {
            "name": name, "title": title, "department": department, "phone": phone,
            "mobile": mobile, "email": email, "address": address, "hobbies": hobbies,
            "birthday": birthday, "primary": primary,
        }  # fmt: skip

    def update_contact(self, contact_id: UUID, **changes: Any) -> None:
        contact = self.contact(contact_id)
        cleaned = clean_contact(changes)
        if cleaned.get("primary") is False and contact["primary"]:
            raise Conflict("make another contact primary instead of unsetting the primary contact")
        diff = {f: v for f, v in cleaned.items() if contact.get(f) != v}
        if diff:
            self._contact_updated(contact_id=contact_id, changes=diff)

    @event("ContactUpdated")
    def _contact_updated(self, contact_id: UUID, changes: dict[str, Any]) -> None:
        if changes.get("primary"):
            for contact in self.contacts.values():
                contact["primary"] = False
        self.contacts[contact_id].update(changes)

    def contact(self, contact_id: UUID) -> dict[str, Any]:
        try:
            return self.contacts[contact_id]
        except KeyError:
            raise NotFound(f"contact {contact_id} does not belong to customer {self.id}") from None

    # Activities ------------------------------------------------------------------------------

    def log_activity(  # noqa: PLR0913
        self,
        *,
        activity_id: UUID,
        kind: str,
        occurred_at: datetime,
        summary: str,
        contact_id: UUID | None = None,
        opportunity_id: UUID | None = None,
        next_step: str | None = None,
    ) -> None:
        if kind not in ACTIVITY_KINDS:
            raise InvalidInput.on("kind", f"must be one of {', '.join(ACTIVITY_KINDS)}")
        if occurred_at.tzinfo is None:
            raise InvalidInput.on("occurred_at", "must include a time zone offset")
        if not EARLIEST <= occurred_at <= LATEST:
            raise InvalidInput.on("occurred_at", "must be between 1900 and 2199")
        if contact_id is not None and contact_id not in self.contacts:
            raise InvalidInput.on("contact_id", f"contact {contact_id} does not belong to this customer")
        self._activity_logged(
            activity_id=activity_id,
            kind=kind,
            occurred_at=occurred_at.astimezone(timezone.utc),
            summary=check_text("summary", summary, 4000, required=True),
            contact_id=contact_id,
            opportunity_id=opportunity_id,
            next_step=check_text("next_step", next_step, 1000),
        )

    @event("ActivityLogged")
    def _activity_logged(  # noqa: PLR0913
        self,
        activity_id: UUID,
        kind: str,
        occurred_at: datetime,
        summary: str,
        contact_id: UUID | None,
        opportunity_id: UUID | None,
        next_step: str | None,
    ) -> None:
        self.activity_count += 1
