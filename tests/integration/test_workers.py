"""``crm-es serve --workers 2``: two API processes over one database stay correct together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from crm_es.store import Database
from tests.integration.test_serve import _free_port


@pytest.fixture(scope="module")
def served(make_database) -> Iterator[str]:  # type: ignore[no-untyped-def]
    database: Database = make_database()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_ES_")}
    env.update(CRM_ES_DATABASE_URL=database.conninfo, CRM_ES_PORT=str(port), CRM_ES_LOG_LEVEL="warning",
               CRM_ES_ADMIN_USERNAME="boss", CRM_ES_ADMIN_PASSWORD="boss-password-1")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "crm_es.cli", "serve", "--workers", "2"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "serve --workers 2 did not get ready within 60 s"
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
        assert process.returncode in (0, -signal.SIGTERM), output


def _token(base: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _call(base: str, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
    # A new connection each time, so the kernel spreads the requests over both workers.
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as client:
        return client.request(method, path, **kwargs)


@pytest.mark.slow
def test_writers_in_both_workers_lose_no_update(served: str) -> None:
    admin = _token(served, "boss", "boss-password-1")
    customer = _call(served, "POST", "/customers", admin, json={"name": "双进程客户", "kind": "customer"}).json()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: _call(served, "POST", f"/customers/{customer['id']}/contacts", admin,
                                                json={"name": f"联系人{i}"}), range(40)))  # fmt: skip
    assert {a.status_code for a in answers} == {201}
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 42))
    last = max(a.json()["position"] for a in answers)
    read = _call(served, "GET", f"/customers/{customer['id']}", admin, params={"min_position": last})
    assert read.json()["contact_count"] == 40


@pytest.mark.slow
def test_a_role_change_governs_the_very_next_request_in_either_worker(served: str) -> None:
    admin = _token(served, "boss", "boss-password-1")
    role = _call(served, "POST", "/roles", admin, json={
        "name": f"reader-{uuid.uuid4().hex[:6]}", "permissions": ["customers:read"], "data_scope": "own"}).json()["id"]  # fmt: skip
    name = f"w-{uuid.uuid4().hex[:6]}"
    _call(served, "POST", "/users", admin, json={"username": name, "password": "worker-pass-1", "display_name": name,
                                                 "role_ids": [role]})  # fmt: skip
    user = _token(served, name, "worker-pass-1")
    for _ in range(3):
        assert _call(served, "PATCH", f"/roles/{role}", admin, json={"permissions": []}).status_code == 200
        assert {_call(served, "GET", "/customers", user).status_code for _ in range(6)} == {403}
        assert _call(served, "PATCH", f"/roles/{role}", admin, json={"permissions": ["customers:read"]}).status_code == 200
        assert {_call(served, "GET", "/customers", user).status_code for _ in range(6)} == {200}


@pytest.mark.slow
def test_one_idempotency_key_writes_once_across_workers(served: str) -> None:
    admin = _token(served, "boss", "boss-password-1")
    headers = {**admin, "Idempotency-Key": uuid.uuid4().hex}
    body = {"name": f"幂等客户 {uuid.uuid4().hex[:6]}", "kind": "customer"}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: _call(served, "POST", "/customers", headers, json=body), range(10)))
    assert {a.status_code for a in answers} <= {200, 201}
    assert len({a.json()["id"] for a in answers}) == 1
    found = _call(served, "GET", "/customers", admin, params={"q": body["name"], "min_position": answers[0].json()["position"]})
    assert len(found.json()["items"]) == 1
