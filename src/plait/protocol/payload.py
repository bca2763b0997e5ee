"""Payload envelopes and the default JSON converter.

Every payload on the wire is ``{"encoding": "json", "data": <JSON value>}``. Values are encoded
by orjson (dataclasses, datetime, UUID, Enum natively; pydantic models and bytes through a
fallback) and decoded by the type hints of the receiving function, so a workflow gets back the
dataclass it sent rather than a dict.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from plait.errors import PayloadCodecError

__all__ = ["Payload", "decode", "decode_args", "encode", "encode_args", "hints_of"]

Payload = dict[str, Any]
_IDENTITY = (object, Any, str, int, float, bool, dict, list, type(None))


def encode(value: Any) -> Payload:
    """Wrap a value in an envelope; orjson serialises it when the message is sent."""
    return {"encoding": "json", "data": value}


def encode_args(args: Sequence[Any]) -> list[Payload]:
    return [encode(a) for a in args]


def decode(payload: Payload | None, hint: Any = Any) -> Any:
    if payload is None:
        return None
    encoding = payload.get("encoding", "json")
    if encoding != "json":
        raise PayloadCodecError(
            f"payload encoding {encoding!r} is not plain JSON: decode it with the payload "
            "codec that wrote it (Client.connect(codec=...), or --codec for the CLI) or the "
            "payload converter that wrote it (Client.connect(data_converter=DataConverter("
            "payload_converter_class=...)))")
    return convert(payload.get("data"), hint)


def decode_args(payloads: Sequence[Payload], hints: Sequence[Any]) -> list[Any]:
    out = []
    for i, p in enumerate(payloads):
        out.append(decode(p, hints[i] if i < len(hints) else Any))
    return out


def hints_of(fn: Callable[..., Any]) -> tuple[list[Any], Any]:
    """Parameter hints (without ``self``) and the return hint of a function, resolved once."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    code = getattr(fn, "__code__", None)
    names: list[str] = []
    if code is not None:
        names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
        if names and names[0] in ("self", "cls"):
            names = names[1:]
    return [hints.get(n, Any) for n in names], hints.get("return", Any)


def convert(value: Any, hint: Any) -> Any:
    """Turn a decoded JSON value into ``hint``; unknown hints pass the value through."""
    if value is None or hint in _IDENTITY:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _convert_union(value, typing.get_args(hint))
    if origin in (list, Sequence, set, frozenset, tuple):
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(convert(v, a) for v, a in zip(value, args, strict=False))
        inner = args[0] if args else Any
        items = [convert(v, inner) for v in value]
        return origin(items) if origin in (set, frozenset, tuple) else items
    if origin is dict:
        args = typing.get_args(hint)
        kt, vt = args if len(args) == 2 else (Any, Any)
        return {convert(k, kt): convert(v, vt) for k, v in value.items()}
    if origin is typing.Literal:
        return value
    if not isinstance(hint, type):
        return value
    if dataclasses.is_dataclass(hint):
        field_hints = typing.get_type_hints(hint)
        kwargs = {k: convert(v, field_hints.get(k, Any)) for k, v in value.items()}
        return hint(**kwargs)
    if issubclass(hint, enum.Enum):
        return hint(value)
    if issubclass(hint, dt.datetime):
        return dt.datetime.fromisoformat(value)
    if issubclass(hint, dt.date):
        return dt.date.fromisoformat(value)
    if issubclass(hint, uuid.UUID):
        return uuid.UUID(value)
    if issubclass(hint, bytes):
        return base64.b64decode(value)
    validate = getattr(hint, "model_validate", None)
    if callable(validate):  # pydantic v2 models
        return validate(value)
    return value


def _convert_union(value: Any, options: tuple[Any, ...]) -> Any:
    for option in options:
        if option is type(None):
            continue
        try:
            return convert(value, option)
        except (TypeError, ValueError, KeyError):
            continue
    return value
