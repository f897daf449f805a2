"""Service tickets over HTTP: the lifecycle, due dates on the Chinese working calendar, bad
transitions, data scope, the customer's row, the service levels, the report and its files."""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime
from typing import Any

import pytest

from tests.api.conftest import Api

PASSWORD = "tickets-password-1"


def _user(api: Api, role: str, department_id: str | None = None) -> tuple[str, Api]:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    name = f"t-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": PASSWORD, "display_name": name, "role_ids": [roles[role]]}
    if department_id:
        body["department_id"] = department_id
    created = api.post("/users", json=body)
    assert created.status_code == 201, created.text
    login = api.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return created.json()["id"], Api(api.client, login.json()["access_token"])


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def _open(who: Api, customer_id: str, **fields: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "kind": "complaint", "subject": who.unique("注塑机液压缸漏油"), **fields}
    return _ok(who.post("/tickets", json=body), 201)


@pytest.fixture(scope="module")
def team(api: Api) -> dict[str, Any]:
    """A service department (售后技术部) with a manager and an engineer, a service clerk, a
    salesperson with a customer of their own, and another salesperson."""
    department = _ok(api.post("/departments", json={"name": api.unique("售后技术部")}), 201)["id"]
    manager_id, manager = _user(api, "service", department)
    _ok(api.patch(f"/departments/{department}", json={"manager_id": manager_id}))
    engineer_id, engineer = _user(api, "salesperson", department)
    clerk_id, clerk = _user(api, "service")
    seller_id, seller = _user(api, "salesperson")
    other_id, other = _user(api, "salesperson")
    customer = seller.create_customer()["id"]
    contact = _ok(seller.post(f"/customers/{customer}/contacts", json={"name": "李强", "title": "设备科长"}), 201)["id"]
    return {
        "department": department, "manager_id": manager_id, "manager": manager, "engineer_id": engineer_id,
        "engineer": engineer, "clerk_id": clerk_id, "clerk": clerk, "seller_id": seller_id, "seller": seller,
        "other_id": other_id, "other": other, "customer": customer, "contact": contact,
    }  # fmt: skip


# The lifecycle -----------------------------------------------------------------------------------


