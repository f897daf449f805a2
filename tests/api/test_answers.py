"""Answers are serialised straight from the read models (orjson, no second validation), so this
checks that each one still matches the schema the OpenAPI document promises for it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from tests.api.conftest import Api


def _model_of(api: Api, method: str, path: str) -> Any:
    from crm_es.api.routes import audit, customers, handovers, reference, staff

    for module in (audit, customers, handovers, reference, staff):
        for route in module.router.routes:
            if isinstance(route, APIRoute) and route.path == path and method in route.methods:
                return route.response_model
    raise AssertionError(f"no route {method} {path}")


@pytest.fixture(scope="module")
def ids(api: Api) -> dict[str, str]:
    customer = api.create_customer(province="浙江", city="宁波", credit_limit="1200.50", tags=["外贸"])
    contact = api.post(f"/customers/{customer['id']}/contacts", json={"name": "王丽", "birthday": "1985-03-02"}).json()
    api.post(f"/customers/{customer['id']}/activities", json={
        "kind": "visit", "occurred_at": "2026-11-20T10:30:00+08:00", "summary": "拜访"})  # fmt: skip
    me = api.get("/me").json()
    roles = api.get("/roles").json()["items"]
    department = api.post("/departments", json={"name": api.unique("答案部")}).json()
    return {"customer": customer["id"], "contact": contact["id"], "user": me["id"], "role": roles[0]["id"],
            "department": department["id"], "position": str(contact["position"] + 1)}  # fmt: skip


PATHS = [
    ("/customers", "/customers"),
    ("/customers/{customer_id}", "/customers/{customer}"),
    ("/customers/{customer_id}/contacts", "/customers/{customer}/contacts"),
    ("/customers/{customer_id}/contacts/{contact_id}", "/customers/{customer}/contacts/{contact}"),
    ("/customers/{customer_id}/activities", "/customers/{customer}/activities"),
    ("/customers/{customer_id}/history", "/customers/{customer}/history"),
    ("/users", "/users"),
    ("/users/{user_id}", "/users/{user}"),
    ("/departments", "/departments"),
    ("/departments/{department_id}", "/departments/{department}"),
    ("/roles", "/roles"),
    ("/roles/{role_id}", "/roles/{role}"),
    ("/reference", "/reference"),
    ("/reference/{list_key}", "/reference/regions"),
    ("/audit", "/audit"),
    ("/handovers", "/handovers"),
]


@pytest.mark.parametrize(("route", "path"), PATHS)
def test_each_answer_matches_its_documented_schema(api: Api, ids: dict[str, str], route: str, path: str) -> None:
    response = api.get(path.format(**ids), params={"min_position": ids["position"]} if "history" not in path else {})
    assert response.status_code == 200, response.text
    model = _model_of(api, "GET", route)
    assert model is not None
    body = response.json()
    if isinstance(model, type) and issubclass(model, BaseModel):
        model.model_validate(body)
    else:
        TypeAdapter(model).validate_python(body)
    if route == "/customers/{customer_id}":
        assert body["credit_limit"] == "1200.50" and body["province"] == "浙江省"
        assert body["created_at"].endswith("Z")
