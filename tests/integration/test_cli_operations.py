"""``plait workflow pause|unpause|reset|delete`` and ``plait activity pause|unpause|reset`` as a
user runs them: real processes for the CLI, the server and a worker."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.cli_process import (
    ok,
    one_line_error,
    plait,
    server_and_worker,
)
from tests.waiting import NotYet, eventually_sync

pytestmark = pytest.mark.timeout(60)

WORKER = textwrap.dedent('''
    import asyncio
    from datetime import timedelta

    from plait import Client, RetryPolicy, Worker, activity, workflow

    @activity.defn
    async def charge() -> str:
        raise RuntimeError("payment provider says no")

    @workflow.defn
    class Charges:
        @workflow.run
        async def run(self) -> str:
            return await workflow.execute_activity(
                charge, start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(initial_interval=timedelta(minutes=10)))

    async def main() -> None:
        client = await Client.connect()
        async with Worker(client, task_queue="cli-ops", activities=[charge],
                          workflows=[Charges]):
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
''')


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cli-ops")
    with server_and_worker(tmp, WORKER) as addr:
        yield addr



def describe(wid: str, address: str) -> Any:
    return json.loads(ok("workflow", "describe", wid, "--output", "json", address=address))


def start(address: str, queue: str = "cli-ops") -> str:
    wid = f"charges-{uuid.uuid4().hex[:8]}"
    ok("workflow", "start", "Charges", "--id", wid, "--task-queue", queue, address=address)
    return wid


def test_pause_unpause_and_delete_a_workflow(address: str) -> None:
    wid = start(address, queue="nobody-polls")
    assert ok("workflow", "pause", wid, "--reason", "registry down",
              address=address).strip() == f"paused {wid}"
    d = describe(wid, address)
    assert d["paused"] and d["pause_reason"] == "registry down"
    assert "PAUSED: registry down" in ok("workflow", "describe", wid, address=address)
    assert ok("workflow", "unpause", wid, address=address).strip() == f"unpaused {wid}"
    assert not describe(wid, address)["paused"]
    assert ok("workflow", "delete", wid, address=address).strip() == f"deleted {wid}"
    assert "not found" in one_line_error(plait("workflow", "describe", wid, address=address))
    assert "not found" in one_line_error(plait("workflow", "delete", wid, address=address))


def test_pausing_a_closed_workflow_is_one_line_error(address: str) -> None:
    wid = start(address, queue="nobody-polls")
    ok("workflow", "terminate", wid, address=address)
    for command in ("pause", "unpause"):
        assert "not running" in one_line_error(plait("workflow", command, wid,
                                                     address=address))


def test_reset_a_workflow(address: str) -> None:
    wid = start(address)
    first = describe(wid, address)["run_id"]
    out = ok("workflow", "reset", wid, "--to", "last", "--reason", "provider fixed",
             address=address).strip()
    assert out.startswith(f"reset {wid}: new run ")
    second = out.rsplit(" ", 1)[-1]
    d = describe(wid, address)
    assert d["run_id"] == second and d["reset_from_run_id"] == first
    assert d["reset_reason"] == "provider fixed"
    old = json.loads(ok("workflow", "describe", wid, "--run-id", first, "--output", "json",
                        address=address))
    assert old["status"] == "TERMINATED" and old["reset_to_run_id"] == second
    # In the first run, event 4 is the first WORKFLOW_TASK_COMPLETED and 5 the activity it
    # scheduled (in the second, 4 is the reset's failed task). Resetting the first run again
    # terminates the second, which is running.
    third = ok("workflow", "reset", wid, "--event-id", "4", "--no-reapply-signals",
               "--run-id", first, address=address).strip().rsplit(" ", 1)[-1]
    d = describe(wid, address)
    assert d["run_id"] == third and d["reset_from_run_id"] == first
    assert f"{first} at event 4" in ok("workflow", "describe", wid, address=address)
    assert json.loads(ok("workflow", "describe", wid, "--run-id", second, "--output", "json",
                         address=address))["status"] == "TERMINATED"
    assert "ACTIVITY_TASK_SCHEDULED" in one_line_error(
        plait("workflow", "reset", wid, "--event-id", "5", "--run-id", first,
              address=address))
    for args in ([], ["--event-id", "4", "--to", "first"]):
        assert "--event-id N or as --to first|last" in one_line_error(
            plait("workflow", "reset", wid, *args, address=address))
    ok("workflow", "delete", wid, address=address)


def test_pause_unpause_reset_an_activity(address: str) -> None:
    wid = start(address)

    def backing_off() -> dict[str, Any] | NotYet:
        pending = describe(wid, address)["pending_activities"]
        return pending[0] if pending and pending[0]["state"] == "backing_off" \
            else NotYet(pending)
    aid = eventually_sync(backing_off, what="charge backing off", timeout=20.0)["activity_id"]
    assert "paused activity" in ok("activity", "pause", wid, aid, address=address)
    [pending] = describe(wid, address)["pending_activities"]
    assert pending["paused"] and pending["attempt"] == 2
    assert "(paused)" in ok("workflow", "describe", wid, address=address)
    assert "unpaused activity" in ok("activity", "unpause", wid, aid, address=address)
    assert not describe(wid, address)["pending_activities"][0]["paused"]
    # Reset: a new attempt now, counted as the first (it fails again: the downstream is
    # still down, so the count is back at 2 and the next try ten minutes away).
    assert "reset activity" in ok("activity", "reset", wid, aid, address=address)

    def retried() -> Any:
        d = describe(wid, address)
        return d if len(d["attempts"]) == 2 and d["pending_activities"][0]["state"] \
            == "backing_off" else NotYet(d["attempts"])
    d = eventually_sync(retried, what="a second attempt after the reset", timeout=20.0)
    assert d["pending_activities"][0]["attempt"] == 2
    ok("workflow", "delete", wid, address=address)


def test_activity_commands_on_an_unknown_activity(address: str) -> None:
    wid = start(address, queue="nobody-polls")
    for command in ("pause", "unpause", "reset"):
        error = one_line_error(plait("activity", command, wid, "nope", address=address))
        assert "no pending activity 'nope'" in error
