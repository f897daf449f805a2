"""Handovers (客户移交): the plan of what a departing user's successor takes over.

The handover process (processes/handover.py) starts one when a user departs and moves each
item; an administrator resolves a handover that found nobody to hand over to.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from crm_es.aggregates.handover import Handover, Item
from crm_es.app.kernel import Commands, Context, Kernel, UserDirectory, Written


class Handovers(Commands):
    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        kernel.register_kind("handover", Handover)

    def handover(self, handover_id: UUID) -> Handover:
        return self.kernel.get(Handover, handover_id, "handover")

    def start(
        self, *, ctx: Context, user_id: UUID, to_user_id: UUID | None, items: Sequence[Item], blocked: str | None = None
    ) -> Written:
        return self.kernel.create(
            ctx, lambda: Handover(user_id=user_id, to_user_id=to_user_id, items=tuple(items), blocked=blocked)
        )

    def choose_successor(self, *, ctx: Context, handover_id: UUID, successor_id: UUID) -> Written:
        """Name who takes over a handover that found nobody (or change who does, until it is done)."""
        self.kernel.need(UserDirectory).check_user(successor_id, "successor_id")
        return self.kernel.mutate(
            ctx, handover_id, lambda: self.handover(handover_id), lambda h: h.choose_successor(successor_id)
        )

    def complete(self, *, ctx: Context, handover_id: UUID, moved: int, skipped: Sequence[tuple[str, UUID, str]]) -> Written:
        return self.kernel.mutate(
            ctx, handover_id, lambda: self.handover(handover_id), lambda h: h.complete(moved=moved, skipped=tuple(skipped))
        )
