"""Opportunities (商机) and the sales pipeline (销售流程): open, move, win, lose, reopen.

Every command on an opportunity goes through ``visible``: an opportunity outside the caller's
``opportunities`` data scope does not exist for them (404). The customer an opportunity is
opened on must exist and be within the caller's ``customers`` scope; competitors are customers
of kind ``competitor``. Both are checked through the kernel, never by importing the customers
context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from crm_es.aggregates.base import recording
from crm_es.aggregates.opportunity import Opportunity
from crm_es.aggregates.pipeline import PIPELINE_ID, Pipeline
from crm_es.aggregates.target import SalesTarget
from crm_es.app.kernel import Commands, Context, CustomerDirectory, Kernel, ReferenceChecks, UserDirectory, Written
from crm_es.errors import Conflict, Forbidden, InvalidInput, NotFound

LOST_REASONS = (("reason", "lost_reasons"),)
"""The lost reason is a key of the lost_reasons reference list."""


class Opportunities(Commands):
    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        kernel.register_kind("opportunity", Opportunity)

    # The pipeline ------------------------------------------------------------------------------

    def ensure_pipeline(self) -> bool:
        """Create the pipeline with the default stages if it does not exist yet."""
        if self.exists(self.kernel, PIPELINE_ID):
            return False
        with recording("process:bootstrap"):
            return self.save_new(Pipeline.create())

    def pipeline(self) -> Pipeline:
        """The pipeline as it is now: the cached instance, for reading only (never change it)."""
        try:
            pipeline = self.kernel.repository.get(PIPELINE_ID, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise Conflict("the sales pipeline is not set up yet") from None
        assert isinstance(pipeline, Pipeline)
        return pipeline

    def change_stages(
        self, *, ctx: Context, stages: Sequence[Any], expected_version: int | None = None
    ) -> tuple[Written, tuple[str, ...]]:
        """Replace the pipeline's stages; also returns the keys removed. Opportunities on a
        removed stage stay on it (they are listed, never moved silently)."""
        removed: list[tuple[str, ...]] = [()]

        def change(pipeline: Pipeline) -> None:
            removed[0] = pipeline.change_stages(stages)

        load = lambda: self.kernel.get(Pipeline, PIPELINE_ID, "pipeline")  # noqa: E731
        written = self.kernel.mutate(ctx, PIPELINE_ID, load, change, expected_version=expected_version)
        return written, removed[0]

    # Sales targets (业绩目标) -------------------------------------------------------------------

    def set_targets(
        self, *, ctx: Context, subject_type: str, subject_id: UUID, year: int, months: dict[Any, Any]
    ) -> Written:
        """Set the monthly targets of a salesperson (within the caller's scope) or of a
        department (only by someone who sees the whole company's opportunities: the company
        sets departments' targets, managers split them among their people)."""
        if subject_type == "user":
            self.kernel.need(UserDirectory).check_user(subject_id, "user_id")
            if not ctx.sees("opportunities", subject_id):
                raise Forbidden("you can only set targets of people within your data scope")
        elif subject_type == "department":
            self.kernel.check_record("department", subject_id, "department_id")
            if ctx.access is not None and ctx.access.owners("opportunities") is not None:
                raise Forbidden("a department's targets are set by someone who sees the whole company's opportunities")
        target_id = SalesTarget.id_for(subject_type, subject_id, year)

        def load() -> list[Any]:
            try:
                return [self.kernel.get(SalesTarget, target_id, "sales target")]
            except NotFound:
                return []

        def act(aggregates: list[Any]) -> tuple[UUID, int, bool]:
            created = not aggregates
            if created:
                aggregates.append(SalesTarget.create(subject_type=subject_type, subject_id=subject_id, year=year))
            aggregates[0].set_months(months)
            return aggregates[0].id, aggregates[0].version, created

        try:
            return self.kernel.execute(ctx, load, act, lock=target_id)
        except IntegrityError:  # created at the same moment by another process: now it exists
            return self.kernel.execute(ctx, load, act, lock=target_id)

    # Reads -------------------------------------------------------------------------------------

    def opportunity(self, opportunity_id: UUID) -> Opportunity:
        return self.kernel.get(Opportunity, opportunity_id, "opportunity")

    def visible(self, ctx: Context, opportunity_id: UUID) -> Opportunity:
        """The opportunity, if the caller's data scope reaches it; otherwise it does not exist for them."""
        opportunity = self.opportunity(opportunity_id)
        if not ctx.sees("opportunities", opportunity.owner_id):
            raise NotFound(f"no opportunity with id {opportunity_id}")
        return opportunity

    # Checks across contexts --------------------------------------------------------------------

    def _check_customer(self, ctx: Context, customer_id: UUID) -> None:
        self.kernel.check_record("customer", customer_id, "customer_id")
        if not ctx.sees("customers", self.kernel.need(CustomerDirectory).owner_of(customer_id)):
            raise InvalidInput.on("customer_id", f"no customer with id {customer_id}")

    def _check_competitor(self, competitor_id: UUID, field: str) -> None:
        self.kernel.check_record("customer", competitor_id, field)
        kind = self.kernel.need(CustomerDirectory).kind_of(competitor_id)
        if kind != "competitor":
            raise InvalidInput.on(field, f"customer {competitor_id} is a {kind}, not a competitor")

    def _check_owner(self, ctx: Context, owner_id: UUID) -> None:
        self.kernel.need(UserDirectory).check_user(owner_id, "owner_id")
        if not ctx.sees("opportunities", owner_id):
            raise Forbidden("you can only give opportunities to people within your data scope")

    # Commands ----------------------------------------------------------------------------------

    def open(  # noqa: PLR0913
        self, *, ctx: Context, customer_id: UUID, title: str, amount: Any, expected_close_date: Any,
        owner_id: UUID | None = None, stage: str | None = None, currency: str = "CNY",
        source: str | None = None, competitor_ids: Sequence[UUID] = (),
    ) -> Written:  # fmt: skip
        owner = owner_id or ctx.user_id
        if owner is None:
            raise InvalidInput.on("owner_id", "is required when a process opens an opportunity")
        if owner != ctx.user_id:
            self._check_owner(ctx, owner)
        self._check_customer(ctx, customer_id)
        for n, competitor_id in enumerate(competitor_ids or ()):
            self._check_competitor(competitor_id, f"competitor_ids[{n}]")
        if source is not None:
            self.kernel.need(ReferenceChecks).check_profile({"source": source}, None, (("source", "sources"),))

        def make() -> Opportunity:
            return Opportunity.open(
                customer_id=customer_id, title=title, amount=amount, expected_close_date=expected_close_date,
                owner_id=owner, stages=self.pipeline().keys, stage=stage, currency=currency, source=source,
                competitor_ids=tuple(competitor_ids or ()),
            )  # fmt: skip

        return self.kernel.create(ctx, make)

    def _mutate(self, ctx: Context, opportunity_id: UUID, change: Any, expected_version: int | None) -> Written:
        return self.kernel.mutate(
            ctx, opportunity_id, lambda: self.visible(ctx, opportunity_id), change, expected_version=expected_version
        )

    def move_stage(self, *, ctx: Context, opportunity_id: UUID, stage: str, expected_version: int | None = None) -> Written:
        return self._mutate(ctx, opportunity_id, lambda o: o.move_to(stage, self.pipeline().keys), expected_version)

    def update(
        self, *, ctx: Context, opportunity_id: UUID, expected_version: int | None = None, **changes: Any
    ) -> Written:
        """Change the amount, expected close date or title (each recorded as its own fact)."""
        unknown = set(changes) - {"amount", "expected_close_date", "title"}
        if unknown:
            raise InvalidInput.on(sorted(unknown)[0], "cannot be changed here")

        def change(o: Opportunity) -> None:
            if "title" in changes:
                o.retitle(changes["title"])
            if "amount" in changes:
                o.change_amount(changes["amount"])
            if "expected_close_date" in changes:
                o.change_close_date(changes["expected_close_date"])

        return self._mutate(ctx, opportunity_id, change, expected_version)

    def reassign(
        self, *, ctx: Context, opportunity_id: UUID, owner_id: UUID, reason: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        self._check_owner(ctx, owner_id)
        return self._mutate(ctx, opportunity_id, lambda o: o.reassign(owner_id=owner_id, reason=reason), expected_version)

    def issue_quote(  # noqa: PLR0913
        self, *, ctx: Context, opportunity_id: UUID, lines: Sequence[Any], valid_until: Any, note: Any = None,
        expected_version: int | None = None,
    ) -> tuple[Written, int]:  # fmt: skip
        """A new version of the opportunity's quote; also returns its number."""
        for n, line in enumerate(lines or ()):
            if isinstance(line, dict) and line.get("stock_item_id") is not None:
                self.kernel.check_record("stock_item", line["stock_item_id"], f"lines[{n}].stock_item_id")
        number = [0]

        def change(o: Opportunity) -> None:
            number[0] = o.issue_quote(lines=lines, valid_until=valid_until, note=note, today=self.kernel.today())

        return self._mutate(ctx, opportunity_id, change, expected_version), number[0]

    def accept_quote(
        self, *, ctx: Context, opportunity_id: UUID, number: int, expected_version: int | None = None
    ) -> Written:
        return self._mutate(ctx, opportunity_id, lambda o: o.accept_quote(number, today=self.kernel.today()), expected_version)

    def win(self, *, ctx: Context, opportunity_id: UUID, amount: Any = None, expected_version: int | None = None) -> Written:
        return self._mutate(ctx, opportunity_id, lambda o: o.win(amount), expected_version)

    def lose(
        self, *, ctx: Context, opportunity_id: UUID, reason: str, competitor_id: UUID | None = None,
        note: str | None = None, expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        self.kernel.need(ReferenceChecks).check_profile({"reason": reason}, None, LOST_REASONS)
        if competitor_id is not None:
            self._check_competitor(competitor_id, "competitor_id")
        return self._mutate(
            ctx, opportunity_id, lambda o: o.lose(reason=reason, competitor_id=competitor_id, note=note), expected_version
        )

    def reopen(
        self, *, ctx: Context, opportunity_id: UUID, stage: str | None = None, expected_version: int | None = None
    ) -> Written:
        return self._mutate(ctx, opportunity_id, lambda o: o.reopen(self.pipeline().keys, stage), expected_version)
