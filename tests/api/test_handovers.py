"""Departure handover over HTTP: depart, then watch the handover move the customers."""

from __future__ import annotations

import time
from typing import Any

from tests.api.conftest import Api


def _until_done(api: Api, runtime: Any, handover_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = api.get(f"/handovers/{handover_id}")
        if response.status_code == 200 and response.json()["status"] == "done":
            return response.json()
        runtime.read_side.wait_advanced(timeout=0.2)  # the process runs in the background
    raise AssertionError(f"handover {handover_id} did not finish: {response.text}")


def test_a_departing_salespersons_customers_move_to_the_successor(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    users = {}
    for who in ("leaver", "heir"):
        response = api.post("/users", json={"username": api.unique(who).replace(" ", "-"), "password": "handover-pass-1", "display_name": who,
                                            "role_ids": [roles["salesperson"]]})  # fmt: skip
        assert response.status_code == 201, response.text
        users[who] = response.json()["id"]
    customers = [api.create_customer(owner_id=users["leaver"])["id"] for _ in range(3)]
    departed = api.post(f"/users/{users['leaver']}/depart", json={"successor_id": users["heir"]})
    assert departed.status_code == 200, departed.text
    handover = _until_done(api, runtime, departed.json()["handover_id"])
    assert (handover["user_id"], handover["to_user_id"]) == (users["leaver"], users["heir"])
    assert (handover["total"], handover["moved"], handover["skipped"]) == (3, 3, 0)
    assert {i["record_id"] for i in handover["items"]} == set(customers)
    assert {i["status"] for i in handover["items"]} == {"moved"}
    for customer_id in customers:
        history = api.get(f"/customers/{customer_id}/history").json()["items"]
        last = history[-1]
        assert last["event_type"] == "Customer.Reassigned"
        assert last["data"]["reason"] == "handover" and last["actor"] == "process:handover"
    listed = api.get("/handovers", params={"user_id": users["leaver"]}).json()["items"]
    assert [h["id"] for h in listed] == [departed.json()["handover_id"]]
    assert api.get("/handovers/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_departing_salespersons_open_opportunities_move_and_closed_ones_stay(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    users = {}
    for who in ("leaver", "heir"):
        response = api.post("/users", json={"username": api.unique(who).replace(" ", "-"), "password": "handover-pass-1",
                                            "display_name": who, "role_ids": [roles["salesperson"]]})  # fmt: skip
        assert response.status_code == 201, response.text
        users[who] = response.json()["id"]
    customer = api.create_customer(owner_id=users["leaver"])["id"]
    body = {"customer_id": customer, "title": "年度采购", "amount": "1000.00", "expected_close_date": "2027-01-31",
            "owner_id": users["leaver"]}  # fmt: skip
    open_ones = [api.post("/opportunities", json=body).json()["id"] for _ in range(2)]
    won = api.post("/opportunities", json=body).json()["id"]
    assert api.post(f"/opportunities/{won}/win").status_code == 200
    departed = api.post(f"/users/{users['leaver']}/depart", json={"successor_id": users["heir"]})
    assert departed.status_code == 200, departed.text
    handover = _until_done(api, runtime, departed.json()["handover_id"])
    moved = {(i["kind"], i["record_id"]) for i in handover["items"] if i["status"] == "moved"}
    assert moved == {("customer", customer), *(("opportunity", o) for o in open_ones)}
    assert (handover["total"], handover["moved"], handover["skipped"]) == (3, 3, 0)
    runtime.caught_up("opportunities")  # the handovers model may have run ahead of this one
    for opportunity_id in open_ones:
        assert api.get(f"/opportunities/{opportunity_id}").json()["owner_id"] == users["heir"]
    assert api.get(f"/opportunities/{won}").json()["owner_id"] == users["leaver"]
