"""Login and the current user."""

from __future__ import annotations

from fastapi import APIRouter

from crm_es.api.deps import PrincipalDep, RuntimeDep
from crm_es.api.schemas.auth import Login, Me, Token
from crm_es.api.schemas.common import problems
from crm_es.api.security import issue_token
from crm_es.errors import Unauthorized

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/login", response_model=Token, operation_id="auth-login", summary="Exchange credentials for a bearer token",
    responses=problems(401, 415, 422),
)  # fmt: skip
def login(body: Login, runtime: RuntimeDep) -> Token:
    user = runtime.app.authenticate(body.username, body.password)
    if user is None:
        raise Unauthorized("unknown username, wrong password, or the account is not active")
    ttl = runtime.settings.token_ttl_seconds
    return Token(access_token=issue_token(user.id, runtime.secret_key, ttl), expires_in=ttl)


@router.get("/me", response_model=Me, operation_id="auth-me", summary="The signed-in user", responses=problems(401))
def me(principal: PrincipalDep, runtime: RuntimeDep) -> Me:
    user = runtime.app.user(principal.user_id)
    return Me(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=list(user.roles),
        permissions=["*"] if "admin" in user.roles else [],
        status=user.status,
    )