def test_a_complaint_is_transferred_resolved_reopened_closed_and_visited(api: Api, team: dict[str, Any]) -> None:
    clerk: Api = team["clerk"]
    opened = clerk.post("/tickets", json={
        "customer_id": team["customer"], "contact_id": team["contact"], "kind": "complaint", "priority": "high",
        "channel": "wechat", "subject": "注塑机液压缸漏油", "description": "3 号机漏油, 影响生产",
        "opened_at": "2025-09-26T10:00:00+08:00"})  # fmt: skip
    created = _ok(opened, 201)
    tid = created["id"]
    assert opened.headers["Location"] == f"/api/v1/tickets/{tid}"
    # Friday 26 September 2025 + 3 working days: Sunday 28 September is a make-up working day (调休).
    assert created["due_at"] == "2025-09-30T10:00:00+08:00"
    assert created["sla"] == {"unit": "working_days", "amount": 3, "calendar": "chinese", "note": None}
    path = f"/tickets/{tid}"
    _problem(clerk.post(f"{path}/return-visit", json={"satisfaction": 3}), 409)
    _ok(clerk.post(f"{path}/assign", json={"assignee_id": team["clerk_id"]}))
    _ok(clerk.post(f"{path}/transfer", json={"department_id": team["department"], "note": "属液压件质量问题, 转售后技术部"}))
    _ok(clerk.post(f"{path}/progress", json={"note": "已电话联系客户, 明天上门检修"}))
    _ok(clerk.post(f"{path}/transfer", json={"assignee_id": team["engineer_id"], "note": "由王工上门"}))
    _ok(clerk.post(f"{path}/fees", json={"amount": "300.00", "note": "上门服务费", "incurred_on": "2026-11-02"}))
    _ok(clerk.post(f"{path}/costs", json={"amount": "120.50", "note": "密封圈", "incurred_on": "2026-11-02"}))
    _ok(clerk.post(f"{path}/resolve", json={"resolution": "更换密封圈, 试机正常", "resolved_by": team["engineer_id"]}))
    _problem(clerk.post(f"{path}/return-visit", json={"satisfaction": 6}), 422, "satisfaction")
    _ok(clerk.post(f"{path}/return-visit", json={"satisfaction": 2, "note": "仍有少量渗漏"}))
    reopened = _ok(clerk.post(f"{path}/reopen", json={"reason": "客户反映仍有渗漏"}))
    assert reopened["due_at"] > created["due_at"]
    _ok(clerk.post(f"{path}/resolve", json={"resolution": "更换液压缸"}))
    _ok(clerk.post(f"{path}/close", json={"note": "客户确认"}))
    last = _ok(clerk.post(f"{path}/return-visit", json={"satisfaction": 4, "note": "满意"}))

    detail = clerk.get(path, params={"min_position": last["position"]})
    body = _ok(detail)
    assert detail.headers["ETag"] == f'"{last["version"]}"'
    assert (body["status"], body["kind"], body["priority"], body["channel"]) == ("closed", "complaint", "high", "wechat")
    assert (body["customer_id"], body["contact_id"], body["customer_owner_id"]) == (team["customer"], team["contact"], team["seller_id"])
    assert body["customer_name"].startswith("宁波测试贸易有限公司")
    assert (body["assignee_id"], body["department_id"]) == (team["engineer_id"], team["department"])
    assert (body["satisfaction"], body["reopened"], body["fees"], body["costs"]) == (4, 1, "300.00", "120.50")
    assert body["resolved_by"] == team["clerk_id"] and body["resolution"] == "更换液压缸"
    # Working days count from the opening; the reopening set a new due time, which the second
    # resolution met.
    assert body["resolution_working_days"] > 100 and body["resolved_within_sla"] is True and body["overdue"] is False
    assert [e["event_type"] for e in body["timeline"]] == [
        "Ticket.Opened", "Ticket.Assigned", "Ticket.Transferred", "Ticket.ProgressNoted", "Ticket.Transferred",
        "Ticket.FeeRecorded", "Ticket.CostRecorded", "Ticket.Resolved", "Ticket.ReturnVisitRecorded", "Ticket.Reopened",
        "Ticket.Resolved", "Ticket.Closed", "Ticket.ReturnVisitRecorded",
    ]  # fmt: skip
    transfer = body["timeline"][2]
    # A department alone goes to its manager.
    assert transfer["data"]["assignee_id"] == team["manager_id"] and transfer["data"]["note"].startswith("属液压件")
    assert datetime.fromisoformat(body["timeline"][0]["at"]) == datetime.fromisoformat("2025-09-26T10:00:00+08:00")
    assert body["timeline"][0]["actor"] == team["clerk_id"]
    assert body["timeline"][7]["data"]["resolved_by"] == team["engineer_id"]


def test_bad_transitions_are_409_with_a_clear_message(api: Api, team: dict[str, Any]) -> None:
    tid = _open(api, team["customer"])["id"]
    path = f"/tickets/{tid}"
    assert "after the ticket is resolved" in _problem(api.post(f"{path}/return-visit", json={"satisfaction": 5}), 409)["detail"]
    assert "resolve it before you close it" in _problem(api.post(f"{path}/close"), 409)["detail"]
    assert "only a resolved or closed ticket" in _problem(api.post(f"{path}/reopen"), 409)["detail"]
    _ok(api.post(f"{path}/resolve", json={"resolution": "已解答"}))
    assert "resolved already" in _problem(api.post(f"{path}/resolve", json={"resolution": "again"}), 409)["detail"]
    assert "reopen it before you assign" in _problem(api.post(f"{path}/assign", json={"assignee_id": team["clerk_id"]}), 409)["detail"]
    _problem(api.post(f"{path}/progress", json={"note": "x"}), 409)
    _problem(api.post(f"{path}/escalate", json={"reason": "x"}), 409)
    _ok(api.post(f"{path}/close"))
    problem = _problem(api.post(f"{path}/resolve", json={"resolution": "again"}), 409)
    assert problem["detail"] == "the ticket is closed: a closed ticket cannot be resolved; reopen it first"
    assert "closed already" in _problem(api.post(f"{path}/close"), 409)["detail"]
    _problem(api.post(f"{path}/transfer", json={"assignee_id": team["clerk_id"], "note": "x"}), 409)
    # Fees and costs may still come in after closing; the ticket is unchanged by what was refused.
    cost = _ok(api.post(f"{path}/costs", json={"amount": "10.00"}))
    timeline = _ok(api.get(path, params={"min_position": cost["position"]}))
    assert [e["event_type"] for e in timeline["timeline"]] == [
        "Ticket.Opened", "Ticket.Resolved", "Ticket.Closed", "Ticket.CostRecorded"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "praise"}, "kind"),
        ({"priority": "asap"}, "priority"),
        ({"channel": "pigeon"}, "channel"),
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"contact_id": "00000000-0000-4000-8000-000000000000"}, "contact_id"),
        ({"assignee_id": "00000000-0000-4000-8000-000000000000"}, "assignee_id"),
        ({"opened_at": "2026-01-01T10:00:00"}, "opened_at"),
        ({"opened_at": "2999-01-01T10:00:00+08:00"}, "opened_at"),
        ({"urgency": "high"}, "urgency"),
    ],
)
def test_opening_with_bad_input_is_a_422_on_the_field(api: Api, team: dict[str, Any], change: dict[str, Any], field: str) -> None:
    body = {"customer_id": team["customer"], "kind": "repair", "subject": "x", **change}
    _problem(api.post("/tickets", json=body), 422, field)


