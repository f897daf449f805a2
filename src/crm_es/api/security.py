"""Bearer tokens: signed JWTs naming the user; the user's state is checked on every request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID, uuid4

import jwt

from crm_es.access import Access
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


def issue_token(user_id: UUID, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds, "jti": uuid4().hex}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> UUID:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
        return UUID(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; log in again") from None
    except (jwt.InvalidTokenError, ValueError):
        raise Unauthorized("the token is not valid") from None
