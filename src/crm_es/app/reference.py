"""Reference data (基础信息): the lists that fields are picked from (aggregates/reference.py).

Validation reads the list aggregate through the repository, whose cache is fast-forwarded to the
list's last event, so an administrator's change governs the very next command, in every process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from crm_es.aggregates.base import recording
from crm_es.aggregates.reference import LISTS, ReferenceList
from crm_es.app.commit import SharedRead
from crm_es.app.kernel import Commands, Context, Kernel, ReferenceChecks, Written
from crm_es.errors import Conflict, InvalidInput, NotFound

CHINA = frozenset({"中国", "中华人民共和国", "china", "cn", "prc"})
"""Country values under which province and city are checked against the regions list."""


class Reference(Commands):
    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        self._cache: dict[UUID, ReferenceList] = {}
        self._ids = [ReferenceList.create_id(key) for key in LISTS]
        self._versions = SharedRead(self._read_versions)
        kernel.provide(ReferenceChecks, self)

    def _read_versions(self) -> dict[UUID, int]:
        """The version of every reference list (one query, shared by concurrent commands)."""
        with self.kernel.connection() as conn:
            return {
                row["originator_id"]: row["version"]
                for row in conn.execute(
                    f'SELECT originator_id, max(originator_version) AS version FROM "{self.kernel.events_table}" '
                    "WHERE originator_id = ANY(%s) GROUP BY originator_id",
                    (self._ids,),
                )
            }

    def ensure_defaults(self) -> int:
        """Create the reference lists that do not exist yet, and add default items an existing
        list lacks (defaults introduced by a later version; retired items are never revived).
        Returns how many events were written."""
        written = 0
        with recording("process:bootstrap"):
            for spec in LISTS.values():
                try:
                    aggregate = self.kernel.repository.get(ReferenceList.create_id(spec.key))
                    assert isinstance(aggregate, ReferenceList)
                    aggregate.add_missing_defaults(spec)
                except AggregateNotFoundError:
                    aggregate = ReferenceList.create(spec)
                pending = len(aggregate.pending_events)
                if pending and self.save_new(aggregate):
                    written += pending
        return written

    def list(self, list_key: str) -> ReferenceList:
        """The list as it is now: the cached instance, for reading only (never change it)."""
        if list_key not in LISTS:
            raise NotFound(f"no reference list {list_key!r}; the lists are {', '.join(LISTS)}")
        try:
            aggregate = self.kernel.repository.get(ReferenceList.create_id(list_key), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise Conflict(f"the reference list {list_key} is not set up yet") from None
        assert isinstance(aggregate, ReferenceList)
        return aggregate

    def _lists(self, keys: set[str]) -> dict[str, ReferenceList]:
        """Several lists as they are now: the versions of every list are read at once (a read
        that started after this command did, shared with concurrent ones), and a list is loaded
        again only when its version moved (lists are read-only here)."""
        ids = {ReferenceList.create_id(key): key for key in keys}
        versions = self._versions()
        lists = {}
        for list_id, key in ids.items():
            cached = self._cache.get(list_id)
            if cached is None or cached.version != versions.get(list_id):
                cached = self.list(key)
                self._cache[list_id] = cached
            lists[key] = cached
        return lists

    # Commands ----------------------------------------------------------------------------------

    def _change(
        self, ctx: Context, list_key: str, change: Callable[[ReferenceList], None], expected_version: int | None
    ) -> Written:
        self.list(list_key)  # 404 for an unknown list
        list_id = ReferenceList.create_id(list_key)
        load = lambda: self.kernel.get(ReferenceList, list_id, "reference list")  # noqa: E731
        return self.kernel.mutate(ctx, list_id, load, change, expected_version=expected_version)

    def add_item(
        self, *, ctx: Context, list_key: str, key: str, label: str | None = None, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        """Add an item (with ``parent_key``: a city under that province of the regions list)."""
        return self._change(ctx, list_key, lambda r: r.add_item(key, label, parent_key), expected_version)

    def relabel_item(
        self, *, ctx: Context, list_key: str, key: str, label: str, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._change(ctx, list_key, lambda r: r.relabel_item(key, label, parent_key), expected_version)

    def retire_item(
        self, *, ctx: Context, list_key: str, key: str, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._change(ctx, list_key, lambda r: r.retire_item(key, parent_key), expected_version)

    def reinstate_item(
        self, *, ctx: Context, list_key: str, key: str, parent_key: str | None = None,
        expected_version: int | None = None,
    ) -> Written:  # fmt: skip
        return self._change(ctx, list_key, lambda r: r.reinstate_item(key, parent_key), expected_version)

    # Checks other contexts use (ReferenceChecks) ----------------------------------------------

    @staticmethod
    def _value(field_name: str, value: Any) -> str | None:
        """The value as records store it (trimmed; a number as its digits), None for "not set"."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise InvalidInput.on(field_name, "must be a string")
        return value.strip() or None

    @staticmethod
    def _known(items: Any, more: str = "") -> str:
        """A short list of accepted values for an error message."""
        shown = [i.key if i.label == i.key else f"{i.key} ({i.label})" for i in items]
        text = ", ".join(shown[:20])
        if len(shown) > 20:
            text += f", … ({len(shown) - 20} more{more})"
        return text or "none"

    def check(
        self, field: str, list_key: str, value: Any, *, previous: Any = None, reference: ReferenceList | None = None,
    ) -> None:  # fmt: skip
        """Refuse ``value`` for ``field`` unless it is an active key of the list. ``previous`` is
        the record's current value: keeping it is fine even if it was retired since."""
        value = self._value(field, value)
        if value is None or value == self._value(field, previous):
            return
        reference = reference or self.list(list_key)
        if reference.is_active(value):
            return
        known = self._known(reference.active(), f"; GET /api/v1/reference/{list_key}")
        state = "is retired and no longer accepted" if reference.find(value) is not None else "is not a known value"
        raise InvalidInput.on(field, f"{value!r} {state}; known values: {known}")

    def check_profile(
        self, values: dict[str, Any], current: dict[str, Any] | None, lists: Sequence[tuple[str, str]]
    ) -> dict[str, Any]:
        """Check the fields given in ``values`` against their lists (``lists``: field → list
        key) and the regions, on top of the ``current`` record (an update). Province and city
        are checked when the country is not set or is China; a city must belong to the province
        when both are known, a city alone must be a city of some province. Values the record
        already has are kept even if they were retired since. Returns ``values`` with province
        and city in their official form."""
        before = current or {}
        needed = {list_key for name, list_key in lists if values.get(name) is not None}
        if {"country", "province", "city"} & values.keys():
            needed.add("regions")
        if not needed:
            return values
        found = self._lists(needed)
        for name, list_key in lists:
            if name in values:
                self.check(name, list_key, values[name], previous=before.get(name), reference=found.get(list_key))
        if "regions" in needed:
            return self._check_region(values, before, found["regions"])
        return values

    def _check_region(self, values: dict[str, Any], before: dict[str, Any], regions: ReferenceList) -> dict[str, Any]:
        """Province and city as people write them (浙江, 宁波) → their official form (浙江省,
        宁波市), with the province of a city given alone; a city must belong to its province."""

        def effective(field: str) -> str | None:
            return self._value(field, values[field] if field in values else before.get(field))

        country, province, city = effective("country"), effective("province"), effective("city")
        if country is not None and country.lower() not in CHINA:
            return values
        was_abroad = before.get("country") is not None and str(before["country"]).lower() not in CHINA
        new_province = province is not None and (was_abroad or province != before.get("province"))
        new_city = city is not None and (was_abroad or city != before.get("city"))
        if not (new_province or new_city):
            return values
        kept = (None, None) if was_abroad else (before.get("province"), before.get("city"))
        province, city = regions.resolve_region(province, city, current=kept)
        official = {"province": province, "city": city}
        return {**values, **{f: v for f, v in official.items() if f in values or v != before.get(f)}}
