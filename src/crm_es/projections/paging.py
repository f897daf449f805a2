"""Keyset pagination cursors and search helpers shared by the read models."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import orjson

from crm_es.errors import InvalidInput


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(kind: str, key: list[Any]) -> str:
    """An opaque cursor: the sort key of the last item, tagged with the ordering it belongs to."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, *key])).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, *parsers: Callable[[Any], Any]) -> list[Any]:
    """The sort key in ``cursor``, each part converted by its parser; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidInput.on("cursor", "is not a cursor this list gave out") from None
    if not isinstance(value, list) or len(value) != len(parsers) + 1 or value[0] != kind:
        raise InvalidInput.on("cursor", "belongs to another list or ordering")
    try:
        return [parse(part) for parse, part in zip(parsers, value[1:], strict=True)]
    except (TypeError, ValueError, AttributeError):
        raise InvalidInput.on("cursor", "is not a cursor this list gave out") from None


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
