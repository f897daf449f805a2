"""The permission matrix, tried over HTTP as a company would set it up.

Departments: 销售部 (managed by the sales manager) with sub-departments 宁波组 and 杭州组, and
客服部. Two salespeople in 宁波组, one in 杭州组; a team lead who sees 宁波组; service, finance
and warehouse staff; an administrator who owns a customer outside every department.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api

PASSWORD = "matrix-password-1"


@dataclass
class Company:
    people: dict[str, Api]
    ids: dict[str, str]
    customers: dict[str, str]
    seller_role: str
    position: int = 0
    """The position of the last write of the fixture: reads wait for it."""


def _login(client: TestClient, username: str) -> Api:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Api(client, response.json()["access_token"])


_positions: list[int] = [0]


def _created(response: Any) -> str:
    assert response.status_code == 201, response.text
    _positions.append(response.json()["position"])
    return response.json()["id"]


@pytest.fixture(scope="module")
def company(api: Api) -> Company:
    tag = uuid.uuid4().hex[:6]
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    seller_role = _created(api.post("/roles", json={
        "name": f"matrix-seller-{tag}", "permissions": ["customers:read", "customers:write"], "data_scope": "own"}))
    lead_role = _created(api.post("/roles", json={
        "name": f"matrix-lead-{tag}", "permissions": ["customers:read", "customers:write"], "data_scope": "department"}))
    sales = _created(api.post("/departments", json={"name": f"销售部 {tag}"}))
    ningbo = _created(api.post("/departments", json={"name": f"宁波组 {tag}", "parent_id": sales}))
    hangzhou = _created(api.post("/departments", json={"name": f"杭州组 {tag}", "parent_id": sales}))
    service = _created(api.post("/departments", json={"name": f"客服部 {tag}"}))
    staff = {
        "manager": (sales, [roles["sales_manager"]]),
        "seller1": (ningbo, [roles["salesperson"]]),
        "seller2": (ningbo, [roles["salesperson"]]),
        "seller3": (hangzhou, [roles["salesperson"]]),
        "flex": (ningbo, [seller_role]),
        "lead": (ningbo, [lead_role]),
        "service": (service, [roles["service"]]),
        "finance": (None, [roles["finance"]]),
        "warehouse": (None, [roles["warehouse"]]),
    }
    ids = {}
    for who, (department, role_ids) in staff.items():
        ids[who] = _created(api.post("/users", json={
            "username": f"{who}-{tag}", "password": PASSWORD, "display_name": who,
            "department_id": department, "role_ids": role_ids}))  # fmt: skip
    assert api.patch(f"/departments/{sales}", json={"manager_id": ids["manager"]}).status_code == 200
    people = {who: _login(api.client, f"{who}-{tag}") for who in staff}
    people["admin"] = api
    customers = {}
    for name, owner in (("c1", "seller1"), ("c2", "seller2"), ("c3", "seller3")):
        customers[name] = _created(people[owner].post("/customers", json={"name": f"矩阵客户 {name} {tag}", "kind": "customer"}))
    customers["c4"] = _created(api.post("/customers", json={"name": f"矩阵客户 c4 {tag}", "kind": "customer"}))
    return Company(people, ids, customers, seller_role, max(_positions))


def _listed(who: Api, company: Company) -> set[str]:
    """Which of the company's customers ``who`` finds, by listing and by searching."""
    head = max_position(company)
    ids = {v: k for k, v in company.customers.items()}
    listed = who.get("/customers", params={"limit": 500, "q": "矩阵客户", "min_position": head})
    assert listed.status_code == 200, listed.text
    return {ids[c["id"]] for c in listed.json()["items"] if c["id"] in ids}


def max_position(company: Company) -> int:
    return company.position


VISIBLE = {
    "flex": set(),
    "seller1": {"c1"},
    "seller2": {"c2"},
    "seller3": {"c3"},
    "lead": {"c1", "c2"},
    "manager": {"c1", "c2", "c3"},
    "service": {"c1", "c2", "c3", "c4"},
    "finance": {"c1", "c2", "c3", "c4"},
    "admin": {"c1", "c2", "c3", "c4"},
}


