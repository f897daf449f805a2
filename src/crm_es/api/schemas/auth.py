"""Schemas of login and the current user."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_es.api.schemas.common import Password, Strict, Text, WriteResult


class Login(Strict):
    username: Text = Field(min_length=1, max_length=64, examples=["admin"])
    password: Password = Field(min_length=1, max_length=256, examples=["change-me-please"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"access_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "bearer", "expires_in": 28800}]}
    )


class RoleRef(BaseModel):
    id: UUID
    name: str


class Me(BaseModel):
    id: UUID
    username: str
    display_name: str
    department_id: UUID | None
    status: str
    roles: list[RoleRef]
    permissions: list[str] = Field(description="Every permission the user's roles grant.")
    scopes: dict[str, str] = Field(description="Data scope per resource: own, department, department_tree or all.")


class PasswordChange(Strict):
    current_password: Password = Field(min_length=1, max_length=256)
    new_password: Password = Field(min_length=8, max_length=256)


class PasswordChanged(WriteResult):
    """The change, and a fresh token: tokens issued before the change no longer work."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the new token expires.")
