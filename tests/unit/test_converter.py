"""Payload converters (plait.converter): the composite's choice of encoding, JSON type hooks,
and what ``DataConverter`` accepts."""

from __future__ import annotations

import dataclasses
import ipaddress
from decimal import Decimal
from typing import Any

import pytest

from plait import Client
from plait.api.common.v1 import Payload as TemporalPayload
from plait.converter import (
    DEFAULT_CONVERSIONS,
    CompositePayloadConverter,
    Conversions,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    PayloadConverter,
    check_data_converter,
    default,
)
from plait.errors import PayloadCodecError
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.payload import Payload, decode, encode
from plait.protocol.transport import MockTransport, Request, Response


class Ints(EncodingPayloadConverter):
    """Takes ints only (not bools), as their decimal string."""

    @property
    def encoding(self) -> str:
        return "text/int"

    def to_payload(self, value: Any) -> Payload | None:
        if type(value) is not int:
            return None
        return {"encoding": self.encoding, "data": str(value)}

    def from_payload(self, payload: Payload, type_hint: Any = Any) -> Any:
        return int(payload["data"])


class Broken(EncodingPayloadConverter):
    encoding = "broken"  # type: ignore[assignment]

    def to_payload(self, value: Any) -> Payload | None:
        return {"data": value}  # no encoding: not an envelope

    def from_payload(self, payload: Payload, type_hint: Any = Any) -> Any:
        return None


def test_the_first_converter_that_takes_a_value_encodes_it() -> None:
    conv = CompositePayloadConverter(Ints(), JSONPlainPayloadConverter())
    assert conv.to_payloads([3, "3", True, None]) == [
        {"encoding": "text/int", "data": "3"},
        {"encoding": "json", "data": "3"},
        {"encoding": "json", "data": True},
        {"encoding": "json", "data": None},
    ]
    conv = CompositePayloadConverter(JSONPlainPayloadConverter(), Ints())
    assert conv.to_payload(3) == {"encoding": "json", "data": 3}  # order decides


def test_an_envelope_goes_to_the_converter_of_its_encoding() -> None:
    conv = CompositePayloadConverter(Ints(), JSONPlainPayloadConverter())
    payloads = [
        {"encoding": "text/int", "data": "7"},
        {"encoding": "json", "data": "7"},
        {"data": "2026-01-02"},
    ]  # no encoding: json, as plait's own decode reads it
    assert conv.from_payloads(payloads, [Any, int]) == [7, "7", "2026-01-02"]
    assert conv.from_payload(None, int) is None  # a run that returned nothing
    assert conv.from_payload({"encoding": "json", "data": "b3Q="}, bytes) == b"ot"


def test_an_unknown_encoding_is_named_with_what_this_converter_knows() -> None:
    conv = CompositePayloadConverter(Ints(), JSONPlainPayloadConverter())
    with pytest.raises(PayloadCodecError) as info:
        conv.from_payloads([{"encoding": "json/money", "data": "1 EUR"}])
    assert "'json/money'" in str(info.value) and "'text/int', 'json'" in str(info.value)
    with pytest.raises(PayloadCodecError, match=r"'json/money'.*payload converter"):
        decode({"encoding": "json/money", "data": "1 EUR"})  # plait's default says it too


def test_a_value_no_converter_takes_or_a_bad_envelope_is_refused() -> None:
    with pytest.raises(PayloadCodecError, match="no payload converter takes a value of type str"):
        CompositePayloadConverter(Ints()).to_payloads(["x"])
    with pytest.raises(PayloadCodecError, match="not an envelope"):
        CompositePayloadConverter(Broken()).to_payload(1)
    with pytest.raises(ValueError, match="at least one"):
        CompositePayloadConverter()


def test_the_first_converter_of_an_encoding_wins() -> None:
    first, second = JSONPlainPayloadConverter(), JSONPlainPayloadConverter()
    assert CompositePayloadConverter(first, second).converters == {"json": first}


