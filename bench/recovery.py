"""R: recovery from a worker killed with SIGKILL in the middle of a workflow, on every engine.

One workflow of 10 sequential steps of 0.3 s (``Recovery``: plait and Temporal activities,
DBOS steps, Restate ``ctx.run_typed`` actions; start_to_close 60 s where the engine has one).
Every step appends ``start``/``end`` lines (step, pid, wall time) to a log file. The harness
tails it; 0.1 s after step 5 started it sends SIGKILL to the process that runs it, then:

- ``restart``: starts a new worker at once (Temporal: the worker process; DBOS: the application
  process, whose ``DBOS.launch()`` recovers the workflow; Restate: the service under hypercorn,
  which restate-server retries; plait: ``bench.worker``), and measures the seconds from that
  restart to the workflow's result;
- ``second``: a second worker was running from the start and none is restarted; seconds from
  the kill to the result. Applies to plait and Temporal (two worker processes on the queue).
  Not to DBOS: a DBOS process recovers only its own executor's workflows when it launches;
  another running process takes them over only when told to (DBOS Conductor or the admin
  API's recovery call), so there is nothing automatic to measure. Not to Restate:
  restate-server calls a deployment at one URL, so a second service process needs a load
  balancer in front of both (not part of either engine); hypercorn's own ``--workers 2``
  is no stand-in, as its parent process exits when one of its workers is killed (tried).

Reported per run: re-runs (steps that had ended before the kill and started again: must be 0),
the seconds from restart (or kill) to result, the same minus the work left (step 5 again and
steps 6-10: 6 x 0.3 s = 1.8 s; target: at most 0.5 s beyond it), when step 5 started again,
and the peak RSS (VmHWM) of every process. A run whose result is not 55, or where a step never
completed, failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench.engines import ENGINES, LABELS
from bench.peer_run import PeerRun, port_open
from bench.peers import driver, install
from bench.procs import BenchError, Run, machine_cpu_seconds
from bench.proctree import process_tree, tree_rss_mib
from bench.progress import log
from bench.quiet import wait_quiet
from plait import Client

KILL_STEP = 5
REMAINING_S = (driver.R_STEPS - KILL_STEP + 1) * driver.R_STEP_S
TARGET_BEYOND_S = 0.5
VARIANTS = {"restart": "worker killed during step 5 and restarted at once",
            "second": "a second worker already running; the one running step 5 is killed, "
                      "none restarted"}
NO_SECOND = {"dbos-sqlite", "dbos-pg", "restate"}


def read_steps(log: Path) -> list[tuple[str, int, int, float]]:
    """(what, step, pid, wall time) of every complete line of a step log."""
    out: list[tuple[str, int, int, float]] = []
    try:
        text = log.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[0], int(parts[1]), int(parts[2]), float(parts[3])))
    return out


async def wait_step_start(log: Path, step: int, timeout: float) -> tuple[int, float]:
    """Poll the log (every 10 ms) until ``step`` starts; its (pid, wall time)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        for what, i, pid, t in read_steps(log):
            if what == "start" and i == step:
                return pid, t
        await asyncio.sleep(0.01)
    raise BenchError(f"step {step} did not start within {timeout:.0f}s")