def test_commands_with_bad_input_are_422_and_unknown_tickets_404(api: Api, team: dict[str, Any]) -> None:
    path = f"/tickets/{_open(api, team['customer'])['id']}"
    _problem(api.post(f"{path}/fees", json={"amount": "-1.00"}), 422, "amount")
    _problem(api.post(f"{path}/fees", json={"amount": "0.00"}), 422, "amount")
    _problem(api.post(f"{path}/costs", json={"amount": "1.005"}), 422, "amount")
    _problem(api.post(f"{path}/fees", json={"amount": "1.00", "incurred_on": "2026-02-30"}), 422, "incurred_on")
    _problem(api.post(f"{path}/transfer", json={"note": "nowhere"}), 422, "department_id")
    _problem(api.post(f"{path}/transfer", json={"department_id": str(uuid.uuid4()), "note": "x"}), 422, "department_id")
    _problem(api.post(f"{path}/transfer", json={"assignee_id": team["clerk_id"]}), 422, "note")
    _problem(api.post(f"{path}/assign", json={"assignee_id": str(uuid.uuid4())}), 422, "assignee_id")
    _problem(api.post(f"{path}/progress", json={"note": "  "}), 422, "note")
    _problem(api.post(f"{path}/resolve", json={"resolution": "x", "resolved_at": "2999-01-01T00:00:00Z"}), 422, "resolved_at")
    _problem(api.post(f"{path}/resolve", json={"resolution": "x", "resolved_at": "2001-01-01T00:00:00Z"}), 422, "at")
    _problem(api.post(f"{path}/resolve", json={"resolution": "x", "resolved_by": str(uuid.uuid4())}), 422, "resolved_by")
    _problem(api.post(f"{path}/assign", json={"assignee_id": team["clerk_id"]}, headers={"If-Match": '"9"'}), 412)
    _ok(api.post(f"{path}/resolve", json={"resolution": "x"}))
    _problem(api.post(f"{path}/return-visit", json={"satisfaction": 0}), 422, "satisfaction")
    _problem(api.post(f"{path}/return-visit", json={"satisfaction": "5"}), 422, "satisfaction")
    _problem(api.post(f"{path}/return-visit", json={"satisfaction": True}), 422, "satisfaction")
    _problem(api.post(f"{path}/return-visit", json={"satisfaction": 4.5}), 422, "satisfaction")
    unknown = f"/tickets/{uuid.uuid4()}"
    _problem(api.get(unknown), 404)
    _problem(api.post(f"{unknown}/resolve", json={"resolution": "x"}), 404)
    _problem(api.post(f"{unknown}/close"), 404)
    _problem(api.get("/tickets/not-a-uuid"), 422)
    _problem(api.get("/tickets", params={"cursor": "nonsense"}), 422, "cursor")
    _problem(api.get("/tickets", params={"status": "pending"}), 422)
    _problem(api.get("/tickets", params={"overdue": "maybe"}), 422)
    _problem(api.get("/tickets", params={"department_id": str(uuid.uuid4())}), 422, "department_id")
    _problem(api.get("/reports/service", params={"from": "2026-02-01", "to": "2026-01-01"}), 422, "from")


def test_a_repeated_idempotency_key_opens_one_ticket(api: Api, team: dict[str, Any]) -> None:
    body = {"customer_id": team["customer"], "kind": "request", "subject": api.unique("申请延长保修")}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = _ok(api.post("/tickets", json=body, headers=key), 201)
    again = api.post("/tickets", json=body, headers=key)
    assert again.json()["id"] == first["id"] and again.json()["position"] == first["position"]


