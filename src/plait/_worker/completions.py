"""Task completions to the server, batched: one request carries what finished meanwhile.

A busy worker finishes many tasks at once (500 parallel activities, 1,000 workflows), and a
request per completion costs more CPU in the worker's and the server's HTTP stacks than the
completion itself. So completions queue here and go out together: the first waits only for
the current turn of the event loop (tasks finishing in the same turn join it), and while
``max_in_flight`` batches are on the wire the queue grows into the next one. An idle worker
pays nothing: a lone completion is sent on the next loop turn.

Each item is answered on its own, so a caller sees exactly what the single route would have
answered: its response, or the ``RPCError`` of its own failure. An item answered 503 (the
database is away) is sent again with backoff for as long as the API object retries a whole
request: a completion the worker gave up on would make the server run the task again.
A batch refused as over the server's payload limit (a limit set below ``max_bytes``) is sent
again an item at a time: only an item refused alone is over the limit.

A completion may bring tasks back (eager activities, the next workflow task): each request is
numbered, and its answers are decoded as they arrive, so that the tasks they carry are held
before the request counts as answered (``plait._worker.inflight``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

import msgspec

from plait import errors
from plait._api import Api, CompletionKind, error_of
from plait._payloads import decode_message, encode_message
from plait._worker.inflight import InFlight
from plait.codec import PayloadCodec
from plait.protocol.completions import (
    CompleteActivityTaskResponse,
    CompleteWorkflowTaskResponse,
    ItemError,
    TaskCompletion,
)
from plait.runtime.wire import BatchItemAnswer, encode

__all__ = ["Completions", "Unread"]

log = logging.getLogger("plait.worker")

T = TypeVar("T")
_Answer = tuple[ItemError | None, Any]
"""An item's error, or its answer decoded."""
_Item = tuple[bytes, type[Any], "asyncio.Future[_Answer]"]
"""An item encoded, the type its answer is decoded into, and its caller's future."""


def _alone(item: TaskCompletion, number: int | None) -> bytes:
    """An item as its own route takes it: the same body, without ``type``, numbered."""
    request = type(item).__bases__[0]  # each item type is its route's request plus the tag
    fields = msgspec.structs.asdict(item)
    if "request_no" in fields:
        fields["request_no"] = number
    return encode(request(**fields))


def handed(answer: object) -> list[str]:
    """The tokens of the tasks a completion's answer hands back."""
    tokens = []
    if isinstance(answer, (CompleteWorkflowTaskResponse, CompleteActivityTaskResponse)) \
            and answer.workflow_task is not None:
        tokens.append(answer.workflow_task.token)
    if isinstance(answer, CompleteWorkflowTaskResponse):
        tokens += [task.token for task in answer.activity_tasks or ()]
    if isinstance(answer, CompleteActivityTaskResponse) and answer.workflow_step is not None:
        tokens += handed(answer.workflow_step)
    return tokens


class Unread(msgspec.Struct):
    """An answer the caller does not read (a failure report's)."""


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decode(raw: bytes | msgspec.Raw, into: type[T]) -> T:
    decoder = _DECODERS.get(into)
    if decoder is None:
        decoder = _DECODERS[into] = msgspec.json.Decoder(into)
    result: T = decoder.decode(raw if len(raw) else b"{}")
    return result


async def _decoded(codec: PayloadCodec, answer: T) -> T:
    """An answer with the payloads of the tasks it hands back decoded."""
    if isinstance(answer, msgspec.Struct):
        decoded: T = await decode_message(codec, answer)  # type: ignore[assignment]
        return decoded
    return answer