def analyse(log: Path, t_kill: float) -> dict[str, Any]:
    """Re-runs of steps that had ended before the kill, and the state of every step."""
    lines = read_steps(log)
    ended_before = {i for what, i, _, t in lines if what == "end" and t < t_kill}
    starts: dict[int, int] = {}
    for what, i, _, _ in lines:
        if what == "start":
            starts[i] = starts.get(i, 0) + 1
    reruns = sum(starts.get(i, 0) - 1 for i in ended_before)
    ended = {i for what, i, _, _ in lines if what == "end"}
    restart5 = [t for what, i, _, t in lines if what == "start" and i == KILL_STEP
                and t > t_kill]
    return {"reruns": reruns, "completed_before_kill": sorted(ended_before),
            "starts_per_step": {str(k): v for k, v in sorted(starts.items())},
            "missing_steps": [i for i in range(1, driver.R_STEPS + 1) if i not in ended],
            "step5_again_at": min(restart5) if restart5 else None}


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and its descendants (children first would give the parent a chance
    to react; all at once, as a machine or container dying would)."""
    pids = process_tree(pid)
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    return pids


# -- plait ----------------------------------------------------------------------------------------
class PlaitTarget:
    """``plait server`` + ``bench.worker`` process(es); the client is this process."""

    engine = "plait"

    def __init__(self, keep: bool) -> None:
        self.run = Run(f"R-{uuid.uuid4().hex[:6]}", worker_slots=300, keep=keep)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.client: Client | None = None
        self.task: asyncio.Task[Any] | None = None
        self.t_result: float | None = None
        self.t_ready: float | None = None
        self.ready_task: asyncio.Future[None] | None = None
        self.dir = self.run.dir

    async def up(self, workers: int) -> None:
        await self.run.start_server()
        for _ in range(workers):
            await self.spawn(wait=True)
        self.client = await Client.connect(self.run.address)

    async def spawn(self, wait: bool) -> float:
        w = self.run.spawn_worker()
        self.workers.append(w)
        self.run.worker = w
        if wait:
            await self.run.wait_ready(w, 60)
        return time.time()

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    async def start_workflow(self, wid: str, log: Path) -> None:
        from bench.longrun import Recovery

        assert self.client is not None
        handle = await self.client.start_workflow(Recovery.run, str(log), id=wid,
                                                  task_queue=self.run.task_queue)

        async def result() -> Any:
            value = await handle.result()
            self.t_result = time.time()
            return value

        self.task = asyncio.ensure_future(result())

    async def restart(self, killed_pid: int) -> None:
        await self.spawn(wait=False)
        w = self.workers[-1]

        async def ready() -> None:
            await self.run.wait_ready(w, 60)
            self.t_ready = time.time()

        self.ready_task = asyncio.ensure_future(ready())

    async def result(self, timeout: float) -> tuple[Any, float]:
        assert self.task is not None
        value = await asyncio.wait_for(self.task, timeout)
        assert self.t_result is not None
        return value, self.t_result

    def rss(self) -> dict[str, float]:
        out = {}
        assert self.run.server is not None
        for role, pid in [("server", self.run.server.pid),
                          *[(f"worker{i + 1}", w.pid) for i, w in enumerate(self.workers)]]:
            v = tree_rss_mib(pid)
            if v is not None:
                out[role] = v
        return out

    async def close(self) -> dict[str, Any]:
        for t in (self.task, self.ready_task):
            if t is not None and not t.done():
                t.cancel()
        if self.client is not None:
            await self.client.close()
        alive = [w for w in self.workers if w.poll() is None]
        self.run.worker = alive[-1] if alive else None  # run.stop() stops that one
        for w in self.workers:
            if w is not self.run.worker:
                if w.poll() is None:
                    w.terminate()
                    w.wait(15)
                if w.stdout is not None:
                    w.stdout.close()
        self.run.stop()
        problems = self.run.log_problems()
        self.run.cleanup()
        return {"log_problems": {k: v[:5] for k, v in problems.items()},
                "unclean_exit": self.run.unclean_exit}


# -- peers ----------------------------------------------------------------------------------------
class PeerTarget(PeerRun):
    """A peer engine's processes for R; the workflow is started (and its result printed) by
    ``bench.peers.<engine>_app one`` (DBOS: by the application process itself)."""

    def __init__(self, engine: str, keep: bool, kind: str = "Recovery", n: int = 0) -> None:
        super().__init__(engine, "R" if kind == "Recovery" else "W5", 1, 300.0, keep=keep)
        self.kind, self.n = kind, n
        self.worker_cmd: list[str] = []
        self.result_role = "client"
        self.addr = ""
        self.db = ""
        self.restarts = 0
        self.t_ready: float | None = None
        self.ready_task: asyncio.Future[None] | None = None

    async def up(self, workers: int) -> None:
        e = self.engine
        if e.startswith("temporal"):
            self.addr = await self.start_temporal_server()
            self.worker_cmd = self.temporal_worker_cmd(self.addr)
            for i in range(workers):
                self._spawn(f"worker{i + 1}", self.worker_cmd, stdout=subprocess.PIPE)
                await self._wait_line(f"worker{i + 1}", "READY", 60)
        elif e == "restate":
            # two hypercorn worker processes behind one deployment for "second"
            self.addr = await self.start_restate(("--workers", str(workers)))
            self.worker_cmd = self.restate_service_cmd()
        elif e.startswith("dbos"):
            self.db = await self.dbos_url()

    def _one(self, wid: str, log: Path, start: bool) -> list[str]:
        e = self.engine
        env = "temporal" if e.startswith("temporal") else "dbos" if e.startswith("dbos") \
            else "restate"
        app = f"bench.peers.{env}_app"
        where = (["--address", self.addr] if env == "temporal" else
                 ["--ingress", self.addr] if env == "restate" else ["--db", self.db])
        return [str(install.python(env)), "-m", app, "one", *where, "--kind", self.kind,
                "--wid", wid, "--log", str(log), "--n", str(self.n),
                *(["--start"] if start and env == "dbos" else [])]

    async def start_workflow(self, wid: str, log: Path) -> None:
        self.wid, self.log = wid, log
        role = "app" if self.engine.startswith("dbos") else "client"
        self.result_role = role
        self._spawn(role, self._one(wid, log, True), stdout=subprocess.PIPE,
                    stdin=subprocess.PIPE)
        await self._wait_line(role, "STARTED", 120)

    def role_of(self, pid: int) -> str:
        for role, p in self.procs.items():
            if p.poll() is None and pid in process_tree(p.pid):
                return role
        raise BenchError(f"{self.engine}: pid {pid} that ran step {KILL_STEP} is no process of "
                         "this run")

    async def restart(self, killed_pid: int) -> None:
        self.restarts += 1
        role = f"restarted{self.restarts}"
        if self.engine.startswith("dbos"):
            self.result_role = role
            self._spawn(role, self._one(self.wid, self.log, False), stdout=subprocess.PIPE,
                        stdin=subprocess.PIPE)
            return  # its READY line is read by result(), before the result line
        self._spawn(role, self.worker_cmd, stdout=subprocess.PIPE)

        async def ready() -> None:
            if self.engine == "restate":  # hypercorn says nothing: ready = port open
                port = self.restate_svc_port
                await self._wait("restate service", lambda: port_open(port))
            else:
                await self._wait_line(role, "READY", 60)
            self.t_ready = time.time()

        self.ready_task = asyncio.ensure_future(ready())

    async def result(self, timeout: float) -> tuple[Any, float]:
        if self.result_role.startswith("restarted"):  # DBOS: launch() done, then recovery
            await self._wait_line(self.result_role, "READY", timeout)
            self.t_ready = time.time()
        line = await self._wait_line(self.result_role, '{"result"', timeout)
        d = json.loads(line)
        return d["result"], float(d["t"])

    def rss(self) -> dict[str, float]:
        out = {}
        for role, p in self.procs.items():
            if p.poll() is None and (v := tree_rss_mib(p.pid)) is not None:
                out[role] = v
        return out

    async def close(self) -> dict[str, Any]:
        self.stop()
        problems = self.log_problems()
        self.cleanup()
        return {"log_problems": {k: v[:5] for k, v in problems.items()},
                "unclean_exit": self.unclean_exit}

    def worker_pids(self) -> list[int]:
        return [p.pid for r, p in self.procs.items() if r.startswith("worker")]


# -- one run --------------------------------------------------------------------------------------
async def run_once(engine: str, variant: str, keep: bool, timeout: float) -> dict[str, Any]:
    """One workflow, one kill, one recovery; every number of the run, or its errors."""
    target: PlaitTarget | PeerTarget = (PlaitTarget(keep) if engine == "plait"
                                        else PeerTarget(engine, keep))
    r: dict[str, Any] = {"ok": False, "metrics": {}, "errors": []}
    log = target.dir / "steps.log"
    machine0, t0 = machine_cpu_seconds(), time.monotonic()
    try:
        await target.up(workers=2 if variant == "second" else 1)
        await target.start_workflow(f"r-{uuid.uuid4().hex[:8]}", log)
        pid, _ = await wait_step_start(log, KILL_STEP, 60)
        await asyncio.sleep(0.1)
        whole = variant == "restart"
        victim = pid
        if whole and isinstance(target, PeerTarget):
            victim = target.procs[target.role_of(pid)].pid  # hypercorn's parent too
        t_kill = time.time()
        kill_tree(victim)
        t_from = t_kill
        if whole:
            t_from = time.time()
            await target.restart(victim)
        value, t_res = await target.result(timeout)
        if target.ready_task is not None:
            with contextlib.suppress(BenchError, TimeoutError):
                await asyncio.wait_for(target.ready_task, 5)
        r["rss_mib"] = target.rss()
        a = analyse(log, t_kill)
        m = r["metrics"]
        m["to_result_s"] = t_res - t_from
        m["beyond_remaining_s"] = m["to_result_s"] - REMAINING_S
        m["reruns"] = a["reruns"]
        if a["step5_again_at"] is not None:
            m["step5_again_s"] = a["step5_again_at"] - t_from
        if target.t_ready is not None:  # the restarted process's own start-up, apart
            m["restart_to_ready_s"] = target.t_ready - t_from
            m["ready_to_result_s"] = t_res - target.t_ready
            m["beyond_remaining_from_ready_s"] = m["ready_to_result_s"] - REMAINING_S
        r["steps"] = a
        if value != driver.R_EXPECTED:
            r["errors"].append(f"wrong result: got {value!r}, expected {driver.R_EXPECTED}")
        if a["missing_steps"]:
            r["errors"].append(f"steps never completed: {a['missing_steps']}")
        if len(a["completed_before_kill"]) != KILL_STEP - 1:
            r["errors"].append(f"steps completed before the kill: {a['completed_before_kill']} "
                               f"(the kill missed step {KILL_STEP})")
    except (BenchError, TimeoutError, OSError) as e:
        r["errors"].append(f"{type(e).__name__}: {e}"[:500])
    finally:
        r.update(await target.close())
    machine1 = machine_cpu_seconds()
    if machine0 and machine1:
        wall = time.monotonic() - t0
        r["metrics"]["steal_pct"] = 100 * (machine1[1] - machine0[1]) / (wall * (os.cpu_count()
                                                                              or 1))
        r["metrics"]["machine_busy_pct"] = 100 * (machine1[0] - machine0[0]) / (
            wall * (os.cpu_count() or 1))
    r["ok"] = not r["errors"]
    return r


# -- the command ----------------------------------------------------------------------------------
async def run_all(engines: list[str], repeat: int, keep: bool, timeout: float,
                  quiet_below: float, quiet_wait: float) -> dict[str, Any]:
    """Every (variant, engine) pair that applies, engines alternating within a repetition."""
    doc: dict[str, Any] = {"variants": {v: {"description": d, "engines": {}}
                                        for v, d in VARIANTS.items()}}
    for rep in range(repeat):
        for variant in VARIANTS:
            for e in engines:
                if variant == "second" and e in NO_SECOND:
                    continue
                busy = await wait_quiet(quiet_below, quiet_wait)
                log(f"R rep {rep + 1}/{repeat} {variant} {e} (machine busy {busy:.0f} % "
                    "before) ...")
                res = await run_once(e, variant, keep, timeout)
                res["rep"], res["busy_before_pct"] = rep + 1, busy
                doc["variants"][variant]["engines"].setdefault(e, []).append(res)
                m = res["metrics"]
                log(f"  {'ok' if res['ok'] else 'FAILED'}: to result "
                    f"{_f(m.get('to_result_s'))} s, re-runs {m.get('reruns')}, steal "
                    f"{_f(m.get('steal_pct'))} %; "
                    + "; ".join(x[:200] for x in res["errors"]))
    return doc


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _med(reps: list[dict[str, Any]], key: str) -> tuple[float, float, float] | None:
    vals = [r["metrics"][key] for r in reps if r["ok"] and key in r["metrics"]]
    return (statistics.median(vals), min(vals), max(vals)) if vals else None


def to_markdown(doc: dict[str, Any]) -> list[str]:
    """R's section of the growth/recovery report."""
    out = ["## R — recovery after `kill -9` of the worker during step 5 of 10 (0.3 s each)", "",
           f"Work left after the kill: step {KILL_STEP} again and the rest = "
           f"{REMAINING_S:.1f} s; target: result at most {TARGET_BEYOND_S} s beyond that, "
           "0 re-runs of completed steps. Median (min-max) over passing runs. After a "
           "restart, \"ready\" is when the new process said so (plait and Temporal workers "
           "print READY once connected; DBOS once `launch()` returned; Restate's service once "
           "its port accepts): what follows is the engine's own recovery.", ""]
    for variant, vd in doc["variants"].items():
        since = "restart" if variant == "restart" else "kill"
        keys = ["to_result_s", "beyond_remaining_s", "step5_again_s"]
        extra = ""
        if variant == "restart":
            keys += ["restart_to_ready_s", "beyond_remaining_from_ready_s"]
            extra = "restart → new process ready (s) | ready → result, beyond the work left (s) | "
        out += [f"### {variant}: {vd['description']}", "",
                f"| engine | {since} → result (s) | beyond the work left (s) | "
                f"{since} → step 5 starts again (s) | {extra}re-runs of completed steps | "
                "peak RSS by process (MiB) | runs passed |",
                "|---|" + "---|" * (len(keys) + 3)]
        for e, reps in vd["engines"].items():
            cells = []
            for k in keys:
                s = _med(reps, k)
                cells.append(f"{s[0]:.2f} ({s[1]:.2f}-{s[2]:.2f})" if s else "—")
            reruns = [r["metrics"].get("reruns") for r in reps if "reruns" in r["metrics"]]
            last = next((r for r in reversed(reps) if r["ok"]), None)
            rss = ", ".join(f"{k} {v:.0f}" for k, v in (last or {}).get("rss_mib", {}).items())
            out.append(f"| {LABELS[e]} | " + " | ".join(cells)
                       + f" | {', '.join(str(x) for x in reruns) or '—'} | {rss or '—'} | "
                       f"{sum(r['ok'] for r in reps)}/{len(reps)} |")
        out.append("")
    if any(e in NO_SECOND for vd in doc["variants"].values() for e in vd["engines"]):
        out += ["DBOS has no `second` row: a DBOS process recovers only its own executor's "
                "workflows when it launches; another running process takes them over only when "
                "told to (Conductor, or the admin API's recovery endpoint). Restate has none "
                "either: restate-server calls a deployment at one URL, so two service processes "
                "need a load balancer in front (outside both engines); hypercorn's "
                "`--workers 2` is no stand-in, since its parent exits when one worker is killed.",
                ""]
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--keep", action="store_true")
