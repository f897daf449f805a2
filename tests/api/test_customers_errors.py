"""Customers over HTTP: every error path answers problem+json and changes nothing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import Api


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _customer_count(api: Api, runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.app.recorder.datastore.get_connection() as conn:
        return conn.execute(f'SELECT count(*) AS n FROM "{runtime.app.events_table}"').fetchone()["n"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   ", "kind": "customer"}, "name"),
        ({"kind": "customer"}, "name"),
        ({"name": "甲公司", "kind": "supplier"}, "kind"),
        ({"name": "甲公司", "kind": "customer", "email": "wang@"}, "email"),
        ({"name": "甲公司", "kind": "customer", "phone": "call me"}, "phone"),
        ({"name": "甲公司", "kind": "customer", "credit_limit": "-1"}, "credit_limit"),
        ({"name": "甲公司", "kind": "customer", "credit_limit": "1.005"}, "credit_limit"),
        ({"name": "甲公司", "kind": "customer", "employees": 10**12}, "employees"),
        ({"name": "甲\x00公司", "kind": "customer"}, "name"),
        ({"name": "甲公司", "kind": "customer", "colour": "red"}, "colour"),
        ({"name": "甲公司", "kind": "customer", "owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"name": "甲公司", "kind": "customer", "tags": "vip"}, "tags"),
    ],
)
def test_invalid_customers_are_refused_with_the_field_and_nothing_is_written(api: Api, runtime, body, field) -> None:  # type: ignore[no-untyped-def]
    before = _customer_count(api, runtime)
    problem = _problem(api.post("/customers", json=body), 422)
    assert field in [e["field"] for e in problem["errors"]]
    assert _customer_count(api, runtime) == before


def test_malformed_json_and_wrong_content_type_are_problems(api: Api) -> None:
    _problem(api.post("/customers", content=b'{"name": ', headers={"Content-Type": "application/json"}), 422)
    _problem(api.post("/customers", content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    _problem(api.post("/customers", content=b"[1, 2]", headers={"Content-Type": "application/json"}), 422)


def test_unknown_and_malformed_ids(api: Api) -> None:
    _problem(api.get(f"/customers/{uuid.uuid4()}"), 404)
    _problem(api.get("/customers/not-a-uuid"), 422)
    _problem(api.patch(f"/customers/{uuid.uuid4()}", json={"city": "宁波市"}), 404)
    _problem(api.post(f"/customers/{uuid.uuid4()}/contacts", json={"name": "王丽"}), 404)
    _problem(api.get("/no-such-thing"), 404)


def test_requests_without_a_valid_token_are_refused(api: Api) -> None:
    client = api.client
    _problem(client.get("/api/v1/customers"), 401)
    _problem(client.get("/api/v1/customers", headers={"Authorization": "Bearer nonsense"}), 401)
    _problem(client.get("/api/v1/customers", headers={"Authorization": "Basic YWRtaW4="}), 401)
    _problem(client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"}), 401)
    _problem(client.post("/api/v1/auth/login", json={"username": "nobody", "password": "whatever-1"}), 401)


def test_if_match_guards_against_lost_updates(api: Api) -> None:
    created = api.create_customer()
    customer = f"/customers/{created['id']}"
    ok = api.patch(customer, json={"city": "宁波市"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == 2 and ok.headers["ETag"] == '"2"'
    stale = _problem(api.patch(customer, json={"city": "杭州市"}, headers={"If-Match": '"1"'}), 412)
    assert "version 2" in stale["detail"]
    _problem(api.patch(customer, json={"city": "杭州市"}, headers={"If-Match": "yesterday"}), 422)
    after = api.get(customer, params={"min_position": ok.json()["position"]})
    assert after.json()["city"] == "宁波市" and after.headers["ETag"] == '"2"'


def test_a_patch_that_changes_nothing_writes_nothing(api: Api) -> None:
    created = api.create_customer(city="宁波市")
    again = api.patch(f"/customers/{created['id']}", json={"city": "宁波市"})
    assert again.status_code == 200
    assert again.json()["version"] == 1


def test_an_idempotency_key_replays_the_first_result_and_refuses_another_body(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": api.unique("上海重试物流有限公司"), "kind": "customer"}
    first = api.post("/customers", json=body, headers=key)
    assert first.status_code == 201, first.text
    before = _customer_count(api, runtime)
    second = api.post("/customers", json=body, headers=key)
    assert second.status_code == 201
    assert second.json() == first.json()
    assert _customer_count(api, runtime) == before
    _problem(api.post("/customers", json={**body, "name": "别的公司"}, headers=key), 422)
    assert _customer_count(api, runtime) == before


def test_concurrent_idempotent_requests_write_once(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": api.unique("杭州并发科技有限公司"), "kind": "customer"}
    before = _customer_count(api, runtime)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: api.post("/customers", json=body, headers=key), range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert _customer_count(api, runtime) == before + 1


def test_concurrent_writers_on_one_customer_lose_no_update(api: Api) -> None:
    created = api.create_customer()
    path = f"/customers/{created['id']}/contacts"
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: api.post(path, json={"name": f"联系人{i}"}), range(16)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 18))
    last = max(r.json()["position"] for r in responses)
    contacts = api.get(path, params={"min_position": last}).json()["items"]
    assert sorted(c["name"] for c in contacts) == sorted(f"联系人{i}" for i in range(16))
    assert sum(c["primary"] for c in contacts) == 1


def test_an_activity_with_a_foreign_contact_is_refused(api: Api) -> None:
    one, other = api.create_customer(), api.create_customer()
    contact = api.post(f"/customers/{other['id']}/contacts", json={"name": "李强"}).json()
    problem = _problem(
        api.post(
            f"/customers/{one['id']}/activities",
            json={"kind": "visit", "occurred_at": "2026-11-20T10:00:00+08:00", "summary": "拜访", "contact_id": contact["id"]},
        ),
        422,
    )
    assert problem["errors"][0]["field"] == "contact_id"
    _problem(
        api.post(f"/customers/{one['id']}/activities", json={"kind": "visit", "occurred_at": "2026-11-20T10:00:00", "summary": "x"}),
        422,
    )


def test_a_position_beyond_the_log_is_refused_at_once(api: Api) -> None:
    problem = _problem(api.get("/customers", params={"min_position": 10**15}), 422)
    assert problem["errors"][0]["field"] == "min_position"


def test_a_read_model_that_does_not_catch_up_in_time_answers_503_with_retry_after(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    from crm_es.app import Context

    admin = runtime.app.staff.user_by_username("admin")
    runtime.read_side.stop()
    saved = runtime.settings
    runtime.settings = saved.with_(read_wait_seconds=0.2)
    try:
        written = runtime.app.customers.register(
            ctx=Context(actor=str(admin.id), user_id=admin.id), name="宁波滞后测试有限公司", kind="target"
        )
        response = api.get(f"/customers/{written.id}", params={"min_position": written.position})
    finally:
        runtime.settings = saved
        runtime.read_side.start()
    _problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    caught_up = api.get(f"/customers/{written.id}", params={"min_position": written.position})
    assert caught_up.status_code == 200


def test_bad_list_parameters_are_problems(api: Api) -> None:
    _problem(api.get("/customers", params={"limit": 0}), 422)
    _problem(api.get("/customers", params={"limit": 501}), 422)
    _problem(api.get("/customers", params={"cursor": "garbage!"}), 422)
    _problem(api.get("/customers", params={"min_position": -1}), 422)
    _problem(api.get("/customers", params={"kind": "friend"}), 422)
