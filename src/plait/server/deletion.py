"""Deleting a run: it goes away with everything kept about it.

A running run is terminated first (in the same transaction, so its parent and children hear
of the close as they would of any terminate), then its row, history, attempt log, tasks,
timers, buffered inputs and visibility rows are removed. The workflow id no longer names a
latest run if this was it.
"""

from __future__ import annotations

from plait.protocol.common import RunRef
from plait.server import closing
from plait.server.run import Ctx, Run

__all__ = ["delete"]


def delete(ctx: Ctx, ns: str, wid: str, rid: str | None, reason: str = "deleted") -> RunRef:
    run = Run.load(ctx, ns, wid, rid)
    if run.running:
        closing.terminate_run(run, reason)
        run.save()
    ctx.txn.delete_run(ns, wid, run.rid)
    return RunRef(workflow_id=wid, run_id=run.rid)
