"""DBOS: the benchmark's workflows and the driver (dbos venv).

    python -m bench.peers.dbos_app drive --db sqlite:///FILE --workload W1 --n 1000
    python -m bench.peers.dbos_app drive --db postgresql://USER@HOST/DB --workload W1 --n 1000

DBOS is a library, not a server: workflows run inside the application process and record
their steps in the system database (SQLite file or PostgreSQL). So the "server" and the
"worker" are this one process, and the driver starts workflows the way a DBOS application
does, with ``DBOS.start_workflow_async`` under ``SetWorkflowID`` and then
``handle.get_result()`` (DBOS's documented way; a separate ``DBOSClient`` process would go
through a database-backed queue, which the application polls about once a second). Steps are
``@DBOS.step()`` coroutines, timers ``DBOS.sleep_async`` (durable).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from dbos import DBOS, SetWorkflowID

from bench.peers import driver


@DBOS.step()
async def noop(x: int) -> int:
    return x + 1


@DBOS.workflow()
async def three_steps(n: int) -> int:
    for _ in range(3):
        n = await noop(n)
    return n


@DBOS.workflow()
async def one_step(n: int) -> int:
    return await noop(n)


@DBOS.workflow()
async def fan_out(width: int) -> int:
    results = await asyncio.gather(*[noop(i) for i in range(width)])
    return sum(results)


@DBOS.workflow()
async def sleeper(n: int) -> int:
    await DBOS.sleep_async(1)
    return n


WORKFLOWS = {"ThreeSteps": three_steps, "OneStep": one_step, "FanOut": fan_out,
             "Sleeper": sleeper}


async def run_driver(args: argparse.Namespace) -> None:
    DBOS(config={"name": "plait-bench", "system_database_url": args.db,
                 "log_level": "WARNING"})
    DBOS.launch()

    async def call(kind: str, arg: int, wid: str, started: Callable[[], None]) -> int:
        with SetWorkflowID(wid):
            handle = await DBOS.start_workflow_async(WORKFLOWS[kind], arg)
        started()
        return await handle.get_result()

    try:
        await driver.serve(call, args)
    finally:
        DBOS.destroy()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.peers.dbos_app")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--db", required=True, help="system database URL")
    driver.add_arguments(d)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run_driver(args))


if __name__ == "__main__":
    main()
