"""The orjson transcoder: event state to bytes and back, type for type. No database."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError

from crm_es.aggregates.base import recording
from crm_es.aggregates.customer import Customer
from crm_es.store import OrjsonTranscoder

OWNER = UUID("00000000-0000-4000-8000-00000000000a")
WANG = UUID("00000000-0000-4000-8000-0000000000c1")
CST = timezone(timedelta(hours=8))


class Stage(str, Enum):
    """Module level, so that its topic resolves when decoding."""

    LEAD = "lead"
    WON = "won"


class Priority(IntEnum):
    LOW = 1
    HIGH = 3


@pytest.fixture
def transcoder() -> OrjsonTranscoder:
    return OrjsonTranscoder()


def round_trip(transcoder: OrjsonTranscoder, value: Any) -> Any:
    data = transcoder.encode(value)
    assert isinstance(data, bytes)
    return transcoder.decode(data)


def assert_identical(actual: Any, expected: Any, path: str = "value") -> None:
    """Equal, of exactly the same types all the way down; decimals with the same exponent,
    datetimes and times with the same offset."""
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} is not {type(expected).__name__}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys"
        for key in expected:
            assert_identical(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{path}[{i}]")
    elif isinstance(expected, Decimal):
        assert str(actual) == str(expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        if isinstance(expected, (datetime, time)):
            assert actual.utcoffset() == expected.utcoffset(), f"{path}: offset"


# Scalars ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1234.50"),
        Decimal("1234.5"),
        Decimal("0.00"),
        Decimal("-0.01"),
        Decimal("1E+3"),
        Decimal("999999999999999.99"),
        Decimal("0.000000000000000000000000000001"),
        Decimal("12345678901234567890123456789012345.67"),
        Decimal("NaN"),
        Decimal("-Infinity"),
    ],
    ids=str,
)
def test_a_decimal_comes_back_with_its_exponent(transcoder: OrjsonTranscoder, value: Decimal) -> None:
    back = round_trip(transcoder, value)
    assert type(back) is Decimal
    assert str(back) == str(value)
    assert back.as_tuple() == value.as_tuple()


def test_1234_50_is_not_1234_5(transcoder: OrjsonTranscoder) -> None:
    assert str(round_trip(transcoder, Decimal("1234.50"))) == "1234.50"


def test_a_uuid_comes_back(transcoder: OrjsonTranscoder) -> None:
    value = UUID("6d4ddec3-6db9-4167-a576-9125cfe1f42b")
    back = round_trip(transcoder, value)
    assert type(back) is UUID
    assert back == value


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=CST),
        datetime(2024, 3, 5, 6, 30, tzinfo=timezone.utc),
        datetime(2024, 3, 5, 6, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(1, 1, 1, tzinfo=timezone.utc),
    ],
    ids=str,
)
def test_an_aware_datetime_comes_back_equal_with_the_same_offset(transcoder: OrjsonTranscoder, value: datetime) -> None:
    back = round_trip(transcoder, value)
    assert type(back) is datetime
    assert back == value
    assert back.utcoffset() == value.utcoffset()
    assert back.microsecond == value.microsecond
    assert back.isoformat() == value.isoformat()


def test_a_naive_datetime_stays_naive(transcoder: OrjsonTranscoder) -> None:
    value = datetime(2024, 3, 5, 14, 30, 1)
    back = round_trip(transcoder, value)
    assert back == value
    assert back.tzinfo is None


@pytest.mark.parametrize("value", [date(2024, 2, 29), date(1, 1, 1), date(9999, 12, 31)], ids=str)
def test_a_date_comes_back_as_a_date(transcoder: OrjsonTranscoder, value: date) -> None:
    back = round_trip(transcoder, value)
    assert type(back) is date
    assert back == value


@pytest.mark.parametrize(
    "value",
    [time(9, 30), time(23, 59, 59, 999999), time(9, 30, tzinfo=CST), time(0, 0, tzinfo=timezone.utc)],
    ids=str,
)
def test_a_time_comes_back_as_a_time(transcoder: OrjsonTranscoder, value: time) -> None:
    back = round_trip(transcoder, value)
    assert type(back) is time
    assert back == value
    assert back.utcoffset() == value.utcoffset()


@pytest.mark.parametrize("value", [Stage.LEAD, Stage.WON, Priority.HIGH], ids=repr)
def test_an_enum_member_comes_back_as_the_same_member(transcoder: OrjsonTranscoder, value: Enum) -> None:
    back = round_trip(transcoder, value)
    assert type(back) is type(value)
    assert back is value


def test_an_enum_is_stored_by_topic_and_value(transcoder: OrjsonTranscoder) -> None:
    assert transcoder.encode(Stage.WON) == (
        b'{"_type_":"enum","_data_":["' + Stage.__module__.encode() + b':Stage","won"]}'
    )


@pytest.mark.parametrize("value", ["宁波", "", 0, -7, 2**63 - 1, 1.5, 0.1, True, False, None], ids=repr)
def test_json_scalars_come_back_unchanged(transcoder: OrjsonTranscoder, value: Any) -> None:
    assert_identical(round_trip(transcoder, value), value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_non_finite_floats_come_back(transcoder: OrjsonTranscoder, value: float) -> None:
    assert_identical(round_trip(transcoder, value), value)


# Containers -------------------------------------------------------------------------------------


def test_a_tuple_stays_a_tuple_and_a_list_a_list(transcoder: OrjsonTranscoder) -> None:
    assert_identical(round_trip(transcoder, ("五金", 1, None)), ("五金", 1, None))
    assert_identical(round_trip(transcoder, ()), ())
    assert_identical(round_trip(transcoder, ["五金", 1]), ["五金", 1])
    assert_identical(round_trip(transcoder, [(1, 2), [(3,)]]), [(1, 2), [(3,)]])


def test_a_set_stays_a_set(transcoder: OrjsonTranscoder) -> None:
    value = {"b", "a", "五金"}
    back = round_trip(transcoder, value)
    assert type(back) is set
    assert back == value
    assert_identical(round_trip(transcoder, set()), set())
    mixed = {1, "1", UUID(int=5), Decimal("1.10"), (1, "x"), Stage.LEAD, date(2024, 1, 1)}
    back = round_trip(transcoder, mixed)
    assert type(back) is set
    assert back == mixed
    assert {str(v) for v in back if type(v) is Decimal} == {"1.10"}


def test_equal_sets_encode_to_equal_bytes(transcoder: OrjsonTranscoder) -> None:
    assert transcoder.encode({"b", "a", "c"}) == transcoder.encode({"c", "a", "b"})


def test_a_frozenset_stays_a_frozenset(transcoder: OrjsonTranscoder) -> None:
    assert_identical(round_trip(transcoder, frozenset({"a", "b"})), frozenset({"a", "b"}))


NESTED = {
    "money": [Decimal("1234.50"), Decimal("0.10"), {"limit": Decimal("100.00")}],
    "ids": (UUID(int=1), [UUID(int=2), (UUID(int=3),)]),
    "when": {
        "at": datetime(2024, 3, 5, 14, 30, tzinfo=CST),
        "on": date(2024, 3, 5),
        "from": time(9, 0, tzinfo=CST),
        "stages": {Stage.LEAD, Stage.WON},
    },
    "tags": ("五金", "出口"),
    "sets": [{1, 2}, {(1, Decimal("2.50"))}],
    "plain": {"a": [1, 2.5, None, True, "x"], "b": {}},
    "empty": [(), [], {}, set()],
    "priority": Priority.LOW,
    "lookalike": {"_type_": "uuid", "_data_": "not a tag", "extra": 1},
}


def test_nested_dicts_and_lists_of_everything_come_back_type_for_type(transcoder: OrjsonTranscoder) -> None:
    back = round_trip(transcoder, NESTED)
    assert back == NESTED
    assert back["sets"][1] == {(1, Decimal("2.50"))}
    assert_identical(
        {k: v for k, v in back.items() if k not in ("sets", "when")},
        {k: v for k, v in NESTED.items() if k not in ("sets", "when")},
    )
    assert_identical(
        {k: v for k, v in back["when"].items() if k != "stages"},
        {k: v for k, v in NESTED["when"].items() if k != "stages"},
    )
    assert type(back["when"]["stages"]) is set
    assert [type(s) for s in back["sets"]] == [set, set]


# Errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"_type_":"money","_data_":"1.00"}',
        b'[1, {"_type_":"complex","_data_":[]}]',
        b'{"outer":{"_type_":"","_data_":null}}',
    ],
)
def test_a_tagged_object_with_an_unknown_tag_is_refused_on_decode(transcoder: OrjsonTranscoder, data: bytes) -> None:
    with pytest.raises(ValueError, match="unknown stored type tag"):
        transcoder.decode(data)


@pytest.mark.parametrize(
    "value",
    [
        {"_type_": "tuple", "_data_": [1, 2]},
        {"_type_": "decimal", "_data_": "1.5"},
        {"_type_": "money", "_data_": "1.00"},
    ],
    ids=repr,
)
def test_a_plain_dict_that_looks_like_a_tag_comes_back_as_a_dict(transcoder: OrjsonTranscoder, value: dict) -> None:
    assert_identical(round_trip(transcoder, value), value)


class Unstorable:
    pass


class Label(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        object(),
        Unstorable(),
        b"bytes",
        bytearray(b"x"),
        1 + 2j,
        Label("a str subclass"),
        timedelta(days=1),
        {"nested": [1, {"deep": object()}]},
        (1, object()),
        [{"x": b"bytes"}],
    ],
    ids=lambda v: type(v).__name__,
)
def test_an_unsupported_type_is_refused_on_encode(transcoder: OrjsonTranscoder, value: Any) -> None:
    with pytest.raises(TypeError):
        transcoder.encode(value)


def test_a_dict_with_non_string_keys_round_trips_as_a_map(transcoder: OrjsonTranscoder) -> None:
    value = {UUID(int=1): {"name": "王丽"}, 2: Decimal("1.50")}
    back = transcoder.decode(transcoder.encode(value))
    assert back == value and [type(k) for k in back] == [UUID, int]


# Through the library's mapper ---------------------------------------------------------------------


@pytest.fixture
def mapper(transcoder: OrjsonTranscoder) -> Mapper:
    return Mapper(transcoder=transcoder)


def a_customer() -> Customer:
    with recording("alice", correlation_id="corr-1", causation_id="cause-1"):
        return Customer.register(
            name="宁波海曙五金有限公司",
            kind="customer",
            owner_id=OWNER,
            annual_revenue="1234.5",
            credit_limit="100",
            employees=42,
            tags=["五金", "出口"],
            email="wang.lei@nbhs.com.cn",
        )


def test_a_registered_event_round_trips_through_the_mapper(mapper: Mapper) -> None:
    (registered,) = a_customer().collect_events()
    assert type(registered) is Customer.Registered
    stored = mapper.to_stored_event(registered)
    assert stored.originator_id == registered.originator_id
    assert stored.originator_version == 1
    assert stored.topic == "crm_es.aggregates.customer:Customer.Registered"
    back = mapper.to_domain_event(stored)
    assert type(back) is Customer.Registered
    assert back == registered
    assert vars(back) == vars(registered)
    assert str(back.annual_revenue) == "1234.50"
    assert str(back.credit_limit) == "100.00"
    assert back.tags == ("五金", "出口")
    assert type(back.tags) is tuple
    assert type(back.owner_id) is UUID
    assert back.timestamp.utcoffset() == registered.timestamp.utcoffset()
    assert (back.actor, back.correlation_id, back.causation_id) == ("alice", "corr-1", "cause-1")
    rebuilt = back.mutate(None)
    assert isinstance(rebuilt, Customer)
    assert rebuilt.profile == registered.mutate(None).profile


def test_every_customer_event_round_trips_through_the_mapper(mapper: Mapper) -> None:
    customer = a_customer()
    customer.update_profile(kind="partner", annual_revenue="99.9", tags=["五金"])
    customer.add_contact(contact_id=WANG, name="王磊", birthday=date(1980, 5, 1))
    customer.update_contact(WANG, title="经理")
    customer.reassign(owner_id=UUID(int=9), reason="调岗")
    customer.log_activity(
        activity_id=UUID(int=10), kind="visit", occurred_at=datetime(2024, 3, 5, 14, 30, tzinfo=CST),
        summary="拜访", contact_id=WANG,
    )  # fmt: skip
    events = customer.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Registered", "Reclassified", "ProfileUpdated", "ContactAdded", "ContactUpdated", "Reassigned",
        "ActivityLogged",
    ]  # fmt: skip
    rebuilt = None
    for domain_event in events:
        back = mapper.to_domain_event(mapper.to_stored_event(domain_event))
        assert type(back) is type(domain_event)
        assert back == domain_event
        assert_identical(vars(back), vars(domain_event))
        rebuilt = back.mutate(rebuilt)
    assert isinstance(rebuilt, Customer)
    assert rebuilt.profile == customer.profile
    assert str(rebuilt.profile["annual_revenue"]) == "99.90"
    assert rebuilt.contacts == customer.contacts
    assert rebuilt.version == customer.version


def test_an_unknown_tag_in_stored_state_is_a_deserialisation_error(mapper: Mapper) -> None:
    (registered,) = a_customer().collect_events()
    stored = mapper.to_stored_event(registered)
    broken = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state.replace(b'"_type_":"uuid"', b'"_type_":"guid"'),
    )
    with pytest.raises(MapperDeserialisationError) as raised:
        mapper.to_domain_event(broken)
    assert isinstance(raised.value, ValueError)
    assert "guid" in str(raised.value)


def test_a_snapshot_of_a_customer_without_contacts_round_trips(mapper: Mapper) -> None:
    customer = a_customer()
    customer.collect_events()
    snapshot = Snapshot.take(customer)
    back = mapper.to_domain_event(mapper.to_stored_event(snapshot))
    assert back == snapshot
    rebuilt = back.mutate(None)
    assert rebuilt.profile == customer.profile
    assert rebuilt.version == customer.version


def test_a_snapshot_of_a_customer_with_contacts_round_trips(mapper: Mapper) -> None:
    customer = a_customer()
    customer.add_contact(contact_id=WANG, name="王磊")
    customer.collect_events()
    snapshot = Snapshot.take(customer)
    back = mapper.to_domain_event(mapper.to_stored_event(snapshot))
    rebuilt = back.mutate(None)
    assert rebuilt.contacts == customer.contacts
