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
