"""``python -m bench.statecost N``: the server's state changes of N three-activity workflows,
in process on SQLite (no HTTP, no worker), for instruction counts that do not depend on how
busy the machine is:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.statecost 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.statecost 120

(instructions per workflow = the difference / 120). It calls the functions the HTTP routes
call: start, claim the workflow task, complete it with a schedule_activity (the activity
handed back eagerly), complete the activity (the next workflow task handed back), three
times, then complete the workflow.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from typing import Any

from plait.protocol.commands import CompleteWorkflowCommand, ScheduleActivityCommand
from plait.protocol.completions import CompleteActivityTaskRequest, CompleteWorkflowTaskRequest
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.server import dispatch, lifecycle, results, sessions, steps
from plait.server.service import Service
from plait.store.sqlite import SQLiteStore

NS, QUEUE = "default", "q"


def _payload(value: Any) -> dict[str, Any]:
    return {"encoding": "json", "data": value}


async def run(n: int) -> float:
    """CPU milliseconds per workflow."""
    store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "p.db"))
    svc = Service(store)
    opened = await svc.write(lambda ctx: sessions.open_session(ctx, NS, OpenSessionRequest(
        task_queue=QUEUE, workflow_types=["W"], activity_types=["a"]), 30.0))
    sid = opened.session_id
    began = time.process_time()
    for i in range(n):
        await _one(svc, sid, f"w{i}")
    await store.close()
    return 1000 * (time.process_time() - began) / max(n, 1)


async def _one(svc: Service, sid: str, wid: str) -> None:
    await svc.write(lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="W", task_queue=QUEUE, input=[_payload(1)])))
    [wt] = await svc.write(lambda ctx: dispatch.claim(ctx, NS, QUEUE, "workflow", sid, 10))
    for step in range(3):
        command = ScheduleActivityCommand(activity_id=str(step), activity_type="a",
                                          start_to_close_timeout=5, input=[_payload(step)])
        out = await svc.write(lambda ctx, c=command, t=wt: steps.complete_workflow_task(
            ctx, CompleteWorkflowTaskRequest(token=t.token, commands=[c],
                                             eager_activities=1)))
        [act] = out["activity_tasks"]
        out = await svc.write(lambda ctx, a=act, s=step: results.complete_activity(
            ctx, CompleteActivityTaskRequest(token=a.token, result=_payload(s),
                                             eager_workflow=True)))
        wt = out["workflow_task"]
    done = CompleteWorkflowCommand(result=_payload(3))
    await svc.write(lambda ctx, t=wt: steps.complete_workflow_task(
        ctx, CompleteWorkflowTaskRequest(token=t.token, commands=[done])))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"{asyncio.run(run(count)):.3f} ms of CPU per workflow ({count} workflows)")
