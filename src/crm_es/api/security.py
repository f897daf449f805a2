"""Bearer tokens: signed JWTs naming the user; the user's state is checked on every request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID, uuid4

import jwt

from crm_es.access import Access
from crm_es.app import Context
from crm_es.errors import Unauthorized

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request, with what they may see and do."""

    user_id: UUID
    username: str
    access: Access

    @property
    def actor(self) -> str:
        return str(self.user_id)

    def context(self, correlation_id: str | None = None) -> Context:
        """The caller as the application sees them (for reads that go through it)."""
        if correlation_id is None:
            return Context(actor=self.actor, user_id=self.user_id, access=self.access)
        return Context(actor=self.actor, correlation_id=correlation_id, user_id=self.user_id, access=self.access)


def issue_token(user_id: UUID, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds, "jti": uuid4().hex}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> UUID:
    """The user a token names. Verified tokens are remembered (they are immutable), so the
    signature is checked once per token rather than once per request; expiry is checked always."""
    cached = _verified.get((token, secret))
    if cached is not None:
        user_id, expires = cached
        if time.time() < expires:
            return user_id
        raise Unauthorized("the token has expired; log in again")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
        user_id = UUID(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; log in again") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("the token is not valid") from None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(token, secret)] = (user_id, float(claims["exp"]))
    return user_id


_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str], tuple[UUID, float]] = {}
