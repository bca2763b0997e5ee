"""A store thread answers a batch's callers with one wake-up of each event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from plait.store.answers import answer_all


async def test_a_batch_is_answered_with_one_call_per_loop() -> None:
    loop = asyncio.get_running_loop()
    calls = 0
    real = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    futures = [loop.create_future() for _ in range(3)]
    futures[2].cancel()  # its caller stopped waiting: skipped, not an error
    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        thread = threading.Thread(target=answer_all, args=([
            (loop, futures[0], "value", True),
            (loop, futures[1], ValueError("refused"), False),
            (loop, futures[2], "late", True)],))
        thread.start()
        thread.join()
        assert await futures[0] == "value"
        with pytest.raises(ValueError, match="refused"):
            await futures[1]
    finally:
        loop.call_soon_threadsafe = real  # type: ignore[method-assign]
    assert calls == 1


def test_a_closed_loop_is_passed_over() -> None:
    loop = asyncio.new_event_loop()
    fut = loop.create_future()
    loop.close()
    answer_all([(loop, fut, 1, True)])  # no RuntimeError out of the store's thread
    assert not fut.done()
