"""The HTTP API: ``create_app()`` builds the FastAPI application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi_offline import FastAPIOffline

from crm_es.api import errors
from crm_es.api.deps import get_principal
from crm_es.api.middleware import MAX_BODY_BYTES, MAX_JSON_DEPTH, RequestContext
from crm_es.api.routes import (
    admin, audit, auth, customers, handovers, health, opportunities, orders, reference, staff, stock, tickets,
)
from crm_es.api.schemas.common import problems
from crm_es.runtime import Runtime, running
from crm_es.settings import Settings

API = "/api/v1"

DESCRIPTION = """
crm-es: an event-sourced CRM backend for small and medium enterprises.

Every change is an event; lists and reports read from projections. Writes answer
`{id, version, position}`; pass `position` back as `min_position` to read your own write.
Errors are `application/problem+json` (RFC 9457). Authenticate with `POST /api/v1/auth/login`,
then send `Authorization: Bearer <token>`.

Request bodies are JSON in UTF-8, at most 1 MiB (413 beyond), nested at most 32 levels deep.
"""


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The API. With ``runtime`` it serves that runtime (tests); otherwise it opens one from
    ``settings`` at start-up (database, projections) and closes it at shutdown."""
    settings = runtime.settings if runtime is not None else (settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stack = contextlib.ExitStack()
        if runtime is not None:
            app.state.runtime = runtime
        else:
            app.state.runtime = await run_in_threadpool(lambda: stack.enter_context(running(settings)))
        if settings.bench_endpoints:
            from crm_es.api.routes import bench

            await run_in_threadpool(bench.ensure_table, app.state.runtime)
        await run_in_threadpool(app.state.runtime.positions)  # starts listening for read-model positions
        try:
            yield
        finally:
            await app.state.runtime.close_aio()
            await run_in_threadpool(stack.close)

    # The documentation pages load Swagger UI and ReDoc from files shipped in a package, not a CDN,
    # so /docs works on a network without the internet.
    app = FastAPIOffline(
        title="crm-es",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "auth", "description": "Login and the current user"},
            {"name": "customers", "description": "Customers (客户), contacts (联系人), activities (行动记录), history"},
            {"name": "opportunities", "description": "Opportunities (商机): stages, win, lose, reopen, stage history"},
            {"name": "orders", "description": "Orders (合同/订单): lines, confirmation, deliveries, returns, price "
                                               "adjustments, instalments (回款计划), payments (收款登记), invoices (发票)"},
            {"name": "pipeline", "description": "The sales pipeline (销售流程): its ordered stages and their probabilities"},
            {"name": "tickets", "description": "Service tickets (客户服务): complaints, requests, consultations, repairs; "
                                               "SLA on the Chinese working calendar, transfers, return visits, fees"},
            {"name": "stock", "description": "Stock (库存): items, receipts, issues, stocktakes, in transit, "
                                             "reservations for orders, categories, warehouses, the movement ledger"},
            {"name": "reports", "description": "Reports (报表): the sales funnel, now or as of any moment; the service "
                                               "report; stock alerts, valuation and ABC classification; CSV and XLSX"},
            {"name": "audit", "description": "Operation log (操作日志): who did what to which record, when; CSV export"},
            {"name": "users", "description": "Staff accounts (用户): create, disable, enable, reset password, depart"},
            {"name": "departments", "description": "Departments (部门): a tree with managers"},
            {"name": "roles", "description": "Roles (角色): permissions and data scopes"},
            {"name": "reference", "description": "Reference data (基础信息): industries, sources, levels, regions, reasons"},
            {"name": "admin", "description": "Projections: status, rebuild"},
            {"name": "health", "description": "Liveness and readiness"},
        ],
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the online validator
    )
    if runtime is not None:
        app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(RequestContext, max_body_bytes=MAX_BODY_BYTES, max_json_depth=MAX_JSON_DEPTH)

    app.include_router(auth.router, prefix=API)
    # Every other /api/v1 route needs a valid token (each also declares its permission). The
    # routers are included into the app directly: every level of nesting costs route matching.
    for protected in (customers, opportunities, orders, tickets, stock, staff, handovers, reference, audit, admin):
        app.include_router(protected.router, prefix=API, dependencies=[Depends(get_principal)])
    app.include_router(health.router)
    if settings.bench_endpoints:
        from crm_es.api.routes import bench

        app.include_router(bench.router)
    _document_body_limits(app)
    return app


def _document_body_limits(app: FastAPI) -> None:
    """Every operation that takes a body may answer 413 (the middleware's size limit)."""
    make_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = make_openapi()
            too_large = problems(413)[413]
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        operation.setdefault("responses", {}).setdefault("413", {
                            "description": too_large["description"],
                            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                        })  # fmt: skip
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
