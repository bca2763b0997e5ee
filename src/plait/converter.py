"""How values become payloads, and back: plait's JSON by default, or a converter of yours.

plait's default converter is JSON that decodes by the type hints of the function it feeds:
dataclasses, pydantic models, datetime, UUID, Enum and bytes need no configuration
(``protocol/payload.py``). A client without a custom converter runs exactly that code.

For types JSON cannot carry that way (``Decimal``, ``ipaddress``, your own classes) or for
another encoding (msgpack, protobuf, a compact text form), give the client a converter, as in
Temporal::

    class MoneyConverter(DefaultPayloadConverter):
        json_type_converters = (DecimalJSON(),)       # a JSONTypeConverter of yours

    client = await Client.connect(..., data_converter=DataConverter(
        payload_converter_class=MoneyConverter))

The class is built with no arguments. It runs in that client and in every worker built on
it, on every argument, result, signal, query and update value (the server never decodes a
payload), before a payload codec on the way out and after it on the way in. A payload is an
envelope ``{"encoding": <string>, "data": <JSON value>}`` (the wire is JSON, so ``data`` is a
JSON value rather than Temporal's bytes; base64 your bytes if you must). An encoding that no
converter here knows is refused with its name, so a client without your converter says what
it lacks. A ``payload_codec`` that is a :class:`plait.codec.PayloadCodec` is taken as
``Client.connect(codec=...)``.
"""

from __future__ import annotations

import abc
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final

from plait.api.common.v1 import Payload as TemporalPayload
from plait.codec import PayloadCodec
from plait.errors import PayloadCodecError
from plait.protocol.payload import Payload, convert, decode, decode_args, encode, encode_args

__all__ = [
    "CompositePayloadConverter",
    "DataConverter",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "JSONPlainPayloadConverter",
    "JSONTypeConverter",
    "PayloadConverter",
    "check_data_converter",
    "default",
]


class PayloadConverter(abc.ABC):
    """Turns values into payloads and back: the whole job, for a client and its workers."""

    @abc.abstractmethod
    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """One envelope per value, in order."""

    @abc.abstractmethod
    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: Sequence[Any] | None = None
    ) -> list[Any]:
        """One value per envelope, each as its hint asks (``Any`` past the hints' end)."""

    def to_payload(self, value: Any) -> Payload:
        return self.to_payloads([value])[0]

    def from_payload(self, payload: Payload | None, type_hint: Any = Any) -> Any:
        """A single value; no payload at all (a run that returned nothing) is None."""
        if payload is None:
            return None
        return self.from_payloads([payload], [type_hint])[0]


class EncodingPayloadConverter(abc.ABC):
    """A converter for one encoding, part of a :class:`CompositePayloadConverter`."""

    @property
    @abc.abstractmethod
    def encoding(self) -> str:
        """The ``encoding`` of the envelopes this converter makes and reads."""

    @abc.abstractmethod
    def to_payload(self, value: Any) -> Payload | None:
        """The envelope for ``value``, or None when this converter does not take it (the
        composite then asks the next one)."""

    @abc.abstractmethod
    def from_payload(self, payload: Payload, type_hint: Any = Any) -> Any:
        """The value of an envelope of this converter's encoding."""


class CompositePayloadConverter(PayloadConverter):
    """Several encodings: a value goes to the first converter that takes it; an envelope to
    the converter of its ``encoding``."""

    def __init__(self, *converters: EncodingPayloadConverter) -> None:
        if not converters:
            raise ValueError("CompositePayloadConverter needs at least one converter")
        self.converters: dict[str, EncodingPayloadConverter] = {}
        for c in converters:
            self.converters.setdefault(c.encoding, c)

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        return [self._one(v) for v in values]

    def _one(self, value: Any) -> Payload:
        for converter in self.converters.values():
            payload = converter.to_payload(value)
            if payload is None:
                continue
            if (
                not isinstance(payload, dict)
                or type(payload.get("encoding")) is not str
                or "data" not in payload
            ):
                raise PayloadCodecError(
                    f"{converter!r}.to_payload returned {payload!r}, which is not an "
                    'envelope ({"encoding": <string>, "data": <JSON value>})'
                )
            return payload if type(payload) is dict else dict(payload)  # a Temporal Payload
        raise PayloadCodecError(
            f"no payload converter takes a value of type {type(value).__qualname__} "
            f"(encodings tried: {', '.join(self.converters)})"
        )

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: Sequence[Any] | None = None
    ) -> list[Any]:
        hints = type_hints or ()
        out = []
        for i, p in enumerate(payloads):
            hint = hints[i] if i < len(hints) else Any
            if p is None:
                out.append(None)
                continue
            encoding = p.get("encoding", "json")
            converter = self.converters.get(encoding)
            if converter is None:
                raise PayloadCodecError(
                    f"payload encoding {encoding!r} has no payload converter here (this "
                    f"one knows {', '.join(map(repr, self.converters))}): connect with the "
                    "converter that wrote it, data_converter=DataConverter("
                    "payload_converter_class=...), or the payload codec (codec=...)"
                )
            out.append(converter.from_payload(TemporalPayload.of(p), hint))
        return out


