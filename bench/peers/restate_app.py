"""Restate: the benchmark's workflows as a Restate service, and the driver (restate venv).

    python -m hypercorn bench.peers.restate_app:app --bind 127.0.0.1:9080   # the service
    python -m bench.peers.restate_app drive --ingress http://127.0.0.1:8080 --workload W1 --n 1000

The server is ``restate-server`` from the npm package ``@restatedev/restate-server`` (its
default configuration: RocksDB and its log on disk under ``--base-dir``), started by the
harness, which registers this service's deployment with the admin API. The service is the
``restate-sdk`` ASGI app served by hypercorn (HTTP/2 cleartext), as Restate's Python docs do.
Each workflow is a ``restate.Workflow`` whose steps are ``ctx.run_typed`` actions (journaled
by the server: Restate's equivalent of an activity or a step); timers are ``ctx.sleep``.

The driver calls the HTTP ingress with aiohttp, one ``POST /<Workflow>/<id>/run`` per
workflow: Restate's documented request-response call, which starts the workflow and returns
its result in one request (so no separate start latency is reported). aiohttp rather than
``restate.client`` (httpx-based) because it is much faster at this concurrency; its
connection pool is unlimited so that all workflows really start at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import timedelta

import restate
from restate import RunOptions, WorkflowContext

three_steps = restate.Workflow("ThreeSteps")
one_step = restate.Workflow("OneStep")
fan_out = restate.Workflow("FanOut")
sleeper = restate.Workflow("Sleeper")


async def noop(x: int) -> int:
    return x + 1


@three_steps.main(name="run")
async def run_three_steps(ctx: WorkflowContext, n: int) -> int:
    for _ in range(3):
        n = await ctx.run_typed("noop", noop, RunOptions(), n)
    return n


@one_step.main(name="run")
async def run_one_step(ctx: WorkflowContext, n: int) -> int:
    return await ctx.run_typed("noop", noop, RunOptions(), n)


@fan_out.main(name="run")
async def run_fan_out(ctx: WorkflowContext, width: int) -> int:
    futures = [ctx.run_typed("noop", noop, RunOptions(), i) for i in range(width)]
    await restate.gather(*futures)
    return sum([await f for f in futures])


@sleeper.main(name="run")
async def run_sleeper(ctx: WorkflowContext, n: int) -> int:
    await ctx.sleep(timedelta(seconds=1))
    return n


recovery = restate.Workflow("Recovery")
long_chain = restate.Workflow("LongChain")


@recovery.main(name="run")
async def run_recovery(ctx: WorkflowContext, log: str) -> int:
    """R: ten sequential 0.3 s steps, each a journaled ``ctx.run_typed``."""
    from bench.peers import driver

    total = 0
    for i in range(1, driver.R_STEPS + 1):
        total += await ctx.run_typed(f"step-{i}", driver.slow_step, RunOptions(), log, i)
    return total


async def stamp() -> float:
    import time

    return time.time()


@long_chain.main(name="run")
async def run_long_chain(ctx: WorkflowContext, n: int) -> list[float]:
    """W5: ``n`` sequential journaled steps; returns when each ran."""
    return [await ctx.run_typed("stamp", stamp, RunOptions()) for _ in range(n)]


app = restate.app(services=[three_steps, one_step, fan_out, sleeper, recovery, long_chain])


async def run_driver(args: argparse.Namespace) -> None:
    import aiohttp

    from bench.peers import driver

    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def call(kind: str, arg: int, wid: str, started: Callable[[], None]) -> int:
            async with session.post(f"{args.ingress}/{kind}/{wid}/run", json=arg) as r:
                body = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {body[:300]!r}")
            started()
            import json
            return int(json.loads(body))

        await driver.serve(call, args)


async def run_one(args: argparse.Namespace) -> None:
    """R and W5: start one workflow without waiting (``/send``), say STARTED, then wait for
    its output (``/restate/workflow/<name>/<id>/attach``; retried while the ingress answers
    with an error or drops the connection) and print the result line."""
    import json

    import aiohttp

    from bench.peers import driver

    arg = args.log if args.kind == "Recovery" else args.n
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        url = f"{args.ingress}/{args.kind}/{args.wid}/run/send"
        async with session.post(url, json=arg) as r:
            if r.status not in (200, 202):
                raise RuntimeError(f"HTTP {r.status}: {(await r.read())[:300]!r}")
        print("STARTED", flush=True)
        attach = f"{args.ingress}/restate/workflow/{args.kind}/{args.wid}/attach"
        while True:
            try:
                async with session.get(attach) as r:
                    body = await r.read()
                    if r.status == 200:
                        driver.report_result(json.loads(body))
                        return
                    print(f"attach: HTTP {r.status} {body[:200]!r}", file=sys.stderr)
            except aiohttp.ClientError as e:
                print(f"attach: {e!r}", file=sys.stderr)
            await asyncio.sleep(0.05)


def main() -> None:
    from bench.peers import driver

    p = argparse.ArgumentParser(prog="python -m bench.peers.restate_app")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--ingress", required=True)
    d.add_argument("--connections", type=int, default=0,
                   help="aiohttp connection pool limit (0: unlimited)")
    driver.add_arguments(d)
    r = sub.add_parser("one")
    r.add_argument("--ingress", required=True)
    r.add_argument("--kind", choices=["Recovery", "LongChain"], required=True)
    r.add_argument("--wid", required=True)
    r.add_argument("--log", default="")
    r.add_argument("--n", type=int, default=0)
    args = p.parse_args()
    asyncio.run(run_driver(args) if args.cmd == "drive" else run_one(args))


if __name__ == "__main__":
    sys.exit(main())
