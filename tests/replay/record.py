"""Record the histories of ``histories/`` from real runs: ``python -m tests.replay.record``.

Each scenario runs workflows of :mod:`tests.replay.workflows` on an in-process server and
worker, drives them from outside where a history needs it (signals, updates, a terminate, a
worker that loses a task), and saves the runs it names. Worker identities (host and process)
and the directories in stack traces are replaced, so that the files name no machine. The
histories that must fail replay are derived from recorded ones by one edit each
(:data:`DIVERGED`).

Run it after a change to those workflows or to what the server records; ``test_replay`` then
checks the new files (and that together they still make every event type).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sysconfig
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from plait import Client, History, Worker
from plait.errors import UpdateFailedError, WorkflowFailureError, WorkflowNotFoundError
from plait.testing import WorkflowEnvironment
from tests.replay import workflows as w

HISTORIES = Path(__file__).with_name("histories")
REPO = Path(__file__).resolve().parents[2]
PLACES = {f"{REPO}/": "", sysconfig.get_paths()["purelib"]: "<site-packages>",
          sysconfig.get_paths()["stdlib"]: "<stdlib>"}
"""Where this machine keeps things, as stack traces name them: replaced in what is saved."""
QUEUE = "replay"
LOST_QUEUE = "replay-lost-task"
EARLY_QUEUE = "replay-early-cancel"
"""Its own queue: the worker there starts only after a ghost has lost the first task."""

Edit = Callable[[dict[str, Any]], None]


async def save(client: Client, name: str, workflow_id: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    data = history.to_dict()
    for event in data["events"]:
        if "identity" in event["attributes"]:
            event["attributes"]["identity"] = "recorder"
    text = History.from_dict(data).to_json()
    for place, name_of_place in PLACES.items():
        text = text.replace(place, name_of_place)
    (HISTORIES / name).write_text(text)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"gave up waiting: {what}")


async def has_event(client: Client, workflow_id: str, event_type: str, count: int = 1) -> bool:
    try:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
    except WorkflowNotFoundError:
        return False
    return [e.event_type for e in history.events].count(event_type) >= count


# -- scenarios -----------------------------------------------------------------------------
async def onboarding(client: Client) -> None:
    await client.execute_workflow(w.Onboarding.run, "acme", ["+1555", "+1666"],
                                  id="onboarding-1", task_queue=QUEUE)
    await save(client, "onboarding.json", "onboarding-1")


async def activity_outcomes(client: Client) -> None:
    await client.execute_workflow(w.ActivityOutcomes.run, id="activity-outcomes-1",
                                  task_queue=QUEUE)
    await save(client, "activity_outcomes.json", "activity-outcomes-1")


async def approval(client: Client) -> None:
    handle = await client.start_workflow(w.Approval.run, id="approval-1", task_queue=QUEUE)
    # The second timer (the wait's timeout) is out: the signals then cancel it.
    await until(lambda: has_event(client, "approval-1", "TIMER_STARTED", 2), "second timer")
    await handle.signal(w.Approval.approve, "ada")
    await handle.signal(w.Approval.approve, "bo")
    await handle.result()
    await save(client, "signals_and_timers.json", "approval-1")


async def counter(client: Client) -> None:
    handle = await client.start_workflow(w.Counter.run, id="counter-1", task_queue=QUEUE)
    await handle.execute_update(w.Counter.add, 2, id="add-2")
    with contextlib.suppress(UpdateFailedError):  # rejected by the validator: no event
        await handle.execute_update(w.Counter.add, -1, id="add-minus-1")
    await handle.execute_update(w.Counter.add, 3, id="add-3")
    await handle.signal(w.Counter.close)
    await handle.result()
    await save(client, "updates.json", "counter-1")


async def family(client: Client) -> None:
    handle = await client.start_workflow(w.Family.run, id="family-1", task_queue=QUEUE)
    await until(lambda: has_event(client, "family-1-terminated",
                                  "WORKFLOW_EXECUTION_SIGNALED"), "the poked child")
    await client.get_workflow_handle("family-1-terminated").terminate(reason="by the recorder")
    await handle.result()
    await save(client, "family.json", "family-1")
    for outcome in ("failed", "timed_out", "canceled", "terminated"):
        await save(client, f"child_{outcome}.json", f"family-1-{outcome}")


async def rollover(client: Client) -> None:
    handle = await client.start_workflow(w.Rollover.run, 1, id="rollover-1", task_queue=QUEUE)
    await handle.result()
    await save(client, "continued_as_new.json", "rollover-1", run_id=handle.run_id)


async def versioned(client: Client) -> None:
    await client.execute_workflow(w.Versioned.run, "c-42", id="versioned-1", task_queue=QUEUE)
    await save(client, "patches_and_search_attributes.json", "versioned-1")


async def local_steps(client: Client) -> None:
    await client.execute_workflow(w.LocalSteps.run, "acme", id="local-steps-1",
                                  task_queue=QUEUE)
    await save(client, "local_activities.json", "local-steps-1")


async def task_failed(client: Client) -> None:
    """The first workflow task fails on a bug; its retry succeeds."""
    w.FAIL_NEXT_TASK["armed"] = True
    await client.execute_workflow(w.Recovers.run, id="recovers-1", task_queue=QUEUE)
    await save(client, "task_failed.json", "recovers-1")


async def task_timed_out(env: WorkflowEnvironment) -> None:
    """A worker claims the first task and never answers: the task times out, and a worker
    that starts afterwards runs it. (Only the first failure of a series is recorded, so
    this is a history of its own.)"""
    client = env.client
    await client.start_workflow(w.Recovers.run, id="recovers-2", task_queue=LOST_QUEUE)
    ns = f"{env.address}/api/v1/namespaces/default"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{ns}/sessions", json={"task_queue": LOST_QUEUE,
                                                     "identity": "ghost"}) as r:
            session = (await r.json())["session_id"]
        async with http.post(f"{ns}/task-queues/{LOST_QUEUE}/poll", json={
                "session_id": session, "kind": "workflow", "wait": 5}) as r:
            assert len((await r.json())["tasks"]) == 1

        async def lost() -> bool:  # heartbeats that do not list the task: it was lost
            async with http.post(f"{env.address}/api/v1/sessions/{session}/heartbeat",
                                 json={"held": []}):
                pass
            return await has_event(client, "recovers-2", "WORKFLOW_TASK_TIMED_OUT")

        await until(lost, "the lost task to time out")
    async with Worker(client, task_queue=LOST_QUEUE, workflows=[w.Recovers],
                      activities=[w.register]):
        await client.get_workflow_handle("recovers-2").result()
    await save(client, "task_timed_out.json", "recovers-2")


async def cancelled_before_first_task(env: WorkflowEnvironment) -> None:
    """Cancelled before any worker ran its first task: its code runs to its first await,
    receives the cancel there and compensates. (``cancelled_before_first_task_legacy.json``
    is the same scenario recorded before December 2026, when such a run closed CANCELED
    without running its code; it cannot be recorded again, and is kept to replay.)"""
    client = env.client
    handle = await client.start_workflow(w.Compensates.run, id="compensates-1",
                                         task_queue=EARLY_QUEUE)
    await handle.cancel()
    async with Worker(client, task_queue=EARLY_QUEUE, workflows=[w.Compensates],
                      activities=[w.register]):
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()
    await save(client, "cancelled_before_first_task.json", "compensates-1")


# -- histories that must fail replay -----------------------------------------------------------
def first(data: dict[str, Any], event_type: str) -> dict[str, Any]:
    return next(e for e in data["events"] if e["event_type"] == event_type)


def activity_became_timer(data: dict[str, Any]) -> None:
    """The first command event's type differs: a timer where the code schedules an activity."""
    event = first(data, "ACTIVITY_TASK_SCHEDULED")
    event["event_type"] = "TIMER_STARTED"
    event["attributes"] = {"timer_id": event["attributes"]["activity_id"], "duration": 5.0}