class Completions:
    def __init__(self, api: Api, inflight: InFlight | None = None, *, max_in_flight: int = 4,
                 max_items: int = 256, max_bytes: int = 512 * 1024) -> None:
        self.api = api
        self.inflight = inflight or InFlight(set())
        self.max_in_flight = max_in_flight
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._queue: list[_Item] = []
        self._in_flight = 0
        self._scheduled = False
        self._posts: set[asyncio.Task[None]] = set()

    def limit_to(self, max_payload: int) -> None:
        """Keep batches under the server's payload limit (its session said which), so none
        is refused whole and sent again item by item."""
        self.max_bytes = max(1024, min(self.max_bytes, max_payload - 1024))

    async def send(self, item: TaskCompletion, into: type[T]) -> T:
        """Report one completion (a batch item: its ``type`` says which); returns its
        response, decoded into ``into``. With a payload codec, the item's payloads are
        encoded, and the answer's (the tasks handed back with it) decoded."""
        codec = self.api.codec
        if codec is not None:  # without a codec, this test is all it costs
            item = await encode_message(codec, item)
        data = encode(item)
        if len(data) > self.max_bytes:  # a large result travels alone, under the size limit
            result = await self._alone(item, into)
            return result if codec is None else await _decoded(codec, result)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.api.retry_for
        backoff = self.api.backoff()
        while True:
            # A failed request raises (already retried).
            err, result = await self._queued(data, into)
            if err is None:
                return result if codec is None else await _decoded(codec, result)
            delay = backoff.next()
            if err.status != 503 or loop.time() + delay > give_up:
                raise error_of(err.status, err.code, err.message)
            log.debug("completion answered 503; sending it again in %.2f s", delay)
            await asyncio.sleep(delay)

    async def _alone(self, item: TaskCompletion, into: type[T]) -> T:
        """An item sent on its own route (numbered like a batch)."""
        kind: CompletionKind = item.__struct_config__.tag  # type: ignore[assignment]
        number = self.inflight.open()
        result = None
        try:
            alone: bytes = await self.api.complete(kind, _alone(item, number), decoder=bytes)
            result = _decode(alone, into)
            return result
        finally:
            self.inflight.close(number, handed(result))

    async def _queued(self, data: bytes, into: type[Any]) -> _Answer:
        fut: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((data, into, fut))
        self._kick()
        return await fut

    def _kick(self) -> None:
        if self._scheduled or not self._queue or self._in_flight >= self.max_in_flight:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue and self._in_flight < self.max_in_flight:
            batch: list[_Item] = []
            size = 0
            while self._queue and len(batch) < self.max_items:
                size += len(self._queue[0][0]) + 1
                if batch and size > self.max_bytes:
                    break
                batch.append(self._queue.pop(0))
            self._in_flight += 1
            post = asyncio.get_running_loop().create_task(self._post(batch))
            self._posts.add(post)
            post.add_done_callback(self._posts.discard)

    async def _post(self, batch: list[_Item]) -> None:
        try:
            await self._send_batch(batch)
        finally:
            self._in_flight -= 1
            self._kick()

    async def _send_batch(self, batch: list[_Item]) -> None:
        number = self.inflight.open()
        tokens: list[str] = []
        try:
            body = b'{"request_no":%d,"completions":[' % number \
                + b",".join(data for data, _, _ in batch) + b"]}"
            resp = await self.api.complete_batch(body)
            for (_, into, fut), answer in zip(batch, resp.results, strict=True):
                tokens += self._answer(fut, into, answer)
        except Exception as exc:  # the whole request failed: every item shares its fate
            if isinstance(exc, errors.RPCError) and exc.status == 413 and len(batch) > 1:
                # Over the server's limit together, perhaps not alone (see the docstring).
                await asyncio.gather(*(self._send_batch([item]) for item in batch))
                return
            if not isinstance(exc, errors.PlaitError):
                log.error("a batch of %d completions failed: %r", len(batch), exc)
                exc = errors.RPCError(f"completion request failed: {exc!r}", status=0,
                                      code="unavailable")
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        except asyncio.CancelledError:
            for _, _, fut in batch:
                fut.cancel()
            raise
        finally:
            self.inflight.close(number, tokens)

    @staticmethod
    def _answer(fut: asyncio.Future[_Answer], into: type[Any],
                answer: BatchItemAnswer) -> list[str]:
        """Answer one item's caller; returns the tokens of the tasks it hands back."""
        if answer.error is not None:
            result: _Answer = (answer.error, None)
        else:
            try:
                result = (None, _decode(answer.result, into))
            except Exception as exc:  # a malformed answer fails its own item
                if not fut.done():
                    fut.set_exception(exc)
                return []
        if fut.done():  # its caller is gone (cancelled): it will not run these tasks
            return []
        fut.set_result(result)
        return handed(result[1])
