"""How values become payloads: Temporal's ``DataConverter`` spelling, for code that passes one.

plait has one payload converter, JSON, that decodes by the type hints of the function it
feeds: dataclasses, pydantic models, datetime, UUID, Enum and bytes need no configuration
(``protocol/payload.py``). So a ``DataConverter`` is accepted when it asks for nothing more
than that (the default, or ``plait.contrib.pydantic.pydantic_data_converter``), and refused
with what to write instead when it carries something plait does not have yet: a payload codec
of another kind or a converter class of its own. A ``payload_codec`` that is a
:class:`plait.codec.PayloadCodec` is taken as ``Client.connect(codec=...)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from plait.codec import PayloadCodec

__all__ = ["DataConverter", "DefaultPayloadConverter", "check_data_converter"]


class DefaultPayloadConverter:
    """Marks plait's own JSON converter (type-hint directed; handles pydantic models)."""


@dataclasses.dataclass(frozen=True)
class DataConverter:
    """Temporal's converter bundle. Only the default converter is supported: leave the
    fields unset (or use :attr:`default`)."""

    payload_converter_class: type[Any] = DefaultPayloadConverter
    payload_codec: Any = None
    failure_converter_class: type[Any] | None = None

    default: ClassVar[DataConverter]


DataConverter.default = DataConverter()


def check_data_converter(converter: object) -> PayloadCodec | None:
    """Raise ``ValueError`` saying what to write instead, unless ``converter`` means what
    plait does anyway; its payload codec (a :class:`plait.codec.PayloadCodec`), if any."""
    if not isinstance(converter, DataConverter):
        raise ValueError(
            f"data_converter={converter!r} is not a plait.converter.DataConverter: plait "
            "converts payloads to JSON by the functions' type hints (dataclasses, pydantic "
            "models, datetime, UUID, Enum, bytes); remove data_converter=")
    codec = converter.payload_codec
    if codec is not None and not isinstance(codec, PayloadCodec):
        raise ValueError(
            f"data_converter's payload_codec {codec!r} is not a plait.codec.PayloadCodec: "
            "subclass it (async encode/decode over lists of envelopes {\"encoding\", "
            "\"data\"}), or use plait.codec's AESGCMCodec, ZlibCodec and chain()")
    if converter.payload_converter_class is not DefaultPayloadConverter:
        raise ValueError(
            f"data_converter has payload_converter_class="
            f"{converter.payload_converter_class.__name__}, and plait has only its own JSON "
            "converter, which already decodes dataclasses, pydantic models, datetime, UUID, "
            "Enum and bytes by type hints: remove data_converter=")
    if converter.failure_converter_class is not None:
        raise ValueError("data_converter has a failure_converter_class, which plait does not "
                         "support: failures are stored as they are; remove it")
    return codec
