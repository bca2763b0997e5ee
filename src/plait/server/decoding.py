"""Reading a request body into its wire struct, which validates it as it parses.

One parse per body: msgspec decodes the bytes straight into the struct the service takes,
checking JSON types and documented bounds on the way and naming the field that is wrong.
Errors keep the API's shape and codes: ``malformed_json`` for what is no JSON object,
``bad_token`` for a task token, ``bad_request`` naming the field otherwise.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from plait.protocol.enums import ErrorCode
from plait.protocol.envelopes import bad_envelope, envelopes_ok
from plait.protocol.jsoncodec import loads
from plait.server.errors import BadRequest

__all__ = ["NUL_MESSAGE", "decode", "has_nul", "invalid"]

NUL_MESSAGE = "ids, names and other strings must not contain NUL characters (payload data may)"


def has_nul(data: Any) -> bool:
    """Whether a NUL character is in a string outside payload envelopes. Ids and names become
    database text, which PostgreSQL refuses to hold NUL in; payloads are stored as JSON, so
    their contents may have any character."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict) and not ("encoding" in value and "data" in value):
            for key, item in value.items():
                if "\x00" in key:
                    return True
                stack.append(item)
    return False


def decode(raw: bytes, kind: Any) -> Any:
    """``raw`` as a ``kind`` struct (or union of tagged structs); an empty body is ``{}``."""
    try:
        message = _decoder(kind).decode(raw or b"{}")
    except msgspec.ValidationError as e:
        raise invalid(e, kind, raw) from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"request body is not valid JSON: {e}",
                         code=ErrorCode.MALFORMED_JSON) from None
    if isinstance(message, msgspec.Struct) and not envelopes_ok(message):
        where = bad_envelope(message)
        if where is not None:
            raise BadRequest(f'{where} must be a payload envelope {{"encoding", "data"}}')
    if b"\\u0000" in raw and has_nul(loads(raw)):  # rare: look only when the bytes suggest it
        raise BadRequest(NUL_MESSAGE)
    return message


_DECODERS: dict[int, tuple[Any, msgspec.json.Decoder[Any]]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per kind, found by the kind's identity: a union's hash is computed from
    its members on every call, which showed in profiles of the request path."""
    found = _DECODERS.get(id(kind))
    if found is None or found[0] is not kind:
        found = _DECODERS[id(kind)] = (kind, msgspec.json.Decoder(kind))
    return found[1]


# -- errors -------------------------------------------------------------------------------
_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`(?P<rest>.*?), got `(?P<got>[^`]+)`")
_NAMES = {"object": "an object", "array": "a list", "str": "a string", "int": "a whole number",
          "float": "a number", "bool": "true or false", "null": "null"}


def invalid(e: msgspec.ValidationError, kind: Any, raw: bytes) -> BadRequest:
    """The API's 400 for a body that does not fit ``kind``, naming the field."""
    if str(e).startswith("Expected `object`, got") and "`$" not in str(e):
        return BadRequest("request body must be a JSON object", code=ErrorCode.MALFORMED_JSON)
    match = _AT.match(str(e))
    assert match is not None  # the pattern matches any text
    what, path = match["what"], (match["path"] or "").lstrip(".")
    missing = _MISSING.fullmatch(what)
    if missing:
        path = f"{path}.{missing['field']}" if path else missing["field"]
    if path == "token":
        return BadRequest(f"malformed task token {_token(raw)!r}; expected "
                          "<task id>.<dispatch no>", code=ErrorCode.BAD_TOKEN)
    if missing:
        return BadRequest(f"{path} is required ({path} must be {_expected(kind, path)})")
    expected = _EXPECTED.fullmatch(what)
    if expected:
        want = " or ".join(_NAMES.get(w, w) for w in expected["want"].split(" | "))
        return BadRequest(f"{path or 'request body'} must be {want}{expected['rest']}, "
                          f"not {_NAMES.get(expected['got'], expected['got'])}")
    return BadRequest(f"{path}: {what}" if path else what)


def _token(raw: bytes) -> Any:
    """The token a body carried, for the message that refuses it (the body is JSON: it
    failed validation, not parsing)."""
    body = loads(raw or b"{}")
    return body.get("token") if isinstance(body, dict) else None


def _expected(kind: Any, path: str) -> str:
    """What the field at ``path`` (``commands[0].duration``) of ``kind`` holds, in words."""
    t: Any = msgspec.inspect.type_info(kind)
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        t = _unwrap(t, part)
        if t is None:
            return "given"
    return _describe(t)


def _unwrap(t: Any, part: str) -> Any:
    """The type one step down ``part`` (a field name or ``[i]``) from ``t``."""
    while isinstance(t, (msgspec.inspect.Metadata, msgspec.inspect.UnionType)):
        if isinstance(t, msgspec.inspect.Metadata):
            t = t.type
            continue
        members = [m for m in t.types if not isinstance(m, msgspec.inspect.NoneType)]
        t = next((m for m in members if isinstance(m, msgspec.inspect.StructType)
                  and any(f.name == part for f in m.fields)), members[0] if members else None)
    if part.startswith("["):
        return getattr(t, "item_type", None)
    if isinstance(t, msgspec.inspect.StructType):
        return next((f.type for f in t.fields if f.name == part), None)
    return None


def _describe(t: Any) -> str:
    while isinstance(t, msgspec.inspect.Metadata):
        t = t.type
    if isinstance(t, msgspec.inspect.UnionType):
        return " or ".join(_describe(m) for m in t.types
                           if not isinstance(m, msgspec.inspect.NoneType))
    return _WORDS.get(type(t), "given")


_WORDS: dict[type, str] = {
    msgspec.inspect.StrType: "a string", msgspec.inspect.IntType: "a whole number",
    msgspec.inspect.FloatType: "a number", msgspec.inspect.BoolType: "true or false",
    msgspec.inspect.ListType: "a list", msgspec.inspect.DictType: "an object",
    msgspec.inspect.StructType: "an object", msgspec.inspect.EnumType: "a known name",
    msgspec.inspect.LiteralType: "a known name"}
