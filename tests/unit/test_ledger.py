"""The server's memory of worker sessions changes only after a commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from plait.server.effects import Effects
from plait.server.ledger import SessionLedger
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.sessions import SessionInfo


class Store:
    """Runs each change on no database; a change that raises is a rolled-back transaction."""

    shared = False

    def sees_every_commit(self) -> bool:
        return True

    async def write(self, fn: Callable[[Any], Any], *, task: int | None = None) -> Any:
        return fn(None)


def test_an_idle_session_holds_nothing_until_a_task_is_leased() -> None:
    ledger = SessionLedger()
    assert not ledger.holds_nothing("s")  # never reconciled: check it
    ledger.apply(Effects(checked={"s": 0}))
    assert ledger.holds_nothing("s")
    leased = Effects()
    leased.leased("s")
    ledger.apply(leased)
    assert not ledger.holds_nothing("s") and ledger.dispatched("s") == 1
    ledger.apply(Effects(checked={"s": 1}))
    assert ledger.holds_nothing("s")
    ledger.apply(Effects(forgotten={"s"}))
    assert not ledger.holds_nothing("s") and ledger.dispatched("s") == 0


def test_a_count_taken_before_a_later_lease_is_not_mistaken_for_idle() -> None:
    """A reconciliation that read the count before another transaction leased a task must not
    mark the session idle, whatever order the two are applied in."""
    ledger = SessionLedger()
    lease = Effects()
    lease.leased("s")
    ledger.apply(lease)
    ledger.apply(Effects(checked={"s": 0}))  # read before the lease committed
    assert not ledger.holds_nothing("s")


async def test_a_rolled_back_change_leaves_no_trace() -> None:
    service = Service(Store())  # type: ignore[arg-type]

    def lease_then_fail(ctx: Ctx) -> None:
        ctx.effects.leased("s")
        ctx.effects.session_infos["s"] = SessionInfo(task_queue="q", identity="me")
        raise RuntimeError("the transaction fails")
    with pytest.raises(RuntimeError):
        await service.write(lease_then_fail)
    assert service.ledger.dispatched("s") == 0 and service.ledger.info("s") is None

    await service.write(lambda ctx: ctx.effects.leased("s"))
    assert service.ledger.dispatched("s") == 1
