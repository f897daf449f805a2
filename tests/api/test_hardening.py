"""A new contact's ``Location`` names a route that answers the contact."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import Api


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


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
