"""Schemas of login and the current user."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_es.api.schemas.common import Strict, Text


class Login(Strict):
    username: Text = Field(max_length=64, examples=["admin"])
    password: str = Field(max_length=256, examples=["change-me-please"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"access_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "bearer", "expires_in": 28800}]}
    )


class Me(BaseModel):
    id: UUID
    username: str
    display_name: str
    roles: list[str]
    permissions: list[str]
    status: str
