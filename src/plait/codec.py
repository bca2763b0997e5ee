"""Payload codecs: compression and encryption of payloads, in clients and workers only.

    from plait.codec import AESGCMCodec, ZlibCodec, chain
    codec = chain(ZlibCodec(min_size=1024), AESGCMCodec(keys={"k2": key2, "k1": key1},
                                                         current="k2"))
    client = await Client.connect(..., codec=codec)   # workers built on it use it too

A codec is the layer after the converter: the converter turns a value into an envelope
``{"encoding": "json", "data": <value>}``, the codec turns envelopes into other envelopes (on
the way out) and back (on the way in). What it makes is still an envelope, ``{"encoding":
<string>, "data": <JSON value>, ...}``, so the server stores and forwards it without ever
seeing the value; a key id travels in the envelope's ``metadata``, so payloads written with
an old key still decode after a rotation, for as long as the codec keeps that key.

Decoding leaves alone every envelope whose encoding the codec does not own (a plain
``json`` payload from before the codec was added, say), and raises
:class:`plait.errors.PayloadCodecError` for one it owns but cannot read: it never passes
ciphertext on as if it were the value.
"""

from __future__ import annotations

import abc
import base64
import binascii
import os
import zlib
from collections.abc import Mapping, Sequence

from plait.errors import PayloadCodecError
from plait.protocol.common import JsonObject
from plait.protocol.jsoncodec import dumps, loads

__all__ = [
    "AESGCMCodec",
    "PayloadCodec",
    "ZlibCodec",
    "chain",
    "payload_bytes",
    "payload_from_bytes",
]

Payload = JsonObject
"""An envelope: ``{"encoding": <string>, "data": <JSON value>, ...}``."""

ZLIB_ENCODING = "binary/zlib"
ENCRYPTED_ENCODING = "binary/encrypted"


class PayloadCodec(abc.ABC):
    """Turns lists of envelopes into lists of envelopes (as many, in the same order).

    Subclass it for a codec of your own (a KMS, another cipher): ``encode`` gets envelopes
    as the converter made them (their ``data`` may still be Python values the converter
    serialises: use :func:`payload_bytes`), ``decode`` gets envelopes as they came over the
    wire and must give back what ``encode`` was given (:func:`payload_from_bytes`), leaving
    alone those it does not own."""

    @abc.abstractmethod
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """The envelopes to send in place of ``payloads``."""

    @abc.abstractmethod
    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """The envelopes ``encode`` was given, from what it made (others unchanged)."""


def payload_bytes(payload: Payload) -> bytes:
    """An envelope as the JSON bytes the converter writes (its data serialised as it always
    is on the wire): what a codec compresses or encrypts."""
    return dumps(payload)


def payload_from_bytes(data: bytes) -> Payload:
    """The envelope :func:`payload_bytes` wrote; :class:`PayloadCodecError` if it is not one."""
    try:
        payload = loads(data)
    except ValueError as exc:
        raise PayloadCodecError(f"a decoded payload is not JSON: {exc}") from None
    if (
        not isinstance(payload, dict)
        or type(payload.get("encoding")) is not str
        or "data" not in payload
    ):
        raise PayloadCodecError(
            'a decoded payload is not an envelope ({"encoding": ..., "data": ...})'
        )
    return payload


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(payload: Payload) -> bytes:
    data = payload.get("data")
    if not isinstance(data, str):
        raise PayloadCodecError(
            f"a {payload.get('encoding')} payload's data is not a base64 string"
        )
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise PayloadCodecError(
            f"a {payload.get('encoding')} payload's data is not base64: {exc}"
        ) from None


class ZlibCodec(PayloadCodec):
    """Compresses payloads of at least ``min_size`` bytes (as JSON), and only those that
    come out smaller: a small or incompressible payload is sent as it was."""

    def __init__(self, min_size: int = 1024, *, level: int = 6) -> None:
        if min_size < 0:
            raise ValueError(f"min_size must be >= 0, not {min_size}")
        if not -1 <= level <= 9:
            raise ValueError(f"level must be from -1 to 9, not {level}")
        self.min_size = min_size
        self.level = level

    def __repr__(self) -> str:
        return f"ZlibCodec(min_size={self.min_size}, level={self.level})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encode_one(p) for p in payloads]

    def _encode_one(self, payload: Payload) -> Payload:
        raw = payload_bytes(payload)
        if len(raw) < self.min_size:
            return payload
        packed = _b64(zlib.compress(raw, self.level))
        # Worth it only if the envelope that carries it is smaller than the one it replaces.
        if len(packed) + 40 >= len(raw):
            return payload
        return {"encoding": ZLIB_ENCODING, "data": packed}

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(p) if p.get("encoding") == ZLIB_ENCODING else p for p in payloads]

    @staticmethod
    def _decode_one(payload: Payload) -> Payload:
        try:
            raw = zlib.decompress(_unb64(payload))
        except zlib.error as exc:
            raise PayloadCodecError(
                f"a {ZLIB_ENCODING} payload does not decompress: {exc}"
            ) from None
        return payload_from_bytes(raw)


