"""Metric facts are counted once their transaction commits, and never when it rolls back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from plait.server.observed import AttemptEnded, RunClosed, RunStarted
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.base import ConflictError


class Store:
    """Runs each change on no database; a change that raises is a rolled-back transaction.
    ``conflicts``: how many first tries fail as if another server changed the run first."""

    shared = False

    def __init__(self, conflicts: int = 0) -> None:
        self.conflicts = conflicts

    async def write(self, fn: Callable[[Any], Any]) -> Any:
        result = fn(None)
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError("changed concurrently")
        return result


def started(ns: str) -> float:
    return REGISTRY.get_sample_value("plait_workflows_started_total",
                                     {"namespace": ns, "workflow_type": "W"}) or 0.0


async def test_a_rolled_back_transaction_counts_nothing() -> None:
    service = Service(Store())  # type: ignore[arg-type]

    def start_then_fail(ctx: Ctx) -> None:
        ctx.effects.observe(RunStarted("rolled-back", "W"))
        ctx.effects.observe(RunClosed("rolled-back", "W", "COMPLETED", 1.0))
        raise RuntimeError("the transaction fails")
    with pytest.raises(RuntimeError):
        await service.write(start_then_fail)
    assert started("rolled-back") == 0
    assert REGISTRY.get_sample_value("plait_workflows_closed_total", {
        "namespace": "rolled-back", "workflow_type": "W", "status": "COMPLETED"}) is None


async def test_a_transaction_run_again_after_a_conflict_counts_once() -> None:
    service = Service(Store(conflicts=2))  # type: ignore[arg-type]
    before = REGISTRY.get_sample_value("plait_store_transaction_seconds_count") or 0.0

    def start(ctx: Ctx) -> None:
        ctx.effects.observe(RunStarted("retried-txn", "W"))
        ctx.effects.observe(AttemptEnded("retried-txn", "a", "cancelled", 0.5))
    await service.write(start)
    assert started("retried-txn") == 1
    # The attempt log's spelling ("cancelled") is the metric's "canceled".
    assert REGISTRY.get_sample_value("plait_activity_attempts_total", {
        "namespace": "retried-txn", "activity_type": "a", "outcome": "canceled"}) == 1
    after = REGISTRY.get_sample_value("plait_store_transaction_seconds_count") or 0.0
    assert after - before == 3  # every try is a transaction, committed or not
