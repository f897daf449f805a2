"""Staff administration over HTTP: users, departments, roles, logins."""

from __future__ import annotations

import uuid

from tests.api.conftest import Api


def _id(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_usernames_are_unique_whatever_their_case(api: Api) -> None:
    name = f"zhang-{uuid.uuid4().hex[:6]}"
    _id(api.post("/users", json={"username": name, "password": "password-123", "display_name": "张伟"}))
    again = api.post("/users", json={"username": name.upper(), "password": "password-123", "display_name": "张伟"})
    assert again.status_code == 409, again.text


def test_bad_staff_input_is_refused_with_the_field(api: Api) -> None:
    cases = [
        ("/users", {"username": "a b", "password": "password-123", "display_name": "x"}, "username"),
        ("/users", {"username": "shortpw", "password": "short", "display_name": "x"}, "password"),
        ("/users", {"username": f"u{uuid.uuid4().hex[:6]}", "password": "password-123", "display_name": "x",
                    "role_ids": [str(uuid.uuid4())]}, "role_ids"),
        ("/users", {"username": f"u{uuid.uuid4().hex[:6]}", "password": "password-123", "display_name": "x",
                    "department_id": str(uuid.uuid4())}, "department_id"),
        ("/roles", {"name": "bad", "permissions": ["customers:fly"], "data_scope": "own"}, "permissions"),
        ("/roles", {"name": "bad", "permissions": [], "data_scope": "galaxy"}, "data_scope"),
        ("/roles", {"name": "bad", "permissions": [], "data_scope": "own", "scopes": {"planets": "all"}}, "scopes"),
        ("/departments", {"name": "  "}, "name"),
        ("/departments", {"name": "x", "parent_id": str(uuid.uuid4())}, "parent_id"),
    ]  # fmt: skip
    for path, body, field in cases:
        response = api.post(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert field in {e["field"].split(".")[0] for e in response.json()["errors"]}, (path, response.text)


def test_a_department_cannot_move_under_its_own_sub_department(api: Api) -> None:
    top = _id(api.post("/departments", json={"name": "华东区"}))
    middle = _id(api.post("/departments", json={"name": "浙江片区", "parent_id": top}))
    bottom = _id(api.post("/departments", json={"name": "宁波组", "parent_id": middle}))
    for parent in (bottom, top):
        response = api.patch(f"/departments/{top}", json={"parent_id": parent})
        assert response.status_code == 422, response.text
    assert api.patch(f"/departments/{bottom}", json={"parent_id": top}).status_code == 200
    tree = {d["id"]: d["parent_id"] for d in api.get("/departments").json()["items"]}
    assert tree[bottom] == top and tree[middle] == top


def test_role_names_are_unique(api: Api) -> None:
    name = f"区域经理-{uuid.uuid4().hex[:6]}"
    _id(api.post("/roles", json={"name": name, "permissions": ["customers:read"], "data_scope": "department"}))
    again = api.post("/roles", json={"name": name, "permissions": [], "data_scope": "own"})
    assert again.status_code == 409


def test_repeated_failed_logins_lock_the_account_for_a_while(api: Api, runtime) -> None:  # type: ignore[no-untyped-def]
    name = f"locky-{uuid.uuid4().hex[:6]}"
    _id(api.post("/users", json={"username": name, "password": "right-password", "display_name": "锁"}))
    client = api.client
    for _ in range(runtime.settings.login_max_failures):
        assert client.post("/api/v1/auth/login", json={"username": name, "password": "wrong-password"}).status_code == 401
    locked = client.post("/api/v1/auth/login", json={"username": name, "password": "right-password"})
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["Retry-After"]) > 0
    assert "locked" in locked.json()["detail"]


def test_logins_are_in_the_operation_log(api: Api) -> None:
    name = f"logger-{uuid.uuid4().hex[:6]}"
    _id(api.post("/users", json={"username": name, "password": "right-password", "display_name": "记"}))
    api.client.post("/api/v1/auth/login", json={"username": name, "password": "wrong-password"})
    ok = api.client.post("/api/v1/auth/login", json={"username": name, "password": "right-password"})
    assert ok.status_code == 200
    entries = api.get("/audit", params={"aggregate_type": "LoginRecord", "limit": 500}).json()["items"]
    mine = [e for e in entries if e["data"].get("username") == name or e["actor"] in (f"login:{name}",)]
    assert mine, entries[:3]


def test_a_departed_user_cannot_sign_in_and_cannot_be_enabled(api: Api) -> None:
    name = f"leaver-{uuid.uuid4().hex[:6]}"
    user = _id(api.post("/users", json={"username": name, "password": "right-password", "display_name": "离"}))
    assert api.post(f"/users/{user}/depart", json={}).status_code == 200
    assert api.client.post("/api/v1/auth/login", json={"username": name, "password": "right-password"}).status_code == 401
    assert api.post(f"/users/{user}/enable").status_code == 409
    assert api.get(f"/users/{user}").json()["status"] == "departed"


def test_an_administrator_cannot_lock_themselves_out(api: Api) -> None:
    me = api.get("/me").json()
    assert api.post(f"/users/{me['id']}/disable").status_code == 409
    assert api.patch(f"/users/{me['id']}", json={"role_ids": []}).status_code == 409


def test_odd_logins_and_paths_are_problems_not_errors(api: Api) -> None:
    assert api.client.post("/api/v1/auth/login", json={"username": "", "password": "x"}).status_code == 422
    for _ in range(2):
        assert api.client.post("/api/v1/auth/login", json={"username": "-", "password": "x"}).status_code == 401
    response = api.post("/reference/%F0%93%8B%B3%C2%BF0/items", json={"key": "x", "label": None})
    assert response.status_code == 404, response.text


def test_the_built_in_admin_role_cannot_be_emptied(api: Api) -> None:
    admin_role = next(r for r in api.get("/roles").json()["items"] if r["name"] == "admin")
    response = api.patch(f"/roles/{admin_role['id']}", json={"permissions": []})
    assert response.status_code == 409, response.text
    assert "users:admin" in api.get("/me").json()["permissions"]


def test_users_change_their_own_password_by_giving_the_current_one(api: Api) -> None:
    name = f"pw-{uuid.uuid4().hex[:6]}"
    _id(api.post("/users", json={"username": name, "password": "first-password", "display_name": "改"}))
    client = api.client
    token = client.post("/api/v1/auth/login", json={"username": name, "password": "first-password"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    wrong = client.post("/api/v1/me/password", headers=headers,
                        json={"current_password": "not-it", "new_password": "second-password"})  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    ok = client.post("/api/v1/me/password", headers=headers,
                     json={"current_password": "first-password", "new_password": "second-password"})  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert client.post("/api/v1/auth/login", json={"username": name, "password": "first-password"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": name, "password": "second-password"}).status_code == 200
