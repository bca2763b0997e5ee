"""Payload codecs (API.md "Payload codecs"): each codec alone, chains, key rotation, and the
layer that runs a codec over every payload of a wire message."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
from typing import Any

import msgspec
import pytest

from plait import errors
from plait._payloads import decode_message, decode_messages, encode_message
from plait.codec import AESGCMCodec, PayloadCodec, ZlibCodec, chain, payload_bytes
from plait.protocol.commands import ScheduleActivityCommand, StartChildWorkflowCommand
from plait.protocol.common import Failure
from plait.protocol.completions import CompleteWorkflowTaskItem
from plait.protocol.enums import WorkflowStatus
from plait.protocol.envelopes import bad_envelope, payloads_of
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.payload import decode, encode
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.responses import WorkflowOutcome
from plait.runtime.wire import wire_command, wire_payload

K1, K2 = os.urandom(32), os.urandom(16)
SECRET = "the-distinctive-plaintext-4711"


@dataclasses.dataclass
class Order:
    name: str
    when: dt.datetime


def over_wire(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the other side reads: the envelopes as JSON and back."""
    result: list[dict[str, Any]] = loads(dumps(payloads))
    return result


async def test_aesgcm_round_trip_hides_the_value_and_names_its_key() -> None:
    codec = AESGCMCodec(keys={"k1": K1}, current="k1")
    value = Order(SECRET, dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    sent = over_wire(await codec.encode([encode(value)]))
    assert SECRET not in dumps(sent).decode()
    assert sent[0]["encoding"] == "binary/encrypted"
    assert sent[0]["metadata"] == {"key_id": "k1"}
    back = await codec.decode(sent)
    assert decode(back[0], Order) == value


async def test_aesgcm_uses_a_fresh_nonce_every_time() -> None:
    codec = AESGCMCodec(keys={"k1": K1}, current="k1")
    a, b = await codec.encode([encode("same"), encode("same")])
    assert a["data"] != b["data"]


async def test_rotation_old_payloads_decode_with_the_old_key_kept() -> None:
    old = AESGCMCodec(keys={"k1": K1}, current="k1")
    sent = over_wire(await old.encode([encode(SECRET)]))
    rotated = AESGCMCodec(keys={"k2": K2, "k1": K1}, current="k2")
    assert (await rotated.decode(sent))[0]["data"] == SECRET
    new = over_wire(await rotated.encode([encode("new")]))
    assert new[0]["metadata"] == {"key_id": "k2"}
    with pytest.raises(errors.PayloadCodecError, match=r"key 'k1'.*does not have"):
        await AESGCMCodec(keys={"k2": K2}, current="k2").decode(sent)


async def test_aesgcm_refuses_tampered_or_relabelled_payloads() -> None:
    codec = AESGCMCodec(keys={"k1": K1, "k2": K1}, current="k1")
    sent = over_wire(await codec.encode([encode(SECRET)]))
    relabelled = [{**sent[0], "metadata": {"key_id": "k2"}}]  # same key bytes, other id
    with pytest.raises(errors.PayloadCodecError, match="does not authenticate"):
        await codec.decode(relabelled)
    raw = bytearray(base64.b64decode(sent[0]["data"]))
    raw[-1] ^= 1
    flipped = [{**sent[0], "data": base64.b64encode(bytes(raw)).decode()}]
    with pytest.raises(errors.PayloadCodecError, match="does not authenticate"):
        await codec.decode(flipped)
    for broken in (
        {**sent[0], "metadata": None},
        {**sent[0], "data": "!!"},
        {**sent[0], "data": 3},
        {**sent[0], "data": "AAAA"},
    ):
        with pytest.raises(errors.PayloadCodecError):
            await codec.decode([broken])


async def test_aesgcm_leaves_plain_payloads_alone() -> None:
    codec = AESGCMCodec(keys={"k1": K1}, current="k1")
    plain = [{"encoding": "json", "data": 1}]
    assert await codec.decode(plain) == plain


def test_aesgcm_checks_its_keys_and_never_shows_them() -> None:
    with pytest.raises(ValueError, match="current key 'k3'"):
        AESGCMCodec(keys={"k1": K1}, current="k3")
    with pytest.raises(ValueError, match="16, 24 or 32 bytes"):
        AESGCMCodec(keys={"k1": b"short"}, current="k1")
    with pytest.raises(ValueError, match="at least one key"):
        AESGCMCodec(keys={}, current="k1")
    codec = AESGCMCodec(keys={"k1": K1}, current="k1")
    assert K1.hex() not in repr(codec) and "k1" in repr(codec)


async def test_zlib_compresses_only_large_compressible_payloads() -> None:
    codec = ZlibCodec(min_size=100)
    small, large = encode("x" * 10), encode(SECRET * 100)
    noise = encode(base64.b64encode(os.urandom(2000)).decode())
    out = await codec.encode([small, large, noise])
    assert out[0] is small and out[2] is noise
    assert out[1]["encoding"] == "binary/zlib"
    assert len(dumps(out[1])) < len(dumps(large)) / 5
    back = await codec.decode(over_wire(out))
    assert [p["data"] for p in back] == [small["data"], large["data"], noise["data"]]


async def test_zlib_refuses_what_does_not_decompress() -> None:
    with pytest.raises(errors.PayloadCodecError, match="does not decompress"):
        await ZlibCodec().decode([{"encoding": "binary/zlib", "data": "AAAA"}])


async def test_chain_encodes_in_order_and_decodes_in_reverse() -> None:
    codec = chain(ZlibCodec(min_size=10), AESGCMCodec(keys={"k1": K1}, current="k1"))
    out = over_wire(await codec.encode([encode(SECRET * 50)]))
    assert out[0]["encoding"] == "binary/encrypted"
    inner = await AESGCMCodec(keys={"k1": K1}, current="k1").decode(out)
    assert inner[0]["encoding"] == "binary/zlib"  # compressed first, then encrypted
    assert (await codec.decode(out))[0]["data"] == SECRET * 50
    with pytest.raises(TypeError):
        chain(ZlibCodec(), object())  # type: ignore[arg-type]


def test_payload_bytes_serialises_like_the_wire() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    wired = wire_payload(encode(Order("a", when)))  # data already orjson's bytes (Raw)
    assert isinstance(wired["data"], msgspec.Raw)
    assert payload_bytes(wired) == dumps(encode(Order("a", when)))


# -- the layer over wire messages ---------------------------------------------------------
class Reverse(PayloadCodec):
    """A codec whose work is easy to see: data becomes the reversed JSON text."""

    async def encode(self, payloads: Any) -> list[dict[str, Any]]:
        return [{"encoding": "test/rev", "data": payload_bytes(p).decode()[::-1]} for p in payloads]

    async def decode(self, payloads: Any) -> list[dict[str, Any]]:
        return [loads(p["data"][::-1]) if p["encoding"] == "test/rev" else p for p in payloads]


async def test_every_payload_of_a_completion_is_encoded_in_a_copy() -> None:
    failure = Failure(
        message="m", details=[encode("d1")], cause=Failure(message="c", details=[encode("d2")])
    )
    cmd = ScheduleActivityCommand(
        activity_id="1", activity_type="a", task_queue="q", input=[encode("i1"), encode("i2")]
    )
    item = CompleteWorkflowTaskItem(token="1.1", commands=[cmd])
    assert [p["data"] for p in payloads_of(failure)] == ["d1", "d2"]
    encoded = await encode_message(Reverse(), item)
    assert [p["encoding"] for p in payloads_of(encoded)] == ["test/rev", "test/rev"]
    assert cmd.input == [encode("i1"), encode("i2")]  # the runtime's command is untouched
    assert bad_envelope(encoded) is None
    back = await decode_message(Reverse(), encoded)
    assert payloads_of(back) == [encode("i1"), encode("i2")]
    enc_failure = await encode_message(Reverse(), failure)
    assert failure.details == [encode("d1")]
    assert (await decode_message(Reverse(), enc_failure)) == failure


async def test_a_message_without_payloads_is_itself() -> None:
    outcome = WorkflowOutcome(status=WorkflowStatus.COMPLETED)
    assert await encode_message(Reverse(), outcome) is outcome
    assert await decode_messages(Reverse(), [outcome]) == [outcome]


async def test_a_codec_that_breaks_envelopes_is_named() -> None:
    class Broken(PayloadCodec):
        async def encode(self, payloads: Any) -> list[dict[str, Any]]:
            return [{"data": 1} for _ in payloads]

        async def decode(self, payloads: Any) -> list[dict[str, Any]]:
            return []

    item = CompleteWorkflowTaskItem(
        token="1.1",
        commands=[
            ScheduleActivityCommand(
                activity_id="1", activity_type="a", task_queue="q", input=[encode(1)]
            )
        ],
    )
    with pytest.raises(errors.PayloadCodecError, match="not an envelope"):
        await encode_message(Broken(), item)
    with pytest.raises(errors.PayloadCodecError, match="returned 0 payloads for 1"):
        await decode_message(Broken(), item)


def test_without_a_codec_an_encoded_payload_is_an_error_not_a_value() -> None:
    with pytest.raises(errors.PayloadCodecError, match="decode it with the payload codec"):
        decode({"encoding": "binary/encrypted", "data": "AAAA"})


async def test_memo_values_are_encoded_each_and_decoded_back() -> None:
    memo = {"plain": 1, "looks_like_one": {"encoding": "utf8", "data": "x"}}
    request = StartWorkflowRequest(
        workflow_id="w", workflow_type="t", task_queue="q", input=[encode("i")], memo=memo
    )
    encoded = await encode_message(Reverse(), request)
    assert request.memo == memo  # the caller's request is untouched
    assert encoded.memo is not None
    assert {v["encoding"] for v in encoded.memo.values()} == {"test/rev"}
    back = await decode_message(Reverse(), encoded)
    assert back.memo == memo and back.input == [encode("i")]
    # A value a codec does not own (a user's dict that looks like an envelope) stays as is.
    assert (await decode_message(Reverse(), request)).memo == memo


async def test_a_memo_the_worker_encoded_already_is_encoded_too() -> None:
    cmd = wire_command(
        StartChildWorkflowCommand(seq=1, workflow_id="c", workflow_type="t", memo={"k": [1, 2]})
    )
    assert isinstance(cmd.memo, msgspec.Raw)
    encoded = await encode_message(Reverse(), cmd)
    assert encoded.memo is not None and encoded.memo["k"]["encoding"] == "test/rev"
    assert (await decode_message(Reverse(), encoded)).memo == {"k": [1, 2]}


async def test_a_codec_that_leaves_a_memo_value_alone_leaves_it_plain() -> None:
    request = StartWorkflowRequest(
        workflow_id="w", workflow_type="t", task_queue="q", memo={"small": "x"}
    )
    encoded = await encode_message(ZlibCodec(min_size=1000), request)
    assert encoded.memo == {"small": "x"}
