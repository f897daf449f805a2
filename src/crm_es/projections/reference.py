"""Reference data read model: the lists and their items, for screens to pick values from.

Validation does not read this model (it reads the list aggregates, which are always current);
the reference endpoints catch it up after every change, so the next listing shows the change.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor

from crm_es.aggregates.reference import LISTS, ReferenceList
from crm_es.projections.base import Projection, live_schema, q

SCHEMA = live_schema("reference")

TOP = ""
"""``parent_key`` of top-level items (a city's is its province's key)."""


class ReferenceProjection(Projection):
    name = "reference"
    version = 1
    ddl = """
    CREATE TABLE {s}.lists (
        id uuid PRIMARY KEY,
        list_key text NOT NULL UNIQUE,
        title text NOT NULL,
        fixed_keys boolean NOT NULL,
        nested boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
    );
    CREATE TABLE {s}.items (
        list_id uuid NOT NULL,
        parent_key text NOT NULL,
        key text NOT NULL,
        label text NOT NULL,
        retired boolean NOT NULL DEFAULT false,
        ordinal integer NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (list_id, parent_key, key)
    );
    """

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[Any], schema: str, position: int) -> None:
        """Events this projection does not handle change nothing."""

    @staticmethod
    def _touch(cur: Cursor[Any], schema: str, e: Any) -> None:
        cur.execute(
            q(schema, "UPDATE {s}.lists SET updated_at = %s, version = %s WHERE id = %s"),
            (e.timestamp, e.originator_version, e.originator_id),
        )

    @staticmethod
    def _set(cur: Cursor[Any], schema: str, e: Any, column: str, value: Any) -> None:
        cur.execute(
            q(schema, f"UPDATE {{s}}.items SET {column} = %s, updated_at = %s "
                      "WHERE list_id = %s AND parent_key = %s AND key = %s"),
            (value, e.timestamp, e.originator_id, e.parent_key or TOP, e.key),
        )  # fmt: skip
        ReferenceProjection._touch(cur, schema, e)

    @apply.register
    def _created(self, e: ReferenceList.Created, cur: Cursor[Any], schema: str, position: int) -> None:
        cur.execute(
            q(schema, "INSERT INTO {s}.lists (id, list_key, title, fixed_keys, nested, created_at, updated_at, version) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
            (e.originator_id, e.list_key, e.title, e.fixed_keys, e.nested, e.timestamp, e.timestamp,
             e.originator_version),
        )  # fmt: skip
        rows = []
        for ordinal, item in enumerate(e.items):
            rows.append((e.originator_id, TOP, item["key"], item["label"], ordinal, e.timestamp))
            for child_ordinal, child in enumerate(item.get("children") or ()):
                rows.append((e.originator_id, item["key"], child["key"], child["label"], child_ordinal, e.timestamp))
        cur.executemany(
            q(schema, "INSERT INTO {s}.items (list_id, parent_key, key, label, ordinal, updated_at) "
                      "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
            rows,
        )  # fmt: skip

    @apply.register
    def _item_added(self, e: ReferenceList.ItemAdded, cur: Cursor[Any], schema: str, position: int) -> None:
        parent = e.parent_key or TOP
        cur.execute(
            q(schema, "INSERT INTO {s}.items (list_id, parent_key, key, label, ordinal, updated_at) "
                      "SELECT %s, %s, %s, %s, COALESCE(MAX(ordinal) + 1, 0), %s FROM {s}.items "
                      "WHERE list_id = %s AND parent_key = %s ON CONFLICT DO NOTHING"),
            (e.originator_id, parent, e.key, e.label, e.timestamp, e.originator_id, parent),
        )  # fmt: skip
        self._touch(cur, schema, e)

    @apply.register
    def _item_relabelled(self, e: ReferenceList.ItemRelabelled, cur: Cursor[Any], schema: str, position: int) -> None:
        self._set(cur, schema, e, "label", e.label)

    @apply.register
    def _item_retired(self, e: ReferenceList.ItemRetired, cur: Cursor[Any], schema: str, position: int) -> None:
        self._set(cur, schema, e, "retired", True)

    @apply.register
    def _item_reinstated(self, e: ReferenceList.ItemReinstated, cur: Cursor[Any], schema: str, position: int) -> None:
        self._set(cur, schema, e, "retired", False)


# Queries ---------------------------------------------------------------------------------------


def list_lists(cur: Cursor[Any], *, include_retired: bool = False) -> list[dict[str, Any]]:
    """Every list with its items (a province's cities as its ``children``), in catalogue order."""
    lists = cur.execute(
        q(SCHEMA, "SELECT id, list_key AS key, title, fixed_keys, nested, created_at, updated_at, version FROM {s}.lists")
    ).fetchall()
    order = {key: n for n, key in enumerate(LISTS)}
    lists.sort(key=lambda r: (order.get(r["key"], len(order)), r["key"]))
    items = _items(cur, [r["id"] for r in lists])
    return [_assemble(row, items.get(row["id"], []), include_retired) for row in lists]


def get_list(cur: Cursor[Any], list_key: str, *, include_retired: bool = False) -> dict[str, Any] | None:
    row = cur.execute(
        q(SCHEMA, "SELECT id, list_key AS key, title, fixed_keys, nested, created_at, updated_at, version "
                  "FROM {s}.lists WHERE list_key = %s"),
        (list_key,),
    ).fetchone()  # fmt: skip
    if row is None:
        return None
    return _assemble(row, _items(cur, [row["id"]]).get(row["id"], []), include_retired)


def _items(cur: Cursor[Any], list_ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    rows = cur.execute(
        q(SCHEMA, "SELECT list_id, parent_key, key, label, retired FROM {s}.items WHERE list_id = ANY(%s) "
                  "ORDER BY list_id, parent_key <> '', ordinal, key"),
        (list_ids,),
    ).fetchall()  # fmt: skip
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r["list_id"], []).append(r)
    return grouped


def _assemble(row: dict[str, Any], rows: list[dict[str, Any]], include_retired: bool) -> dict[str, Any]:
    """The list with its top-level items; a retired province hides its cities unless retired
    items are asked for."""
    top: dict[str, dict[str, Any]] = {}
    for r in rows:
        item = {"key": r["key"], "label": r["label"], "retired": r["retired"], "children": []}
        if r["parent_key"] == TOP:
            top[r["key"]] = item
        elif r["parent_key"] in top:
            top[r["parent_key"]]["children"].append(item)
    items = list(top.values())
    if not include_retired:
        items = [i for i in items if not i["retired"]]
        for i in items:
            i["children"] = [c for c in i["children"] if not c["retired"]]
    return {**{k: v for k, v in row.items() if k != "id"}, "items": items}
