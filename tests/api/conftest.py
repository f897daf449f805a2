"""HTTP fixtures: a client of the API on the test runtime, logged in as the administrator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crm_es.api import create_app


class Api:
    """A thin HTTP client with the administrator's token and helpers that make unique names."""

    def __init__(self, client: TestClient, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    @staticmethod
    def unique(prefix: str) -> str:
        return f"{prefix} {uuid.uuid4().hex[:8]}"

    def create_customer(self, **fields: Any) -> dict[str, Any]:
        body = {"name": self.unique("宁波测试贸易有限公司"), "kind": "customer", **fields}
        response = self.post("/customers", json=body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="session")
def client(runtime) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


@pytest.fixture(scope="session")
def api(client: TestClient) -> Api:
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password-1"})
    assert response.status_code == 200, response.text
    return Api(client, response.json()["access_token"])
