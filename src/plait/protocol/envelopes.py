"""Find the payloads of a message: to check them (the server), or to run a codec over them.

Payloads are plain dicts in the structs (so keys a codec adds survive), which msgspec checks
only for being JSON objects; this walks the fields marked as payloads (``Meta(extra=
{"envelope": True})``) and checks the two keys every reader relies on. The plan of which
fields to look at is worked out once per struct class from its type annotations.

:func:`payloads_of` and :func:`with_payloads` walk the same plans for a payload codec
(:mod:`plait._payloads`), memo values (``Meta(extra={"memo": True})``) included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

import msgspec
from msgspec import inspect as mi

from plait.protocol.common import JsonObject

__all__ = ["MemoMode", "bad_envelope", "envelopes_ok", "payloads_of", "with_payloads"]

S = TypeVar("S", bound=msgspec.Struct)
_PAYLOAD = "payload"
_MEMO = "memo"
_MARKER = "marker"
_STRUCT = "struct"
Plan = str | tuple[str, Any] | None
"""What to check in a value: a payload, a struct (its own plan), ``("list", plan)`` or
nothing."""


def envelopes_ok(message: msgspec.Struct) -> bool:
    """Whether every payload in ``message`` is ``{"encoding": <string>, "data": ...}``.

    This runs on every request, so it is the quick walk: no paths, a checker per field made
    once per class. :func:`bad_envelope` says where, once this found something."""
    return _struct_ok(message)


def _struct_ok(value: Any) -> bool:
    checks = _CHECKS.get(type(value))
    if checks is None:
        checks = _CHECKS[type(value)] = tuple(
            (name, _check(plan)) for name, plan in _fields(type(value)))
    for name, check in checks:  # noqa: SIM110 (as in _check's each)
        if not check(getattr(value, name)):
            return False
    return True


def _payload_ok(value: Any) -> bool:
    return value is None or value is msgspec.UNSET or (
        type(value.get("encoding")) is str and "data" in value)


def _check(plan: Plan) -> Callable[[Any], bool]:
    if plan == _PAYLOAD:
        return _payload_ok
    if plan == _STRUCT:
        return lambda v: v is None or v is msgspec.UNSET or _struct_ok(v)
    assert isinstance(plan, tuple)
    inner = _check(plan[1])

    def each(value: Any) -> bool:  # a plain loop: all() over a generator costs more here
        if value is not None and value is not msgspec.UNSET:  # UNSET: a field not given
            for item in value:
                if not inner(item):
                    return False
        return True
    return each


_CHECKS: dict[type, tuple[tuple[str, Callable[[Any], bool]], ...]] = {}


def bad_envelope(message: msgspec.Struct) -> str | None:
    """The path (``input[0]``, ``commands[2].result``) of the first payload in ``message``
    that is not ``{"encoding": <string>, "data": ...}``, or None."""
    stack: list[tuple[Any, Plan, str]] = [(message, _STRUCT, "")]
    while stack:
        value, plan, path = stack.pop()
        if value is None or value is msgspec.UNSET or plan is None:
            continue
        if plan == _PAYLOAD:
            if not (isinstance(value.get("encoding"), str) and "data" in value):
                return path
        elif plan == _STRUCT:
            dot = path + "." if path else ""
            stack += [(getattr(value, name), sub, dot + name)
                      for name, sub in _fields(type(value))]
        elif isinstance(plan, tuple):
            stack += [(item, plan[1], f"{path}[{i}]") for i, item in enumerate(value)]
    return None


MemoMode = Literal["wrap", "unwrap"] | None
"""How a payload walk treats memo values (``Meta(extra={"memo": True})`` fields), which are
plain JSON values rather than envelopes: ``wrap`` gives each one as a ``json`` envelope (to
encode), ``unwrap`` gives those that are envelopes of another encoding (to decode); None
leaves memos out."""


def payloads_of(message: msgspec.Struct, memo: MemoMode = None) -> list[Any]:
    """Every payload in ``message``, depth first in field order (the order
    :func:`with_payloads` puts replacements back in): what a payload codec runs over."""
    out: list[Any] = []
    _collect(message, _STRUCT, out, memo)
    return out


def _collect(value: Any, plan: Plan, out: list[Any], memo: MemoMode) -> None:
    if value is None or value is msgspec.UNSET:
        return
    if plan == _PAYLOAD:
        out.append(value)
    elif plan == _STRUCT:
        for name, sub in _fields(type(value), memo is not None):
            _collect(getattr(value, name), sub, out, memo)
    elif plan == _MEMO:
        if memo == "wrap":
            out += [{"encoding": "json", "data": v} for v in _memo(value).values()]
        else:
            out += [v for v in _memo(value).values() if _coded(v)]
    elif plan == _MARKER:
        details = _memo(value)
        out += [slot[0][slot[1]] for slot in _marker_slots(details)]
    elif isinstance(plan, tuple):
        for item in value:
            _collect(item, plan[1], out, memo)


def _marker_slots(details: JsonObject) -> list[tuple[Any, Any]]:
    """Where a marker's details hold envelopes, as (container, key): a local activity's
    ``result``, and the ``details`` of its failure and of the failure's causes."""
    slots: list[tuple[Any, Any]] = []
    if type(details.get("result")) is dict:
        slots.append((details, "result"))
    failure = details.get("failure")
    while type(failure) is dict:
        found = failure.get("details")
        if type(found) is list:
            slots += [(found, i) for i, d in enumerate(found) if type(d) is dict]
        failure = failure.get("cause")
    return slots


