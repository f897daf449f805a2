"""Operating the read side: projection status and rebuilds."""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel

from crm_es.api.deps import RuntimeDep, require
from crm_es.api.security import Principal
from crm_es.api.schemas.common import problems
from crm_es.errors import Conflict, NotFound

router = APIRouter(prefix="/admin", tags=["admin"])
log = logging.getLogger("crm_es.api")


class ProjectionOut(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    status: str
    error: str | None = None
    error_position: int | None = None


@router.get(
    "/projections", response_model=list[ProjectionOut], operation_id="admin-projections",
    summary="Position, lag and status of every projection", responses=problems(401, 403),
)  # fmt: skip
def projections(_: Annotated[Principal, require("system:admin")], runtime: RuntimeDep) -> list[Any]:
    return [ProjectionOut(**vars(s)) for s in runtime.read_side.statuses()]


@router.post(
    "/projections/{name}/rebuild", status_code=202, response_model=ProjectionOut,
    operation_id="admin-projections-rebuild", summary="Rebuild a projection from the start, blue-green",
    responses=problems(401, 403, 404, 409),
)  # fmt: skip
def rebuild(name: str, _: Annotated[Principal, require("system:admin")], runtime: RuntimeDep) -> Any:
    read_side = runtime.read_side
    if name not in read_side.projections:
        raise NotFound(f"no projection named {name!r}; known: {', '.join(read_side.projections)}")
    current = read_side.status(name)
    if read_side.rebuilding(name):
        raise Conflict(f"a rebuild of {name} is already running")

    def run() -> None:
        try:
            read_side.rebuild(name)
        except Exception:  # noqa: BLE001 - the status records the failure
            log.exception("rebuild of %s failed", name)

    threading.Thread(target=run, name=f"crm-es-rebuild-{name}", daemon=True).start()
    return ProjectionOut(**{**vars(current), "status": "rebuilding"})


class ProcessOut(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    status: str
    error: str | None = None
    error_position: int | None = None


@router.get(
    "/processes", response_model=list[ProcessOut], operation_id="admin-processes",
    summary="Position, lag and status of every process manager", responses=problems(401, 403),
)  # fmt: skip
def processes(_: Annotated[Principal, require("system:admin")], runtime: RuntimeDep) -> list[Any]:
    from crm_es.processes import all_processes
    from crm_es.processes.base import ProcessRunner

    runner = runtime.processes or ProcessRunner(runtime, all_processes())
    return runner.statuses()
