"""Baseline endpoints for ops/bench, mounted only with CRM_ES_BENCH_ENDPOINTS=true.

``POST /bench/customers-raw`` does what ``POST /api/v1/customers`` does at the edges (token,
JSON parsing, validation, response) but writes the row straight into a table with psycopg in
one transaction, so the benchmark can measure what event sourcing costs on top of a plain insert.
"""

from __future__ import annotations

from uuid import uuid4

import orjson
from fastapi import APIRouter, Depends, Response

from crm_es.api.deps import RuntimeDep, get_principal
from crm_es.api.schemas.common import WriteResult
from crm_es.api.schemas.customers import CustomerCreate
from crm_es.runtime import Runtime

router = APIRouter(prefix="/bench", tags=["bench"], dependencies=[Depends(get_principal)], include_in_schema=False)

DDL = """
CREATE TABLE IF NOT EXISTS crm.bench_customers (
    id uuid PRIMARY KEY,
    seq bigserial,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


@router.post("/customers-raw", status_code=201, response_model=WriteResult)
def create_raw(body: CustomerCreate, runtime: RuntimeDep, response: Response) -> WriteResult:
    customer_id = uuid4()
    with runtime.app.recorder.datastore.get_connection() as conn, conn.transaction():  # type: ignore[attr-defined]
        row = conn.execute(
            "INSERT INTO crm.bench_customers (id, body) VALUES (%s, %s) RETURNING seq",
            (customer_id, orjson.dumps(body.model_dump(mode="json", exclude_unset=True)).decode()),
        ).fetchone()
    response.headers["Location"] = f"/bench/customers-raw/{customer_id}"
    return WriteResult(id=customer_id, version=1, position=row["seq"])


def ensure_table(runtime: Runtime) -> None:
    with runtime.database.connect(autocommit=True) as conn:
        conn.execute(DDL)
