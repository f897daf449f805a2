"""Hostile and careless input over HTTP: every answer is a small, documented problem, never a 500.

Covers the text every request body takes, body size and shape limits, 405 answers, the offline
API documentation, caching headers on credentials, and the contact that a new contact's
``Location`` names.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api

MIB = 1024 * 1024


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _json_bytes(body: Any) -> bytes:
    """JSON as a client would send it; lone surrogates go out as ``\\udXXX`` escapes, which is
    valid JSON syntax (httpx's own encoder refuses them)."""
    return json.dumps(body, ensure_ascii=True).encode()


def _send(api: Api, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return api.request(method, path, content=_json_bytes(body), headers={"Content-Type": "application/json", **(headers or {})})


# -- 1. Text fields ------------------------------------------------------------------------------

@dataclass
class Records:
    customer: str
    contact: str
    department: str
    role: str
    user: str
    admin: str
    opportunity: str
    ticket: str
    stock_item: str = ""
    stock_category: str = ""
    warehouse: str = ""
    inbound: str = ""
    order: str = ""


@pytest.fixture(scope="module")
def records(api: Api) -> Records:
    customer = api.create_customer()["id"]
    contact = api.post(f"/customers/{customer}/contacts", json={"name": "王丽"})
    assert contact.status_code == 201, contact.text
    department = api.post("/departments", json={"name": api.unique("加固部")})
    role = api.post("/roles", json={"name": api.unique("加固角色"), "permissions": [], "data_scope": "own"})
    user = api.post("/users", json={"username": f"hard-{uuid.uuid4().hex[:8]}", "password": "hardening-pass-1",
                                    "display_name": "加固"})  # fmt: skip
    for response in (department, role, user):
        assert response.status_code == 201, response.text
    admin = api.get("/me").json()["id"]
    opportunity = api.post("/opportunities", json={
        "customer_id": customer, "title": "加固", "amount": "1.00", "expected_close_date": "2027-01-01"})  # fmt: skip
    assert opportunity.status_code == 201, opportunity.text
    ticket = api.post("/tickets", json={"customer_id": customer, "kind": "request", "subject": "加固"})
    assert ticket.status_code == 201, ticket.text
    tag = uuid.uuid4().hex[:8].upper()
    category = api.post("/stock-categories", json={"name": f"加固{tag}"})
    warehouse = api.post("/warehouses", json={"code": f"H-{tag}", "name": f"加固仓{tag}"})
    item = api.post("/stock-items", json={"sku": f"HARD-{tag}", "name": "加固"})
    for response in (category, warehouse, item):
        assert response.status_code == 201, response.text
    inbound = api.post(f"/stock-items/{item.json()['id']}/inbound", json={"quantity": "1"})
    assert inbound.status_code == 201, inbound.text
    order = api.post("/orders", json={"customer_id": customer, "lines": [{"description": "加固", "quantity": "1",
                                                                         "unit_price": "1.00"}]})  # fmt: skip
    assert order.status_code == 201, order.text
    return Records(customer, contact.json()["id"], department.json()["id"], role.json()["id"], user.json()["id"], admin,
                   opportunity.json()["id"], ticket.json()["id"], item.json()["id"], category.json()["id"],
                   warehouse.json()["id"], inbound.json()["id"], order.json()["id"])  # fmt: skip


CUSTOMER_TEXT = ["name", "short_name", "industry", "source", "level", "country", "province", "city", "address", "phone", "fax",
                 "email", "website", "notes", "tags"]  # fmt: skip
CONTACT_TEXT = ["name", "title", "department", "phone", "mobile", "email", "address", "hobbies"]

# (method, path as in the OpenAPI document, a valid body, its free-text fields)
BODIES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("POST", "/customers", {"name": "加固测试公司", "kind": "customer"}, CUSTOMER_TEXT),
    ("PATCH", "/customers/{customer_id}", {}, CUSTOMER_TEXT),
    ("POST", "/customers/{customer_id}/reassign", {"owner_id": "{admin}"}, ["reason"]),
    ("POST", "/customers/{customer_id}/contacts", {"name": "王丽"}, CONTACT_TEXT),
    ("PATCH", "/customers/{customer_id}/contacts/{contact_id}", {}, CONTACT_TEXT),
    ("POST", "/customers/{customer_id}/activities",
     {"kind": "visit", "occurred_at": "2026-11-20T10:30:00+08:00", "summary": "拜访"}, ["summary", "next_step"]),
    ("POST", "/departments", {"name": "加固部"}, ["name"]),
    ("PATCH", "/departments/{department_id}", {}, ["name"]),
    ("POST", "/roles", {"name": "加固角色", "permissions": [], "data_scope": "own"},
     ["name", "description", "permissions", "scopes"]),
    ("PATCH", "/roles/{role_id}", {}, ["permissions", "scopes"]),
    ("POST", "/users", {"username": "hardening-user", "password": "hardening-pass-1", "display_name": "加固"},
     ["username", "display_name"]),
    ("PATCH", "/users/{user_id}", {}, ["display_name"]),
    ("POST", "/reference/{list_key}/items", {"key": "加固行业"}, ["key", "label", "parent_key"]),
    ("PATCH", "/reference/{list_key}/items/{key}", {"label": "外贸"}, ["label"]),
    ("POST", "/auth/login", {"username": "nobody-hardening", "password": "not-a-password"}, ["username"]),
    ("POST", "/opportunities", {"customer_id": "{customer}", "title": "加固", "amount": "1.00",
                                "expected_close_date": "2027-01-01"}, ["title", "amount", "source"]),
    ("PATCH", "/opportunities/{opportunity_id}", {}, ["title"]),
    ("POST", "/opportunities/{opportunity_id}/lose", {"reason": "价格过高"}, ["reason", "note"]),
    ("POST", "/opportunities/{opportunity_id}/reassign", {"owner_id": "{admin}"}, ["reason"]),
    ("POST", "/opportunities/{opportunity_id}/quotes",
     {"lines": [{"description": "加固", "quantity": "1", "unit_price": "1.00"}], "valid_until": "2099-12-31"}, ["note"]),
    ("PUT", "/sales-targets/{year}/users/{user_id}", {"months": {"1": "1.00"}}, ["months"]),
    ("PUT", "/sales-targets/{year}/departments/{department_id}", {"months": {"1": "1.00"}}, ["months"]),
    ("POST", "/orders", {"customer_id": "{customer}", "lines": [{"description": "加固", "quantity": "1", "unit_price": "1"}]},
     ["note"]),
    ("POST", "/orders/{order_id}/cancel", {"reason": "加固"}, ["reason"]),
    ("POST", "/orders/{order_id}/deliveries", {"lines": [{"line": 1, "quantity": "1"}]}, ["note"]),
    ("POST", "/orders/{order_id}/returns", {"lines": [{"line": 1, "quantity": "1"}], "reason": "加固"}, ["reason"]),
    ("POST", "/orders/{order_id}/price-adjustments", {"line": 1, "unit_price": "1", "reason": "加固"},
     ["reason", "unit_price"]),
    ("POST", "/orders/{order_id}/payments", {"amount": "1.00", "received_on": "2026-01-01"}, ["amount", "reference"]),
    ("POST", "/orders/{order_id}/invoices", {"number": "1", "title": "加固", "amount": "1.00", "issued_on": "2026-01-01"},
     ["number", "title", "taxpayer_id", "amount"]),
    ("POST", "/orders/{order_id}/reassign", {"owner_id": "{admin}"}, ["reason"]),
    ("POST", "/tickets", {"customer_id": "{customer}", "kind": "request", "subject": "加固"}, ["subject", "description"]),
    ("POST", "/tickets/{ticket_id}/assign", {"assignee_id": "{admin}"}, ["reason"]),
    ("POST", "/tickets/{ticket_id}/transfer", {"assignee_id": "{admin}", "note": "加固"}, ["note"]),
    ("POST", "/tickets/{ticket_id}/progress", {"note": "加固"}, ["note"]),
    ("POST", "/tickets/{ticket_id}/escalate", {"reason": "加固"}, ["reason"]),
    ("POST", "/tickets/{ticket_id}/resolve", {"resolution": "加固"}, ["resolution"]),
    ("POST", "/tickets/{ticket_id}/reopen", {}, ["reason"]),
    ("POST", "/tickets/{ticket_id}/close", {}, ["note"]),
    ("POST", "/tickets/{ticket_id}/return-visit", {"satisfaction": 3}, ["note"]),
    ("POST", "/tickets/{ticket_id}/fees", {"amount": "1.00"}, ["amount", "note"]),
    ("POST", "/tickets/{ticket_id}/costs", {"amount": "1.00"}, ["amount", "note"]),
    ("POST", "/stock-items", {"sku": "HARD-NEW", "name": "加固"}, ["sku", "name", "category", "unit"]),
    ("PATCH", "/stock-items/{item_id}", {}, ["name", "category"]),
    ("POST", "/stock-items/{item_id}/receipts", {"quantity": "1"}, ["quantity", "reference"]),
    ("POST", "/stock-items/{item_id}/issues", {"quantity": "1", "reason": "加固"}, ["quantity", "reason"]),
    ("POST", "/stock-items/{item_id}/stocktakes", {"counted_quantity": "1"}, ["counted_quantity", "note"]),
    ("POST", "/stock-items/{item_id}/inbound", {"quantity": "1"}, ["quantity", "reference"]),
    ("POST", "/stock-items/{item_id}/inbound/{inbound_id}/cancel", {"reason": "加固"}, ["reason"]),
    ("POST", "/stock-items/returns", {"order_id": "{admin}", "restock": True,
                                      "lines": [{"stock_item_id": "{admin}", "quantity": "1"}]}, ["reason"]),
    ("POST", "/stock-categories", {"name": "加固"}, ["name"]),
    ("PATCH", "/stock-categories/{category_id}", {}, ["name"]),
    ("POST", "/warehouses", {"code": "HARD", "name": "加固仓"}, ["code", "name", "address"]),
    ("PATCH", "/warehouses/{warehouse_id}", {}, ["name", "address"]),
]  # fmt: skip

# Passwords refuse only what cannot be hashed or stored: lone surrogates and NUL.
PASSWORDS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("POST", "/users", {"username": "hardening-user", "password": "hardening-pass-1", "display_name": "加固"}, ["password"]),
    ("POST", "/users/{user_id}/reset-password", {"password": "hardening-pass-1"}, ["password"]),
    ("POST", "/auth/login", {"username": "nobody-hardening", "password": "not-a-password"}, ["password"]),
    ("POST", "/me/password", {"current_password": "not-the-password", "new_password": "another-password-1"},
     ["current_password", "new_password"]),
]  # fmt: skip

