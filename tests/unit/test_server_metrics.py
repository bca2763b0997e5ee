"""Metric facts are counted once their transaction commits, and never when it rolls back;
the gauges read from the database are read at most once a second, and a failed read leaves
the counters served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from plait.server.metrics import ScrapeGauges
from plait.server.observed import AttemptEnded, RunClosed, RunStarted
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.base import ConflictError
from plait.store.gauges import GroupCount


class Store:
    """Runs each change on no database; a change that raises is a rolled-back transaction.
    ``conflicts``: how many first tries fail as if another server changed the run first."""

    shared = False

    def sees_every_commit(self) -> bool:
        return True

    def __init__(self, conflicts: int = 0) -> None:
        self.conflicts = conflicts

    async def write(self, fn: Callable[[Any], Any], *, task: int | None = None) -> Any:
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


class GaugeStore:
    """Answers the gauges' read with one open run; ``fail``: the database is down."""

    def __init__(self) -> None:
        self.reads = 0
        self.fail = False

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        self.reads += 1
        if self.fail:
            raise OSError("database unavailable")
        return fn(self)

    def open_runs_by_type(self) -> list[GroupCount]:
        return [GroupCount("g", ("W",), 1)]

    def backlog_by_queue(self, now: float) -> list[GroupCount]:
        return []

    def live_sessions_by_queue(self, now: float) -> list[GroupCount]:
        return []


def open_runs(gauges: ScrapeGauges) -> float | None:
    return gauges.registry.get_sample_value("plait_workflows_open",
                                            {"namespace": "g", "workflow_type": "W"})


async def test_gauges_are_read_once_per_ttl_and_dropped_when_the_read_fails() -> None:
    store = GaugeStore()
    gauges = ScrapeGauges(store, lambda: 0.0, ttl=60.0)  # type: ignore[arg-type]
    await gauges.refresh()
    await gauges.refresh()
    assert store.reads == 1 and open_runs(gauges) == 1
    failing = ScrapeGauges(store, lambda: 0.0, ttl=0.0)  # type: ignore[arg-type]
    await failing.refresh()
    store.fail = True
    await failing.refresh()  # logged, not raised: /metrics still serves the counters
    assert open_runs(failing) is None
