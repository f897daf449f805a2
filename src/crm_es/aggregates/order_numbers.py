"""Order numbers (合同编号): ``SO-2026-000123``, one gapless sequence per year.

The sequence of a year is an aggregate of its own (id derived from the year), saved in the same
transaction as the order it numbers: two concurrent drafts write the same sequence version, so
one of them is retried with the next number. A number is never given twice, and none is lost
to a command that failed (it is written only with its order). The prefix is a setting
(``CRM_ES_ORDER_NUMBER_PREFIX``); the sequence is per year whatever the prefix, so numbers stay
unique when it changes.
"""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate

_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:order-numbers")
PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


def sequence_id(year: int) -> UUID:
    return uuid5(_NAMESPACE, str(year))


class OrderNumbers(CrmAggregate):
    """The order numbers of one year."""

    @staticmethod
    def create_id(year: int) -> UUID:  # type: ignore[override]
        return sequence_id(year)

    @classmethod
    def start(cls, year: int) -> OrderNumbers:
        return cls(year=year)

    @event("Started")
    def __init__(self, *, year: int) -> None:
        self.year = year
        self.last = 0

    def issue(self, prefix: str, order_id: UUID) -> str:
        """The next number, for ``order_id``."""
        number = f"{prefix}-{self.year}-{self.last + 1:06d}"
        self._issued(seq=self.last + 1, number=number, order_id=order_id)
        return number

    @event("Issued")
    def _issued(self, seq: int, number: str, order_id: UUID) -> None:
        self.last = seq