BAD_TEXT = {
    "high surrogate": "\ud800",
    "low surrogate": "\udfff",
    "NUL": "\x00",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 start": "\x80",
    "NEL": "\x85",
    "C1 end": "\x9f",
}
BAD_PASSWORD = {"high surrogate": "\ud800", "low surrogate": "\udc00", "NUL": "\x00"}


def _path(template: str, records: Records) -> str:
    return template.format(
        customer_id=records.customer, contact_id=records.contact, department_id=records.department,
        role_id=records.role, user_id=records.user, list_key="industries", key="外贸",
        opportunity_id=records.opportunity, ticket_id=records.ticket, year=2026, order_id=records.order, item_id=records.stock_item,
        inbound_id=records.inbound, category_id=records.stock_category, warehouse_id=records.warehouse,
    )  # fmt: skip


def _with(body: dict[str, Any], field: str, bad: str, records: Records) -> dict[str, Any]:
    body = {k: (v.format(admin=records.admin, customer=records.customer) if isinstance(v, str) else v) for k, v in body.items()}
    if field in ("tags", "permissions"):
        body[field] = [f"ok{bad}ok"]
    elif field == "scopes":
        body[field] = {f"customers{bad}": "all"}
    else:
        body[field] = f"ok{bad}ok"
    return body


