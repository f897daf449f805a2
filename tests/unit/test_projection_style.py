"""The one projection style: handlers per concrete event, declared topics, checked at import."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

import pytest
from eventsourcing.utils import get_topic

from crm_es.aggregates.customer import Customer
from crm_es.processes.base import Process
from crm_es.projections import all_projections
from crm_es.projections.base import FoldingProjection, Projection


def test_a_handler_on_an_aggregates_base_event_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="no stored event has"):

        class Wrong(Projection):
            name = "wrong"
            ddl = ""

            @singledispatchmethod
            def apply(self, event: Any, cur: Any, schema: str, position: int) -> None: ...

            @apply.register
            def _any(self, e: Customer.Event, cur: Any, schema: str, position: int) -> None: ...


def test_a_fold_on_something_that_is_not_an_event_fails_too() -> None:
    with pytest.raises(TypeError, match="not a domain event class"):

        class AlsoWrong(FoldingProjection):
            name = "also_wrong"
            ddl = ""

            @singledispatchmethod
            def fold(self, event: Any, batch: Any) -> None: ...

            @fold.register
            def _text(self, e: str, batch: Any) -> None: ...


def test_a_process_policy_is_checked_the_same_way() -> None:
    with pytest.raises(TypeError, match="no stored event has"):

        class WrongProcess(Process):
            name = "wrong"

            @singledispatchmethod
            def policy(self, event: Any, runtime: Any) -> None: ...

            @policy.register
            def _any(self, e: Customer.Event, runtime: Any) -> None: ...


def test_the_topics_a_projection_reads_are_those_of_its_handlers() -> None:
    by_name = {p.name: p for p in all_projections()}
    customers = by_name["customers"]
    assert get_topic(Customer.Registered) in customers.topics
    assert get_topic(Customer.ActivityLogged) in customers.topics
    assert all(":" in topic and not topic.endswith(".Event") for p in by_name.values() for topic in p.topics)
    assert by_name["audit"].all_topics and not by_name["audit"].topics
