"""Customers over HTTP: the happy paths."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_created_customer_is_listed_and_found_by_a_chinese_substring(api: Api) -> None:
    name = api.unique("宁波慈穗贸业有限公司")
    created = api.post("/customers", json={"name": name, "kind": "customer", "city": "宁波市"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"/api/v1/customers/{body['id']}"
    assert body["version"] == 1 and body["position"] > 0

    page = api.get("/customers", params={"q": "慈穗", "min_position": body["position"], "limit": 500})
    assert page.status_code == 200, page.text
    assert int(page.headers["X-Position"]) >= body["position"]
    assert body["id"] in [c["id"] for c in page.json()["items"]]

    one = api.get(f"/customers/{body['id']}", params={"min_position": body["position"]})
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json()["name"] == name