def _cases(table: list[tuple[str, str, dict[str, Any], list[str]]], bad: dict[str, str]) -> list[Any]:
    return [
        pytest.param(method, path, body, field, value, id=f"{method} {path} {field} {name}")
        for method, path, body, fields in table
        for field in fields
        for name, value in bad.items()
    ]


@pytest.mark.parametrize(("method", "path", "body", "field", "bad"), _cases(BODIES, BAD_TEXT) + _cases(PASSWORDS, BAD_PASSWORD))
def test_text_with_surrogates_or_control_characters_is_refused_on_its_field(
    api: Api, records: Records, method: str, path: str, body: dict[str, Any], field: str, bad: str
) -> None:  # fmt: skip
    response = _send(api, method, _path(path, records), _with(body, field, bad, records))
    problem = _problem(response, 422)
    assert field in {e["field"].split(".")[0] for e in problem["errors"]}, problem


def test_the_text_cases_cover_every_free_text_field_of_every_request_body(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    tested = {(m, p, f) for m, p, _, fields in BODIES + PASSWORDS for f in fields}
    found = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" not in ref:
                continue
            model = schemas[ref["$ref"].rsplit("/", 1)[1]]
            for field, schema in model.get("properties", {}).items():
                if _takes_text(schema):
                    found.add((method.upper(), path.removeprefix("/api/v1"), field))
    assert found, "no request bodies found in the OpenAPI document"
    assert found <= tested, sorted(found - tested)


def _takes_text(schema: dict[str, Any]) -> bool:
    """A free-text string somewhere in the field: not an enum, id, date, time or number."""
    for option in schema.get("anyOf", [schema]):
        kind = option.get("type")
        if kind == "string" and not ({"enum", "const", "format", "pattern"} & option.keys()):
            return True
        if kind == "array" and _takes_text(option.get("items", {})):
            return True
        if kind == "object" and "additionalProperties" in option:
            return True  # its keys are text
    return False


def test_passwords_keep_every_other_character(api: Api, client: TestClient) -> None:
    username = f"pw-{uuid.uuid4().hex[:8]}"
    password = "  Pässwörd\x7f\x85\u2028\t😀 "
    created = _send(api, "POST", "/users", {"username": username, "password": password, "display_name": "密码"})
    assert created.status_code == 201, created.text
    login = client.post("/api/v1/auth/login", content=_json_bytes({"username": username, "password": password}),
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert login.status_code == 200, login.text
    trimmed = client.post("/api/v1/auth/login", json={"username": username, "password": password.strip()})
    assert trimmed.status_code == 401, trimmed.text


def test_tabs_newlines_and_other_scripts_are_kept(api: Api) -> None:
    notes = "第一行\n第二行\r\n\tÉmile, Ünal, José 😀 \u00a0 ﹏"
    created = api.create_customer(notes=notes)
    one = api.get(f"/customers/{created['id']}", params={"min_position": created["position"]})
    assert one.json()["notes"] == notes.strip()


def test_a_surrogate_in_an_unknown_key_or_a_query_is_a_problem_not_a_crash(api: Api) -> None:
    problem = _problem(_send(api, "POST", "/customers", {"name": "甲", "kind": "customer", "\ud800": 1}), 422)
    assert len(problem["errors"]) == 1
    _problem(api.get("/customers", params={"q": "\x7f"}), 422)


# -- 2. Body size and error count ----------------------------------------------------------------

def test_a_body_over_the_limit_is_refused_before_it_is_parsed(client: TestClient) -> None:
    body = "{" + ",".join(f'"key_{i:06d}": 0' for i in range(100_000)) + ', "username": "admin", "password": "x"}'
    assert len(body) > 1.5 * MIB
    started = time.monotonic()
    response = client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
    elapsed = time.monotonic() - started
    problem = _problem(response, 413)
    assert str(MIB) in problem["detail"] or "1 MiB" in problem["detail"]
    assert len(response.content) < 1000
    assert elapsed < 1.0, elapsed


def _chunks(total: int, size: int = 64 * 1024) -> Any:
    yield b'{"name": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'", "kind": "customer"}'


def test_a_streamed_body_without_a_length_is_counted(api: Api) -> None:
    response = api.post("/customers", content=_chunks(2 * MIB), headers={"Content-Type": "application/json"})
    _problem(response, 413)


def test_a_content_length_that_lies_does_not_let_a_large_body_through(api: Api) -> None:
    body = b'{"name": "' + b"x" * (2 * MIB) + b'", "kind": "customer"}'
    response = api.post("/customers", content=body, headers={"Content-Type": "application/json", "Content-Length": "100"})
    _problem(response, 413)


def test_a_body_just_under_the_limit_is_parsed(api: Api) -> None:
    body = {"name": "加固", "kind": "customer", "notes": "x" * (MIB - 200)}
    problem = _problem(_send(api, "POST", "/customers", body), 422)  # notes is too long, but it was read
    assert [e["field"] for e in problem["errors"]] == ["notes"]


def test_a_422_lists_at_most_twenty_errors_and_counts_the_rest(client: TestClient) -> None:
    body = {f"u{i}": 0 for i in range(50_000)} | {"username": "admin", "password": "x"}
    content = _json_bytes(body)
    assert len(content) < MIB
    response = client.post("/api/v1/auth/login", content=content, headers={"Content-Type": "application/json"})
    problem = _problem(response, 422)
    assert len(problem["errors"]) == 20
    assert problem["error_count"] == 50_000
    assert "49980 more" in problem["detail"]
    assert len(response.content) < 10_000


# -- 3. Bodies that are not UTF-8 or nest too deeply -------------------------------------------

@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"name": "\xff\xfe", "kind": "customer"}', id="invalid byte"),
        pytest.param('{"name": "甲公司", "kind": "customer"}'.encode("gb18030"), id="gb18030"),
        pytest.param('{"name": "甲公司", "kind": "customer"}'.encode("utf-16"), id="utf-16"),
        pytest.param(b'{"name": "\xed\xa0\x80", "kind": "customer"}', id="encoded surrogate"),
    ],
)
def test_a_body_that_is_not_utf8_is_a_422(api: Api, content: bytes) -> None:
    problem = _problem(api.post("/customers", content=content, headers={"Content-Type": "application/json"}), 422)
    assert "UTF-8" in problem["detail"]


