"""Sales targets (业绩目标, R-S4): the amount a salesperson or a department is to win each month
of one year. One record per subject and year; its id derives from them, so there is never a
second one."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate
from crm_es.aggregates.opportunity import check_amount
from crm_es.errors import InvalidInput

TARGET_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:sales-target")
SUBJECTS = ("user", "department")
FIRST_YEAR, LAST_YEAR = 2000, 2100


def check_year(year: Any) -> int:
    if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput.on("year", f"must be a year from {FIRST_YEAR} to {LAST_YEAR}")
    return year


def check_months(months: Mapping[Any, Any]) -> dict[int, Decimal]:
    """Months (1..12, as numbers or strings) to non-negative amounts."""
    if not months:
        raise InvalidInput.on("months", "name at least one month")
    checked: dict[int, Decimal] = {}
    for key, amount in months.items():
        month = int(key) if isinstance(key, str) and key.isdigit() else key
        if not isinstance(month, int) or isinstance(month, bool) or not 1 <= month <= 12:
            raise InvalidInput.on("months", f"{key!r} is not a month (1 to 12)")
        checked[month] = check_amount(f"months.{month}", amount)
    return dict(sorted(checked.items()))


class SalesTarget(CrmAggregate):
    """The monthly targets of one salesperson (``user``) or one department, for one year."""

    @staticmethod
    def create_id(subject_type: str, subject_id: UUID, year: int, **_: Any) -> UUID:  # type: ignore[override]
        return SalesTarget.id_for(subject_type, subject_id, year)

    @staticmethod
    def id_for(subject_type: str, subject_id: UUID, year: int) -> UUID:
        return uuid5(TARGET_NAMESPACE, f"{subject_type}:{subject_id}:{year}")

    @classmethod
    def create(cls, *, subject_type: str, subject_id: UUID, year: Any) -> SalesTarget:
        if subject_type not in SUBJECTS:
            raise InvalidInput.on("subject_type", f"must be one of {', '.join(SUBJECTS)}")
        return cls(subject_type=subject_type, subject_id=subject_id, year=check_year(year))

    @event("Created")
    def __init__(self, *, subject_type: str, subject_id: UUID, year: int) -> None:
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.year = year
        self.months: dict[int, Decimal] = {}

    def set_months(self, months: Mapping[Any, Any]) -> None:
        """Set the targets of these months (others keep theirs); nothing is recorded when
        every amount is what it was already."""
        checked = check_months(months)
        changed = {m: a for m, a in checked.items() if self.months.get(m) != a}
        if changed:
            self._set(months=changed, previous={m: self.months[m] for m in changed if m in self.months})

    @event("Set")
    def _set(self, months: dict[int, Decimal], previous: dict[int, Decimal]) -> None:
        self.months.update(months)
