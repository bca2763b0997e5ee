"""The request stream's frames (plait.protocol.stream): what a server reads is what a client
wrote, bodies pass byte for byte, and a frame that is not one is a ValueError."""

from __future__ import annotations

import pytest

from plait.protocol.stream import (
    MAX_HEADER,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
    target_of,
)
from plait.protocol.transport import Request


def test_a_request_frame_reads_back_as_written() -> None:
    body = b'{"a": "line one\\nline two"}\n\x00\xff'
    frame = encode_request(7, "POST", "/api/v1/namespaces/d/task-queues/q%2Fx/poll", body)
    assert decode_request(frame) == (7, "POST", "/api/v1/namespaces/d/task-queues/q%2Fx/poll",
                                     body)
    assert decode_request(encode_request(1, "GET", "/health", None)) == (1, "GET", "/health",
                                                                         b"")


def test_an_answer_frame_reads_back_as_written() -> None:
    request_id, response = decode_answer(encode_answer(2 ** 53, 409, b'{"error": {}}\n'))
    assert request_id == 2 ** 53
    assert (response.status, response.body) == (409, b'{"error": {}}\n')


@pytest.mark.parametrize("frame", [
    b"", b"no newline at all", b'[1, "GET"]\n', b'["1", "GET", "/x"]\n', b"{}\n",
    b"[1, 2, 3]\n", b"x" * (MAX_HEADER + 10) + b"\n"])
def test_a_frame_that_is_not_a_request_is_a_value_error(frame: bytes) -> None:
    with pytest.raises(ValueError):
        decode_request(frame)


@pytest.mark.parametrize("frame", [b"", b"[1]\n", b'[1, "200"]\n', b"200 ok"])
def test_a_frame_that_is_not_an_answer_is_a_value_error(frame: bytes) -> None:
    with pytest.raises(ValueError):
        decode_answer(frame)


def test_the_target_carries_the_query_string_quoted() -> None:
    assert target_of(Request("GET", "/a%2Fb")) == "/a%2Fb"
    assert target_of(Request("GET", "/w", {"q": "a b&c=d", "n": "1"})) == \
        "/w?q=a+b%26c%3Dd&n=1"
