"""A state change that keeps conflicting ends as a retryable 503, not an internal error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from plait.server.service import WRITE_ATTEMPTS, Service
from plait.store.base import ConflictError, StoreBusy, StoreUnavailable


class Conflicting:
    """A store whose every write loses the optimistic check (``fail`` times, or always)."""

    shared = False

    def sees_every_commit(self) -> bool:
        return True

    def __init__(self, fail: int = 10**9) -> None:
        self.fail = fail
        self.writes = 0

    async def write(self, fn: Callable[[Any], Any], *, task: int | None = None) -> Any:
        self.writes += 1
        if self.writes <= self.fail:
            raise ConflictError("changed concurrently")
        return "done"


async def test_conflicts_are_retried_then_reported_busy() -> None:
    store = Conflicting()
    service = Service(store)  # type: ignore[arg-type]
    with pytest.raises(StoreBusy, match="retry") as info:
        await service.write(lambda ctx: None)
    assert isinstance(info.value, StoreUnavailable)  # so every caller answers 503
    assert store.writes == WRITE_ATTEMPTS


async def test_a_conflict_that_clears_is_invisible() -> None:
    store = Conflicting(fail=3)
    assert await Service(store).write(lambda ctx: None) == "done"  # type: ignore[arg-type]
    assert store.writes == 4


def test_busy_is_a_retryable_503_for_routes_and_batch_items() -> None:
    from plait.server.api.http import expected_error

    assert expected_error(StoreBusy("retry")) == (503, "busy", "retry")
    assert expected_error(StoreUnavailable("down"))[:2] == (503, "unavailable")
