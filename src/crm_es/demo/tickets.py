"""Demo service tickets (客户服务): a service department with its agents and engineers, and the
complaints, requests, consultations and repairs of the demo customers, with lifecycles that
happened over the 180 days before the day of seeding.

Same seed, same tickets: each chunk of customers (the customers' own chunks, planned again with
``plan_chunk``) draws its tickets from its own ``random.Random``; ticket ids derive from the
customer's id (uuid5). A ticket is built as a ``Ticket`` aggregate through its own methods, with
the moment of each fact given (``at``), so every invariant holds and the due times follow the
service levels on the Chinese working calendar. Everything happens before the day of seeding
(00:00 in China): a ticket whose resolution would come later is still open or in progress. A
chunk's tickets are saved in one transaction, those already stored left out, so seeding again
writes nothing new and an interrupted seed continues where it stopped.

Customers of kind ``customer`` have 0 to 3 tickets (about 1.2 on average), partners 0 to 2,
potential customers sometimes ask something (consultations): about 0.65 tickets per customer
in all, 60,000-odd at the large size.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from crm_es import workdays
from crm_es.aggregates.base import recording
from crm_es.aggregates.ticket import Ticket
from crm_es.demo.data import CHINA_TIME, INDUSTRIES, Size
from crm_es.demo.plan import ID_NAMESPACE, Layout, PlannedCustomer, plan_chunk

if TYPE_CHECKING:
    from crm_es.app import CRM
    from crm_es.runtime import Runtime

SERVICE_DEPARTMENT = "客服部"
TECH_DEPARTMENT = "售后技术部"
SERVICE_MANAGER = ("sunli", "孙丽")
TECH_MANAGER = ("wangjianguo", "王建国")
AGENTS = (
    ("zhoujing", "周静"), ("wuhao", "吴浩"), ("chenyu", "陈雨"), ("liting", "李婷"),
    ("mafei", "马飞"), ("qinlan", "秦岚"), ("xuyan", "许燕"), ("luojia", "罗佳"),
)  # fmt: skip
ENGINEERS = (
    ("liuzhiqiang", "刘志强"), ("zhangwei", "张伟"), ("chengang", "陈刚"), ("yangjun", "杨军"),
    ("huangbin", "黄斌"), ("zhoulei", "周磊"),
)  # fmt: skip
STAFF_BY_SIZE = {"small": (2, 2), "medium": (4, 4), "large": (8, 6)}
"""Agents and engineers per size (other sizes: as small)."""

WINDOW_DAYS = 180
TICKETS_BY_KIND = {"customer": {0: 30, 1: 35, 2: 22, 3: 13}, "partner": {0: 50, 1: 35, 2: 15}, "potential": {0: 80, 1: 20}}
KIND_WEIGHTS = {"repair": 35, "request": 25, "consultation": 25, "complaint": 15}
PRIORITY_WEIGHTS = {"low": 15, "normal": 55, "high": 22, "urgent": 8}
CHANNEL_WEIGHTS = {"phone": 45, "wechat": 20, "email": 15, "web": 10, "visit": 10}
RESOLUTION_DAYS = {"urgent": (0.05, 0.6), "high": (0.2, 3.0), "normal": (0.3, 4.5), "low": (0.5, 7.0)}
"""Working days a resolution takes, by priority (uniform); LATE_CHANCE of them take 2.5 times as long."""
LATE_CHANCE = 0.15
SUBJECTS = {
    "repair": ("{product}故障报修", "{product}无法启动", "{product}异响, 需上门检修", "{product}漏油", "{product}配件损坏"),
    "complaint": ("{product}质量投诉", "交货延迟投诉", "{product}与样品不符", "售后响应太慢", "发票开具错误"),
    "request": ("申请{product}延长保修", "申请上门培训", "要求提供{product}检测报告", "申请补发配件", "变更收货地址"),
    "consultation": ("{product}使用方法咨询", "{product}保养周期咨询", "价格政策咨询", "{product}规格参数咨询", "付款方式咨询"),
}
DESCRIPTIONS = {
    "repair": "客户来电反映{product}出现故障, 影响正常生产, 希望尽快安排维修。",
    "complaint": "客户对{product}相关问题表示不满, 要求给出处理意见。",
    "request": "客户提出书面申请, 需相关部门确认后答复。",
    "consultation": "客户咨询{product}相关问题。",
}
RESOLUTIONS = {
    "repair": ("更换损坏配件, 试机正常", "工程师上门检修, 已恢复运行", "调整参数后故障排除", "更换密封件, 漏油已解决"),
    "complaint": ("已向客户致歉并补发合格品", "查明原因为物流延误, 已协调补偿", "已更正发票并重新寄出", "提供折扣补偿, 客户接受"),
    "request": ("已同意申请并书面回复", "已安排培训, 客户确认", "检测报告已邮寄", "配件已补发"),
    "consultation": ("已电话解答", "已发送使用说明书", "已邮件回复价格政策", "已远程指导操作"),
}
PROGRESS_NOTES = (
    "已电话联系客户, 约定上门时间", "已安排工程师上门", "等待配件到货", "已远程指导客户操作", "已提交质检部门复核",
    "已与客户确认问题细节",
)  # fmt: skip
TRANSFER_NOTES = ("需技术支持, 转售后技术部", "涉及产品质量问题, 转技术部处理", "需上门检修, 转工程师")
VISIT_NOTES = {1: "客户表示不满意, 认为处理太慢", 2: "客户基本满意, 希望改进响应速度", 3: "客户满意",
               4: "客户觉得服务方式很有新意", 5: "客户感到惊喜, 表示感谢"}  # fmt: skip
SATISFACTION_ON_TIME = {5: 25, 4: 30, 3: 30, 2: 10, 1: 5}
SATISFACTION_LATE = {5: 5, 4: 15, 3: 35, 2: 30, 1: 15}


def ticket_id(customer: UUID, number: int) -> UUID:
    return uuid5(customer, f"ticket:{number}")


def _weighted(rng: random.Random, weights: Mapping[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class ServiceStaff:
    """Who handles tickets: agents (客服) take them, engineers (售后技术部) fix what needs fixing."""

    agents: list[tuple[UUID, UUID]]  # (user id, department id)
    engineers: list[tuple[UUID, UUID]]
    service_manager: UUID
    tech_manager: UUID


@dataclass
class SeededTickets:
    departments: int = 2  # 客服部 and 售后技术部
    users: int = 0  # their managers, agents and engineers
    tickets: int = 0  # of the data set: all of them are there now
    existing: int = 0  # of those, stored by an earlier run
    events: int = 0  # written by this run
    seconds: float = 0.0


def seed_staff(app: CRM, size: Size, *, once: Callable[[str], Any], user: Callable[..., UUID]) -> ServiceStaff:
    """The service department, its technical sub-department, their managers and people
    (through the application's commands, each once however often seeding runs)."""
    agents, engineers = STAFF_BY_SIZE.get(size.name, STAFF_BY_SIZE["small"])
    service = app.staff.create_department(ctx=once(f"department:{SERVICE_DEPARTMENT}"), name=SERVICE_DEPARTMENT).id
    tech = app.staff.create_department(ctx=once(f"department:{TECH_DEPARTMENT}"), name=TECH_DEPARTMENT, parent_id=service).id
    service_manager = user(app, *SERVICE_MANAGER, role="service", department_id=service)
    tech_manager = user(app, *TECH_MANAGER, role="service", department_id=tech)
    app.staff.change_department(ctx=once("service-manager"), department_id=service, manager_id=service_manager)
    app.staff.change_department(ctx=once("tech-manager"), department_id=tech, manager_id=tech_manager)
    return ServiceStaff(
        agents=[(user(app, u, n, role="service", department_id=service), service) for u, n in AGENTS[:agents]],
        engineers=[(user(app, u, n, role="service", department_id=tech), tech) for u, n in ENGINEERS[:engineers]],
        service_manager=service_manager, tech_manager=tech_manager,
    )  # fmt: skip


def seed(  # noqa: PLR0913
    runtime: Runtime,
    *,
    size: Size,
    seed: int,
    today: date,
    layout: Layout,
    staff: ServiceStaff,
    stored: Callable[[list[UUID]], set[UUID]],
    actor: str,
    progress: Callable[[int, int], None] | None = None,
) -> SeededTickets:
    """The tickets of every chunk of customers, a chunk per transaction, leaving out those stored.
    ``progress(done, total)`` counts customers whose tickets are there, after each chunk."""
    app = runtime.app
    rules = app.tickets.service_levels().rules
    zone = app.zone.key
    cutoff = datetime.combine(today, time(), CHINA_TIME)
    report = SeededTickets(users=2 + len(staff.agents) + len(staff.engineers))
    started = monotonic()
    if progress is not None:
        progress(0, size.customers)
    for chunk in range(size.chunks):
        customers = plan_chunk(size, seed, chunk, today=today, layout=layout)
        rng = random.Random(f"{seed}:{size.name}:tickets:{chunk}")
        planned = [(c, n) for c in customers for n in range(_weighted(rng, TICKETS_BY_KIND.get(c.kind, {0: 1})))]
        ids = [ticket_id(c.id, n) for c, n in planned]
        found = stored(ids)
        report.tickets += len(ids)
        report.existing += len(found)
        built = []
        with recording(actor, correlation_id=str(uuid5(ID_NAMESPACE, f"{seed}:{size.name}:tickets:{chunk}"))):
            for (customer, _), tid in zip(planned, ids, strict=True):
                ticket = _build(rng, customer, tid, rules=rules, zone=zone, cutoff=cutoff, staff=staff)
                if tid not in found:
                    built.append(ticket)
        if built:
            report.events += sum(len(t.pending_events) for t in built)  # type: ignore[attr-defined]
            app.save(*built)  # one transaction: the chunk's tickets are stored whole or not at all
        report.seconds = monotonic() - started
        if progress is not None:
            progress(size.indexes(chunk).stop, size.customers)
    return report


def _working_moment(rng: random.Random, cutoff: datetime) -> datetime:
    """When a customer reports something: mostly a working day's office hours, sometimes an
    evening or a day off (WeChat never sleeps), within the window before ``cutoff``."""
    day = cutoff.date() - timedelta(days=rng.randint(1, WINDOW_DAYS))
    if rng.random() < 0.9:
        while not workdays.is_working_day(day):
            day -= timedelta(days=1)
        at = time(rng.randint(8, 17), rng.randrange(0, 60, 5))
    else:
        at = time(rng.randint(7, 22), rng.randrange(0, 60, 5))
    return datetime.combine(day, at, CHINA_TIME)


def _between(rng: random.Random, start: datetime, end: datetime, n: int) -> list[datetime]:
    """``n`` moments in order strictly between ``start`` and ``end`` (or at ``start`` if too close)."""
    span = (end - start).total_seconds()
    return sorted(start + timedelta(seconds=max(1.0, span * rng.uniform(0.05, 0.95))) for _ in range(n))


def _build(  # noqa: PLR0913, PLR0915 - one ticket's life, told in order
    rng: random.Random, customer: PlannedCustomer, tid: UUID, *, rules: Sequence[dict[str, Any]], zone: str,
    cutoff: datetime, staff: ServiceStaff,
) -> Ticket:  # fmt: skip
    kind = "consultation" if customer.kind == "potential" else _weighted(rng, KIND_WEIGHTS)
    priority = _weighted(rng, PRIORITY_WEIGHTS)
    product = rng.choice(INDUSTRIES[customer.profile.get("industry", "外贸")].products)
    opened = _working_moment(rng, cutoff)
    contact = rng.choice(customer.contacts).id if customer.contacts and rng.random() < 0.7 else None
    ticket = Ticket.open(
        ticket_id=tid, customer_id=customer.id, kind=kind, priority=priority, channel=_weighted(rng, CHANNEL_WEIGHTS),
        subject=rng.choice(SUBJECTS[kind]).format(product=product), description=DESCRIPTIONS[kind].format(product=product),
        contact_id=contact, rules=rules, zone=zone, at=opened,
    )  # fmt: skip
    low, high = RESOLUTION_DAYS[priority]
    days = rng.uniform(low, high) * (2.5 if rng.random() < LATE_CHANCE else 1.0)
    resolved = workdays.add_working_hours(opened, max(1, round(days * 24)), CHINA_TIME).at
    end = min(resolved, cutoff)
    agent, agent_department = rng.choice(staff.agents)
    assigned, *notes = _between(rng, opened, opened + (end - opened) * 0.3, 1 + rng.randint(0, 2))
    ticket.assign(assignee_id=agent, department_id=agent_department, at=assigned)
    manager = staff.service_manager
    if kind in ("repair", "complaint") and rng.random() < 0.5:
        engineer, tech = rng.choice(staff.engineers)
        transferred = notes.pop(0) if notes else assigned
        ticket.transfer(department_id=tech, assignee_id=engineer, note=rng.choice(TRANSFER_NOTES), at=transferred)
        manager = staff.tech_manager
    for note_at in notes:
        ticket.note_progress(note=rng.choice(PROGRESS_NOTES), at=note_at)
    escalated = max(ticket.due_at + timedelta(hours=rng.randint(1, 20)), ticket.last_at + timedelta(minutes=1))
    if escalated < end and rng.random() < 0.6:
        ticket.escalate(to_user_id=manager, reason=f"overdue: it was due at {ticket.due_at.isoformat()}", at=escalated)
    if resolved >= cutoff:
        return ticket  # still being worked on
    ticket.resolve(resolution=rng.choice(RESOLUTIONS[kind]), resolved_by=ticket.assignee_id or agent, at=resolved)
    last = resolved
    if kind == "repair" or (kind == "complaint" and rng.random() < 0.1):
        day = resolved.astimezone(CHINA_TIME).date()
        if rng.random() < 0.4 and kind == "repair":
            ticket.record_fee(amount=f"{rng.randint(20, 200) * 10}.00", note="上门服务费", incurred_on=day, at=resolved)
        if rng.random() < 0.6:
            note = "配件费" if kind == "repair" else "补偿费用"
            ticket.record_cost(amount=f"{rng.randint(5, 150) * 10}.00", note=note, incurred_on=day, at=resolved)
    if rng.random() < 0.06:  # the problem came back
        reopened = resolved + timedelta(hours=rng.randint(4, 72))
        if reopened >= cutoff:
            return ticket
        ticket.reopen(rules=rules, reason="客户反映问题再次出现", at=reopened)
        again = workdays.add_working_hours(reopened, rng.randint(4, 72), CHINA_TIME).at
        if again >= cutoff:
            return ticket
        ticket.resolve(resolution=rng.choice(RESOLUTIONS[kind]), resolved_by=ticket.assignee_id or agent, at=again)
        last = again
    on_time = last <= ticket.due_at
    visited = last + timedelta(hours=rng.randint(20, 120))
    if visited < cutoff and rng.random() < 0.7:
        satisfaction = _weighted(rng, SATISFACTION_ON_TIME if on_time else SATISFACTION_LATE)
        ticket.record_return_visit(satisfaction=satisfaction, note=VISIT_NOTES[satisfaction], at=visited)
        closed = visited + timedelta(minutes=rng.randint(5, 600))
        if closed < cutoff and rng.random() < 0.8:
            ticket.close(note="回访完成, 关闭工单", at=closed)
    return ticket

