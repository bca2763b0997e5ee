"""The client side of a workload, shared by every peer engine's driver process (stdlib only).

A peer's driver runs in that peer's own virtualenv (``bench/.peers/<peer>/bin/python``), so
this module imports nothing but the standard library. The protocol with the harness
(``bench.compare``, in the project's venv) is line-based on stdin/stdout:

1. the driver connects its client (and, for a library engine like DBOS, launches the engine)
   and prints ``READY``;
2. the harness attaches its probes (CPU counters, strace) and writes ``GO``;
3. the driver runs the workload and prints one JSON line: every workflow's
   ``[id, t_start, t_started, t_result, error]`` (``time.perf_counter`` of this process) and
   its own CPU time;
4. the driver waits for ``EXIT`` (or end of input) so that the harness can read every
   process's peak RSS before anything stops, then shuts down.

The workloads are the core benchmark's (``bench/workloads.py``) with the same arguments and
expected results, so a wrong value is an error here exactly as it is for plait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

# call(kind, arg, workflow_id, mark_started) -> result; mark_started() is called when the
# start request returned (engines whose fastest client starts and awaits in one call call it
# right before the result arrives, so "start latency" is not reported for them).
Call = Callable[[str, int, str, Callable[[], None]], Awaitable[Any]]

# workload -> (workflow kind, argument of workflow i, expected result of workflow i, concurrent)
SPECS: dict[str, tuple[str, Callable[[int, int], int], Callable[[int, int], int], bool]] = {
    "W1": ("ThreeSteps", lambda i, n: i, lambda i, n: i + 3, True),
    "W2": ("OneStep", lambda i, n: i, lambda i, n: i + 1, False),
    "W3": ("FanOut", lambda i, n: n, lambda i, n: sum(j + 1 for j in range(n)), True),
    "W4": ("Sleeper", lambda i, n: i, lambda i, n: i, True),
}


# R (recovery): ten sequential steps of 0.3 s; every engine's workflow returns 1 + ... + 10.
R_STEPS = 10
R_STEP_S = 0.3
R_EXPECTED = sum(range(1, R_STEPS + 1))


def log_step(path: str, what: str, i: int) -> None:
    """R: one line per step start or end (index, pid, wall time), appended and flushed at once,
    so the harness sees from outside which process runs which step and what ran twice."""
    with open(path, "a") as f:
        f.write(f"{what} {i} {os.getpid()} {time.time():.6f}\n")


async def slow_step(log: str, i: int) -> int:
    """R: the body of every engine's step."""
    log_step(log, "start", i)
    await asyncio.sleep(R_STEP_S)
    log_step(log, "end", i)
    return i


def report_result(result: object) -> None:
    """R: the result line of a recovery client, with the wall time it arrived."""
    print(json.dumps({"result": result, "t": time.time()}), flush=True)


def count(workload: str, n: int) -> int:
    """How many workflows a workload runs (W3 is one workflow of ``n`` activities)."""
    return 1 if workload == "W3" else n


async def _one(call: Call, kind: str, arg: int, expected: int, wid: str) -> list[Any]:
    rec: list[Any] = [wid, time.perf_counter(), None, None, None]

    def started() -> None:
        rec[2] = time.perf_counter()

    try:
        result = await call(kind, arg, wid, started)
        rec[3] = time.perf_counter()
        if rec[2] is None:
            rec[2] = rec[3]
        if result != expected:
            rec[4] = f"wrong result: got {result!r}, expected {expected!r}"
    except asyncio.CancelledError:
        rec[4] = "timed out (no result before the workload's deadline)"
    except Exception as e:
        rec[4] = f"{type(e).__name__}: {e}"[:500]
    return rec


async def run_workload(call: Call, workload: str, n: int, deadline: float,
                       prefix: str) -> list[list[Any]]:
    kind, arg, expected, concurrent = SPECS[workload]
    total = count(workload, n)
    ids = [f"{prefix}{workload.lower()}-{i}" for i in range(total)]
    if concurrent:
        tasks = [asyncio.ensure_future(_one(call, kind, arg(i, n), expected(i, n), ids[i]))
                 for i in range(total)]
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [t.result() for t in tasks]
    out: list[list[Any]] = []
    give_up = time.perf_counter() + deadline
    for i in range(total):
        left = give_up - time.perf_counter()
        if left <= 0:
            out += [[ids[j], time.perf_counter(), None, None,
                     "not started: the workload's deadline passed"] for j in range(i, total)]
            break
        task = asyncio.ensure_future(_one(call, kind, arg(i, n), expected(i, n), ids[i]))
        done, _ = await asyncio.wait([task], timeout=left)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        out.append(task.result())
    return out


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _readline() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


async def serve(call: Call, args: argparse.Namespace) -> None:
    """Steps 1-4 of the protocol, for a client that is already connected."""
    print("READY", flush=True)
    if await _readline() != "GO":
        return
    cpu0 = _cpu_s()
    outcomes = await run_workload(call, args.workload, args.n, args.deadline, args.prefix)
    print(json.dumps({"outcomes": outcomes, "cpu_s": _cpu_s() - cpu0}), flush=True)
    await _readline()  # EXIT or end of input


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", required=True, choices=sorted(SPECS))
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--deadline", type=float, default=300.0)
    p.add_argument("--prefix", default="", help="prefix of the workflow ids")



# W6: the mix of stored workflows, copy k of template TEMPLATE_OF(k % 10): 60 % OneStep and
# 30 % ThreeSteps (both completed), 10 % IdleOnSignal (running); filters hit 10-60 % of rows.
W6_SHARE = {"OneStep": 6, "ThreeSteps": 3, "IdleOnSignal": 1}


def w6_template_sql(ids: dict[str, str], key: str = "k") -> str:
    """A SQL CASE naming the template row of copy ``key`` (ids are the harness's own, so they
    go in as literals)."""
    return (f"CASE WHEN {key} % 10 < 6 THEN '{ids['OneStep']}' "
            f"WHEN {key} % 10 < 9 THEN '{ids['ThreeSteps']}' ELSE '{ids['IdleOnSignal']}' END")


def w6_expected(n: int) -> dict[str, int]:
    """How many copies of each type (the templates themselves not included)."""
    out = dict.fromkeys(W6_SHARE, 0)
    for r in range(10):
        kind = "OneStep" if r < 6 else "ThreeSteps" if r < 9 else "IdleOnSignal"
        out[kind] += n // 10 + (1 if r < n % 10 else 0)
    return out


def time_op(fn: Callable[[], Any], repeat: int) -> tuple[dict[str, float], Any]:
    """First call (cold-ish: nothing of it cached yet) and median of ``repeat`` more, in ms."""
    t = time.perf_counter()
    value = fn()
    first = (time.perf_counter() - t) * 1e3
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"first_ms": first, "median_ms": times[len(times) // 2] if times else first}, value