def test_a_number_the_parser_cannot_convert_is_a_422(api: Api) -> None:
    content = '{"name": "甲", "kind": "customer", "employees": '.encode() + b"9" * 5000 + b"}"
    problem = _problem(api.post("/customers", content=content, headers={"Content-Type": "application/json"}), 422)
    assert problem["errors"] == [{"field": "body", "message": "is not valid JSON"}]


def test_a_surrogate_with_an_idempotency_key_is_refused_on_its_field(api: Api) -> None:
    body = {"name": "甲", "kind": "customer", "notes": "\ud800"}
    problem = _problem(_send(api, "POST", "/customers", body, {"Idempotency-Key": str(uuid.uuid4())}), 422)
    assert [e["field"] for e in problem["errors"]] == ["notes"]


@pytest.mark.parametrize("depth", [33, 300, 2000, 200_000])
@pytest.mark.parametrize("idempotent", [False, True])
def test_json_nested_too_deeply_is_a_422(api: Api, depth: int, idempotent: bool) -> None:
    content = '{"name": "甲", "kind": "customer", "tags": '.encode() + b"[" * depth + b"]" * depth + b"}"
    headers = {"Content-Type": "application/json"}
    if idempotent:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    problem = _problem(api.post("/customers", content=content, headers=headers), 422)
    assert "32" in problem["detail"]


