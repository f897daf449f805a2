"""The operation log over HTTP: filters, pages, the CSV export, refused input."""

from __future__ import annotations

import csv
import io
import uuid

import orjson

from crm_es.projections.paging import encode_cursor
from tests.api.conftest import Api


def _customer_with_history(api: Api, request_id: str) -> dict[str, str]:
    """A customer registered under ``request_id``, then given a contact; returns its id and last position."""
    created = api.post(
        "/customers", json={"name": api.unique("宁波审计测试有限公司"), "kind": "customer", "city": "宁波市"},
        headers={"X-Request-ID": request_id},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    contact = api.post(f"/customers/{created.json()['id']}/contacts", json={"name": "王丽"})
    assert contact.status_code == 201, contact.text
    return {"id": created.json()["id"], "position": contact.json()["position"]}


def test_the_log_names_the_request_and_the_actor_of_each_change(api: Api) -> None:
    request_id = f"audit-{uuid.uuid4().hex}"
    customer = _customer_with_history(api, request_id)
    response = api.get("/audit", params={"aggregate_id": customer["id"], "min_position": customer["position"]})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Position"]) >= customer["position"]
    items = response.json()["items"]
    assert [i["event_type"] for i in items] == ["Customer.ContactAdded", "Customer.Registered"]
    contact_added, registered = items
    assert registered["correlation_id"] == request_id and contact_added["correlation_id"] != request_id
    assert registered["aggregate_type"] == "Customer" and registered["aggregate_id"] == customer["id"]
    assert registered["version"] == 1 and registered["data"]["city"] == "宁波市"
    assert registered["actor"] and registered["actor"] == contact_added["actor"]

    by_actor = api.get("/audit", params={"actor_id": registered["actor"], "aggregate_type": "Customer", "limit": 500})
    assert registered["position"] in [i["position"] for i in by_actor.json()["items"]]
    assert api.get("/audit", params={"actor_id": "process:nobody"}).json()["items"] == []


def test_pages_follow_the_cursor_newest_first(api: Api) -> None:
    customer = _customer_with_history(api, f"audit-{uuid.uuid4().hex}")
    params = {"aggregate_id": customer["id"], "limit": 1, "min_position": customer["position"]}
    first = api.get("/audit", params=params).json()
    second = api.get("/audit", params={**params, "cursor": first["next_cursor"]}).json()
    assert first["items"][0]["position"] > second["items"][0]["position"]
    assert second["next_cursor"] is None


def test_the_csv_export_opens_in_excel_and_lists_the_events_oldest_first(api: Api) -> None:
    request_id = f"audit-csv-{uuid.uuid4().hex}"
    customer = _customer_with_history(api, request_id)
    response = api.get("/audit.csv", params={"aggregate_id": customer["id"], "min_position": customer["position"]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment")
    assert int(response.headers["X-Position"]) >= customer["position"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "position", "occurred_at", "actor", "aggregate_type", "aggregate_id", "version", "event_type",
        "correlation_id", "causation_id", "data",
    ]  # fmt: skip
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["event_type"] for r in records] == ["Customer.Registered", "Customer.ContactAdded"]
    assert records[0]["correlation_id"] == request_id and records[0]["aggregate_id"] == customer["id"]
    assert orjson.loads(records[1]["data"])["name"] == "王丽"


def test_since_after_until_is_refused(api: Api) -> None:
    for path in ("/audit", "/audit.csv"):
        response = api.get(path, params={"since": "2026-11-02T00:00:00+08:00", "until": "2026-11-01T00:00:00+08:00"})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == "since"


def test_naive_times_and_bad_cursors_are_refused(api: Api) -> None:
    assert api.get("/audit", params={"since": "2026-11-01T00:00:00"}).status_code == 422
    assert api.get("/audit", params={"cursor": "not-a-cursor"}).status_code == 422
    for key in (["recent", "2026-11-01T00:00:00+00:00", str(uuid.uuid4())], ["audit", "7"], ["audit", 2**63]):
        assert api.get("/audit", params={"cursor": encode_cursor(key[0], key[1:])}).status_code == 422, key


def test_an_unfiltered_export_is_one_well_formed_row_per_entry_in_order(api: Api) -> None:
    made = [_customer_with_history(api, f"audit-{uuid.uuid4().hex}") for _ in range(3)]
    response = api.get("/audit.csv", params={"min_position": made[-1]["position"]})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    positions = [int(row[0]) for row in rows[1:]]
    assert all(len(row) == len(rows[0]) for row in rows)
    assert positions == sorted(set(positions)) and positions[-1] >= made[-1]["position"]
    assert {m["id"] for m in made} <= {row[4] for row in rows[1:]}
