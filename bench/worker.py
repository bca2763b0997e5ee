"""The benchmark's worker process: ``python -m bench.worker --address URL --task-queue Q``.

Prints ``READY`` on stdout once its session is open, runs until SIGTERM/SIGINT, then shuts
down gracefully. Logs (warnings and errors) go to stderr, which the harness keeps and scans.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bench import longrun
from bench.workloads import ACTIVITIES, WORKFLOWS
from plait import Client, Worker


async def main(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address)
    workflows = [*WORKFLOWS, *longrun.WORKFLOWS]
    activities = [*ACTIVITIES, *longrun.ACTIVITIES]
    if args.defaults:  # what a user who tunes nothing runs (bench.defaults)
        worker = Worker(client, task_queue=args.task_queue, workflows=workflows,
                        activities=activities)
    else:
        worker = Worker(client, task_queue=args.task_queue, workflows=workflows,
                        activities=activities,
                        max_concurrent_activities=args.max_concurrent_activities,
                        max_concurrent_workflow_tasks=args.max_concurrent_workflow_tasks,
                        max_cached_workflows=args.max_cached_workflows)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("READY", flush=True)
        await stop.wait()
    await client.close()


def run() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("--address", required=True)
    p.add_argument("--task-queue", required=True)
    p.add_argument("--max-concurrent-activities", type=int, default=300)
    p.add_argument("--max-concurrent-workflow-tasks", type=int, default=300)
    p.add_argument("--max-cached-workflows", type=int, default=10_000,
                   help="plait's default; W7 needs every idle workflow cached")
    p.add_argument("--defaults", action="store_true",
                   help="construct the Worker as a user who tunes nothing would: no slot or "
                        "cache arguments at all (the three options above are ignored)")
    p.add_argument("--log-level", default="warning")
    args = p.parse_args()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    run()
