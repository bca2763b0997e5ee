"""The JSON codec of the hot path: orjson, with one place to change it."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

__all__ = ["dumps", "dumps_str", "loads", "plain"]

_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def plain(value: Any) -> Any:
    """A wire struct (or anything holding them) as plain JSON values: dicts, lists, strings,
    numbers; fields at their defaults left out, as the struct would encode them."""
    return msgspec.to_builtins(value)


def _default(obj: Any) -> Any:
    if isinstance(obj, msgspec.Struct):  # a wire struct inside a document being written
        return msgspec.to_builtins(obj)
    # pydantic models and objects that know how to become JSON.
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        import base64

        return base64.b64encode(bytes(obj)).decode()
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTS)


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)
