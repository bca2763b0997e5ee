"""The worker's CPU per task on W1's hot path, in process: a poll response decoded, the task
run, its completion encoded and sent, through the real ``Api``, ``Completions``,
``WorkflowTasks`` and ``ActivityRunner`` over a ``MockTransport`` (no server, no HTTP).

    python -m bench.worker_tasks workflow [ROUNDS]   # W1 workflow tasks: first + sticky
    python -m bench.worker_tasks activity [ROUNDS]   # W1's noop activity tasks

It prints the best of 5 repetitions in CPU microseconds per task. On a busy machine compare
instruction counts instead, which are free of noise: run under ``valgrind --tool=callgrind``
with ROUNDS 1 and 4 and divide the difference of the totals by the tasks in between
(3 x 5 x 128 workflow tasks, 3 x 5 x 64 activity tasks).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bench.workloads import ThreeSteps, noop
from plait._api import Api
from plait._worker.activities import ActivityRunner
from plait._worker.completions import Completions
from plait._worker.lease import Lease
from plait._worker.slots import Slots
from plait._worker.workflows import WorkflowTasks
from plait.protocol.transport import MockTransport, Request, Response
from plait.runtime.definitions import activity_defn_of, workflow_defn_of

N = 64
"""Tasks per poll response."""
TS = "2026-01-01T00:00:00.123456Z"


def _rid(i: int) -> str:
    return f"0190a0b2-6c1d-7e3f-8a4b-{i:012d}"


def _head(i: int, prev: int, started: int) -> dict[str, Any]:
    return {"kind": "workflow", "token": f"{i}.1", "namespace": "default",
            "workflow_id": f"w1-{i}", "run_id": _rid(i), "workflow_type": "ThreeSteps",
            "task_queue": "bench", "attempt": 1, "previous_upto": prev,
            "started_event_id": started, "started_time": 1767225600.5, "updates": []}


def _first(i: int) -> dict[str, Any]:
    """A new run's first task: the instance is made and the history replayed."""
    return {**_head(i, 0, 3), "events": [
        {"event_id": 1, "event_type": "WORKFLOW_EXECUTION_STARTED", "timestamp": TS,
         "attributes": {"workflow_type": "ThreeSteps", "task_queue": "bench",
                        "input": [{"encoding": "json", "data": i}], "header": {},
                        "attempt": 1, "first_run_id": _rid(i), "identity": "client"}},
        {"event_id": 2, "event_type": "WORKFLOW_TASK_SCHEDULED", "timestamp": TS,
         "attributes": {"task_queue": "bench", "attempt": 1}}]}


def _sticky(i: int) -> dict[str, Any]:
    """The next task of a cached run: only the new events (an activity's result)."""
    return {**_head(i, 5, 9), "events": [
        {"event_id": 6, "event_type": "ACTIVITY_TASK_STARTED", "timestamp": TS,
         "attributes": {"activity_id": "1", "scheduled_event_id": 5, "attempt": 1,
                        "identity": "worker"}},
        {"event_id": 7, "event_type": "ACTIVITY_TASK_COMPLETED", "timestamp": TS,
         "attributes": {"activity_id": "1", "scheduled_event_id": 5, "activity_type": "noop",
                        "attempt": 1, "result": {"encoding": "json", "data": i + 1}}},
        {"event_id": 8, "event_type": "WORKFLOW_TASK_SCHEDULED", "timestamp": TS,
         "attributes": {"task_queue": "bench", "attempt": 1}}]}


def _activity(i: int) -> dict[str, Any]:
    return {"kind": "activity", "token": f"{i}.1", "namespace": "default",
            "workflow_id": f"w1-{i}", "run_id": _rid(i), "workflow_type": "ThreeSteps",
            "activity_id": "1", "activity_type": "noop", "task_queue": "bench", "attempt": 1,
            "input": [{"encoding": "json", "data": i}], "header": {},
            "scheduled_time": 1767225600.5, "started_time": 1767225600.6,
            "start_to_close_timeout": 60.0, "heartbeat_timeout": None, "deadline": None,
            "heartbeat_details": []}


class _Server:
    """Answers polls with recorded bodies, in turn, and completions as the server would."""

    def __init__(self, polls: list[bytes], answers: list[dict[str, Any]]) -> None:
        self.polls, self.answers, self.n = polls, answers, 0

    def __call__(self, request: Request) -> Response:
        if request.path.endswith("/poll"):
            self.n += 1
            return Response(200, self.polls[(self.n - 1) % len(self.polls)])
        items = len(request.json()["completions"])
        answer = self.answers[(self.n - 1) % len(self.answers)]
        return Response.of({"results": [{"result": answer}] * items})


def _tasks(api: Api, held: set[str], lease: Lease) -> WorkflowTasks:
    return WorkflowTasks({"ThreeSteps": workflow_defn_of(ThreeSteps)}, 100_000, api=api,
                         completions=Completions(api), held=held, task_queue="bench",
                         identity="bench", own_activities=frozenset({"noop"}),
                         activity_slots=Slots(10), eager=lambda: False,
                         start_activity=lambda t, s: None, lease=lease)


async def _measure(label: str, per_round: int, rounds: int, one_round: Any) -> None:
    for _ in range(5):
        await one_round()
    runs = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(rounds):
            await one_round()
        runs.append((time.process_time() - t0) / (rounds * per_round) * 1e6)
    print(f"{label}: best {min(runs):.1f} us CPU per task, all {[round(r, 1) for r in runs]}")


async def workflow_tasks(rounds: int) -> None:
    polls = [json.dumps({"tasks": [make(i) for i in range(N)]}).encode()
             for make in (_first, _sticky)]
    api = Api(MockTransport(_Server(polls, [{"upto": 5}, {"upto": 11}])))
    held: set[str] = set()
    wt = _tasks(api, held, Lease(api, held))

    async def one_round() -> None:
        for _ in range(2):
            tasks = await api.poll("bench", session_id="s", kind="workflow", max_tasks=N,
                                   wait=0)
            await asyncio.gather(*(wt._process(t) for t in tasks))  # type: ignore[arg-type]
        wt.evict_all()
    await _measure("W1 workflow task (first + sticky)", 2 * N, rounds, one_round)


async def activity_tasks(rounds: int) -> None:
    poll = json.dumps({"tasks": [_activity(i) for i in range(N)]}).encode()
    api = Api(MockTransport(_Server([poll], [{"recorded": True}])))
    held: set[str] = set()
    lease = Lease(api, held)
    lease.opened("s", 1e9, time.monotonic())
    wt = _tasks(api, held, lease)
    runner = ActivityRunner({"noop": activity_defn_of(noop)}, 2, api=api,
                            completions=wt.completions, held=held, task_queue="bench",
                            workflow_tasks=wt, workflow_slots=Slots(10),
                            eager_workflows=lambda: False,
                            start_workflow_task=lambda t: None, lease=lease)

    async def one_round() -> None:
        tasks = await api.poll("bench", session_id="s", kind="activity", max_tasks=N, wait=0)
        stamp = lease.stamp()
        await asyncio.gather(*(runner.run(t, stamp) for t in tasks))  # type: ignore[arg-type]
    try:
        await _measure("W1 activity task", N, rounds, one_round)
    finally:
        runner.close()


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "workflow"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    asyncio.run((workflow_tasks if which == "workflow" else activity_tasks)(count))