class AESGCMCodec(PayloadCodec):
    """Encrypts every payload with AES-GCM under the ``current`` key (a random 12-byte nonce
    each), and decrypts with whichever of ``keys`` the payload names.

    ``keys``: key id -> key (16, 24 or 32 bytes). To rotate, add the new key, make it
    ``current``, and keep the old ones for as long as payloads written with them must be
    read. The key id is authenticated with the ciphertext, so a payload relabelled with
    another id fails to decrypt rather than decrypting wrongly."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not keys:
            raise ValueError("AESGCMCodec needs at least one key")
        if current not in keys:
            raise ValueError(
                f"current key {current!r} is not among the keys ({', '.join(sorted(keys))})"
            )
        ciphers = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not key_id:
                raise ValueError(f"a key id must be a non-empty string, not {key_id!r}")
            if not isinstance(key, bytes) or len(key) not in (16, 24, 32):
                raise ValueError(f"key {key_id!r} must be 16, 24 or 32 bytes")
            ciphers[key_id] = AESGCM(key)
        self._ciphers = ciphers
        self.current = current

    def __repr__(self) -> str:  # never the keys themselves
        return f"AESGCMCodec(keys=[{', '.join(sorted(self._ciphers))}], current={self.current!r})"

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id = self.current
        cipher = self._ciphers[key_id]
        aad = _aad(key_id)
        out = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = cipher.encrypt(nonce, payload_bytes(payload), aad)
            out.append(
                {
                    "encoding": ENCRYPTED_ENCODING,
                    "data": _b64(nonce + sealed),
                    "metadata": {"key_id": key_id},
                }
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            self._decode_one(p) if p.get("encoding") == ENCRYPTED_ENCODING else p for p in payloads
        ]

    def _decode_one(self, payload: Payload) -> Payload:
        from cryptography.exceptions import InvalidTag

        metadata = payload.get("metadata")
        key_id = metadata.get("key_id") if isinstance(metadata, dict) else None
        if not isinstance(key_id, str):
            raise PayloadCodecError(
                f"an {ENCRYPTED_ENCODING} payload names no key id (metadata.key_id)"
            )
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadCodecError(
                f"payload is encrypted with key {key_id!r}, which this codec does not have "
                f"(it has {', '.join(self.key_ids)}): keep old keys in AESGCMCodec(keys=...) "
                "for as long as payloads written with them are read"
            )
        sealed = _unb64(payload)
        if len(sealed) < 12 + 16:
            raise PayloadCodecError(f"an {ENCRYPTED_ENCODING} payload is too short")
        try:
            raw = cipher.decrypt(sealed[:12], sealed[12:], _aad(key_id))
        except InvalidTag:
            raise PayloadCodecError(
                f"payload encrypted with key {key_id!r} does not authenticate: it was "
                f"changed, or key {key_id!r} is not the key it was written with"
            ) from None
        return payload_from_bytes(raw)


def _aad(key_id: str) -> bytes:
    return b"plait-aesgcm:" + key_id.encode()


class _Chain(PayloadCodec):
    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = tuple(codecs)

    def __repr__(self) -> str:
        return f"chain({', '.join(map(repr, self.codecs))})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in reversed(self.codecs):
            out = await codec.decode(out)
        return out


def chain(*codecs: PayloadCodec) -> PayloadCodec:
    """One codec from several: encodes with each in the order given (compress, then
    encrypt: ``chain(ZlibCodec(), AESGCMCodec(...))``), decodes in the reverse order."""
    for codec in codecs:
        if not isinstance(codec, PayloadCodec):
            raise TypeError(f"chain() takes PayloadCodec objects, not {codec!r}")
    return _Chain(codecs)
