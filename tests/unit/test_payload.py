"""The JSON converter decodes by type hints: what a workflow sends is what it gets back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any

from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.payload import decode, encode, hints_of


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Inner:
    when: dt.datetime
    tags: list[str]


@dataclasses.dataclass
class Outer:
    id: uuid.UUID
    color: Color
    inner: Inner
    maybe: Inner | None = None
    blob: bytes = b""


def roundtrip(value: Any, hint: Any) -> Any:
    return decode(loads(dumps(encode(value))), hint)


def test_nested_dataclasses_enums_datetimes_uuid_bytes() -> None:
    v = Outer(uuid.uuid4(), Color.RED, Inner(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), ["a"]),
              None, b"\x00\xff")
    assert roundtrip(v, Outer) == v


def test_containers_and_optionals() -> None:
    when = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.UTC)
    assert roundtrip([when], list[dt.datetime]) == [when]
    assert roundtrip({"a": when}, dict[str, dt.datetime]) == {"a": when}
    assert roundtrip(None, Inner | None) is None
    assert roundtrip((1, "x"), tuple[int, str]) == (1, "x")


def test_plain_values_pass_through() -> None:
    assert roundtrip({"k": [1, 2.5, None, True]}, Any) == {"k": [1, 2.5, None, True]}


def test_envelope_shape() -> None:
    assert loads(dumps(encode(5))) == {"encoding": "json", "data": 5}


def test_hints_skip_self() -> None:
    class C:
        def m(self, a: int, b: Inner) -> str:
            return ""

    assert hints_of(C.m) == ([int, Inner], str)