@pytest.mark.parametrize("who", sorted(VISIBLE))
def test_each_role_lists_searches_reads_and_sees_the_history_of_exactly_its_customers(company: Company, who: str) -> None:
    person = company.people[who]
    assert _listed(person, company) == VISIBLE[who]
    for name, customer_id in company.customers.items():
        expected = 200 if name in VISIBLE[who] else 404
        assert person.get(f"/customers/{customer_id}").status_code == expected, (who, name)
        assert person.get(f"/customers/{customer_id}/history").status_code == expected, (who, name)
        assert person.get(f"/customers/{customer_id}/contacts").status_code == expected, (who, name)
        assert person.get(f"/customers/{customer_id}/activities").status_code == expected, (who, name)
        as_of = person.get(f"/customers/{customer_id}", params={"as_of": "2199-01-01T00:00:00+08:00"})
        assert as_of.status_code == expected, (who, name)
        jsonl = person.get(f"/customers/{customer_id}/history", params={"format": "jsonl"})
        assert jsonl.status_code == expected, (who, name)


@pytest.mark.parametrize("who", sorted(VISIBLE))
def test_each_role_adds_contacts_and_logs_activities_on_exactly_the_customers_it_may(company: Company, who: str) -> None:
    person = company.people[who]
    for name, customer_id in company.customers.items():
        contact = person.post(f"/customers/{customer_id}/contacts", json={"name": "范围测试"})
        activity = person.post(f"/customers/{customer_id}/activities", json={
            "kind": "call", "occurred_at": "2026-11-20T10:00:00+08:00", "summary": "范围测试"})  # fmt: skip
        if who not in WRITERS:
            assert (contact.status_code, activity.status_code) == (403, 403), (who, name)
        else:
            expected = 201 if name in WRITERS[who] else 404
            assert (contact.status_code, activity.status_code) == (expected, expected), (who, name, contact.text)


def test_the_operation_log_follows_the_audit_scope(company: Company, api: Api) -> None:
    """A role with audit:read and a department scope sees what its department did, not more."""
    role = _created(api.post("/roles", json={
        "name": f"team-auditor-{uuid.uuid4().hex[:6]}", "permissions": ["audit:read"], "data_scope": "department"}))  # fmt: skip
    lead_id = company.ids["lead"]
    lead_roles = api.get(f"/users/{lead_id}").json()["role_ids"]
    assert api.patch(f"/users/{lead_id}", json={"role_ids": [*lead_roles, role]}).status_code == 200
    lead = company.people["lead"]
    actors = {e["actor"] for e in lead.get("/audit", params={"limit": 500}).json()["items"]}
    ningbo = {company.ids[w] for w in ("seller1", "seller2", "flex", "lead")}
    assert actors and actors <= ningbo, actors
    assert company.ids["seller3"] not in actors
    seller3 = company.ids["seller3"]
    assert lead.get("/audit", params={"actor_id": seller3}).json()["items"] == []
    assert api.get("/audit", params={"actor_id": seller3}).json()["items"]  # admin: scope all
    auditor = next(r for r in api.get("/roles").json()["items"] if r["name"] == "auditor")
    assert auditor["data_scope"] == "all" and "audit:read" in auditor["permissions"]


WRITERS = {"flex": set(), "seller1": {"c1"}, "seller2": {"c2"}, "seller3": {"c3"}, "lead": {"c1", "c2"},
           "manager": {"c1", "c2", "c3"}, "admin": {"c1", "c2", "c3", "c4"}}  # fmt: skip


@pytest.mark.parametrize("who", sorted(VISIBLE))
def test_each_role_changes_exactly_the_customers_it_may(company: Company, who: str) -> None:
    person = company.people[who]
    for name, customer_id in company.customers.items():
        response = person.patch(f"/customers/{customer_id}", json={"notes": f"checked by {who}"})
        if who not in WRITERS:
            assert response.status_code == 403, (who, name, response.text)
        else:
            assert response.status_code == (200 if name in WRITERS[who] else 404), (who, name, response.text)


