"""Baseline endpoints for ops/bench, mounted only with CRM_ES_BENCH_ENDPOINTS=true.

``POST /bench/customers-raw`` does what ``POST /api/v1/customers`` does at the edges (token,
JSON parsing, validation, response) but writes the row straight into a table with psycopg in
one transaction, so the benchmark can measure what event sourcing costs on top of a plain insert.

``POST /bench/stock-raw/reservations`` takes the body of ``POST /api/v1/stock-items/reservations``
and does the check-and-update of each line with one ``UPDATE … WHERE on_hand - reserved >= n``
on a plain table, all lines in one transaction (409 and nothing changed if one is short): what
reserving stock costs without events (ops/bench/stock.py). ``POST /bench/stock-raw/items`` puts
rows into that table.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

import orjson
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from crm_es.api.deps import RuntimeDep, get_principal
from crm_es.api.schemas.common import WriteResult
from crm_es.api.schemas.customers import CustomerCreate
from crm_es.api.schemas.stock import OrderReservation
from crm_es.errors import Conflict
from crm_es.runtime import Runtime

router = APIRouter(prefix="/bench", tags=["bench"], dependencies=[Depends(get_principal)], include_in_schema=False)

DDL = """
CREATE TABLE IF NOT EXISTS crm.bench_customers (
    id uuid PRIMARY KEY,
    seq bigserial,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS crm.bench_stock (
    id uuid PRIMARY KEY,
    on_hand numeric NOT NULL,
    reserved numeric NOT NULL DEFAULT 0 CHECK (reserved <= on_hand)
)
"""


class RawItems(BaseModel):
    ids: list[UUID]
    on_hand: Decimal


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


@router.post("/stock-raw/items", status_code=201)
def create_raw_items(body: RawItems, runtime: RuntimeDep) -> dict[str, int]:
    with runtime.app.recorder.datastore.get_connection() as conn, conn.transaction():  # type: ignore[attr-defined]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO crm.bench_stock (id, on_hand) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET on_hand = excluded.on_hand",
                [(item_id, body.on_hand) for item_id in body.ids],
            )
    return {"items": len(body.ids)}


@router.post("/stock-raw/reservations")
def reserve_raw(body: OrderReservation, runtime: RuntimeDep) -> dict[str, object]:
    touched = []
    with runtime.app.recorder.datastore.get_connection() as conn, conn.transaction():  # type: ignore[attr-defined]
        for line in body.lines:
            row = conn.execute(
                "UPDATE crm.bench_stock SET reserved = reserved + %s WHERE id = %s AND on_hand - reserved >= %s "
                "RETURNING reserved",
                (line.quantity, line.stock_item_id, line.quantity),
            ).fetchone()
            if row is None:
                raise Conflict(f"not enough stock of {line.stock_item_id}")  # the transaction rolls back
            touched.append({"id": str(line.stock_item_id), "reserved": str(row["reserved"])})
    return {"id": str(body.order_id), "items": touched}


def ensure_table(runtime: Runtime) -> None:
    with runtime.database.connect(autocommit=True) as conn:
        conn.execute(DDL)