# Due dates over HTTP -----------------------------------------------------------------------------


def test_urgent_tickets_are_due_in_working_hours_and_days_off_stop_the_clock(api: Api, team: dict[str, Any]) -> None:
    # Tuesday 30 September 2025, 20:00: four hours of that day, then 1-8 October are the
    # National Day holiday; the clock goes on on Thursday 9 October at 00:00.
    urgent = _open(api, team["customer"], priority="urgent", opened_at="2025-09-30T20:00:00+08:00")
    assert urgent["due_at"] == "2025-10-09T04:00:00+08:00"
    assert urgent["sla"] == {"unit": "working_hours", "amount": 8, "calendar": "chinese", "note": None}


def test_outside_the_calendars_years_due_dates_count_weekends_only_and_say_so(api: Api, team: dict[str, Any]) -> None:
    from crm_es import workdays

    assert not workdays.covers(date(2003, 6, 2))
    # Monday 2 June 2003, before the first year the calendar knows: Monday to Friday count.
    early = _open(api, team["customer"], opened_at="2003-06-02T10:00:00+08:00")
    assert early["due_at"] == "2003-06-05T10:00:00+08:00"
    assert early["sla"]["calendar"] == "weekends_only"
    assert f"covers {workdays.FIRST_YEAR} to {workdays.LAST_YEAR}" in early["sla"]["note"]
    detail = _ok(api.get(f"/tickets/{early['id']}", params={"min_position": early["position"]}))
    assert detail["sla"] == early["sla"]
    levels = _ok(api.get("/tickets/sla"))
    assert (levels["calendar"]["first_year"], levels["calendar"]["last_year"]) == (workdays.FIRST_YEAR, workdays.LAST_YEAR)
    assert levels["calendar"]["time_zone"] == "Asia/Shanghai"


# The service levels ------------------------------------------------------------------------------


def test_service_levels_are_data_changed_through_the_api(api: Api, team: dict[str, Any]) -> None:
    got = api.get("/tickets/sla")
    levels = _ok(got)
    assert levels["rules"] == [
        {"kind": None, "priority": None, "unit": "working_days", "amount": 3},
        {"kind": None, "priority": "urgent", "unit": "working_hours", "amount": 8},
    ]
    _problem(team["clerk"].put("/tickets/sla", json={"rules": levels["rules"]}), 403)
    _problem(api.put("/tickets/sla", json={"rules": [{"kind": "complaint", "unit": "working_days", "amount": 1}]}), 422, "rules")
    _problem(api.put("/tickets/sla", json={"rules": [{"unit": "weeks", "amount": 1}]}), 422)
    _problem(api.put("/tickets/sla", json={"rules": [{"unit": "working_days", "amount": 0}]}), 422)
    _problem(api.put("/tickets/sla", json={"rules": [{"unit": "working_days", "amount": 3}] * 2}), 422, "rules[1]")
    _problem(api.put("/tickets/sla", json={"rules": [{"unit": "working_days", "amount": 400}]}), 422, "rules[0].amount")
    changed_rules = [*levels["rules"], {"kind": "complaint", "priority": "high", "unit": "working_days", "amount": 1}]
    try:
        changed = api.put("/tickets/sla", json={"rules": changed_rules}, headers={"If-Match": got.headers["ETag"]})
        assert changed.status_code == 200, changed.text
        _problem(api.put("/tickets/sla", json={"rules": levels["rules"]}, headers={"If-Match": got.headers["ETag"]}), 412)
        # Friday 26 September 2025 + 1 working day: Sunday 28 September (调休).
        quick = _open(api, team["customer"], priority="high", opened_at="2025-09-26T10:00:00+08:00")
        assert quick["due_at"] == "2025-09-28T10:00:00+08:00"
        other = _open(api, team["customer"], kind="repair", priority="high", opened_at="2025-09-26T10:00:00+08:00")
        assert other["due_at"] == "2025-09-30T10:00:00+08:00"
    finally:
        assert api.put("/tickets/sla", json={"rules": levels["rules"]}).status_code == 200


# Data scope --------------------------------------------------------------------------------------


