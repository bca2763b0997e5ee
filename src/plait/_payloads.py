"""Running a payload codec over every payload of a wire message.

Clients and workers call these where messages cross the wire (:class:`plait._api.Api`, the
worker's completions): each gathers the payloads of a message (or of several: a poll's tasks,
a history's events) with :func:`plait.protocol.envelopes.payloads_of`, hands them to the codec
in one call, and puts its answer back into a copy of the message. Callers test ``codec is
None`` first, so a client without a codec pays nothing here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from plait.codec import Payload, PayloadCodec
from plait.errors import PayloadCodecError
from plait.history import History
from plait.protocol.envelopes import payloads_of, with_payloads

__all__ = [
    "decode_history",
    "decode_message",
    "decode_messages",
    "decode_payloads",
    "encode_message",
    "encode_payloads",
]

S = TypeVar("S", bound=msgspec.Struct)


async def encode_payloads(codec: PayloadCodec, payloads: Sequence[Payload]) -> list[Payload]:
    """``codec.encode``, checked: as many envelopes back, each one a valid envelope (else
    the server would refuse the whole request for a codec's bug)."""
    if not payloads:
        return list(payloads)
    out = await codec.encode(payloads)
    _check(codec, "encode", payloads, out)
    return out


async def decode_payloads(codec: PayloadCodec, payloads: Sequence[Payload]) -> list[Payload]:
    if not payloads:
        return list(payloads)
    out = await codec.decode(payloads)
    _check(codec, "decode", payloads, out)
    return out


def _check(
    codec: PayloadCodec, what: str, given: Sequence[Payload], got: Sequence[Payload]
) -> None:
    if len(got) != len(given):
        raise PayloadCodecError(f"{codec!r}.{what} returned {len(got)} payloads for {len(given)}")
    for p in got:
        if not isinstance(p, dict) or type(p.get("encoding")) is not str or "data" not in p:
            raise PayloadCodecError(
                f"{codec!r}.{what} returned {p!r}, which is not an "
                'envelope ({"encoding": <string>, "data": ...})'
            )


async def encode_message(codec: PayloadCodec, message: S) -> S:
    """A copy of ``message`` with every payload in it encoded, and each memo value as the
    envelope the codec makes of it (itself if it has neither)."""
    found = payloads_of(message, "wrap")
    if not found:
        return message
    return with_payloads(message, iter(await encode_payloads(codec, found)), "wrap")


async def decode_message(codec: PayloadCodec, message: S) -> S:
    """A copy of ``message`` with every payload (and memo value) in it decoded (itself if it
    has none)."""
    return (await decode_messages(codec, [message]))[0]


async def decode_messages(codec: PayloadCodec, messages: list[S]) -> list[S]:
    """:func:`decode_message` for several messages, in one codec call."""
    found = [payloads_of(m, "unwrap") for m in messages]
    flat = [p for ps in found for p in ps]
    if not flat:
        return messages
    decoded = iter(await decode_payloads(codec, flat))
    return [
        with_payloads(m, decoded, "unwrap") if ps else m
        for m, ps in zip(messages, found, strict=True)
    ]


async def decode_history(codec: PayloadCodec, history: History) -> History:
    """``history`` with the payloads of its events decoded (for showing it: ``plait workflow
    show --codec``); an event without payloads keeps its attributes exactly as stored."""
    from plait.runtime.wire import to_events

    structs = to_events(history)
    decoded = await decode_messages(codec, structs)
    events = [
        e if s is d else dataclasses.replace(e, attributes=msgspec.to_builtins(d.attributes))
        for e, s, d in zip(history.events, structs, decoded, strict=True)
    ]
    return dataclasses.replace(history, events=events)
