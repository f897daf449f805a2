"""Defects a review and a probe found, each pinned by a test that failed before its fix."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from crm_es.api import create_app
from crm_es.projections.base import live_schema
from tests.api.conftest import Api

PASSWORD = "defect-password-1"


def _user(api: Api, *, roles: tuple[str, ...] = ("salesperson",), password: str = PASSWORD) -> tuple[str, str]:
    by_name = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    name = f"d-{uuid.uuid4().hex[:8]}"
    response = api.post("/users", json={"username": name, "password": password, "display_name": name,
                                        "role_ids": [by_name.get(r, r) for r in roles]})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"], name


def _login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"username": name, "password": password})


def _as(api: Api, name: str, password: str = PASSWORD) -> Api:
    response = _login(api.client, name, password)
    assert response.status_code == 200, response.text
    return Api(api.client, response.json()["access_token"])


# Tokens ------------------------------------------------------------------------------------------


def test_a_token_issued_before_a_password_reset_is_refused(api: Api) -> None:
    user_id, name = _user(api)
    old = _as(api, name)
    assert old.get("/me").status_code == 200
    assert api.post(f"/users/{user_id}/reset-password", json={"password": "a-new-password-2"}).status_code == 200
    assert old.get("/me").status_code == 401
    assert _as(api, name, "a-new-password-2").get("/me").status_code == 200


def test_changing_ones_password_retires_old_tokens_and_answers_a_fresh_one(api: Api) -> None:
    _, name = _user(api)
    old = _as(api, name)
    other_session = _as(api, name)
    changed = old.post("/me/password", json={"current_password": PASSWORD, "new_password": "brand-new-pass-3"})
    assert changed.status_code == 200, changed.text
    assert old.get("/me").status_code == 401 and other_session.get("/me").status_code == 401
    assert Api(api.client, changed.json()["access_token"]).get("/me").status_code == 200


def test_a_token_issued_before_departure_stays_refused(api: Api) -> None:
    user_id, name = _user(api)
    session = _as(api, name)
    assert api.post(f"/users/{user_id}/depart", json={}).status_code == 200
    assert session.get("/me").status_code == 401


# Administrators ----------------------------------------------------------------------------------


def test_users_admin_without_the_admin_role_cannot_make_or_change_administrators(api: Api) -> None:
    role = api.post("/roles", json={"name": f"staff-admin-{uuid.uuid4().hex[:6]}", "permissions": ["users:admin"],
                                    "data_scope": "all"}).json()["id"]  # fmt: skip
    _, hr_name = _user(api, roles=(role,))
    hr = _as(api, hr_name)
    admin_role = next(r["id"] for r in api.get("/roles").json()["items"] if r["name"] == "admin")
    made = hr.post("/users", json={"username": f"x-{uuid.uuid4().hex[:6]}", "password": PASSWORD, "display_name": "x",
                                   "role_ids": [admin_role]})  # fmt: skip
    assert made.status_code == 403, made.text
    admin_id, _ = _user(api, roles=("admin",))
    assert hr.post(f"/users/{admin_id}/reset-password", json={"password": "hijacked-pass-1"}).status_code == 403
    assert hr.patch(f"/users/{admin_id}", json={"role_ids": []}).status_code == 403
    assert hr.post(f"/users/{admin_id}/disable").status_code == 403
    plain_id, _ = _user(api)
    assert hr.patch(f"/users/{plain_id}", json={"role_ids": [admin_role]}).status_code == 403
    assert hr.post(f"/users/{plain_id}/reset-password", json={"password": "reset-by-hr-1"}).status_code == 200


# Logins ------------------------------------------------------------------------------------------


def test_parallel_guesses_never_get_more_tries_than_the_limit(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    _, name = _user(api)
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: _login(api.client, name, "wrong-guess").status_code, range(24)))
    judged = answers.count(401)
    assert judged == runtime.settings.login_max_failures, answers
    assert answers.count(429) == 24 - judged


def test_a_lock_is_per_address_and_create_admin_lifts_it(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    from crm_es.errors import TooManyAttempts, Unauthorized

    _, name = _user(api, roles=("admin",))
    staff = runtime.app.staff
    for _ in range(runtime.settings.login_max_failures):
        with pytest.raises(Unauthorized):
            staff.login(username=name, password="wrong", client="203.0.113.9")
    with pytest.raises(TooManyAttempts):
        staff.login(username=name, password=PASSWORD, client="203.0.113.9")
    assert staff.login(username=name, password=PASSWORD, client="198.51.100.7").username == name
    with pytest.raises(TooManyAttempts):
        staff.login(username=name, password=PASSWORD, client="203.0.113.9")
    _, outcome = staff.ensure_admin(username=name, password=PASSWORD)
    assert "login unlocked" in outcome
    assert staff.login(username=name, password=PASSWORD, client="203.0.113.9").username == name


def test_guessing_the_current_password_shares_the_login_lock(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    _, name = _user(api)
    me = _as(api, name)
    for _ in range(runtime.settings.login_max_failures):
        wrong = me.post("/me/password", json={"current_password": "not-it-at-all", "new_password": "whatever-new-1"})
        assert wrong.status_code == 422, wrong.text
    locked = me.post("/me/password", json={"current_password": PASSWORD, "new_password": "whatever-new-1"})
    assert locked.status_code == 429, locked.text
    assert _login(api.client, name).status_code == 429


# Activities --------------------------------------------------------------------------------------


def test_an_activity_on_an_opportunity_is_accepted_and_an_unknown_opportunity_is_a_422(api: Api) -> None:
    customer = api.create_customer()
    opened = api.post("/opportunities", json={
        "customer_id": customer["id"], "title": "报价跟进", "amount": "1000.00", "expected_close_date": "2027-01-31"})  # fmt: skip
    assert opened.status_code == 201, opened.text
    activity = {"kind": "call", "occurred_at": "2026-11-20T10:00:00+08:00", "summary": "报价跟进"}
    accepted = api.post(f"/customers/{customer['id']}/activities", json={**activity, "opportunity_id": opened.json()["id"]})
    assert accepted.status_code == 201, accepted.text
    unknown = str(uuid.uuid4())
    response = api.post(f"/customers/{customer['id']}/activities", json={**activity, "opportunity_id": unknown})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "opportunity_id", "message": f"no opportunity with id {unknown}"}]


# Read-your-writes --------------------------------------------------------------------------------


def test_sixty_four_waiting_readers_do_not_starve_writers(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    """Hold the customers read model back (its runner waits on our lock), start 64 reads that wait
    for a write it has not applied, and write meanwhile: the writes must not wait for the reads."""
    with psycopg.connect(runtime.database.conninfo, autocommit=True) as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT pg_advisory_xact_lock(hashtext('crm-es:apply:customers'))")
        target = api.create_customer()["position"]
        with ThreadPoolExecutor(64 + 4) as pool:
            waits = [pool.submit(api.get, "/customers", params={"min_position": target, "limit": 1}) for _ in range(64)]
            time.sleep(0.3)  # let the 64 reads start waiting
            started = time.monotonic()
            writes = [pool.submit(api.create_customer) for _ in range(8)]
            for write in writes:
                write.result(timeout=10)
            writing = time.monotonic() - started
            assert not any(w.done() for w in waits), "the reads should still be waiting"
            blocker.execute("COMMIT")
            answers = [w.result(timeout=20) for w in waits]
    assert writing < 3.0, f"8 writes took {writing:.1f} s while 64 reads waited"
    assert {a.status_code for a in answers} == {200}
    assert all(int(a.headers["X-Position"]) >= target for a in answers)


def test_a_failed_catch_up_after_a_staff_command_does_not_fail_the_write(api: Api, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(name: str, conn: Any = None) -> int:
        raise psycopg.OperationalError("the read model's connection dropped")

    monkeypatch.setattr(runtime.read_side, "catch_up", broken)
    response = api.post("/departments", json={"name": f"失败追赶部 {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    monkeypatch.undo()
    assert runtime.app.staff.department(uuid.UUID(response.json()["id"])).name.startswith("失败追赶部")
