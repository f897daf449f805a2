"""The customer aggregate, given events, when a command, then events (or an error). No database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from crm_es.aggregates.base import recording
from crm_es.aggregates.customer import ACTIVITY_KINDS, KINDS, PROFILE_FIELDS, Customer
from crm_es.errors import Conflict, DomainError, InvalidInput, NotFound

OWNER = UUID("00000000-0000-4000-8000-00000000000a")
OTHER_OWNER = UUID("00000000-0000-4000-8000-00000000000b")
WANG = UUID("00000000-0000-4000-8000-0000000000c1")
LI = UUID("00000000-0000-4000-8000-0000000000c2")
STRANGER = UUID("00000000-0000-4000-8000-0000000000c9")
ACTIVITY = UUID("00000000-0000-4000-8000-0000000000a1")
OPPORTUNITY = UUID("00000000-0000-4000-8000-0000000000b1")
CST = timezone(timedelta(hours=8))

Command = Callable[[Customer], Any]


# Given / when / then ---------------------------------------------------------------------------


def registered(**overrides: Any) -> list[Customer.Event]:
    """The events of a newly registered customer (defaults overridable)."""
    args: dict[str, Any] = {"name": "宁波海曙五金有限公司", "kind": "customer", "owner_id": OWNER}
    args.update(overrides)
    return Customer.register(**args).collect_events()


def given(events: Sequence[Customer.Event]) -> Customer:
    """The customer these events describe, rebuilt from the events alone."""
    aggregate: Customer | None = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)  # type: ignore[arg-type]
    assert isinstance(aggregate, Customer)
    assert aggregate.version == len(events)
    assert aggregate.collect_events() == []
    return aggregate


def and_then(history: Sequence[Customer.Event], *commands: Command) -> list[Customer.Event]:
    """``history`` followed by the events the commands record on the customer it describes."""
    customer = given(history)
    for command in commands:
        command(customer)
    return [*history, *customer.collect_events()]


def when(customer: Customer, command: Command) -> list[Customer.Event]:
    """Run the command; the events it recorded."""
    command(customer)
    return customer.collect_events()


def then(events: Sequence[Any], *expected: tuple[type, dict[str, Any]]) -> None:
    """The events are exactly these types, in this order, with these field values."""
    assert [type(e) for e in events] == [cls for cls, _ in expected]
    for domain_event, (_, fields) in zip(events, expected):
        for name, value in fields.items():
            actual = getattr(domain_event, name)
            assert actual == value, f"{type(domain_event).__qualname__}.{name}: {actual!r} != {value!r}"
            assert type(actual) is type(value), f"{type(domain_event).__qualname__}.{name}: {actual!r}"


def then_refused(
    customer: Customer, command: Command, error: type[DomainError], field: str | None = None
) -> DomainError:
    """The command raises ``error`` (on ``field``) and records nothing."""
    version = customer.version
    with pytest.raises(error) as raised:
        command(customer)
    assert customer.collect_events() == []
    assert customer.version == version
    if field is not None:
        assert [e.field for e in raised.value.errors] == [field]
    return raised.value


def registration_refused(field: str, **overrides: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        registered(**overrides)
    assert raised.value.errors[0].field == field
    assert len(raised.value.errors) == 1
    return raised.value


def replayed(customer: Customer, new_events: Sequence[Customer.Event], history: Sequence[Customer.Event]) -> Customer:
    """The customer rebuilt from history plus the new events (checks that replay agrees)."""
    again = given([*history, *new_events])
    assert again.kind == customer.kind
    assert again.owner_id == customer.owner_id
    assert again.profile == customer.profile
    assert again.contacts == customer.contacts
    assert again.activity_count == customer.activity_count
    return again


# Registration -----------------------------------------------------------------------------------


def test_registration_records_one_registered_event_with_the_name_trimmed() -> None:
    events = registered(name="  宁波海曙五金有限公司 \t", city=" 宁波市 ", tags=["  五金", "五金", "", "出口 "])
    then(
        events,
        (
            Customer.Registered,
            {
                "name": "宁波海曙五金有限公司",
                "kind": "customer",
                "owner_id": OWNER,
                "city": "宁波市",
                "email": None,
                "annual_revenue": None,
                "tags": ("五金", "出口"),
                "originator_version": 1,
            },
        ),
    )
    customer = given(events)
    assert customer.name == "宁波海曙五金有限公司"
    assert customer.kind == "customer"
    assert customer.owner_id == OWNER
    assert set(customer.profile) == set(PROFILE_FIELDS)
    assert customer.profile["city"] == "宁波市"
    assert customer.profile["tags"] == ("五金", "出口")
    assert customer.contacts == {}
    assert customer.activity_count == 0


def test_registration_with_a_given_id_records_the_same_event_under_that_id() -> None:
    chosen = UUID("00000000-0000-4000-8000-0000000000d1")
    with_id = registered(customer_id=chosen, city="宁波市")
    without = registered(city="宁波市")
    assert [type(e) for e in with_id] == [Customer.Registered]
    assert with_id[0].originator_id == chosen and without[0].originator_id != chosen
    assert {k: v for k, v in vars(with_id[0]).items() if k not in ("originator_id", "timestamp")} == {
        k: v for k, v in vars(without[0]).items() if k not in ("originator_id", "timestamp")
    }
    assert given(with_id).id == chosen
    registration_refused("kind", customer_id=chosen, kind="vip")  # checked the same way


V1_REGISTERED = (
    '{"timestamp":{"_type_":"datetime","_data_":"2026-03-02T01:30:00+00:00"},'
    '"originator_topic":"crm_es.aggregates.customer:Customer","actor":"system","correlation_id":null,'
    '"causation_id":null,"name":"宁波慈穗贸业有限公司","kind":"customer",'
    '"owner_id":{"_type_":"uuid","_data_":"0000000000004000800000000000000a"},"industry":null,"source":null,'
    '"level":null,"country":null,"province":null,"city":"宁波市","address":null,"phone":null,"fax":null,'
    '"email":null,"website":null,"notes":null,"annual_revenue":null,'
    '"credit_limit":{"_type_":"decimal","_data_":"500000.00"},"employees":null,"tags":{"_type_":"tuple","_data_":[]}}'
).encode()
"""A Customer.Registered event as version 1 stored it: no short_name, no class_version."""


def test_a_registered_event_stored_before_short_names_still_loads_without_one() -> None:
    from eventsourcing.persistence import Mapper, StoredEvent

    from crm_es.store import OrjsonTranscoder

    mapper = Mapper(transcoder=OrjsonTranscoder())
    stored = StoredEvent(
        originator_id=WANG, originator_version=1, topic="crm_es.aggregates.customer:Customer.Registered",
        state=V1_REGISTERED,
    )  # fmt: skip
    event = mapper.to_domain_event(stored)
    assert isinstance(event, Customer.Registered)
    assert event.short_name is None
    customer = given([event])
    assert customer.name == "宁波慈穗贸业有限公司"
    assert customer.profile["short_name"] is None and customer.profile["city"] == "宁波市"
    assert customer.profile["credit_limit"] == Decimal("500000.00")
    assert set(customer.profile) == set(PROFILE_FIELDS)


def test_new_registered_events_are_version_2_with_the_short_name() -> None:
    event = registered(short_name=" 慈穗 ")[0]
    assert type(event).class_version == 2
    assert event.short_name == "慈穗"


def test_registration_refuses_a_short_name_longer_than_50_characters() -> None:
    registration_refused("short_name", short_name="慈" * 51)


@pytest.mark.parametrize("blank", ["", "   ", "\t\n", None])
def test_registration_refuses_a_blank_name(blank: str | None) -> None:
    registration_refused("name", name=blank)


def test_registration_refuses_a_name_longer_than_200_characters() -> None:
    registration_refused("name", name="宁" * 201)
    then(registered(name="宁" * 200), (Customer.Registered, {"name": "宁" * 200}))


@pytest.mark.parametrize("kind", KINDS)
def test_registration_accepts_each_kind_of_the_fixed_set(kind: str) -> None:
    then(registered(kind=kind), (Customer.Registered, {"kind": kind}))


def test_the_fixed_set_of_kinds() -> None:
    assert KINDS == ("customer", "target", "potential", "partner", "competitor", "blacklist")


@pytest.mark.parametrize("kind", ["vip", "Customer", "customer ", "", None, 1])
def test_registration_refuses_a_kind_outside_the_fixed_set(kind: Any) -> None:
    registration_refused("kind", kind=kind)


def test_registration_refuses_a_field_that_is_not_a_profile_field() -> None:
    registration_refused("colour", colour="red")


@pytest.mark.parametrize("email", ["wang.lei@nbhs.com.cn", "sales+crm@example.com", " info@宁波五金.中国 "])
def test_a_well_formed_email_is_accepted(email: str) -> None:
    then(registered(email=email), (Customer.Registered, {"email": email.strip()}))


@pytest.mark.parametrize("email", ["abc", "wang@", "@nbhs.com", "wang@nbhs", "wang lei@nbhs.com", "wang@nbhs.c"])
def test_a_malformed_email_is_refused(email: str) -> None:
    error = registration_refused("email", email=email)
    assert repr(email) in error.errors[0].message


WELL_FORMED_PHONES = ["0574-63012345", "+86 138 0574 1234", "13805741234", "021-5888 1234 转 8021", "(0574)87654321"]
MALFORMED_PHONES = ["abc", "12", "1234", "0574-6301234a", "phone: 13805741234", "1" * 21]


@pytest.mark.parametrize("phone", WELL_FORMED_PHONES)
@pytest.mark.parametrize("field", ["phone", "fax"])
def test_a_well_formed_phone_number_is_accepted(field: str, phone: str) -> None:
    then(registered(**{field: phone}), (Customer.Registered, {field: phone}))


@pytest.mark.parametrize("phone", MALFORMED_PHONES)
@pytest.mark.parametrize("field", ["phone", "fax"])
def test_a_malformed_phone_number_is_refused(field: str, phone: str) -> None:
    registration_refused(field, **{field: phone})


@pytest.mark.parametrize(
    ("given_amount", "stored"),
    [
        ("1234.5", "1234.50"),
        ("1234.50", "1234.50"),
        ("0", "0.00"),
        (1000, "1000.00"),
        (Decimal("12.3"), "12.30"),
        (0.1, "0.10"),
        ("999999999999999.99", "999999999999999.99"),
    ],
)
@pytest.mark.parametrize("field", ["annual_revenue", "credit_limit"])
def test_money_keeps_two_decimal_places(field: str, given_amount: Any, stored: str) -> None:
    events = registered(**{field: given_amount})
    then(events, (Customer.Registered, {field: Decimal(stored)}))
    assert str(getattr(events[0], field)) == stored
    assert str(given(events).profile[field]) == stored


@pytest.mark.parametrize("amount", ["1.234", "0.001", "1234.500", "-1", "-0.01", Decimal("-5"), "abc", "1,234.50", "NaN", "Infinity", "1e15"])
@pytest.mark.parametrize("field", ["annual_revenue", "credit_limit"])
def test_money_refuses_three_decimal_places_negatives_and_non_amounts(field: str, amount: Any) -> None:
    registration_refused(field, **{field: amount})


def test_money_normalises_a_negative_zero() -> None:
    events = registered(annual_revenue="-0")
    assert str(events[0].annual_revenue) == "0.00"


@pytest.mark.parametrize("employees", [-1, True, 1.5, "10"])
def test_employees_must_be_a_non_negative_integer(employees: Any) -> None:
    registration_refused("employees", employees=employees)


# Profile updates --------------------------------------------------------------------------------

PROFILED = registered(email="wang.lei@nbhs.com.cn", city="宁波市", annual_revenue="1234.5", tags=["五金"])


def test_a_profile_update_that_changes_nothing_records_nothing() -> None:
    customer = given(PROFILED)
    events = when(
        customer,
        lambda c: c.update_profile(
            name=" 宁波海曙五金有限公司 ",
            email="wang.lei@nbhs.com.cn",
            city="宁波市",
            annual_revenue="1234.50",
            credit_limit=None,
            tags=["五金", " 五金"],
            kind="customer",
        ),
    )
    then(events)
    assert customer.version == 1


def test_an_empty_profile_update_records_nothing() -> None:
    then(when(given(PROFILED), lambda c: c.update_profile()))


def test_a_profile_update_records_only_the_changed_fields() -> None:
    customer = given(PROFILED)
    events = when(
        customer,
        lambda c: c.update_profile(
            name="宁波海曙五金有限公司",  # unchanged
            email="wang.lei@nbhs.com.cn",  # unchanged
            city=" 杭州市 ",
            annual_revenue="99",
            phone="0574-63012345",
        ),
    )
    then(
        events,
        (
            Customer.ProfileUpdated,
            {
                "changes": {"city": "杭州市", "annual_revenue": Decimal("99.00"), "phone": "0574-63012345"},
                "originator_version": 2,
            },
        ),
    )
    assert set(events[0].changes) == {"city", "annual_revenue", "phone"}
    assert str(events[0].changes["annual_revenue"]) == "99.00"
    again = replayed(customer, events, PROFILED)
    assert again.profile["city"] == "杭州市"
    assert again.profile["phone"] == "0574-63012345"
    assert again.profile["email"] == "wang.lei@nbhs.com.cn"
    assert again.name == "宁波海曙五金有限公司"


def test_a_blank_optional_field_clears_it() -> None:
    customer = given(PROFILED)
    events = when(customer, lambda c: c.update_profile(email="   ", tags=None))
    then(events, (Customer.ProfileUpdated, {"changes": {"email": None, "tags": ()}}))
    assert customer.profile["email"] is None
    assert customer.profile["tags"] == ()


def test_a_profile_update_refuses_a_blank_name() -> None:
    then_refused(given(PROFILED), lambda c: c.update_profile(name="  "), InvalidInput, "name")


def test_a_profile_update_refuses_malformed_values() -> None:
    customer = given(PROFILED)
    then_refused(customer, lambda c: c.update_profile(email="wang@"), InvalidInput, "email")
    then_refused(customer, lambda c: c.update_profile(phone="abc"), InvalidInput, "phone")
    then_refused(customer, lambda c: c.update_profile(credit_limit="10.001"), InvalidInput, "credit_limit")
    then_refused(customer, lambda c: c.update_profile(credit_limit="-10"), InvalidInput, "credit_limit")
    then_refused(customer, lambda c: c.update_profile(owner_id=OTHER_OWNER), InvalidInput, "owner_id")
    assert customer.profile["email"] == "wang.lei@nbhs.com.cn"


def test_changing_the_kind_through_a_profile_update_records_reclassified() -> None:
    customer = given(PROFILED)
    events = when(customer, lambda c: c.update_profile(kind="partner"))
    then(events, (Customer.Reclassified, {"kind": "partner", "previous_kind": "customer", "originator_version": 2}))
    assert replayed(customer, events, PROFILED).kind == "partner"


def test_a_profile_update_with_kind_and_fields_records_reclassified_then_profile_updated() -> None:
    customer = given(PROFILED)
    events = when(customer, lambda c: c.update_profile(kind="competitor", city="上海市"))
    then(
        events,
        (Customer.Reclassified, {"kind": "competitor", "previous_kind": "customer"}),
        (Customer.ProfileUpdated, {"changes": {"city": "上海市"}}),
    )
    assert "kind" not in events[1].changes


def test_reclassifying_to_the_same_kind_records_nothing() -> None:
    then(when(given(PROFILED), lambda c: c.reclassify("customer")))


def test_reclassifying_twice_keeps_the_previous_kind_of_each_step() -> None:
    history = and_then(PROFILED, lambda c: c.reclassify("target"))
    events = when(given(history), lambda c: c.reclassify("blacklist"))
    then(events, (Customer.Reclassified, {"kind": "blacklist", "previous_kind": "target", "originator_version": 3}))


def test_a_profile_update_refuses_a_kind_outside_the_fixed_set() -> None:
    customer = given(PROFILED)
    then_refused(customer, lambda c: c.update_profile(kind="vip"), InvalidInput, "kind")
    then_refused(customer, lambda c: c.reclassify("vip"), InvalidInput, "kind")
    assert customer.kind == "customer"


def test_a_refused_profile_update_with_a_kind_change_records_nothing() -> None:
    customer = given(PROFILED)
    then_refused(customer, lambda c: c.update_profile(kind="partner", email="wang@"), InvalidInput, "email")
    assert customer.kind == "customer"


# Reassignment -----------------------------------------------------------------------------------


def test_reassigning_records_reassigned_with_the_previous_owner() -> None:
    customer = given(PROFILED)
    events = when(customer, lambda c: c.reassign(owner_id=OTHER_OWNER, reason="  王磊离职 "))
    then(
        events,
        (
            Customer.Reassigned,
            {"owner_id": OTHER_OWNER, "previous_owner_id": OWNER, "reason": "王磊离职", "originator_version": 2},
        ),
    )
    assert replayed(customer, events, PROFILED).owner_id == OTHER_OWNER


def test_reassigning_without_a_reason() -> None:
    then(
        when(given(PROFILED), lambda c: c.reassign(owner_id=OTHER_OWNER)),
        (Customer.Reassigned, {"owner_id": OTHER_OWNER, "previous_owner_id": OWNER, "reason": None}),
    )


def test_reassigning_to_the_same_owner_records_nothing() -> None:
    then(when(given(PROFILED), lambda c: c.reassign(owner_id=OWNER, reason="no change")))
    history = and_then(PROFILED, lambda c: c.reassign(owner_id=OTHER_OWNER))
    then(when(given(history), lambda c: c.reassign(owner_id=OTHER_OWNER)))


def test_reassigning_refuses_an_overlong_reason() -> None:
    then_refused(given(PROFILED), lambda c: c.reassign(owner_id=OTHER_OWNER, reason="x" * 501), InvalidInput, "reason")


# Contacts ---------------------------------------------------------------------------------------


def test_the_first_contact_is_primary_by_default() -> None:
    customer = given(PROFILED)
    events = when(customer, lambda c: c.add_contact(contact_id=WANG, name=" 王磊 ", mobile="13805741234"))
    then(
        events,
        (
            Customer.ContactAdded,
            {
                "contact_id": WANG,
                "name": "王磊",
                "mobile": "13805741234",
                "title": None,
                "email": None,
                "birthday": None,
                "primary": True,
                "originator_version": 2,
            },
        ),
    )
    again = replayed(customer, events, PROFILED)
    assert again.contact(WANG)["primary"] is True
    assert again.contact(WANG)["name"] == "王磊"


WITH_WANG = and_then(PROFILED, lambda c: c.add_contact(contact_id=WANG, name="王磊"))


def test_a_second_contact_is_not_primary_by_default() -> None:
    customer = given(WITH_WANG)
    events = when(customer, lambda c: c.add_contact(contact_id=LI, name="李娜"))
    then(events, (Customer.ContactAdded, {"contact_id": LI, "primary": False}))
    assert customer.contact(WANG)["primary"] is True
    assert customer.contact(LI)["primary"] is False


def test_a_second_contact_added_as_primary_makes_the_first_non_primary() -> None:
    customer = given(WITH_WANG)
    events = when(customer, lambda c: c.add_contact(contact_id=LI, name="李娜", primary=True))
    then(events, (Customer.ContactAdded, {"contact_id": LI, "name": "李娜", "primary": True}))
    assert customer.contact(WANG)["primary"] is False
    assert customer.contact(LI)["primary"] is True
    again = replayed(customer, events, WITH_WANG)
    assert [cid for cid, c in again.contacts.items() if c["primary"]] == [LI]


def test_adding_a_contact_twice_is_a_conflict() -> None:
    then_refused(given(WITH_WANG), lambda c: c.add_contact(contact_id=WANG, name="王磊"), Conflict)


def test_a_contact_needs_a_name() -> None:
    then_refused(given(PROFILED), lambda c: c.add_contact(contact_id=WANG, name=" "), InvalidInput, "name")


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "wang@"), ("email", "abc"), ("phone", "12"), ("mobile", "abc"), ("primary", "yes"), ("nickname", "x")],
)
def test_a_contact_with_a_malformed_field_is_refused(field: str, value: Any) -> None:
    then_refused(given(PROFILED), lambda c: c.add_contact(contact_id=WANG, name="王磊", **{field: value}), InvalidInput, field)


@pytest.mark.parametrize("phone", WELL_FORMED_PHONES)
def test_a_contact_accepts_well_formed_phone_numbers(phone: str) -> None:
    events = when(given(PROFILED), lambda c: c.add_contact(contact_id=WANG, name="王磊", phone=phone, mobile=phone))
    then(events, (Customer.ContactAdded, {"phone": phone, "mobile": phone}))


def test_a_contact_birthday_must_be_a_past_date() -> None:
    customer = given(PROFILED)
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=2)
    then_refused(customer, lambda c: c.add_contact(contact_id=WANG, name="王磊", birthday=tomorrow), InvalidInput, "birthday")
    then_refused(
        customer,
        lambda c: c.add_contact(contact_id=WANG, name="王磊", birthday=datetime(1980, 5, 1, tzinfo=CST)),
        InvalidInput,
        "birthday",
    )
    then_refused(customer, lambda c: c.add_contact(contact_id=WANG, name="王磊", birthday="1980-05-01"), InvalidInput, "birthday")
    events = when(customer, lambda c: c.add_contact(contact_id=WANG, name="王磊", birthday=date(1980, 5, 1)))
    then(events, (Customer.ContactAdded, {"birthday": date(1980, 5, 1)}))


def test_updating_an_unknown_contact_is_not_found() -> None:
    error = then_refused(given(WITH_WANG), lambda c: c.update_contact(STRANGER, title="经理"), NotFound)
    assert str(STRANGER) in error.detail


def test_updating_a_contact_records_only_the_changed_fields() -> None:
    customer = given(WITH_WANG)
    events = when(customer, lambda c: c.update_contact(WANG, name="王磊", title=" 采购经理 ", email="wang@nbhs.cn"))
    then(
        events,
        (
            Customer.ContactUpdated,
            {"contact_id": WANG, "changes": {"title": "采购经理", "email": "wang@nbhs.cn"}, "originator_version": 3},
        ),
    )
    again = replayed(customer, events, WITH_WANG)
    assert again.contact(WANG)["title"] == "采购经理"


def test_a_contact_update_that_changes_nothing_records_nothing() -> None:
    then(when(given(WITH_WANG), lambda c: c.update_contact(WANG, name=" 王磊 ", primary=True, title=None)))


def test_unsetting_the_primary_contact_is_a_conflict() -> None:
    then_refused(given(WITH_WANG), lambda c: c.update_contact(WANG, primary=False), Conflict)


def test_making_another_contact_primary_moves_the_primary_flag() -> None:
    history = and_then(WITH_WANG, lambda c: c.add_contact(contact_id=LI, name="李娜"))
    customer = given(history)
    events = when(customer, lambda c: c.update_contact(LI, primary=True))
    then(events, (Customer.ContactUpdated, {"contact_id": LI, "changes": {"primary": True}}))
    assert customer.contact(WANG)["primary"] is False
    assert customer.contact(LI)["primary"] is True
    replayed(customer, events, history)


def test_a_contact_update_refuses_malformed_values() -> None:
    customer = given(WITH_WANG)
    then_refused(customer, lambda c: c.update_contact(WANG, email="wang@"), InvalidInput, "email")
    then_refused(customer, lambda c: c.update_contact(WANG, name=""), InvalidInput, "name")


# Activities -------------------------------------------------------------------------------------


def log(**overrides: Any) -> Command:
    args: dict[str, Any] = {
        "activity_id": ACTIVITY,
        "kind": "visit",
        "occurred_at": datetime(2024, 3, 5, 14, 30, tzinfo=CST),
        "summary": "拜访王总，报价五金配件",
    }
    args.update(overrides)
    return lambda c: c.log_activity(**args)


def test_logging_an_activity_records_activity_logged_with_the_time_in_utc() -> None:
    customer = given(WITH_WANG)
    events = when(customer, log(contact_id=WANG, opportunity_id=OPPORTUNITY, next_step=" 下周寄样 "))
    then(
        events,
        (
            Customer.ActivityLogged,
            {
                "activity_id": ACTIVITY,
                "kind": "visit",
                "occurred_at": datetime(2024, 3, 5, 6, 30, tzinfo=timezone.utc),
                "summary": "拜访王总，报价五金配件",
                "contact_id": WANG,
                "opportunity_id": OPPORTUNITY,
                "next_step": "下周寄样",
                "originator_version": 3,
            },
        ),
    )
    assert events[0].occurred_at.utcoffset() == timedelta(0)
    assert events[0].occurred_at.tzinfo is timezone.utc
    assert replayed(customer, events, WITH_WANG).activity_count == 1


def test_an_activity_without_a_contact() -> None:
    then(when(given(PROFILED), log()), (Customer.ActivityLogged, {"contact_id": None, "next_step": None}))


def test_activities_are_counted() -> None:
    history = and_then(PROFILED, log(), log(kind="call"))
    assert given(history).activity_count == 2


def test_an_activity_with_a_contact_of_another_customer_is_refused() -> None:
    error = then_refused(given(WITH_WANG), log(contact_id=STRANGER), InvalidInput, "contact_id")
    assert str(STRANGER) in error.errors[0].message


@pytest.mark.parametrize("kind", ACTIVITY_KINDS)
def test_an_activity_kind_of_the_fixed_set_is_accepted(kind: str) -> None:
    then(when(given(PROFILED), log(kind=kind)), (Customer.ActivityLogged, {"kind": kind}))


def test_the_fixed_set_of_activity_kinds() -> None:
    assert ACTIVITY_KINDS == ("visit", "call", "email", "meeting", "other")


@pytest.mark.parametrize("kind", ["lunch", "Visit", "", None])
def test_an_activity_kind_outside_the_fixed_set_is_refused(kind: Any) -> None:
    then_refused(given(PROFILED), log(kind=kind), InvalidInput, "kind")


def test_an_activity_time_without_a_time_zone_is_refused() -> None:
    then_refused(given(PROFILED), log(occurred_at=datetime(2024, 3, 5, 14, 30)), InvalidInput, "occurred_at")


@pytest.mark.parametrize("summary", ["", "   ", None])
def test_an_activity_needs_a_summary(summary: str | None) -> None:
    then_refused(given(PROFILED), log(summary=summary), InvalidInput, "summary")


# Recording metadata -----------------------------------------------------------------------------

EVERY_COMMAND: list[Command] = [
    lambda c: c.update_profile(city="杭州市"),
    lambda c: c.update_profile(kind="partner"),
    lambda c: c.reassign(owner_id=OTHER_OWNER),
    lambda c: c.add_contact(contact_id=WANG, name="王磊"),
    lambda c: c.add_contact(contact_id=LI, name="李娜"),
    lambda c: c.update_contact(LI, primary=True),
    log(contact_id=LI),
]
EVERY_EVENT_TYPE = [
    Customer.Registered,
    Customer.ProfileUpdated,
    Customer.Reclassified,
    Customer.Reassigned,
    Customer.ContactAdded,
    Customer.ContactAdded,
    Customer.ContactUpdated,
    Customer.ActivityLogged,
]


def test_every_event_carries_the_actor_correlation_and_causation_of_its_recording() -> None:
    with recording("alice", correlation_id="corr-42", causation_id="cause-7"):
        events = and_then(registered(), *EVERY_COMMAND)
    assert [type(e) for e in events] == EVERY_EVENT_TYPE
    for domain_event in events:
        assert (domain_event.actor, domain_event.correlation_id, domain_event.causation_id) == (
            "alice",
            "corr-42",
            "cause-7",
        ), type(domain_event).__qualname__


def test_outside_a_recording_events_are_by_the_system_without_correlation() -> None:
    events = and_then(registered(), *EVERY_COMMAND)
    assert [type(e) for e in events] == EVERY_EVENT_TYPE
    for domain_event in events:
        assert (domain_event.actor, domain_event.correlation_id, domain_event.causation_id) == ("system", None, None)


def test_each_event_is_stamped_by_the_recording_it_was_recorded_in() -> None:
    with recording("alice", correlation_id="corr-1"):
        history = registered()
    with recording("bob", correlation_id="corr-2", causation_id="cause-2"):
        history = and_then(history, lambda c: c.reassign(owner_id=OTHER_OWNER))
        with recording("carol"):
            history = and_then(history, lambda c: c.update_profile(city="杭州市"))
        history = and_then(history, lambda c: c.update_profile(city="宁波市"))
    history = and_then(history, lambda c: c.reclassify("partner"))
    assert [(e.actor, e.correlation_id, e.causation_id) for e in history] == [
        ("alice", "corr-1", None),
        ("bob", "corr-2", "cause-2"),
        ("carol", None, None),
        ("bob", "corr-2", "cause-2"),
        ("system", None, None),
    ]


def test_replaying_keeps_the_recorded_metadata() -> None:
    with recording("alice", correlation_id="corr-42"):
        history = registered()
    with recording("bob"):
        events = when(given(history), lambda c: c.reassign(owner_id=OTHER_OWNER))
    then(events, (Customer.Reassigned, {"actor": "bob", "correlation_id": None, "causation_id": None}))
    then(history, (Customer.Registered, {"actor": "alice", "correlation_id": "corr-42"}))