def test_a_ticket_is_seen_by_its_customers_owner_and_its_assignee_and_follows_a_reassigned_customer(
    api: Api, team: dict[str, Any]
) -> None:  # fmt: skip
    seller: Api = team["seller"]
    other: Api = team["other"]
    engineer: Api = team["engineer"]
    ticket = _open(team["clerk"], team["customer"])
    tid = ticket["id"]
    wait = {"min_position": ticket["position"]}
    mine = [t["id"] for t in seller.get("/tickets", params={**wait, "limit": 500}).json()["items"]]
    assert tid in mine
    _ok(seller.get(f"/tickets/{tid}", params=wait))
    _problem(other.get(f"/tickets/{tid}", params=wait), 404)
    assert tid not in [t["id"] for t in other.get("/tickets", params={**wait, "limit": 500}).json()["items"]]
    _problem(engineer.get(f"/tickets/{tid}", params=wait), 404)
    assigned = _ok(api.post(f"/tickets/{tid}/assign", json={"assignee_id": team["engineer_id"]}))
    wait = {"min_position": assigned["position"]}
    _ok(engineer.get(f"/tickets/{tid}", params=wait))
    assert [t["id"] for t in engineer.get("/tickets", params={**wait, "assignee_id": team["engineer_id"]}).json()["items"]][:1] == [tid]
    # Salespeople cannot write tickets (tickets:read only).
    _problem(seller.post(f"/tickets/{tid}/progress", json={"note": "x"}), 403)
    # The customer moves to another salesperson: the ticket's scope follows it.
    moved = _ok(api.post(f"/customers/{team['customer']}/reassign", json={"owner_id": team["other_id"]}))
    wait = {"min_position": moved["position"]}
    try:
        _problem(seller.get(f"/tickets/{tid}", params=wait), 404)
        seen = _ok(other.get(f"/tickets/{tid}", params=wait))
        assert seen["customer_owner_id"] == team["other_id"]
    finally:
        _ok(api.post(f"/customers/{team['customer']}/reassign", json={"owner_id": team["seller_id"]}))


def test_a_customer_outside_the_callers_scope_cannot_have_tickets_opened_by_them(api: Api, team: dict[str, Any]) -> None:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    role = _ok(api.post("/roles", json={"name": api.unique("own-service"), "permissions": ["customers:read", "tickets:read",
                                       "tickets:write"], "data_scope": "own"}), 201)["id"]  # fmt: skip
    assert role not in roles.values()
    name = f"t-{uuid.uuid4().hex[:8]}"
    _ok(api.post("/users", json={"username": name, "password": PASSWORD, "display_name": name, "role_ids": [role]}), 201)
    token = api.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD}).json()["access_token"]
    narrow = Api(api.client, token)
    problem = _problem(narrow.post("/tickets", json={"customer_id": team["customer"], "kind": "request", "subject": "x"}), 422)
    assert problem["errors"] == [{"field": "customer_id", "message": f"no customer with id {team['customer']}"}]


def test_without_the_permission_tickets_are_forbidden(api: Api) -> None:
    _, warehouse = _user(api, "warehouse")
    _problem(warehouse.get("/tickets"), 403)
    _problem(warehouse.post("/tickets", json={}), 403)
    _problem(warehouse.get("/reports/service"), 403)
    _problem(warehouse.get("/tickets/sla"), 403)


# Lists, the customer's row, the report -----------------------------------------------------------


