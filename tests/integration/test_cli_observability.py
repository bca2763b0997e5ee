"""``plait workflow stack`` and ``plait workflow query --as-of-event``, as a user runs them:
real processes for the CLI, the server and a worker."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.cli_process import ok, one_line_error, plait, server_and_worker
from tests.waiting import NotYet, eventually_sync

pytestmark = pytest.mark.timeout(60)

WORKER = textwrap.dedent("""
    import asyncio
    from datetime import timedelta

    from plait import Client, Worker, activity, workflow

    @activity.defn
    async def charge_card(order: str) -> str:
        await asyncio.Event().wait()  # never done: the test looks while it runs
        return order

    @workflow.defn
    class Checkout:
        def __init__(self) -> None:
            self.approved = False

        @workflow.run
        async def run(self, order: str) -> str:
            charging = asyncio.create_task(self.charge(order))
            await self.wait_for_approval()  # waits: run
            return await charging

        async def wait_for_approval(self) -> None:
            await workflow.wait_condition(lambda: self.approved)  # waits: approval

        async def charge(self, order: str) -> str:
            return await workflow.execute_activity(  # waits: charge
                charge_card, order, start_to_close_timeout=timedelta(hours=1))

    @workflow.defn
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        @workflow.run
        async def run(self) -> None:
            await workflow.wait_condition(lambda: False)

        @workflow.signal
        def bump(self, by: int) -> None:
            self.count += by

        @workflow.query
        def value(self) -> int:
            return self.count

    async def main() -> None:
        client = await Client.connect()
        worker = Worker(client, task_queue="observe", activities=[charge_card],
                        workflows=[Checkout, Counter])
        async with worker:
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
""")


def line_of(marker: str) -> int:
    return next(i for i, text in enumerate(WORKER.splitlines(), 1) if f"# waits: {marker}" in text)


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_and_worker(tmp_path_factory.mktemp("observe"), WORKER) as addr:
        yield addr


def events(address: str, wid: str) -> list[str]:
    history = json.loads(ok("workflow", "show", wid, "--output", "json", address=address))
    return [e["event_type"] for e in history["events"]]


def test_workflow_stack_prints_the_waiting_frames(address: str) -> None:
    wid = f"checkout-{uuid.uuid4().hex[:8]}"
    ok(
        "workflow",
        "start",
        "Checkout",
        "--id",
        wid,
        "--task-queue",
        "observe",
        "--input",
        '"o-1"',
        address=address,
    )
    eventually_sync(
        lambda: "ACTIVITY_TASK_SCHEDULED" in events(address, wid) or NotYet(events(address, wid)),
        what="the charge scheduled",
        timeout=20,
    )
    out = ok("workflow", "stack", wid, address=address)
    main, charge = (block.splitlines() for block in out.strip().split("\n\n"))
    assert main[0].endswith(f"worker.py:{line_of('run')} in Checkout.run"), out
    assert main[1].endswith(f"worker.py:{line_of('approval')} in Checkout.wait_for_approval")
    assert charge[0].endswith(f"worker.py:{line_of('charge')} in Checkout.charge"), out
    assert "error" in one_line_error(
        plait("workflow", "stack", "no-such-workflow", address=address)
    )


def wait_tasks(address: str, wid: str, tasks: int) -> None:
    def check() -> bool | NotYet:
        seen = events(address, wid)
        return seen.count("WORKFLOW_TASK_COMPLETED") == tasks or NotYet(seen)

    eventually_sync(check, what=f"{tasks} completed tasks", timeout=20)


def test_workflow_query_as_of_event(address: str) -> None:
    wid = f"counter-{uuid.uuid4().hex[:8]}"
    ok("workflow", "start", "Counter", "--id", wid, "--task-queue", "observe", address=address)
    for tasks, by in enumerate(["5", "7"], start=2):
        ok("workflow", "signal", wid, "bump", "--input", by, address=address)
        wait_tasks(address, wid, tasks)
    types = events(address, wid)
    # 1-4: started, first task; 5: a bump, 6-8: its task; 9: a bump, 10-12: its task.
    assert types[4] == types[8] == "WORKFLOW_EXECUTION_SIGNALED", types

    def value(*extra: str) -> object:
        return json.loads(ok("workflow", "query", wid, "value", *extra, address=address))

    assert value("--as-of-event", "4") == 0
    assert value("--as-of-event", "7") == 0  # the bump's task had not completed yet
    assert value("--as-of-event", "8") == 5
    assert value("--as-of-event", str(len(types))) == 12
    assert value() == 12
    line = one_line_error(
        plait(
            "workflow", "query", wid, "value", "--as-of-event", str(len(types) + 5), address=address
        )
    )
    assert f"has events 1 to {len(types)}" in line
    line = one_line_error(
        plait("workflow", "query", wid, "value", "--as-of-event", "2", address=address)
    )
    assert "had not completed a workflow task by event 2" in line