def child_of_another_type(data: dict[str, Any]) -> None:
    first(data, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")["attributes"][
        "workflow_type"] = "Stepchild"


def local_activity_of_another_type(data: dict[str, Any]) -> None:
    """The run recorded another local activity where the code runs ``register``."""
    details = next(e for e in data["events"] if e["event_type"] == "MARKER_RECORDED"
                   and e["attributes"]["marker_name"] == "local_activity")["attributes"]["details"]
    details["activity_type"] = "lookup"


def patch_renamed(data: dict[str, Any]) -> None:
    """The run recorded another patch: this code takes its old branch, a timer."""
    first(data, "MARKER_RECORDED")["attributes"]["details"]["patch_id"] = "greet-v3"


DIVERGED: dict[str, tuple[str, Edit]] = {
    "diverged_activity_became_timer.json": ("onboarding.json", activity_became_timer),
    "diverged_child_type.json": ("family.json", child_of_another_type),
    "diverged_patch.json": ("patches_and_search_attributes.json", patch_renamed),
    "diverged_local_activity.json": ("local_activities.json", local_activity_of_another_type),
}


def derive_diverged() -> None:
    for name, (source, edit) in DIVERGED.items():
        data = json.loads((HISTORIES / source).read_text())
        edit(data)
        (HISTORIES / name).write_text(History.from_dict(data).to_json())


async def main() -> None:
    async with WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue=QUEUE,
                          workflows=[w.Onboarding, w.ActivityOutcomes, w.Approval, w.Counter,
                                     w.Child, w.Family, w.Rollover, w.Versioned, w.Recovers,
                                     w.LocalSteps],
                          activities=[w.register, w.flaky_once, w.refuse, w.stall]):
            for scenario in (onboarding, activity_outcomes, approval, counter, family,
                             rollover, versioned, task_failed, local_steps):
                await scenario(env.client)
        await task_timed_out(env)
        await cancelled_before_first_task(env)
    derive_diverged()


if __name__ == "__main__":
    asyncio.run(main())