def test_the_list_filters_and_searches(api: Api, team: dict[str, Any]) -> None:
    customer = team["seller"].create_customer()["id"]
    token = uuid.uuid4().hex[:6]
    first = _open(api, customer, kind="repair", priority="low", subject=f"空压机 {token} 异响")
    second = _open(api, customer, kind="consultation", subject=f"发票 {token} 咨询", opened_at="2025-09-26T10:00:00+08:00")
    third = _open(api, customer, kind="request", subject=f"延保 {token} 申请", assignee_id=team["engineer_id"])
    done = _ok(api.post(f"/tickets/{third['id']}/resolve", json={"resolution": "同意延保一年"}))
    wait = {"min_position": done["position"]}

    def ids(**params: Any) -> list[str]:
        return [t["id"] for t in _ok(api.get("/tickets", params={**wait, "limit": 500, **params}))["items"]]

    assert ids(customer_id=customer) == [third["id"], first["id"], second["id"]]  # newest opened first
    assert ids(customer_id=customer, status="resolved") == [third["id"]]
    assert ids(customer_id=customer, kind="repair") == [first["id"]]
    assert ids(customer_id=customer, priority="low") == [first["id"]]
    assert ids(customer_id=customer, overdue="true") == [second["id"]]
    assert ids(customer_id=customer, overdue="false") == [third["id"], first["id"]]
    assert ids(customer_id=customer, department_id=team["department"]) == [third["id"]]
    assert ids(q=f"{token} 异响") == [first["id"]]
    assert ids(q="发票", customer_id=customer) == [second["id"]]
    page = _ok(api.get("/tickets", params={**wait, "customer_id": customer, "limit": 2}))
    rest = _ok(api.get("/tickets", params={**wait, "customer_id": customer, "limit": 2, "cursor": page["next_cursor"]}))
    assert [t["id"] for t in page["items"] + rest["items"]] == [third["id"], first["id"], second["id"]]
    assert rest["next_cursor"] is None
    row = next(t for t in page["items"] if t["id"] == third["id"])
    assert row["customer_name"].startswith("宁波测试贸易有限公司") and row["overdue"] is False
    csv = api.get("/tickets", params={**wait, "customer_id": customer, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,customer_id,customer_name,kind") and len(lines) == 4
    xlsx = api.get("/tickets", params={**wait, "customer_id": customer, "format": "xlsx"})
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 4 and sheet.cell(2, 1).value == third["id"]


def test_the_customers_row_shows_open_tickets_and_average_satisfaction(api: Api, team: dict[str, Any]) -> None:
    customer = team["seller"].create_customer()["id"]
    tickets = [_open(api, customer)["id"] for _ in range(3)]
    for tid, satisfaction in zip(tickets[:2], (2, 5), strict=True):
        _ok(api.post(f"/tickets/{tid}/resolve", json={"resolution": "已处理"}))
        last = _ok(api.post(f"/tickets/{tid}/return-visit", json={"satisfaction": satisfaction}))
    wait = {"min_position": last["position"]}
    assert api.get("/tickets", params=wait).status_code == 200  # the tickets model has it too
    row = next(c for c in _ok(api.get("/customers", params={**wait, "owner_id": team["seller_id"], "limit": 500}))["items"]
               if c["id"] == customer)  # fmt: skip
    assert (row["open_tickets"], row["satisfaction"]) == (1, 3.5)
    one = _ok(api.get(f"/customers/{customer}", params=wait))
    assert (one["open_tickets"], one["satisfaction"]) == (1, 3.5)
    plain = team["seller"].create_customer()
    assert _ok(api.get(f"/customers/{plain['id']}", params={"min_position": plain["position"]}))["open_tickets"] == 0


def test_the_service_report_counts_weeks_resolution_satisfaction_and_charges(api: Api, team: dict[str, Any]) -> None:
    owner_id, owner = _user(api, "salesperson")
    customer = owner.create_customer()["id"]
    # Monday 22 September 2025 10:00 → resolved Tuesday 23 September 16:00: 1.25 working days.
    a = _open(api, customer, kind="repair", opened_at="2025-09-22T10:00:00+08:00", assignee_id=team["engineer_id"])["id"]
    _ok(api.post(f"/tickets/{a}/resolve", json={"resolution": "ok", "resolved_at": "2025-09-23T16:00:00+08:00"}))
    _ok(api.post(f"/tickets/{a}/return-visit", json={"satisfaction": 5}))
    _ok(api.post(f"/tickets/{a}/fees", json={"amount": "500.00", "incurred_on": "2025-09-23"}))
    _ok(api.post(f"/tickets/{a}/costs", json={"amount": "150.00", "incurred_on": "2025-10-09"}))
    # Friday 26 September 2025 10:00 → Thursday 9 October 10:00: 4 working days across National Day.
    b = _open(api, customer, kind="repair", opened_at="2025-09-26T10:00:00+08:00", assignee_id=team["engineer_id"])["id"]
    _ok(api.post(f"/tickets/{b}/resolve", json={"resolution": "ok", "resolved_at": "2025-10-09T10:00:00+08:00"}))
    _ok(api.post(f"/tickets/{b}/return-visit", json={"satisfaction": 2}))
    last = _open(api, customer, kind="complaint", opened_at="2025-09-29T09:00:00+08:00")
    wait = {"min_position": last["position"]}
    params = {**wait, "owner_id": owner_id, "from": "2025-09-01", "to": "2026-12-31"}
    report = _ok(api.get("/reports/service", params=params))
    assert report["weekly"] == [
        {"week": "2025-09-22", "kind": "repair", "opened": 2, "resolved": 1},
        {"week": "2025-09-29", "kind": "complaint", "opened": 1, "resolved": 0},
        {"week": "2025-10-06", "kind": "repair", "opened": 0, "resolved": 1},
    ]
    assert report["resolution"] == [
        {"kind": "repair", "resolved": 2, "avg_working_days": 2.63, "p90_working_days": 3.73, "within_sla_rate": 0.5}
    ]
    assert report["satisfaction_by_customer"][0]["customer_id"] == customer
    assert report["satisfaction_by_customer"][0]["satisfaction"] == 3.5
    assert [(a["assignee_id"], a["visits"], a["satisfaction"]) for a in report["satisfaction_by_assignee"]] == [
        (team["engineer_id"], 2, 3.5)]
    assert report["satisfaction_by_assignee"][0]["display_name"]
    assert report["charges"] == [
        {"month": "2025-09", "fees": "500.00", "costs": "0.00", "net": "500.00", "tickets": 1},
        {"month": "2025-10", "fees": "0.00", "costs": "150.00", "net": "-150.00", "tickets": 1},
    ]
    totals = report["totals"]
    assert (totals["opened"], totals["resolved"], totals["visits"], totals["satisfaction"]) == (3, 2, 2, 3.5)
    assert (totals["fees"], totals["costs"]) == ("500.00", "150.00")
    # Only the owner's customers: nobody else's tickets are counted; the owner sees their own.
    assert _ok(owner.get("/reports/service", params=params)) == report
    assert _ok(team["other"].get("/reports/service", params=params))["totals"]["opened"] == 0
    csv = api.get("/reports/service", params={**params, "format": "csv"})
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[:2] == ["weekly", "week,kind,opened,resolved"]
    assert "charges\r\nmonth,fees,costs,net,tickets\r\n2025-09,500.00,0.00,500.00,1" in text
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(io.BytesIO(api.get("/reports/service", params={**params, "format": "xlsx"}).content))
    assert book.sheetnames == ["weekly", "resolution", "satisfaction_by_customer", "satisfaction_by_assignee", "charges", "totals"]
    assert book["charges"].cell(2, 2).value == 500.0


def test_the_overview_and_the_history_of_the_customer_show_its_tickets(api: Api, team: dict[str, Any]) -> None:
    seller: Api = team["seller"]
    customer = seller.create_customer()["id"]
    first = _open(api, customer, kind="repair", opened_at="2025-09-26T10:00:00+08:00")  # overdue long since
    second = _open(api, customer, kind="request")
    _ok(api.post(f"/tickets/{second['id']}/resolve", json={"resolution": "已处理"}))
    last = _ok(api.post(f"/tickets/{second['id']}/return-visit", json={"satisfaction": 5}))
    overview = _ok(seller.get(f"/customers/{customer}/overview", params={"min_position": last["position"]}))
    section = overview["tickets"]
    assert (section["count"], section["open"], section["overdue"], section["satisfaction"]) == (2, 1, 1, 5.0)
    assert [t["id"] for t in section["latest"]] == [second["id"], first["id"]]
    _, warehouse = _user(api, "warehouse")
    history = _ok(seller.get(f"/customers/{customer}/history"))["items"]
    ticket_events = [(e["aggregate_id"], e["event_type"]) for e in history if e["aggregate_type"] == "Ticket"]
    assert ticket_events == [
        (first["id"], "Ticket.Opened"), (second["id"], "Ticket.Opened"), (second["id"], "Ticket.Resolved"),
        (second["id"], "Ticket.ReturnVisitRecorded"),
    ]
    assert warehouse.get(f"/customers/{customer}/overview").status_code == 403


def test_the_customers_row_leaves_service_figures_out_for_callers_who_may_not_read_tickets(api: Api, team: dict[str, Any]) -> None:
    _, finance = _user(api, "finance")
    ticket = _open(api, team["customer"])
    _ok(api.get("/tickets", params={"min_position": ticket["position"]}))
    row = _ok(finance.get(f"/customers/{team['customer']}", params={"min_position": ticket["position"]}))
    assert (row["open_tickets"], row["satisfaction"]) == (None, None)
    assert _ok(team["seller"].get(f"/customers/{team['customer']}"))["open_tickets"] >= 1