def test_a_role_without_customer_rights_cannot_list_them(company: Company) -> None:
    assert company.people["warehouse"].get("/customers").status_code == 403


def test_reassigning_needs_the_permission_and_stays_within_the_scope(company: Company) -> None:
    c1 = company.customers["c1"]
    seller = company.people["seller1"]
    manager = company.people["manager"]
    assert seller.post(f"/customers/{c1}/reassign", json={"owner_id": company.ids["seller2"]}).status_code == 403
    outside = manager.post(f"/customers/{c1}/reassign", json={"owner_id": company.ids["finance"]})
    assert outside.status_code == 403, outside.text
    moved = manager.post(f"/customers/{c1}/reassign", json={"owner_id": company.ids["seller3"], "reason": "区域调整"})
    assert moved.status_code == 200, moved.text
    position = moved.json()["position"]
    assert company.people["seller3"].get(f"/customers/{c1}", params={"min_position": position}).status_code == 200
    assert seller.get(f"/customers/{c1}", params={"min_position": position}).status_code == 404
    back = manager.post(f"/customers/{c1}/reassign", json={"owner_id": company.ids["seller1"]})
    assert back.status_code == 200
    assert seller.get(f"/customers/{c1}", params={"min_position": back.json()["position"]}).status_code == 200


def test_a_changed_role_takes_effect_on_the_very_next_request(company: Company) -> None:
    admin, flex = company.people["admin"], company.people["flex"]
    role = f"/roles/{company.seller_role}"
    assert admin.patch(role, json={"data_scope": "all"}).status_code == 200
    try:
        assert _listed(flex, company) == {"c1", "c2", "c3", "c4"}
        assert flex.patch(f"/customers/{company.customers['c1']}", json={"notes": "flex"}).status_code == 200
    finally:
        assert admin.patch(role, json={"data_scope": "own"}).status_code == 200
    assert _listed(flex, company) == set()
    assert admin.patch(role, json={"data_scope": "all", "permissions": ["customers:read"]}).status_code == 200
    try:
        assert flex.patch(f"/customers/{company.customers['c1']}", json={"notes": "x"}).status_code == 403
    finally:
        assert admin.patch(role, json={"data_scope": "own", "permissions": ["customers:read", "customers:write"]}).status_code == 200


def test_a_disabled_users_token_stops_working_on_the_very_next_request(company: Company) -> None:
    admin, seller = company.people["admin"], company.people["seller2"]
    assert seller.get("/me").status_code == 200
    assert admin.post(f"/users/{company.ids['seller2']}/disable").status_code == 200
    try:
        assert seller.get("/me").status_code == 401
        assert seller.get("/customers").status_code == 401
    finally:
        assert admin.post(f"/users/{company.ids['seller2']}/enable").status_code == 200
    # A token issued before the account was disabled stays refused; a new login works.
    assert seller.get("/me").status_code == 401
    username = admin.get(f"/users/{company.ids['seller2']}").json()["username"]
    company.people["seller2"] = _login(admin.client, username)
    assert company.people["seller2"].get("/me").status_code == 200


def test_me_tells_roles_permissions_and_scopes(company: Company) -> None:
    me = company.people["manager"].get("/me").json()
    assert [r["name"] for r in me["roles"]] == ["sales_manager"]
    assert "customers:reassign" in me["permissions"] and "users:admin" not in me["permissions"]
    assert me["scopes"]["customers"] == "department_tree"


def test_staff_administration_needs_users_admin(company: Company) -> None:
    manager = company.people["manager"]
    assert manager.post("/departments", json={"name": "越权部门"}).status_code == 403
    assert manager.post("/users", json={"username": "sneaky", "password": PASSWORD, "display_name": "x"}).status_code == 403
    assert manager.post(f"/users/{company.ids['seller1']}/disable").status_code == 403
    assert manager.get("/roles").status_code == 403
    assert manager.get("/audit").status_code == 403
    assert manager.get("/admin/projections").status_code == 403
