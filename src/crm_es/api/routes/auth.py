"""Login and the current user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from crm_es.api.deps import ContextDep, PrincipalDep, RuntimeDep
from crm_es.api.schemas.auth import Login, Me, PasswordChange, PasswordChanged, Token
from crm_es.api.schemas.common import WriteResult, problems
from crm_es.api.security import issue_token
from crm_es.projections import staff

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/login", response_model=Token, operation_id="auth-login", summary="Exchange credentials for a bearer token",
    responses=problems(401, 415, 422, 429),
)  # fmt: skip
def login(body: Login, runtime: RuntimeDep, request: Request) -> Token:
    user = runtime.app.staff.login(
        username=body.username, password=body.password, client=request.client.host if request.client else None
    )
    ttl = runtime.settings.token_ttl_seconds
    return Token(access_token=issue_token(user.id, runtime.secret_key, ttl), expires_in=ttl)


@router.get("/me", response_model=Me, operation_id="auth-me", summary="The signed-in user, roles, permissions", responses=problems(401))
def me(principal: PrincipalDep, runtime: RuntimeDep) -> Any:
    with runtime.app.recorder.datastore.get_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        user = staff.get_user(cur, principal.user_id)
        roles = [r for r in staff.list_roles(cur) if r["id"] in (user or {}).get("role_ids", [])]
    assert user is not None
    return {
        **user,
        "roles": [{"id": r["id"], "name": r["name"]} for r in roles],
        "permissions": sorted(principal.access.permissions),
        "scopes": dict(principal.access.scopes),
    }


@router.post(
    "/me/password", response_model=PasswordChanged, operation_id="auth-change-password",
    summary="Change your own password (give the current one)", responses=problems(401, 409, 415, 422),
)  # fmt: skip
def change_password(body: PasswordChange, ctx: ContextDep, runtime: RuntimeDep) -> PasswordChanged:
    written = runtime.app.staff.change_own_password(
        ctx=ctx, current_password=body.current_password, new_password=body.new_password
    )
    runtime.staff_changed()
    # Every token issued before the change stops working; the caller gets a fresh one.
    ttl = runtime.settings.token_ttl_seconds
    return PasswordChanged(
        **written.body(), access_token=issue_token(written.id, runtime.secret_key, ttl), expires_in=ttl
    )
