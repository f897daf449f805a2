"""The handover (客户移交) of a departing user's business to a successor."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate
from crm_es.errors import Conflict

HANDOVER_NAMESPACE = uuid5(NAMESPACE_URL, "crm-es:handover")

Item = tuple[str, UUID]
"""What moves: (kind, record id), e.g. ("customer", id)."""


class Handover(CrmAggregate):
    """Everything a departing user owned, planned when they leave, moved to one successor.
    The moves themselves are the records' own events (``Customer.Reassigned`` with reason
    ``handover``), correlated with the handover's id."""

    @staticmethod
    def create_id(user_id: UUID, **_: object) -> UUID:  # type: ignore[override]
        # One handover per departure, and a user departs once.
        return uuid5(HANDOVER_NAMESPACE, str(user_id))

    @event("Started")
    def __init__(self, *, user_id: UUID, to_user_id: UUID | None, items: tuple[Item, ...], blocked: str | None) -> None:
        self.user_id = user_id
        self.to_user_id = to_user_id
        self.items = tuple(items)
        self.blocked = blocked
        self.done = False

    def choose_successor(self, to_user_id: UUID) -> None:
        if self.done:
            raise Conflict("the handover is complete; reassign records one by one instead")
        if to_user_id == self.user_id:
            raise Conflict("the departing user cannot be their own successor")
        if to_user_id != self.to_user_id or self.blocked:
            self._successor_chosen(to_user_id=to_user_id)

    @event("SuccessorChosen")
    def _successor_chosen(self, to_user_id: UUID) -> None:
        self.to_user_id = to_user_id
        self.blocked = None

    def complete(self, *, moved: int, skipped: tuple[tuple[str, UUID, str], ...]) -> None:
        if not self.done:
            self._completed(moved=moved, skipped=skipped)

    @event("Completed")
    def _completed(self, moved: int, skipped: tuple[tuple[str, UUID, str], ...]) -> None:
        self.done = True