def _memo(value: Any) -> JsonObject:
    """A memo as a dict, also when the worker has encoded it already (``runtime.wire``)."""
    if isinstance(value, msgspec.Raw):
        memo: JsonObject = msgspec.json.decode(value)
        return memo
    return dict(value)


def _coded(value: Any) -> bool:
    """A memo value a codec made: an envelope of an encoding other than ``json``."""
    return type(value) is dict and type(value.get("encoding")) is str \
        and value["encoding"] != "json" and "data" in value


def with_payloads(message: S, payloads: Iterator[Any], memo: MemoMode = None) -> S:
    """A copy of ``message`` whose payloads are taken, in :func:`payloads_of`'s order, from
    ``payloads``. Copied rather than changed in place: a struct handed in may still be held
    by its maker (a workflow instance keeps its commands), and must keep its plain values.
    Structs and lists with no payload in them are shared, not copied. A memo value that
    comes back as a ``json`` envelope is stored as its plain value again."""
    rebuilt: S = _rebuild(message, _STRUCT, payloads, memo)
    return rebuilt


def _rebuild(value: Any, plan: Plan, payloads: Iterator[Any], memo: MemoMode) -> Any:
    if value is None or value is msgspec.UNSET:
        return value
    if plan == _PAYLOAD:
        return next(payloads)
    if plan == _STRUCT:
        changes: dict[str, object] = {}
        for name, sub in _fields(type(value), memo is not None):
            old = getattr(value, name)
            new = _rebuild(old, sub, payloads, memo)
            if new is not old:
                changes[name] = new
        return msgspec.structs.replace(value, **changes) if changes else value
    if plan == _MEMO:
        return {k: _memo_value(v, payloads) if memo == "wrap" or _coded(v) else v
                for k, v in _memo(value).items()}
    if plan == _MARKER:
        copy: JsonObject = msgspec.json.decode(msgspec.json.encode(value))  # deep: not shared
        slots = _marker_slots(copy)
        for container, key in slots:
            container[key] = next(payloads)
        return copy if slots else value
    assert isinstance(plan, tuple)
    items = [_rebuild(item, plan[1], payloads, memo) for item in value]
    return value if all(a is b for a, b in zip(items, value, strict=True)) else items


def _memo_value(old: Any, payloads: Iterator[Any]) -> Any:
    new = next(payloads)
    if new is old or new == old:  # a codec that does not own this encoding passed it on
        return old
    return new.get("data") if new.get("encoding") == "json" else new


_PLANS: dict[tuple[type, bool], tuple[tuple[str, Plan], ...]] = {}


def _fields(cls: type[msgspec.Struct], memo: bool = False) -> tuple[tuple[str, Plan], ...]:
    """The fields of ``cls`` that hold payloads (and, with ``memo``, memos), directly or
    deeper down (worked out once per class). The server's checks leave memos out: they are
    plain JSON to it."""
    plan = _PLANS.get((cls, memo))
    if plan is None:
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        plans = ((f.name, _plan(f.type, frozenset({cls}), memo)) for f in info.fields)
        plan = _PLANS[cls, memo] = tuple((name, p) for name, p in plans if p is not None)
    return plan


def _plan(t: mi.Type, seen: frozenset[type], memo: bool) -> Plan:
    if isinstance(t, mi.Metadata):
        extra = t.extra or {}
        if extra.get("envelope"):
            return _PAYLOAD
        if memo and extra.get("memo"):
            return _MEMO
        if memo and extra.get("marker"):
            return _MARKER
        return _plan(t.type, seen, memo)
    if isinstance(t, mi.UnionType):
        plans = {_plan(m, seen, memo) for m in t.types} - {None}
        return plans.pop() if len(plans) == 1 else (_STRUCT if plans else None)
    if isinstance(t, mi.ListType):
        inner = _plan(t.item_type, seen, memo)
        return ("list", inner) if inner is not None else None
    # A struct (or a struct that contains itself: Failure.cause) is walked by its class.
    if isinstance(t, mi.StructType) and (t.cls in seen or _fields(t.cls, memo)):
        return _STRUCT
    return None
