"""The sales pipeline (销售流程): the ordered stages an opportunity moves through, each with the
probability of a sale at that stage. One per installation; ``won`` and ``lost`` are implicit."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from crm_es.aggregates.base import CrmAggregate, check_text
from crm_es.errors import InvalidInput

PIPELINE_ID = uuid5(NAMESPACE_URL, "crm-es:pipeline")
TERMINAL = ("won", "lost")
MAX_STAGES = 20
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

DEFAULT_STAGES: tuple[dict[str, Any], ...] = (
    {"key": "lead", "name": "线索", "probability": 10},
    {"key": "qualified", "name": "确认需求", "probability": 30},
    {"key": "proposal", "name": "方案报价", "probability": 60},
    {"key": "negotiation", "name": "谈判", "probability": 80},
)


def check_stages(stages: Iterable[Any]) -> tuple[dict[str, Any], ...]:
    """Ordered stages ``{key, name, probability}``: 1 to 20, unique keys of lower-case letters,
    digits and underscores (not won or lost), names up to 50 characters, probability 0..100."""
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, stage in enumerate(stages):
        field = f"stages[{n}]"
        if not isinstance(stage, dict):
            raise InvalidInput.on(field, "must be an object {key, name, probability}")
        key = stage.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidInput.on(f"{field}.key", "must be 1-32 lower-case letters, digits or underscores, starting with a letter")
        if key in TERMINAL:
            raise InvalidInput.on(f"{field}.key", f"{key!r} is a terminal stage every pipeline has; leave it out")
        if key in seen:
            raise InvalidInput.on(f"{field}.key", f"{key!r} appears twice")
        seen.add(key)
        probability = stage.get("probability")
        if not isinstance(probability, int) or isinstance(probability, bool) or not 0 <= probability <= 100:
            raise InvalidInput.on(f"{field}.probability", "must be a whole number from 0 to 100")
        name = check_text(f"{field}.name", stage.get("name"), 50, required=True)
        cleaned.append({"key": key, "name": name, "probability": probability})
    if not cleaned:
        raise InvalidInput.on("stages", "the pipeline needs at least one stage")
    if len(cleaned) > MAX_STAGES:
        raise InvalidInput.on("stages", f"at most {MAX_STAGES} stages")
    return tuple(cleaned)


class Pipeline(CrmAggregate):
    """The stages of the sales pipeline, in order."""

    @staticmethod
    def create_id(**_: Any) -> UUID:  # type: ignore[override]
        return PIPELINE_ID

    @classmethod
    def create(cls, stages: Iterable[Any] = DEFAULT_STAGES) -> Pipeline:
        return cls(stages=check_stages(stages))

    @event("Created")
    def __init__(self, *, stages: tuple[dict[str, Any], ...]) -> None:
        self.stages = tuple(dict(s) for s in stages)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s["key"] for s in self.stages)

    def change_stages(self, stages: Iterable[Any]) -> tuple[str, ...]:
        """Replace the stages; returns the keys removed (their opportunities stay where they are)."""
        cleaned = check_stages(stages)
        if cleaned == self.stages:
            return ()
        removed = tuple(k for k in self.keys if k not in {s["key"] for s in cleaned})
        self._stages_changed(stages=cleaned, removed=removed)
        return removed

    @event("StagesChanged")
    def _stages_changed(self, stages: tuple[dict[str, Any], ...], removed: tuple[str, ...]) -> None:
        self.stages = tuple(dict(s) for s in stages)
