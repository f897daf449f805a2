"""The plain app of the HTTP benchmark (ops/bench/http.py): a customer API written the ordinary way.

FastAPI with sync routes, a psycopg_pool ConnectionPool, dict rows, a pydantic model for the
POST body and plain dicts out. One INSERT per POST, one SELECT per read. No event sourcing, no
read models, no authentication: the baseline crm-es is compared with. Not tuned beyond what an
ordinary developer would write (an index on the columns it filters and sorts by).

    PLAIN_DATABASE_URL=postgresql://... uvicorn plain_app:app --app-dir ops/bench

Endpoints (shaped like crm-es's, so the same load script drives both):

    POST /api/v1/customers                  insert one row, 201 {"id": ...}
    GET  /api/v1/customers                  newest 50 (?owner_id=, ?limit=; ?q= name contains q)
    GET  /api/v1/customers/{id}             one row, or 404
    GET  /api/v1/customers/{id}/history     the customer's rows in plain_customer_changes, or 404
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Literal
from uuid import UUID

from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

SCHEMA = """
CREATE TABLE IF NOT EXISTS plain_customers (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    owner_id uuid,
    industry text,
    source text,
    level text,
    country text,
    province text,
    city text,
    address text,
    phone text,
    fax text,
    email text,
    website text,
    notes text,
    annual_revenue numeric(17, 2),
    credit_limit numeric(17, 2),
    employees integer,
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS plain_customers_created_at ON plain_customers (created_at DESC);
CREATE INDEX IF NOT EXISTS plain_customers_owner_id ON plain_customers (owner_id, created_at DESC);

CREATE TABLE IF NOT EXISTS plain_customer_changes (
    id bigserial PRIMARY KEY,
    customer_id uuid NOT NULL,
    version integer NOT NULL,
    change_type text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    actor text,
    data jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS plain_customer_changes_customer_id ON plain_customer_changes (customer_id);
"""

COLUMNS = (
    "id, name, kind, owner_id, industry, source, level, country, province, city, address, phone, fax, "
    "email, website, notes, annual_revenue, credit_limit, employees, tags, created_at, updated_at"
)

pool = ConnectionPool(os.environ["PLAIN_DATABASE_URL"], kwargs={"row_factory": dict_row}, open=False)


@asynccontextmanager
async def lifespan(app: FastAPI):
    pool.open(wait=True)
    with pool.connection() as conn:
        conn.execute(SCHEMA)
    yield
    pool.close()


app = FastAPI(title="plain customers", lifespan=lifespan)


class CustomerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["customer", "target", "potential", "partner", "competitor", "blacklist"]
    owner_id: UUID | None = None
    industry: str | None = Field(None, max_length=100)
    source: str | None = Field(None, max_length=100)
    level: str | None = Field(None, max_length=50)
    country: str | None = Field(None, max_length=100)
    province: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=300)
    phone: str | None = Field(None, max_length=40)
    fax: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    website: str | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=4000)
    annual_revenue: Decimal | None = Field(None, ge=0)
    credit_limit: Decimal | None = Field(None, ge=0)
    employees: int | None = Field(None, ge=0)
    tags: list[str] = []


@app.post("/api/v1/customers", status_code=201)
def create_customer(customer: CustomerIn):
    with pool.connection() as conn:
        row = conn.execute(
            """
            INSERT INTO plain_customers (id, name, kind, owner_id, industry, source, level, country,
                province, city, address, phone, fax, email, website, notes, annual_revenue,
                credit_limit, employees, tags)
            VALUES (gen_random_uuid(), %(name)s, %(kind)s, %(owner_id)s, %(industry)s, %(source)s,
                %(level)s, %(country)s, %(province)s, %(city)s, %(address)s, %(phone)s, %(fax)s,
                %(email)s, %(website)s, %(notes)s, %(annual_revenue)s, %(credit_limit)s,
                %(employees)s, %(tags)s)
            RETURNING id
            """,
            customer.model_dump(),
        ).fetchone()
    return {"id": row["id"]}


@app.get("/api/v1/customers")
def list_customers(q: str | None = None, owner_id: UUID | None = None, limit: int = 50):
    limit = max(1, min(limit, 500))
    where, params = [], []
    if q:
        where.append("name LIKE %s")
        params.append(f"%{q}%")
    if owner_id:
        where.append("owner_id = %s")
        params.append(owner_id)
    sql = f"SELECT {COLUMNS} FROM plain_customers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC LIMIT %s"
    with pool.connection() as conn:
        rows = conn.execute(sql, [*params, limit]).fetchall()
    return {"items": rows}


@app.get("/api/v1/customers/{customer_id}")
def get_customer(customer_id: UUID):
    with pool.connection() as conn:
        row = conn.execute(f"SELECT {COLUMNS} FROM plain_customers WHERE id = %s", (customer_id,)).fetchone()
    if row is None:
        raise HTTPException(404, "customer not found")
    return row


@app.get("/api/v1/customers/{customer_id}/history")
def customer_history(customer_id: UUID):
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id AS position, customer_id, version, change_type, changed_at, actor, data "
            "FROM plain_customer_changes WHERE customer_id = %s ORDER BY id",
            (customer_id,),
        ).fetchall()
    if not rows:
        raise HTTPException(404, "customer not found")
    return {"items": rows}
