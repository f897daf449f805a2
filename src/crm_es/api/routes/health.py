"""Liveness and readiness for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from crm_es.api.deps import RuntimeDep
from crm_es.api.errors import problem

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health-live", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="health-ready", summary="The database answers and no projection has stopped")
def readyz(runtime: RuntimeDep) -> Any:
    try:
        statuses = runtime.read_side.statuses()
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return problem(503, "Not ready", f"the database does not answer: {type(error).__name__}")
    failed = [s.name for s in statuses if s.status in ("error", "failed")]
    if failed:
        return problem(503, "Not ready", f"projections stopped on an error: {', '.join(failed)}")
    return {"status": "ready", "projections": {s.name: {"position": s.position, "lag": s.lag} for s in statuses}}