class DecimalJSON(JSONTypeConverter):
    def to_json(self, value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else self.Unhandled

    def from_json(self, data: Any, hint: Any) -> Any:
        return Decimal(data) if hint is Decimal else self.Unhandled


class Addresses(JSONTypeConverter):
    """Temporal's spelling of the decoding side: ``to_typed_value(hint, value)``."""

    def to_json(self, value: Any) -> Any:
        return str(value) if isinstance(value, ipaddress.IPv4Address) else self.Unhandled

    def to_typed_value(self, hint: Any, value: Any) -> Any:
        return ipaddress.IPv4Address(value) if hint is ipaddress.IPv4Address else self.Unhandled


@dataclasses.dataclass
class Line:
    price: Decimal
    host: ipaddress.IPv4Address
    tags: list[str]


def test_json_type_converters_reach_values_inside_containers_and_dataclasses() -> None:
    conv = JSONPlainPayloadConverter(custom_type_converters=[DecimalJSON(), Addresses()])
    value = {"a": [Line(Decimal("0.10"), ipaddress.IPv4Address("10.0.0.1"), ["x"])]}
    payload = conv.to_payload(value)
    assert payload == {
        "encoding": "json",
        "data": {"a": [{"price": "0.10", "host": "10.0.0.1", "tags": ["x"]}]},
    }
    assert conv.from_payload(payload, dict[str, list[Line]]) == value
    assert conv.from_payload({"data": ["1.5", None]}, tuple[Decimal, Decimal | None]) == (
        Decimal("1.5"),
        None,
    )
    assert conv.from_payload({"data": "1.5"}, Decimal | None) == Decimal("1.5")
    assert conv.from_payload({"data": {"k": "2"}}, dict[str, Decimal]) == {"k": Decimal(2)}


def test_a_default_converter_subclass_adds_types_and_keeps_the_wire_form() -> None:
    class Mine(DefaultPayloadConverter):
        json_type_converters = (DecimalJSON(),)

    mine, plain = Mine(), DefaultPayloadConverter()
    assert mine.to_payload(Decimal("2.50")) == {"encoding": "json", "data": "2.50"}
    assert mine.from_payload(encode("2.50"), Decimal) == Decimal("2.50")
    # Without hooks, the default converter is the built-in one: same envelopes, same values.
    line = Line(Decimal(1), ipaddress.IPv4Address("10.0.0.1"), [])
    assert plain.to_payload(line) == encode(line)
    assert plain.from_payloads([encode(["x"])], [list[str]]) == [["x"]]
    assert DefaultPayloadConverter.default_encoding_payload_converters[0].encoding == "json"


def test_data_converter_builds_the_class_and_leaves_the_default_path_alone() -> None:
    assert check_data_converter(DataConverter.default) == (None, None)
    assert default() is DataConverter.default
    codec, made = check_data_converter(DataConverter(payload_converter_class=MoneyLike))
    assert codec is None and isinstance(made, MoneyLike)
    assert isinstance(DataConverter(payload_converter_class=MoneyLike).payload_converter, MoneyLike)
    assert Conversions.of(None) is DEFAULT_CONVERSIONS
    assert DEFAULT_CONVERSIONS.to_payloads is not None
    conv = Conversions.of(made)
    assert conv.to_payload(5) == {"encoding": "text/int", "data": "5"}


class MoneyLike(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(Ints(), *DefaultPayloadConverter.default_encoding_payload_converters)


class NeedsArgs(CompositePayloadConverter):
    def __init__(self, extra: int) -> None:
        super().__init__(Ints())


@pytest.mark.parametrize(
    ("cls", "says"),
    [
        (dict, "not a plait.converter.PayloadConverter subclass"),
        (NeedsArgs, "cannot be built with no arguments"),
        (PayloadConverter, "cannot be built with no arguments"),  # abstract
    ],
)
def test_a_converter_class_plait_cannot_build_is_refused(cls: type, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_data_converter(DataConverter(payload_converter_class=cls))


def answer(request: Request) -> Response:
    if "/queries/" in request.path or request.path.endswith("/query"):
        return Response.of({"result": {"encoding": "text/int", "data": "42"}})
    return Response.of({"workflow_id": "w", "run_id": "r1"})


async def test_a_client_sends_and_reads_with_its_converter() -> None:
    transport = MockTransport(answer)
    client = Client(transport, data_converter=DataConverter(payload_converter_class=MoneyLike))
    assert isinstance(client.payload_converter, MoneyLike)
    handle = client.get_workflow_handle("w")
    await handle.signal("add", 5, "x")
    assert transport.requests[-1].json()["input"] == [
        {"encoding": "text/int", "data": "5"},
        {"encoding": "json", "data": "x"},
    ]
    assert await handle.query("total") == 42
    plain = Client(MockTransport(answer))
    assert plain.payload_converter is None and plain.api.conv is DEFAULT_CONVERSIONS
    with pytest.raises(PayloadCodecError, match="'text/int'"):
        await plain.get_workflow_handle("w").query("total")
    with pytest.raises(ValueError, match="give the payload converter once"):
        Client(
            transport,
            payload_converter=MoneyLike(),
            data_converter=DataConverter(payload_converter_class=MoneyLike),
        )


class Greeting:
    def __init__(self, name: str) -> None:
        self.name = name


class TemporalStyle(EncodingPayloadConverter):
    """Written as for Temporal: builds and reads ``Payload`` messages of bytes."""

    @property
    def encoding(self) -> str:
        return "text/greeting"

    def to_payload(self, value: Any) -> TemporalPayload | None:
        if not isinstance(value, Greeting):
            return None
        return TemporalPayload(
            metadata={"encoding": b"text/greeting", "lang": b"en"}, data=value.name.encode()
        )

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        assert isinstance(payload, TemporalPayload)
        assert payload.metadata == {"encoding": b"text/greeting", "lang": b"en"}
        return Greeting(payload.data.decode())


def test_a_temporal_payload_is_an_envelope_and_reads_back_as_one() -> None:
    conv = CompositePayloadConverter(TemporalStyle(), JSONPlainPayloadConverter())
    [sent, plain] = conv.to_payloads([Greeting("Ada"), {"k": 1}])
    assert type(sent) is dict  # what goes on the wire is a plain envelope
    assert sent == {"encoding": "text/greeting", "data": "QWRh", "metadata": {"lang": "ZW4="}}
    back = conv.from_payloads(loads(dumps([sent, plain])), [Greeting, dict])
    assert isinstance(back[0], Greeting) and back[0].name == "Ada" and back[1] == {"k": 1}
    # A plain JSON envelope reads Temporal's way too: its data as JSON bytes.
    assert TemporalPayload.of({"encoding": "json", "data": {"k": 1}}).data == b'{"k":1}'
    with pytest.raises(PayloadCodecError, match="not base64"):
        _ = TemporalPayload.of({"encoding": "text/x", "data": "not base64!"}).data
    with pytest.raises(TypeError, match="bytes"):
        TemporalPayload(metadata={"encoding": b"x"}, data="text")  # type: ignore[arg-type]
