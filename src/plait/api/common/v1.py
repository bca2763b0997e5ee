"""Temporal's ``Payload`` (``temporalio.api.common.v1``), as a plait payload envelope.

Temporal's payload is a protobuf message of ``metadata`` (bytes values, the encoding among
them) and ``data`` bytes; plait's is a JSON envelope ``{"encoding", "data", "metadata"?}``.
This class is both: built Temporal's way, it *is* the envelope (data and metadata values
base64, the encoding a string), and an envelope a converter receives reads Temporal's way
(``payload.metadata["encoding"]``, ``payload.data``) as well as plait's (``payload["data"]``).
So a Temporal ``EncodingPayloadConverter`` runs unchanged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from plait.errors import PayloadCodecError
from plait.protocol.jsoncodec import dumps

__all__ = ["Payload"]


class Payload(dict[str, Any]):
    """A payload envelope with Temporal's ``metadata`` and ``data`` attributes."""

    def __init__(self, metadata: Mapping[str, bytes] | None = None, data: bytes = b"") -> None:
        meta = dict(metadata or {})
        encoding = meta.pop("encoding", b"binary/plain")
        super().__init__(encoding=_text(encoding), data=_b64(data))
        if meta:
            self["metadata"] = {k: _b64(v) for k, v in meta.items()}

    @classmethod
    def of(cls, envelope: Mapping[str, Any]) -> Payload:
        """An envelope as it came, readable Temporal's way too."""
        made = cls.__new__(cls)
        dict.update(made, envelope)
        return made

    @property
    def metadata(self) -> dict[str, bytes]:
        """The encoding and the other metadata, as bytes (as Temporal gives them)."""
        out = {"encoding": str(self.get("encoding", "json")).encode()}
        extra = self.get("metadata")
        if isinstance(extra, dict):
            for k, v in extra.items():
                out[k] = _unb64(v) if isinstance(v, str) else dumps(v)
        return out

    @property
    def data(self) -> bytes:
        """The data as bytes: what a ``Payload(data=...)`` was given; the JSON of a plain
        JSON envelope."""
        value = self.get("data")
        if self.get("encoding", "json") == "json" or not isinstance(value, str):
            return dumps(value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadCodecError(
                f"a {self.get('encoding')} payload's data is not base64, so it was not made "
                'as Payload(data=<bytes>): read it as payload["data"]'
            ) from None


def _b64(value: bytes) -> str:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"Payload data and metadata values are bytes, not {value!r}")
    return base64.b64encode(value).decode("ascii")


def _unb64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()  # a metadata value another tool wrote as text: its UTF-8


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