def test_json_nested_to_the_limit_is_parsed_and_brackets_in_strings_do_not_count(api: Api) -> None:
    # 32 levels: the body object and 31 arrays; refused by the schema, not by the depth limit.
    content = b'{"name": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[", "kind": "customer", "tags": ' + b"[" * 31 + b"]" * 31 + b"}"
    problem = _problem(api.post("/customers", content=content, headers={"Content-Type": "application/json"}), 422)
    assert [e["field"] for e in problem["errors"]] == ["tags.0"]
    fine = api.post("/customers", json={"name": api.unique("[{方括号}]") + "[" * 40, "kind": "customer"})
    assert fine.status_code == 201, fine.text


# -- 4. 405 lists every allowed method -----------------------------------------------------------

@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/customers/{id}", {"GET", "PATCH"}),
        ("PUT", "/api/v1/customers", {"GET", "POST"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("DELETE", "/api/v1/customers/{id}/contacts", {"GET", "POST"}),
        ("DELETE", "/api/v1/customers/{id}/contacts/{id}", {"GET", "PATCH"}),
        ("PUT", "/api/v1/me", {"GET"}),
        ("POST", "/openapi.json", {"GET", "HEAD"}),
        ("POST", "/docs", {"GET"}),
        ("DELETE", "/static-offline-docs/swagger-ui.css", {"GET", "HEAD"}),
    ],
)
def test_a_405_lists_every_method_of_the_path(api: Api, method: str, path: str, allowed: set[str]) -> None:
    response = api.client.request(method, path.replace("{id}", str(uuid.uuid4())), headers=api.headers)
    _problem(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


# -- 5. Offline API documentation ----------------------------------------------------------------

@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_documentation_needs_no_other_host(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(?:https?:)?//[A-Za-z0-9]", html), re.findall(r"(?:https?:)?//[^\s\"'<>]+", html)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/"), asset
        loaded = client.get(asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 1000, asset
    assert "/openapi.json" in html


# -- 6. No caching of credentials -------------------------------------------------------------

def _not_cached(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store", response.headers
    assert response.headers.get("Pragma") == "no-cache", response.headers


def test_login_and_me_answers_are_not_cached(api: Api, client: TestClient) -> None:
    ok = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password-1"})
    assert ok.status_code == 200
    _not_cached(ok)
    wrong = client.post("/api/v1/auth/login", json={"username": "nobody-hardening", "password": "whatever-1"})
    assert wrong.status_code == 401
    _not_cached(wrong)
    invalid = client.post("/api/v1/auth/login", json={"username": "admin"})
    assert invalid.status_code == 422
    _not_cached(invalid)
    form = client.post("/api/v1/auth/login", content=b"username=admin", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    _not_cached(form)
    me = api.get("/me")
    assert me.status_code == 200
    _not_cached(me)
    _not_cached(client.get("/api/v1/me"))


# -- 7. A new contact's Location ----------------------------------------------------------------

def test_the_location_of_a_new_contact_answers_the_contact(api: Api) -> None:
    customer = api.create_customer()
    added = api.post(f"/customers/{customer['id']}/contacts", json={"name": "王丽", "title": "采购经理", "mobile": "13805741234"})
    assert added.status_code == 201, added.text
    location = added.headers["Location"]
    assert location == f"/api/v1/customers/{customer['id']}/contacts/{added.json()['id']}"
    found = api.client.get(location, params={"min_position": added.json()["position"]}, headers=api.headers)
    assert found.status_code == 200, found.text
    contact = found.json()
    assert contact["id"] == added.json()["id"] and contact["customer_id"] == customer["id"]
    assert (contact["name"], contact["title"], contact["mobile"], contact["primary"]) == ("王丽", "采购经理", "13805741234", True)
    assert found.headers["ETag"] == f'"{added.json()["version"]}"'
    assert int(found.headers["X-Position"]) >= added.json()["position"]


def test_a_contact_of_another_customer_or_out_of_scope_is_not_found(api: Api, client: TestClient) -> None:
    first = api.create_customer()
    second = api.create_customer()
    contact = api.post(f"/customers/{first['id']}/contacts", json={"name": "李强"}).json()
    api.get(f"/customers/{first['id']}/contacts/{contact['id']}", params={"min_position": contact["position"]})
    _problem(api.get(f"/customers/{second['id']}/contacts/{contact['id']}"), 404)
    _problem(api.get(f"/customers/{first['id']}/contacts/{uuid.uuid4()}"), 404)
    _problem(api.get(f"/customers/{uuid.uuid4()}/contacts/{contact['id']}"), 404)
    _problem(api.get(f"/customers/{first['id']}/contacts/not-a-uuid"), 422)

    role = api.post("/roles", json={"name": api.unique("只看自己"), "permissions": ["customers:read"], "data_scope": "own"})
    username = f"own-{uuid.uuid4().hex[:8]}"
    user = api.post("/users", json={"username": username, "password": "own-scope-pass-1", "display_name": "自己",
                                    "role_ids": [role.json()["id"]]})  # fmt: skip
    assert user.status_code == 201, user.text
    token = client.post("/api/v1/auth/login", json={"username": username, "password": "own-scope-pass-1"}).json()["access_token"]
    seller = Api(client, token)
    _problem(seller.get(f"/customers/{first['id']}/contacts/{contact['id']}"), 404)
