"""Users, departments and roles (系统管理). Every change is caught up into the staff model
before answering, so it governs the very next request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_es.access import PERMISSIONS
from crm_es.aggregates.handover import Handover
from crm_es.api.deps import ContextDep, ExpectedVersionDep, LimitDep, Reader, RuntimeDep, reads, require
from crm_es.api.schemas.common import Text, WriteResult, problems
from crm_es.api.schemas.staff import (
    DepartmentCreate,
    DepartmentList,
    DepartmentOut,
    DepartmentUpdate,
    Departure,
    DepartureResult,
    PasswordReset,
    PermissionOut,
    RoleCreate,
    RoleList,
    RoleOut,
    RoleUpdate,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from crm_es.api.routes import answer
from crm_es.api.security import Principal
from crm_es.app import Written
from crm_es.errors import NotFound
from crm_es.projections import staff
from crm_es.runtime import Runtime

router = APIRouter()

Admin = Annotated[Principal, require("users:admin")]
Read = Annotated[Reader, reads("staff")]
WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)
READ_ERRORS = problems(401, 403, 404, 422, 503)


def _apply(runtime: Runtime, response: Response, command: Callable[[], Written], location: str | None = None) -> Any:
    written = command()
    runtime.caught_up("staff")
    return answer(response, written, location)


def _found(reader: Reader, row: dict[str, Any] | None, what: str, record_id: UUID) -> Any:
    if row is None:
        raise NotFound(f"no {what} with id {record_id}")
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


# Departments -----------------------------------------------------------------------------------


@router.post("/departments", status_code=201, response_model=WriteResult, tags=["departments"],
             operation_id="departments-create", summary="Create a department", responses=WRITE_ERRORS)  # fmt: skip
def create_department(body: DepartmentCreate, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    return _apply(runtime, response, lambda: runtime.app.staff.create_department(ctx=ctx, **body.model_dump()), "/api/v1/departments/{id}")


@router.get("/departments", response_model=DepartmentList, tags=["departments"], operation_id="departments-list",
            summary="Every department (a tree: follow parent_id)", responses=READ_ERRORS)  # fmt: skip
def list_departments(_: Annotated[Principal, require("customers:read")], reader: Read) -> Any:
    with reader.cursor() as cur:
        items = staff.list_departments(cur)
    return reader.answer({"items": items, "next_cursor": None})


@router.get("/departments/{department_id}", response_model=DepartmentOut, tags=["departments"],
            operation_id="departments-get", summary="Read a department", responses=READ_ERRORS)  # fmt: skip
def get_department(department_id: UUID, _: Annotated[Principal, require("customers:read")], reader: Read, response: Response) -> Any:
    with reader.cursor() as cur:
        row = staff.get_department(cur, department_id)
    return _found(reader, row, "department", department_id)


@router.patch("/departments/{department_id}", response_model=WriteResult, tags=["departments"],
              operation_id="departments-update", summary="Rename, move, or set the manager", responses=WRITE_ERRORS)  # fmt: skip
def update_department(
    department_id: UUID, body: DepartmentUpdate, _: Admin, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    return _apply(runtime, response, lambda: runtime.app.staff.change_department(
        ctx=ctx, department_id=department_id, expected_version=expected_version, **changes))  # fmt: skip


# Roles -----------------------------------------------------------------------------------------


@router.get("/permissions", response_model=list[PermissionOut], tags=["roles"], operation_id="roles-permissions",
            summary="The permission catalogue", responses=problems(401, 403))  # fmt: skip
def permissions(_: Admin) -> list[dict[str, str]]:
    return [{"name": name, "description": text} for name, text in PERMISSIONS.items()]


@router.post("/roles", status_code=201, response_model=WriteResult, tags=["roles"], operation_id="roles-create",
             summary="Create a role", responses=WRITE_ERRORS)  # fmt: skip
def create_role(body: RoleCreate, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    return _apply(runtime, response, lambda: runtime.app.staff.create_role(ctx=ctx, **body.model_dump()), "/api/v1/roles/{id}")


@router.get("/roles", response_model=RoleList, tags=["roles"], operation_id="roles-list", summary="Every role",
            responses=READ_ERRORS)  # fmt: skip
def list_roles(_: Admin, reader: Read) -> Any:
    with reader.cursor() as cur:
        items = staff.list_roles(cur)
    return reader.answer({"items": items, "next_cursor": None})


@router.get("/roles/{role_id}", response_model=RoleOut, tags=["roles"], operation_id="roles-get",
            summary="Read a role", responses=READ_ERRORS)  # fmt: skip
def get_role(role_id: UUID, _: Admin, reader: Read, response: Response) -> Any:
    with reader.cursor() as cur:
        row = staff.get_role(cur, role_id)
    return _found(reader, row, "role", role_id)


@router.patch("/roles/{role_id}", response_model=WriteResult, tags=["roles"], operation_id="roles-update",
              summary="Change a role's permissions or data scope", responses=WRITE_ERRORS)  # fmt: skip
def update_role(
    role_id: UUID, body: RoleUpdate, _: Admin, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    return _apply(runtime, response, lambda: runtime.app.staff.change_role(
        ctx=ctx, role_id=role_id, expected_version=expected_version, **changes))  # fmt: skip


# Users -----------------------------------------------------------------------------------------


@router.post("/users", status_code=201, response_model=WriteResult, tags=["users"], operation_id="users-create",
             summary="Create a user", responses=WRITE_ERRORS)  # fmt: skip
def create_user(body: UserCreate, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    return _apply(runtime, response, lambda: runtime.app.staff.register_user(ctx=ctx, **body.model_dump()), "/api/v1/users/{id}")


@router.get("/users", response_model=UserPage, tags=["users"], operation_id="users-list",
            summary="The staff directory", responses=READ_ERRORS)  # fmt: skip
def list_users(
    _: Annotated[Principal, require("customers:read")], reader: Read, limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    department_id: UUID | None = None,
    status: Literal["active", "disabled", "departed"] | None = None,
    q: Annotated[Text | None, Query(max_length=64)] = None,
) -> Any:  # fmt: skip
    with reader.cursor() as cur:
        page = staff.list_users(cur, limit=limit, cursor=cursor, department_id=department_id, status=status, q_text=q)
    return reader.answer({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"], operation_id="users-get",
            summary="Read a user", responses=READ_ERRORS)  # fmt: skip
def get_user(user_id: UUID, _: Annotated[Principal, require("customers:read")], reader: Read, response: Response) -> Any:
    with reader.cursor() as cur:
        row = staff.get_user(cur, user_id)
    return _found(reader, row, "user", user_id)


@router.patch("/users/{user_id}", response_model=WriteResult, tags=["users"], operation_id="users-update",
              summary="Rename, move to a department, assign roles", responses=WRITE_ERRORS)  # fmt: skip
def update_user(
    user_id: UUID, body: UserUpdate, _: Admin, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    return _apply(runtime, response, lambda: runtime.app.staff.change_user(
        ctx=ctx, user_id=user_id, expected_version=expected_version, **changes))  # fmt: skip


@router.post("/users/{user_id}/disable", response_model=WriteResult, tags=["users"], operation_id="users-disable",
             summary="Stop a user signing in (their tokens stop at once)", responses=WRITE_ERRORS)  # fmt: skip
def disable_user(user_id: UUID, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    return _apply(runtime, response, lambda: runtime.app.staff.disable_user(ctx=ctx, user_id=user_id))


@router.post("/users/{user_id}/enable", response_model=WriteResult, tags=["users"], operation_id="users-enable",
             summary="Let a disabled user sign in again", responses=WRITE_ERRORS)  # fmt: skip
def enable_user(user_id: UUID, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    return _apply(runtime, response, lambda: runtime.app.staff.enable_user(ctx=ctx, user_id=user_id))


@router.post("/users/{user_id}/reset-password", response_model=WriteResult, tags=["users"],
             operation_id="users-reset-password", summary="Set a new password", responses=WRITE_ERRORS)  # fmt: skip
def reset_password(user_id: UUID, body: PasswordReset, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    return _apply(runtime, response, lambda: runtime.app.staff.reset_password(ctx=ctx, user_id=user_id, password=body.password))


@router.post("/users/{user_id}/depart", response_model=DepartureResult, tags=["users"], operation_id="users-depart",
             summary="The user leaves: sign-in stops at once, their business moves to the successor",
             responses=WRITE_ERRORS)  # fmt: skip
def depart_user(user_id: UUID, body: Departure, _: Admin, ctx: ContextDep, runtime: RuntimeDep, response: Response) -> Any:
    written = runtime.app.staff.depart_user(ctx=ctx, user_id=user_id, successor_id=body.successor_id)
    runtime.caught_up("staff")
    return answer(response, written, handover_id=str(Handover.create_id(user_id)))
