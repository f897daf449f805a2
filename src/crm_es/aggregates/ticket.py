"""The service ticket (客户服务: 投诉, 请求, 咨询, 维修; R-T1..R-T5) and its service levels (SLA, R-T3).

A ticket is opened on a customer, due within its service level counted on the Chinese working
calendar (``workdays.py``), assigned or transferred to the responsible person or department,
worked on (progress notes), resolved, perhaps reopened, closed, followed by a return visit
(回访) with the customer's satisfaction (满意度, 1..5), with service fees and costs (服务收费,
服务支出) recorded along the way, and escalated when it is overdue.

Every event carries ``at``: when the fact happened (the event's own ``timestamp`` is when it
was recorded). Commands default it to now; history that is entered later (demo data, an import
from an older system) gives it. Each ``at`` is at or after the ticket's last one.

Statuses: ``open`` (nobody is on it), ``in_progress`` (assigned to someone or some department),
``resolved``, ``closed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import event

from crm_es import workdays
from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.aggregates.opportunity import check_amount
from crm_es.errors import Conflict, InvalidInput

KINDS = ("complaint", "request", "consultation", "repair")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("phone", "email", "web", "wechat", "visit", "other")
OPEN, IN_PROGRESS, RESOLVED, CLOSED = "open", "in_progress", "resolved", "closed"
STATUSES = (OPEN, IN_PROGRESS, RESOLVED, CLOSED)
ACTIVE = (OPEN, IN_PROGRESS)
SATISFACTION = {1: "不满意", 2: "基本满意", 3: "满意", 4: "新奇", 5: "惊喜"}
"""The five levels of satisfaction (R-C6), as the satisfaction_levels reference list has them."""


def _choice(field: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InvalidInput.on(field, f"must be one of {', '.join(choices)}")
    return value


def check_satisfaction(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise InvalidInput.on(
            "satisfaction", "must be a whole number from 1 to 5 (" + ", ".join(f"{k} {v}" for k, v in SATISFACTION.items()) + ")"
        )
    return value


def _check_moment(field: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput.on(field, "must be a moment with a time zone offset")
    return value


# Service levels ----------------------------------------------------------------------------------

SERVICE_LEVELS_ID = uuid5(NAMESPACE_URL, "crm-es:service-levels")
UNITS = ("working_days", "working_hours")
MAX_AMOUNT = {"working_days": 365, "working_hours": 2000}
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"kind": None, "priority": None, "unit": "working_days", "amount": 3},
    {"kind": None, "priority": "urgent", "unit": "working_hours", "amount": 8},
)
"""Reply within 3 working days (R-T3), 8 working hours when urgent."""


def check_rules(rules: Iterable[Any]) -> tuple[dict[str, Any], ...]:
    """Service-level rules ``{kind, priority, unit, amount}``: ``kind`` and ``priority`` may be
    null (any); one rule per pair; the rule with both null (the default) is required."""
    cleaned: list[dict[str, Any]] = []
    seen: set[tuple[str | None, str | None]] = set()
    for n, rule in enumerate(rules):
        field = f"rules[{n}]"
        if not isinstance(rule, dict):
            raise InvalidInput.on(field, "must be an object {kind, priority, unit, amount}")
        unknown = set(rule) - {"kind", "priority", "unit", "amount"}
        if unknown:
            raise InvalidInput.on(f"{field}.{sorted(unknown)[0]}", "is not a field of a rule")
        kind, priority = rule.get("kind"), rule.get("priority")
        if kind is not None:
            _choice(f"{field}.kind", kind, KINDS)
        if priority is not None:
            _choice(f"{field}.priority", priority, PRIORITIES)
        unit = _choice(f"{field}.unit", rule.get("unit"), UNITS)
        amount = rule.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= MAX_AMOUNT[unit]:
            raise InvalidInput.on(f"{field}.amount", f"must be a whole number from 1 to {MAX_AMOUNT[unit]} ({unit})")
        if (kind, priority) in seen:
            raise InvalidInput.on(field, f"a second rule for kind {kind or 'any'} and priority {priority or 'any'}")
        seen.add((kind, priority))
        cleaned.append({"kind": kind, "priority": priority, "unit": unit, "amount": amount})
    if (None, None) not in seen:
        raise InvalidInput.on("rules", "the default rule (kind and priority both null) is required")
    order = {None: -1, **{k: i for i, k in enumerate(KINDS)}}
    rank = {None: -1, **{p: i for i, p in enumerate(PRIORITIES)}}
    return tuple(sorted(cleaned, key=lambda r: (r["kind"] is not None, order[r["kind"]], rank[r["priority"]])))


def rule_for(rules: Sequence[dict[str, Any]], kind: str, priority: str) -> dict[str, Any]:
    """The rule of a ticket: for its kind and priority, else its priority, else its kind, else
    the default (urgency decides before the kind)."""
    by_pair = {(r["kind"], r["priority"]): r for r in rules}
    for pair in ((kind, priority), (None, priority), (kind, None), (None, None)):
        if pair in by_pair:
            return by_pair[pair]
    raise Conflict("the service levels have no default rule")  # check_rules makes this impossible


def due_at(opened_at: datetime, rule: dict[str, Any], zone: tzinfo) -> workdays.Moment:
    """When a ticket opened at ``opened_at`` is due under ``rule``, on the working calendar."""
    if rule["unit"] == "working_days":
        return workdays.add_working_days(opened_at, rule["amount"], zone)
    return workdays.add_working_hours(opened_at, rule["amount"], zone)


class ServiceLevels(CrmAggregate):
    """How soon tickets are due, per kind and priority (one per installation)."""

    @staticmethod
    def create_id(**_: Any) -> UUID:  # type: ignore[override]
        return SERVICE_LEVELS_ID

    @classmethod
    def create(cls, rules: Iterable[Any] = DEFAULT_RULES) -> ServiceLevels:
        return cls(rules=check_rules(rules))

    @event("Created")
    def __init__(self, *, rules: tuple[dict[str, Any], ...]) -> None:
        self.rules = tuple(dict(r) for r in rules)

    def change_rules(self, rules: Iterable[Any]) -> bool:
        """Replace the rules; False when they are the same (no event)."""
        cleaned = check_rules(rules)
        if cleaned == self.rules:
            return False
        self._rules_changed(rules=cleaned)
        return True

    @event("RulesChanged")
    def _rules_changed(self, rules: tuple[dict[str, Any], ...]) -> None:
        self.rules = tuple(dict(r) for r in rules)


# The ticket --------------------------------------------------------------------------------------


def _sla(rule: dict[str, Any], due: workdays.Moment) -> dict[str, Any]:
    return {
        "unit": rule["unit"], "amount": rule["amount"], "calendar": "chinese" if due.covered else "weekends_only",
    }  # fmt: skip


class Ticket(CrmAggregate):
    """A service ticket on one customer."""

    @classmethod
    def open(  # noqa: PLR0913 - one parameter per field of the fact
        cls,
        *,
        customer_id: UUID,
        kind: Any,
        subject: Any,
        rules: Sequence[dict[str, Any]],
        zone: str,
        at: datetime,
        contact_id: UUID | None = None,
        channel: Any = "phone",
        description: Any = None,
        priority: Any = "normal",
        ticket_id: UUID | None = None,
    ) -> Ticket:
        """A new ticket, due by the service level for its kind and priority, counted from
        ``at`` on the working calendar of time zone ``zone``."""
        kind = _choice("kind", kind, KINDS)
        priority = _choice("priority", priority, PRIORITIES)
        at = _check_moment("opened_at", at)
        rule = rule_for(rules, kind, priority)
        due = due_at(at, rule, ZoneInfo(zone))
        fields = dict(
            customer_id=customer_id, contact_id=contact_id, kind=kind, channel=_choice("channel", channel, CHANNELS),
            subject=check_text("subject", subject, 200, required=True), description=check_text("description", description, 5000),
            priority=priority, at=at, due_at=due.at, sla=_sla(rule, due), zone=zone,
        )  # fmt: skip
        if ticket_id is None:
            return cls(**fields)
        # The same "Opened" event with the given id (demo data derives its ids from the seed).
        return cls._create(cls.Opened, id=ticket_id, **fields)  # type: ignore[attr-defined]

    @event("Opened")
    def __init__(  # noqa: PLR0913
        self,
        *,
        customer_id: UUID,
        contact_id: UUID | None,
        kind: str,
        channel: str,
        subject: str,
        description: str | None,
        priority: str,
        at: datetime,
        due_at: datetime,
        sla: dict[str, Any],
        zone: str,
    ) -> None:
        self.customer_id = customer_id
        self.contact_id = contact_id
        self.kind = kind
        self.channel = channel
        self.subject = subject
        self.description = description
        self.priority = priority
        self.opened_at = at
        self.due_at = due_at
        self.sla = dict(sla)
        self.zone = zone
        self.status = OPEN
        self.assignee_id: UUID | None = None
        self.department_id: UUID | None = None
        self.resolved_at: datetime | None = None
        self.escalations = 0
        self.last_at = at

    # Invariants ------------------------------------------------------------------------------

    def _check_at(self, at: Any) -> datetime:
        at = _check_moment("at", at)
        if at < self.last_at:
            raise InvalidInput.on("at", f"must not be before the ticket's last change ({self.last_at.isoformat()})")
        return at

    def _check_active(self, doing: str) -> None:
        if self.status not in ACTIVE:
            raise Conflict(f"the ticket is {self.status}: reopen it before you {doing}")

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    # Who works on it ---------------------------------------------------------------------------

    def assign(self, *, assignee_id: UUID, department_id: UUID | None, at: datetime, reason: Any = None) -> bool:
        """Give the ticket to ``assignee_id`` (of ``department_id``); False if it is theirs already."""
        self._check_active("assign it")
        reason = check_text("reason", reason, 500)
        at = self._check_at(at)
        if assignee_id == self.assignee_id:
            return False
        self._assigned(
            assignee_id=assignee_id, department_id=department_id, previous_assignee_id=self.assignee_id, reason=reason,
            at=at,
        )  # fmt: skip
        return True

    @event("Assigned")
    def _assigned(
        self, assignee_id: UUID, department_id: UUID | None, previous_assignee_id: UUID | None, reason: str | None,
        at: datetime,
    ) -> None:  # fmt: skip
        self.assignee_id = assignee_id
        self.department_id = department_id
        self.status = IN_PROGRESS
        self.last_at = at

    def transfer(self, *, department_id: UUID | None, assignee_id: UUID | None, note: Any, at: datetime) -> None:
        """Hand the ticket to the responsible department and/or person (转交), with a note."""
        self._check_active("transfer it")
        note = check_text("note", note, 2000, required=True)
        at = self._check_at(at)
        if department_id is None and assignee_id is None:
            raise InvalidInput.on("department_id", "name the department or the person (assignee_id) it goes to")
        if (department_id, assignee_id) == (self.department_id, self.assignee_id):
            raise Conflict("the ticket is with that department and person already")
        self._transferred(
            department_id=department_id, assignee_id=assignee_id, previous_department_id=self.department_id,
            previous_assignee_id=self.assignee_id, note=note, at=at,
        )  # fmt: skip

    @event("Transferred")
    def _transferred(  # noqa: PLR0913
        self, department_id: UUID | None, assignee_id: UUID | None, previous_department_id: UUID | None,
        previous_assignee_id: UUID | None, note: str, at: datetime,
    ) -> None:  # fmt: skip
        self.department_id = department_id
        self.assignee_id = assignee_id
        self.status = IN_PROGRESS if assignee_id is not None or department_id is not None else OPEN
        self.last_at = at

    def note_progress(self, *, note: Any, at: datetime) -> None:
        """Record how handling goes (受理情况)."""
        self._check_active("note progress")
        self._progress_noted(note=check_text("note", note, 5000, required=True), at=self._check_at(at))

    @event("ProgressNoted")
    def _progress_noted(self, note: str, at: datetime) -> None:
        self.last_at = at

    def escalate(self, *, to_user_id: UUID | None, reason: Any, at: datetime) -> None:
        """Raise the ticket to ``to_user_id`` (a manager), one level more each time."""
        self._check_active("escalate it")
        reason = check_text("reason", reason, 500, required=True)
        self._escalated(to_user_id=to_user_id, level=self.escalations + 1, reason=reason, due_at=self.due_at,
                        at=self._check_at(at))  # fmt: skip

    @event("Escalated")
    def _escalated(self, to_user_id: UUID | None, level: int, reason: str, due_at: datetime, at: datetime) -> None:
        self.escalations = level
        self.last_at = at

    # Resolution ------------------------------------------------------------------------------

    def resolve(self, *, resolution: Any, resolved_by: UUID, at: datetime) -> None:
        """Resolved by ``resolved_by`` at ``at``; records the working days it took from opening
        and whether that was within its due time."""
        if self.status == CLOSED:
            raise Conflict("the ticket is closed: a closed ticket cannot be resolved; reopen it first")
        if self.status == RESOLVED:
            raise Conflict("the ticket is resolved already")
        resolution = check_text("resolution", resolution, 5000, required=True)
        at = self._check_at(at)
        span = workdays.working_days_between(self.opened_at, at, self._zone)
        self._resolved(
            resolution=resolution, resolved_by=resolved_by, at=at, working_days=span.days, within_sla=at <= self.due_at
        )

    @event("Resolved")
    def _resolved(self, resolution: str, resolved_by: UUID, at: datetime, working_days: Decimal, within_sla: bool) -> None:
        self.status = RESOLVED
        self.resolved_at = at
        self.last_at = at

    def reopen(self, *, rules: Sequence[dict[str, Any]], reason: Any, at: datetime) -> None:
        """Open a resolved or closed ticket again; it is due anew, counted from now."""
        if self.status in ACTIVE:
            raise Conflict(f"the ticket is {self.status.replace('_', ' ')}: only a resolved or closed ticket can be reopened")
        reason = check_text("reason", reason, 2000)
        at = self._check_at(at)
        rule = rule_for(rules, self.kind, self.priority)
        due = due_at(at, rule, self._zone)
        self._reopened(reason=reason, previous_status=self.status, due_at=due.at, sla=_sla(rule, due), at=at)

    @event("Reopened")
    def _reopened(self, reason: str | None, previous_status: str, due_at: datetime, sla: dict[str, Any], at: datetime) -> None:
        self.status = IN_PROGRESS if self.assignee_id is not None or self.department_id is not None else OPEN
        self.due_at = due_at
        self.sla = dict(sla)
        self.resolved_at = None
        self.last_at = at

    def close(self, *, note: Any = None, at: datetime) -> None:
        if self.status == CLOSED:
            raise Conflict("the ticket is closed already")
        if self.status != RESOLVED:
            raise Conflict(f"the ticket is {self.status.replace('_', ' ')}: resolve it before you close it")
        self._closed(note=check_text("note", note, 2000), at=self._check_at(at))

    @event("Closed")
    def _closed(self, note: str | None, at: datetime) -> None:
        self.status = CLOSED
        self.last_at = at

    def record_return_visit(self, *, satisfaction: Any, note: Any = None, at: datetime) -> None:
        """The customer was called back (回访) after the resolution, and said how satisfied they are."""
        satisfaction = check_satisfaction(satisfaction)
        if self.status not in (RESOLVED, CLOSED):
            raise Conflict(
                f"the ticket is {self.status.replace('_', ' ')}: a return visit is recorded only after the ticket is resolved"
            )
        self._return_visit_recorded(
            satisfaction=satisfaction, note=check_text("note", note, 2000), assignee_id=self.assignee_id,
            at=self._check_at(at),
        )  # fmt: skip

    @event("ReturnVisitRecorded")
    def _return_visit_recorded(self, satisfaction: int, note: str | None, assignee_id: UUID | None, at: datetime) -> None:
        self.last_at = at

    # Money -----------------------------------------------------------------------------------

    def _charge(self, amount: Any, note: Any, incurred_on: Any, at: datetime) -> dict[str, Any]:
        amount = check_amount("amount", amount)
        if amount == 0:
            raise InvalidInput.on("amount", "must be more than zero")
        at = self._check_at(at)
        if incurred_on is None:
            incurred_on = at.astimezone(self._zone).date()
        if not isinstance(incurred_on, date) or isinstance(incurred_on, datetime):
            raise InvalidInput.on("incurred_on", "must be a date (YYYY-MM-DD)")
        return {"amount": amount, "note": check_text("note", note, 500), "incurred_on": incurred_on, "at": at}

    def record_fee(self, *, amount: Any, note: Any = None, incurred_on: Any = None, at: datetime) -> None:
        """A service fee charged to the customer (服务收费)."""
        self._fee_recorded(**self._charge(amount, note, incurred_on, at))

    @event("FeeRecorded")
    def _fee_recorded(self, amount: Decimal, note: str | None, incurred_on: date, at: datetime) -> None:
        self.last_at = at

    def record_cost(self, *, amount: Any, note: Any = None, incurred_on: Any = None, at: datetime) -> None:
        """A cost the service incurred (服务支出): parts, travel, subcontracting."""
        self._cost_recorded(**self._charge(amount, note, incurred_on, at))

    @event("CostRecorded")
    def _cost_recorded(self, amount: Decimal, note: str | None, incurred_on: date, at: datetime) -> None:
        self.last_at = at
