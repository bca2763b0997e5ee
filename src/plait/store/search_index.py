"""The search-attribute index: one row per (run, attribute) holding the value in a canonical
text form, so that filtering a list by attributes is an index lookup, not a scan.

Equality is JSON equality: numbers compare by value (``1`` matches ``1.0``), but a number
never matches a string (``1`` is not ``"1"``) and a boolean never matches a number (``true``
is not ``1``). Each value is one text: a type tag and a canonical spelling (``n:1``,
``s:c-42``, ``b:true``, ``j:[1,"a"]`` for null, lists and objects). A long spelling is
replaced by ``#`` and its SHA-256, so an index entry stays small (PostgreSQL refuses B-tree
entries over ~2.7 kB) and equality still holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["MAX_FILTERS", "ListFilter", "backfill", "index_key", "index_rows", "index_value"]

MAX_FILTERS = 16
"""At most this many attributes in one filter (each is a join)."""
_MAX_TEXT = 128


@dataclasses.dataclass(frozen=True)
class ListFilter:
    """What a list or count of runs matches: every given condition holds."""

    workflow_type: str | None = None
    status: str | None = None
    search_attributes: Mapping[str, object] = dataclasses.field(default_factory=dict)
    """Each attribute equals its value (JSON equality, as the index compares)."""
    started_after: float | None = None
    started_before: float | None = None

_BACKFILL_BATCH = 1000


def index_value(value: Any) -> str:
    """The canonical text of one attribute value: equal values, equal texts."""
    if isinstance(value, bool):
        return "b:true" if value else "b:false"
    if isinstance(value, (int, float)):
        return "n:" + _fit(_number(value))
    if isinstance(value, str):
        return "s:" + _fit(value)
    return "j:" + _fit(json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False))


def index_key(key: str) -> str:
    """An attribute name as stored in the index (long ones hashed, as values are)."""
    return _fit(key)


def index_rows(attrs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(name, value) index entries of a run's search attributes."""
    for key, value in attrs.items():
        yield index_key(key), index_value(value)


def _number(value: int | float) -> str:
    # Integral numbers are spelled as integers, exactly (1.0 -> "1", 2**60 stays exact);
    # other floats by their shortest round-tripping repr.
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _canonical(value: Any) -> Any:
    """Nested numbers normalised as at the top level, so [1] equals [1.0]."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _fit(text: str) -> str:
    """``text``, or its hash when it is too long for an index entry or is no valid database
    text (PostgreSQL refuses NUL characters and lone surrogates)."""
    if len(text) <= _MAX_TEXT and "\x00" not in text and (text.isascii() or _utf8(text)):
        return text
    return "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def backfill(cur: Any, queries: Mapping[str, str]) -> None:
    """Index the search attributes of every existing run (the data step of migration 3,
    run in its transaction). Reads through ``cur``, writes through a second cursor."""
    from plait.protocol.jsoncodec import loads

    writer = cur.connection.cursor()
    cur.execute("SELECT namespace, workflow_id, run_id, start_time, search_attributes "
                "FROM executions WHERE search_attributes IS NOT NULL")
    while batch := cur.fetchmany(_BACKFILL_BATCH):
        rows = [{"ns": ns, "wid": wid, "rid": rid, "start_time": start, "name": name,
                 "value": value}
                for ns, wid, rid, start, raw in batch
                for name, value in index_rows(loads(raw) or {})]
        if rows:
            writer.executemany(queries["upsert_search_attribute"], rows)
    writer.close()
