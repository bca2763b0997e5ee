"""The JSON codec of the hot path: orjson, with one place to change it.

A msgspec struct is written with orjson too (field by field, as msgspec would name and omit
them), so the user values inside its payloads are serialised exactly as they always were
(orjson's datetime and dataclass forms, the pydantic fallback below), not msgspec's.
"""

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


_Plan = tuple[str | None, Any, tuple[tuple[str, str, Any, Any], ...]]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[msgspec.Struct]) -> _Plan:
    """How a struct class is written: its tag, and each field's attribute name, wire name and
    the default (or default factory) left out under ``omit_defaults`` (NODEFAULT: never)."""
    config = cls.__struct_config__
    omit = config.omit_defaults
    fields = tuple(
        (f.name, f.encode_name, f.default if omit else msgspec.NODEFAULT,
         f.default_factory if omit else msgspec.NODEFAULT)
        for f in msgspec.structs.fields(cls))
    plan: _Plan = (config.tag_field, config.tag, fields)
    _PLANS[cls] = plan
    return plan


def _struct_fields(obj: msgspec.Struct) -> dict[str, Any]:
    """One struct's fields by their wire names, one level deep (orjson writes the values,
    calling back here for nested structs): unset fields are left out, and so are default
    values when the struct says ``omit_defaults``."""
    tag_field, tag, fields = _PLANS.get(type(obj)) or _plan(type(obj))
    out: dict[str, Any] = {} if tag_field is None else {tag_field: tag}
    for name, wire_name, default, factory in fields:
        value = getattr(obj, name)
        if value is msgspec.UNSET:
            continue
        if default is not msgspec.NODEFAULT and (
                value is default or (type(value) is type(default) and value == default)):
            continue
        if factory is not msgspec.NODEFAULT and value == factory():
            continue
        out[wire_name] = value
    return out


def _default(obj: Any) -> Any:
    if isinstance(obj, msgspec.Struct):
        return _struct_fields(obj)
    if isinstance(obj, msgspec.Raw):  # JSON encoded already (runtime.wire's payload data)
        return orjson.Fragment(bytes(obj))
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
