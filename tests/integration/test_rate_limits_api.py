"""Rate limits through the client: starts are spaced, waits show in describe(), keys split."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import RPCError
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

started: list[tuple[str, float]] = []


@activity.defn(name="send-sms")
async def send_sms(key: str) -> None:
    started.append((key, time.monotonic()))


@workflow.defn
class Blast:
    @workflow.run
    async def run(self, keys: list[str]) -> int:
        await asyncio.gather(*(workflow.execute_activity(
            send_sms, k, rate_limit_key=k, start_to_close_timeout=timedelta(seconds=30))
            for k in keys))
        return len(keys)


async def test_limit_spaces_starts_and_shows_in_describe(env: WorkflowEnvironment,
                                                         queue: str) -> None:
    started.clear()
    await env.client.set_rate_limit(queue, "send-sms", per_second=5, burst=1)
    assert await env.client.list_rate_limits() == [{
        "task_queue": queue, "activity_type": "send-sms", "per_second": 5.0, "burst": 1.0,
        "per_key": False}]
    async with Worker(env.client, task_queue=queue, workflows=[Blast], activities=[send_sms]):
        h = await env.client.start_workflow(Blast.run, ["a"] * 6, id="blast", task_queue=queue)
        seen_waiting = False

        async def completed_noting_waits() -> bool | NotYet:
            nonlocal seen_waiting
            desc = await h.describe()
            seen_waiting |= any(p.state == "waiting_for_rate_limit"
                                for p in desc.pending_activities)
            return desc.status == "COMPLETED" or NotYet(desc.status)

        await eventually(completed_noting_waits, interval=0.05, what="blast completed")
        assert await h.result() == 6
    times = sorted(t for _, t in started)
    assert times[-1] - times[0] >= 0.8  # 6 starts at 5/s with a burst of 1: about 1 s
    assert seen_waiting
    await env.client.delete_rate_limit(queue, "send-sms")
    assert await env.client.list_rate_limits() == []


async def test_per_key_buckets_do_not_block_each_other(env: WorkflowEnvironment,
                                                       queue: str) -> None:
    started.clear()
    await env.client.set_rate_limit(queue, per_second=1, burst=1, per_key=True)
    async with Worker(env.client, task_queue=queue, workflows=[Blast], activities=[send_sms]):
        t0 = time.monotonic()
        assert await env.client.execute_workflow(Blast.run, ["k1", "k2", "k3", "k4"],
                                                 id="keys", task_queue=queue) == 4
        assert time.monotonic() - t0 < 0.9  # one token each: nobody waited a second


async def test_bad_limits(env: WorkflowEnvironment, queue: str) -> None:
    with pytest.raises(RPCError) as info:
        await env.client.set_rate_limit(queue, per_second=0)
    assert info.value.status == 400
    with pytest.raises(RPCError) as info:
        await env.client.delete_rate_limit("no-such-queue")
    assert info.value.code == "rate_limit_not_found"


def test_ratelimit_cli(env_address: str) -> None:
    """plait ratelimit set/list/delete against a real server."""
    import json
    import subprocess
    import sys

    def plait(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "plait", *args, "--address", env_address],
                              capture_output=True, text=True, timeout=30)

    out = plait("ratelimit", "set", "sms", "--activity-type", "send-sms", "--per-second", "2")
    assert out.returncode == 0 and "2/s" in out.stdout, out.stderr
    listed = plait("ratelimit", "list", "--output", "json")
    assert json.loads(listed.stdout)[0]["activity_type"] == "send-sms"
    assert plait("ratelimit", "delete", "sms", "--activity-type", "send-sms").returncode == 0
    gone = plait("ratelimit", "delete", "sms", "--activity-type", "send-sms")
    assert gone.returncode != 0 and gone.stderr.startswith("error:")
    assert plait("ratelimit", "set", "sms", "--per-second", "-1").returncode != 0


@pytest.fixture
def env_address(tmp_path: object) -> object:
    """A server in a thread of its own, for a test that shells out to the CLI."""
    import threading

    ready = threading.Event()
    box: dict[str, object] = {}

    def serve() -> None:
        async def main() -> None:
            async with WorkflowEnvironment.start_local() as env:
                box["address"] = env.address
                box["stop"] = asyncio.Event()
                ready.set()
                await box["stop"].wait()  # type: ignore[attr-defined]
        box["loop"] = asyncio.new_event_loop()
        box["loop"].run_until_complete(main())  # type: ignore[attr-defined]

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ready.wait(20)
    yield box["address"]
    box["loop"].call_soon_threadsafe(box["stop"].set)  # type: ignore[attr-defined]
    t.join(10)
