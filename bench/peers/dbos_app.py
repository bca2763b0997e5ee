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
import json
import logging
import sys
import time
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


@DBOS.step(name="slow_step")
async def slow_step(log: str, i: int) -> int:
    return await driver.slow_step(log, i)


@DBOS.workflow(name="Recovery")
async def recovery(log: str) -> int:
    """R: ten sequential 0.3 s steps."""
    total = 0
    for i in range(1, driver.R_STEPS + 1):
        total += await slow_step(log, i)
    return total


@DBOS.step(name="stamp")
async def stamp(i: int) -> float:
    return time.time()


@DBOS.workflow(name="LongChain")
async def long_chain(n: int) -> list[float]:
    """W5: ``n`` sequential steps; returns when each ran."""
    return [await stamp(i) for i in range(n)]


@DBOS.workflow(name="IdleOnSignal")
async def idle_on_signal(n: int) -> int:
    """W6: a workflow that stays PENDING (waits for a message that never comes)."""
    value = await DBOS.recv_async("wake", timeout_seconds=24 * 3600)
    return int(value) + n


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


async def run_one(args: argparse.Namespace) -> None:
    """R and W5, one application process. With ``--start`` it starts the workflow and says
    STARTED; without, it is a restarted process: ``DBOS.launch()`` recovers the pending
    workflows of this executor (DBOS's own recovery), and the process only waits for the
    result. Either way it prints the result line when the workflow ends."""
    DBOS(config={"name": "plait-bench", "system_database_url": args.db,
                 "log_level": "WARNING"})
    DBOS.launch()
    print("READY", flush=True)
    try:
        if args.start:
            fn, arg = (recovery, args.log) if args.kind == "Recovery" else (long_chain, args.n)
            with SetWorkflowID(args.wid):
                handle = await DBOS.start_workflow_async(fn, arg)
            print("STARTED", flush=True)
        else:
            handle = await DBOS.retrieve_workflow_async(args.wid)
        driver.report_result(await handle.get_result())
        await asyncio.to_thread(sys.stdin.readline)  # EXIT: the harness read the RSS first
    finally:
        DBOS.destroy()


async def run_w6(args: argparse.Namespace) -> None:
    """W6: three real template workflows, ``--n`` copies of their ``workflow_status`` rows
    (``bench.peers.dbos_list``), then list and count timings; one JSON line out."""
    from bench.peers import dbos_list

    DBOS(config={"name": "plait-bench", "system_database_url": args.db,
                 "log_level": "WARNING"})
    DBOS.launch()
    try:
        ids = {}
        for kind, fn in (("OneStep", one_step), ("ThreeSteps", three_steps)):
            with SetWorkflowID(f"tmpl-{kind}"):
                await (await DBOS.start_workflow_async(fn, 1)).get_result()
            ids[kind] = f"tmpl-{kind}"
        with SetWorkflowID("tmpl-IdleOnSignal"):
            await DBOS.start_workflow_async(idle_on_signal, 1)
        ids["IdleOnSignal"] = "tmpl-IdleOnSignal"
        await asyncio.sleep(1.0)
        out = await asyncio.to_thread(dbos_list.fill_and_time, args.db, ids, args.n,
                                      args.page_size, args.repeat)
        print(json.dumps(out), flush=True)
    finally:
        DBOS.destroy()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.peers.dbos_app")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--db", required=True, help="system database URL")
    driver.add_arguments(d)
    r = sub.add_parser("one")
    r.add_argument("--db", required=True)
    r.add_argument("--kind", choices=["Recovery", "LongChain"], required=True)
    r.add_argument("--wid", required=True)
    r.add_argument("--log", default="")
    r.add_argument("--n", type=int, default=0)
    r.add_argument("--start", action="store_true")
    w6 = sub.add_parser("w6")
    w6.add_argument("--db", required=True)
    w6.add_argument("--n", type=int, required=True)
    w6.add_argument("--page-size", type=int, default=100)
    w6.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    run = {"drive": run_driver, "one": run_one, "w6": run_w6}[args.cmd]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
