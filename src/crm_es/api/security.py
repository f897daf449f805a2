"""Bearer tokens: signed JWTs naming the user; the user's state is checked on every request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
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
    now = time.time()  # to the microsecond: a token is refused if issued before a password change
    claims = {"sub": str(user_id), "iat": now, "exp": int(now) + ttl_seconds, "jti": uuid4().hex}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    user_id: UUID
    issued_at: datetime
    expires: float


def read_token(token: str, secret: str) -> TokenClaims:
    """Who a token names and when it was issued. Verified tokens are remembered (they are
    immutable), so the signature is checked once per token rather than once per request;
    expiry is checked always."""
    cached = _verified.get((token, secret))
    if cached is None:
        try:
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]})
            cached = TokenClaims(
                UUID(claims["sub"]), datetime.fromtimestamp(float(claims["iat"]), timezone.utc), float(claims["exp"])
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired; log in again") from None
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
            raise Unauthorized("the token is not valid") from None
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[(token, secret)] = cached
    if time.time() >= cached.expires:
        raise Unauthorized("the token has expired; log in again")
    return cached


_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str], TokenClaims] = {}
