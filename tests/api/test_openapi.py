"""The served OpenAPI document describes every route, and no route is open without a token."""

from __future__ import annotations

import re
import uuid

from tests.api.conftest import Api

PUBLIC = {("post", "/api/v1/auth/login"), ("get", "/healthz"), ("get", "/readyz")}


def test_the_openapi_document_has_an_operation_id_and_problem_responses_for_every_route(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert re.fullmatch(r"[a-z]+-[a-z-]+", operation["operationId"]), (method, path)
            if (method, path) not in PUBLIC:
                assert "401" in operation["responses"], (method, path)


def test_no_route_but_login_and_health_answers_without_a_token(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    tried = 0
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for method in operations:
            if (method, path) in PUBLIC:
                continue
            response = api.client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["content-type"].startswith("application/problem+json")
            tried += 1
    assert tried >= 10
