"""plait workflows and activities of R, W5 and W7 (the worker side; the bench worker registers
them next to W1-W4's).

- ``Recovery`` (R): 10 sequential activities of 0.3 s. Each activity appends a ``start`` and an
  ``end`` line (index, pid, wall time) to a log file, so the harness can tell from outside which
  process runs which step, when to kill it, and how many completed steps ran again.
- ``LongChain`` (W5): ``n`` sequential activities, each returning its wall-clock time; the
  workflow returns them all, so the per-step time at the start and the end of a long history
  comes from the workflow's own result (and is checked: ``n`` increasing stamps).
- ``IdleOnSignal`` (W7): waits for one signal and returns its argument plus its own input, so
  a signal that went to the wrong workflow, or was lost, is a wrong result.
"""

from __future__ import annotations

import time
from datetime import timedelta

from bench.peers import driver
from plait import activity, workflow

R_STEPS = driver.R_STEPS
TIMEOUT = timedelta(seconds=60)  # a realistic start_to_close: recovery must not wait for it


@activity.defn
async def slow_step(log: str, i: int) -> int:
    """R: a step that takes 0.3 s and says when it starts and ends (``driver.slow_step``)."""
    return await driver.slow_step(log, i)


@activity.defn
async def stamp(i: int) -> float:
    """W5: the wall-clock time at which step ``i`` ran."""
    return time.time()


@workflow.defn
class Recovery:
    """R: ten sequential 0.3 s steps; returns 1 + 2 + ... + 10."""

    @workflow.run
    async def run(self, log: str) -> int:
        total = 0
        for i in range(1, R_STEPS + 1):
            total += await workflow.execute_activity(slow_step, log, i,
                                                     start_to_close_timeout=TIMEOUT)
        return total


@workflow.defn
class LongChain:
    """W5: ``n`` sequential activities in one history."""

    @workflow.run
    async def run(self, n: int) -> list[float]:
        out: list[float] = []
        for i in range(n):
            out.append(await workflow.execute_activity(stamp, i,
                                                       start_to_close_timeout=TIMEOUT))
        return out


@workflow.defn
class IdleOnSignal:
    """W7: idle until signalled; returns the signal's value plus ``n``."""

    def __init__(self) -> None:
        self.value: int | None = None

    @workflow.signal
    def wake(self, value: int) -> None:
        self.value = value

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.wait_condition(lambda: self.value is not None)
        assert self.value is not None
        return self.value + n


WORKFLOWS = [Recovery, LongChain, IdleOnSignal]
ACTIVITIES = [slow_step, stamp]