class _Unhandled:
    def __repr__(self) -> str:
        return "JSONTypeConverter.Unhandled"


_UNHANDLED: Final = _Unhandled()


class JSONTypeConverter:
    """Extra types for plait's JSON: override :meth:`to_json` and :meth:`from_json` (or
    Temporal's :meth:`to_typed_value`), returning :attr:`Unhandled` for values and hints
    that are not yours."""

    Unhandled: ClassVar[Any] = _UNHANDLED

    def to_json(self, value: Any) -> Any:
        """``value`` as JSON values (dicts, lists, strings, numbers), or ``Unhandled``."""
        return _UNHANDLED

    def from_json(self, data: Any, hint: Any) -> Any:
        """A value of ``hint`` from what :meth:`to_json` made, or ``Unhandled``."""
        return self.to_typed_value(hint, data)

    def to_typed_value(self, hint: Any, value: Any) -> Any:
        """Temporal's name for :meth:`from_json` (hint first)."""
        return _UNHANDLED


class JSONPlainPayloadConverter(EncodingPayloadConverter):
    """plait's JSON (encoding ``json``), plus the types of ``custom_type_converters``.

    Without them it is exactly the default converter. With them, a value is walked once on
    the way out (dicts, lists, tuples, sets, dataclass fields) so a ``Decimal`` inside a
    dataclass is found, and a hint is walked on the way in the same way."""

    def __init__(
        self, *, encoding: str = "json", custom_type_converters: Sequence[JSONTypeConverter] = ()
    ) -> None:
        self._encoding = encoding
        self._types = tuple(custom_type_converters)

    @property
    def encoding(self) -> str:
        return self._encoding

    def to_payload(self, value: Any) -> Payload | None:
        return {"encoding": self._encoding, "data": self._to_json(value) if self._types else value}

    def from_payload(self, payload: Payload, type_hint: Any = Any) -> Any:
        data = payload.get("data")
        return self._from_json(data, type_hint) if self._types else convert(data, type_hint)

    def _to_json(self, value: Any) -> Any:
        if value is None or type(value) in (str, int, float, bool):
            return value
        for tc in self._types:
            out = tc.to_json(value)
            if out is not _UNHANDLED:
                return out
        if isinstance(value, dict):
            return {k: self._to_json(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._to_json(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: self._to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
            }
        return value  # the wire's own encoding: datetime, UUID, Enum, pydantic, bytes...

    def _from_json(self, data: Any, hint: Any) -> Any:
        if data is None:
            return None
        for tc in self._types:
            out = tc.from_json(data, hint)
            if out is not _UNHANDLED:
                return out
        return self._structure(data, hint)

    def _structure(self, data: Any, hint: Any) -> Any:
        """:func:`plait.protocol.payload.convert`'s walk, asking the type converters at each
        level; the leaves are ``convert``'s."""
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Union or origin is types.UnionType:
            for option in args:
                if option is type(None):
                    continue
                try:
                    return self._from_json(data, option)
                except (TypeError, ValueError, KeyError, ArithmeticError):
                    continue
            return data
        if origin in (list, Sequence, set, frozenset, tuple) and isinstance(data, list):
            if origin is tuple and args and args[-1] is not Ellipsis:
                return tuple(self._from_json(v, a) for v, a in zip(data, args, strict=False))
            items = [self._from_json(v, args[0] if args else Any) for v in data]
            return origin(items) if origin in (set, frozenset, tuple) else items
        if origin is dict and isinstance(data, dict):
            kt, vt = args if len(args) == 2 else (Any, Any)
            return {self._from_json(k, kt): self._from_json(v, vt) for k, v in data.items()}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(data, dict):
            field_hints = typing.get_type_hints(hint)
            return hint(**{k: self._from_json(v, field_hints.get(k, Any)) for k, v in data.items()})
        return convert(data, hint)


class DefaultPayloadConverter(CompositePayloadConverter):
    """plait's own JSON converter. Subclass it to add types: set ``json_type_converters``
    (:class:`JSONTypeConverter` instances), or build a :class:`CompositePayloadConverter`
    of your encodings followed by :attr:`default_encoding_payload_converters`.

    ``DataConverter(payload_converter_class=DefaultPayloadConverter)`` (the default) runs the
    built-in code path itself, not this class."""

    default_encoding_payload_converters: ClassVar[tuple[EncodingPayloadConverter, ...]] = (
        JSONPlainPayloadConverter(),
    )
    json_type_converters: ClassVar[Sequence[JSONTypeConverter]] = ()

    def __init__(self) -> None:
        if self.json_type_converters:
            super().__init__(
                JSONPlainPayloadConverter(custom_type_converters=self.json_type_converters)
            )
        else:
            super().__init__(*self.default_encoding_payload_converters)


@dataclasses.dataclass(frozen=True)
class DataConverter:
    """Temporal's converter bundle: a payload converter class (built with no arguments),
    a payload codec, no failure converter."""

    payload_converter_class: type[Any] = DefaultPayloadConverter
    payload_codec: Any = None
    failure_converter_class: type[Any] | None = None

    default: ClassVar[DataConverter]

    @property
    def payload_converter(self) -> PayloadConverter:
        """An instance of :attr:`payload_converter_class` (a new one per call)."""
        made: PayloadConverter = self.payload_converter_class()
        return made


DataConverter.default = DataConverter()


def default() -> DataConverter:
    """Temporal's ``temporalio.converter.default()``: the default bundle."""
    return DataConverter.default


@dataclasses.dataclass(frozen=True, slots=True)
class Conversions:
    """The four conversions a client, worker or workflow calls, bound once: plait's own
    functions themselves by default (so the default path is exactly what it was), else the
    custom converter's methods."""

    to_payload: Callable[[Any], Payload]
    to_payloads: Callable[[Sequence[Any]], list[Payload]]
    from_payload: Callable[[Payload | None, Any], Any]
    from_payloads: Callable[[Sequence[Payload], Sequence[Any]], list[Any]]

    @staticmethod
    def of(converter: PayloadConverter | None) -> Conversions:
        if converter is None:
            return DEFAULT_CONVERSIONS
        return Conversions(
            converter.to_payload,
            converter.to_payloads,
            converter.from_payload,
            converter.from_payloads,
        )


DEFAULT_CONVERSIONS: Final = Conversions(encode, encode_args, decode, decode_args)


def check_data_converter(converter: object) -> tuple[PayloadCodec | None, PayloadConverter | None]:
    """The payload codec (a :class:`plait.codec.PayloadCodec`) and payload converter a
    ``data_converter`` asks for, None for each that is plait's default (so the default path
    stays the built-in one). ``ValueError`` says what to write instead of anything else."""
    if not isinstance(converter, DataConverter):
        raise ValueError(
            f"data_converter={converter!r} is not a plait.converter.DataConverter: plait "
            "converts payloads to JSON by the functions' type hints (dataclasses, pydantic "
            "models, datetime, UUID, Enum, bytes); remove data_converter=, or give "
            "DataConverter(payload_converter_class=...) for types of your own"
        )
    codec = converter.payload_codec
    if codec is not None and not isinstance(codec, PayloadCodec):
        raise ValueError(
            f"data_converter's payload_codec {codec!r} is not a plait.codec.PayloadCodec: "
            'subclass it (async encode/decode over lists of envelopes {"encoding", '
            '"data"}), or use plait.codec\'s AESGCMCodec, ZlibCodec and chain()'
        )
    if converter.failure_converter_class is not None:
        raise ValueError(
            "data_converter has a failure_converter_class, which plait does not "
            "support: failures are stored as they are; remove it"
        )
    return codec, _payload_converter(converter.payload_converter_class)


def _payload_converter(cls: type[Any]) -> PayloadConverter | None:
    if cls is DefaultPayloadConverter:
        return None
    if not (isinstance(cls, type) and issubclass(cls, PayloadConverter)):
        raise ValueError(
            f"data_converter has payload_converter_class={getattr(cls, '__name__', cls)!r}, "
            "which is not a plait.converter.PayloadConverter subclass: subclass "
            "DefaultPayloadConverter or CompositePayloadConverter (built with no arguments), "
            "or remove data_converter= (plait's JSON already decodes dataclasses, pydantic "
            "models, datetime, UUID, Enum and bytes by type hints)"
        )
    try:
        made = cls()
    except TypeError as e:
        raise ValueError(
            f"payload_converter_class {cls.__name__} cannot be built with no "
            f"arguments, as it must be: {e}"
        ) from e
    return made
