"""Reference data (基础信息): the lists fields are picked from. Everyone signed in reads them;
changing them needs ``reference:admin``. A change governs the very next command (validation reads
the list itself) and the very next listing (the read model is caught up before answering)."""

from __future__ import annotations

from urllib.parse import quote

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from crm_es.api.deps import ContextDep, ExpectedVersionDep, PrincipalDep, Reader, RuntimeDep, reads, require
from crm_es.api.schemas.common import Text, WriteResult, problems
from crm_es.api.schemas.reference import ReferenceItemCreate, ReferenceItemUpdate, ReferenceListOut, ReferenceLists
from crm_es.api.routes import answer
from crm_es.api.security import Principal
from crm_es.app import Written
from crm_es.errors import NotFound
from crm_es.projections import reference
from crm_es.runtime import Runtime

router = APIRouter(prefix="/reference", tags=["reference"])

Admin = Annotated[Principal, require("reference:admin")]
Read = Annotated[Reader, reads("reference")]
ParentKey = Annotated[
    Text | None, Query(max_length=50, description="regions only: the province of the city named by the path.")
]
WRITE_ERRORS = problems(401, 403, 404, 409, 412, 415, 422)
READ_ERRORS = problems(401, 404, 422, 503)


def _apply(runtime: Runtime, response: Response, command: Callable[[], Written], status: int = 200) -> Any:
    written = command()
    runtime.caught_up("reference")
    return answer(response, written, status=status)


@router.get("", response_model=ReferenceLists, operation_id="reference-lists",
            summary="Every reference list with its active items", responses=READ_ERRORS)  # fmt: skip
def list_lists(_: PrincipalDep, reader: Read, include_retired: bool = False) -> Any:
    with reader.cursor() as cur:
        items = reference.list_lists(cur, include_retired=include_retired)
    return reader.answer({"items": items, "next_cursor": None})


@router.get("/{list_key}", response_model=ReferenceListOut, operation_id="reference-get",
            summary="One reference list (retired items too with include_retired=true)", responses=READ_ERRORS)  # fmt: skip
def get_list(list_key: str, _: PrincipalDep, reader: Read, include_retired: bool = False) -> Any:
    with reader.cursor() as cur:
        row = reference.get_list(cur, list_key, include_retired=include_retired)
    if row is None:
        raise NotFound(f"no reference list {list_key!r}")
    return reader.answer(row, headers={"ETag": f'"{row["version"]}"'})


@router.post("/{list_key}/items", status_code=201, response_model=WriteResult, operation_id="reference-add-item",
             summary="Add an item (a city: with parent_key, its province)", responses=WRITE_ERRORS)  # fmt: skip
def add_item(
    list_key: str, body: ReferenceItemCreate, _: Admin, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response,
) -> Any:  # fmt: skip
    response.headers["Location"] = f"/api/v1/reference/{quote(list_key)}"
    return _apply(runtime, response, lambda: runtime.app.reference.add_item(
        ctx=ctx, list_key=list_key, expected_version=expected_version, **body.model_dump()), status=201)  # fmt: skip


@router.patch("/{list_key}/items/{key}", response_model=WriteResult, operation_id="reference-relabel-item",
              summary="Relabel an item", responses=WRITE_ERRORS)  # fmt: skip
def relabel_item(
    list_key: str, key: str, body: ReferenceItemUpdate, _: Admin, ctx: ContextDep, runtime: RuntimeDep,
    expected_version: ExpectedVersionDep, response: Response, parent_key: ParentKey = None,
) -> Any:  # fmt: skip
    return _apply(runtime, response, lambda: runtime.app.reference.relabel_item(
        ctx=ctx, list_key=list_key, key=key, label=body.label, parent_key=parent_key,
        expected_version=expected_version))  # fmt: skip


@router.post("/{list_key}/items/{key}/retire", response_model=WriteResult, operation_id="reference-retire-item",
             summary="Retire an item: kept for history, refused for new values", responses=WRITE_ERRORS)  # fmt: skip
def retire_item(
    list_key: str, key: str, _: Admin, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response, parent_key: ParentKey = None,
) -> Any:  # fmt: skip
    return _apply(runtime, response, lambda: runtime.app.reference.retire_item(
        ctx=ctx, list_key=list_key, key=key, parent_key=parent_key, expected_version=expected_version))  # fmt: skip


@router.post("/{list_key}/items/{key}/reinstate", response_model=WriteResult, operation_id="reference-reinstate-item",
             summary="Accept a retired item for new values again", responses=WRITE_ERRORS)  # fmt: skip
def reinstate_item(
    list_key: str, key: str, _: Admin, ctx: ContextDep, runtime: RuntimeDep, expected_version: ExpectedVersionDep,
    response: Response, parent_key: ParentKey = None,
) -> Any:  # fmt: skip
    return _apply(runtime, response, lambda: runtime.app.reference.reinstate_item(
        ctx=ctx, list_key=list_key, key=key, parent_key=parent_key, expected_version=expected_version))  # fmt: skip
