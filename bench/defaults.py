"""W1 with a ``Worker`` left at its defaults against the benchmark's tuned worker (issue 15).

    python -m bench.defaults [--rounds 5] [--size 1000] [--slots default,300,100,200,500]
                             [--base PATH [--base-slots default]] [--fsync-rounds 1]
                             [--out bench/results/defaults]

Users run the defaults: a worker constructed as ``Worker(client, task_queue=...,
workflows=..., activities=...)``, driven by ``execute_workflow`` from a plain ``Client``.
The core benchmark's worker passes 300/300 slots. This runs W1 (1,000 ``ThreeSteps``
workflows started at once) against both, and against other slot counts to see the curve,
each repetition on a fresh server, worker and SQLite database (``bench.core.run_once``),
the variants interleaved round by round (the first variant rotates), so a noisy neighbour
hurts every variant alike; the report gives medians over rounds and the per-round ratio to
the tuned worker.

``--base PATH``: a second source tree (a git worktree of another commit); the
``--base-slots`` variants (``default@base``, ...) run server and worker from that tree's
``src``, so the defaults of two commits are measured side by side in one run.
``--fsync-rounds``: after the timed rounds, runs with strace on the server counting fsyncs
(strace slows the server, so these runs are not timed): store transactions per fsync is the
group commit's size.

Besides speed, each variant reports what the server saw per workflow (its ``/metrics``):
requests by route, polls, tasks per poll, completions per batch request, store
transactions. Results go to ``bench/results/defaults.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import core, workloads
from bench.procs import ROOT, BenchError, Run, in_repo, machine_cpu_seconds
from bench.strace import Strace
from plait import Client

TUNED = "300"
"""The benchmark's worker (``bench.worker``'s 300/300 slots): the figure to reach."""


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str
    slots: int | tuple[int, int] | None
    """Activity and workflow-task slots (one number: both); None: the ``Worker`` gets no
    tuning arguments (its defaults)."""
    src: Path
    """The ``src`` directory server and worker import plait from."""


def variants(spec: str, base: Path | None, base_spec: str) -> list[Variant]:
    """``default,300,100,300/100``: the defaults, and slot counts (``A/W``: activities and
    workflow tasks apart), on this tree; with ``base``, ``base_spec``'s on the base tree
    (labels ``...@base``)."""
    trees = [("", ROOT / "src", spec)] + ([("@base", base / "src", base_spec)] if base else [])
    return [Variant(item + suffix, _slots(item), src) for suffix, src, items in trees
            for item in (s.strip() for s in items.split(",") if s.strip())]


def _slots(item: str) -> int | tuple[int, int] | None:
    if item == "default":
        return None
    try:
        counts = [int(x) for x in item.split("/")]
    except ValueError:
        counts = []
    if len(counts) not in (1, 2) or min(counts) < 1:
        raise SystemExit(f"--slots: {item!r} is neither 'default', N nor A/W (slot counts)")
    return counts[0] if len(counts) == 1 else (counts[0], counts[1])


@contextlib.contextmanager
def sources(src: Path) -> Iterator[None]:
    """Server and worker (``bench.procs`` passes the environment on) import plait from
    ``src``: an absolute path, since the server runs in its temporary directory."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _run_args(v: Variant, timeout: float) -> argparse.Namespace:
    return argparse.Namespace(worker_slots=v.slots, keep=False, auth=False, profile=False,
                              profile_workloads=set(), timeout=timeout, histories=0)


def server_work(counters: dict[str, float], n: int) -> dict[str, float]:
    """What the server saw per workflow, and the batching figures behind it."""
    routes: dict[str, float] = {}
    dispatched = completions = store_txns = chained = 0.0
    for key, v in counters.items():
        name, _, labels = key.partition("{")
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if name == "plait_http_requests_total":
            route = lab.get("route", "?").removeprefix("/api/v1")
            routes[route] = routes.get(route, 0.0) + v
        elif name == "plait_tasks_dispatched_total":
            dispatched += v
        elif name == "plait_task_completions_total":
            completions += v
        elif name == "plait_store_transaction_seconds_count":
            store_txns += v
        elif name == "plait_chained_steps_total" and lab.get("outcome") == "recorded":
            chained += v
    polls = sum(v for r, v in routes.items() if r.endswith("/poll"))
    batches = sum(v for r, v in routes.items() if "complet" in r)
    out = {f"http {r}": v / n for r, v in sorted(routes.items(), key=lambda kv: -kv[1])}
    out.update({
        "http requests, all routes": sum(routes.values()) / n,
        "polls": polls / n,
        "tasks dispatched by polls": dispatched / n,
        "tasks per poll": dispatched / polls if polls else 0.0,
        "completion requests": batches / n,
        "completions": completions / n,
        "completions per request": completions / batches if batches else 0.0,
        "chained workflow steps": chained / n,
        "store transactions": store_txns / n,
    })
    return out


def summary_row(reps: list[dict[str, Any]], n: int) -> dict[str, float]:
    """Medians over a variant's passing rounds."""
    good = [r for r in reps if r["ok"]]
    if not good:
        return {}
    def med(f: Any) -> float:
        vals = [f(r) for r in good]
        return statistics.median(v for v in vals if v is not None) if vals else 0.0
    m = {k: med(lambda r, k=k: r["metrics"].get(k)) for k in
         ("throughput", "p50_ms", "p99_ms", "other_cpu_s", "steal_s", "load_avg_1m")}
    m["server_cpu_ms_per_wf"] = med(lambda r: r["metrics"]["server_cpu_s"] * 1e3 / n)
    m["worker_cpu_ms_per_wf"] = med(lambda r: r["metrics"]["worker_cpu_s"] * 1e3 / n)
    m["worker_rss_mib"] = med(lambda r: r["metrics"].get("worker_rss_mib"))
    return m


async def timed_rounds(vs: list[Variant], args: argparse.Namespace) -> dict[str, list[Any]]:
    reps: dict[str, list[Any]] = {v.label: [] for v in vs}
    for rnd in range(args.rounds):
        order = vs[rnd % len(vs):] + vs[:rnd % len(vs)]
        for v in order:
            with sources(v.src):
                r = await core.run_once("W1", rnd, args.size, _run_args(v, args.timeout))
            r.pop("phases", None)
            r["server_work"] = server_work(r.pop("server_counters", {}), args.size)
            reps[v.label].append(r)
            m = r["metrics"]
            print(f"[defaults] round {rnd + 1} {v.label:>12}: "
                  f"{'ok' if r['ok'] else 'FAILED'} {m.get('throughput', 0):6.0f} wf/s, "
                  f"p99 {m.get('p99_ms', 0):5.0f} ms, polls/wf "
                  f"{r['server_work'].get('polls', 0):.3f}, other CPU "
                  f"{m.get('other_cpu_s', 0):.1f} s", file=sys.stderr, flush=True)
            for e in r["errors"][:3]:
                print(f"[defaults]   error: {e}", file=sys.stderr, flush=True)
    return reps


async def fsync_run(v: Variant, n: int, timeout: float) -> dict[str, Any]:
    """W1 once with strace counting the server's fsyncs (not timed: strace slows it)."""
    with sources(v.src):
        run = Run(f"defaults-fsync-{v.label}", worker_slots=v.slots)
        tracer = None
        try:
            await run.start()
            assert run.server is not None
            with tempfile.TemporaryDirectory() as d:
                tracer = Strace([run.server.pid], Path(d) / "server.strace")
                await tracer.attached()
                client = await Client.connect(run.address)
                try:
                    outcomes = await workloads.w1(client, n, run.task_queue, timeout)
                finally:
                    await client.close()
                fsyncs = sum(tracer.stop().values())
            counters = await asyncio.to_thread(run.scrape_metrics)
        except BenchError as e:
            return {"ok": False, "error": str(e)}
        finally:
            if tracer is not None:
                tracer.stop()
            run.stop()
            run.cleanup()
    work = server_work(counters, n)
    errs = [o.error for o in outcomes if o.error]
    return {"ok": not errs, "fsyncs_per_wf": fsyncs / n,
            "txns_per_fsync": work["store transactions"] * n / fsyncs if fsyncs else 0.0}


def heavy_steps(ms: float) -> int:
    """How many :func:`bench.workloads.spin` steps cost about ``ms`` of CPU here."""
    probe = 200_000
    began = time.thread_time()
    workloads.spin(probe)
    took = max(time.thread_time() - began, 1e-6)
    return max(1, int(probe * ms / 1e3 / took))


async def heavy_run(v: Variant, n: int, steps: int, timeout: float) -> dict[str, Any]:
    """The worst case for more slots: ``n`` workflows whose one task keeps the worker's loop
    busy, started at once. Counted: workflow tasks the server took back (timed out at the
    worker, or its session expired while the loop was busy) and the time to the last
    result."""
    with sources(v.src):
        run = Run(f"defaults-heavy-{v.label}", worker_slots=v.slots)
        try:
            await run.start()
            client = await Client.connect(run.address)
            before, machine0, cpu0 = run.sample(), machine_cpu_seconds(), time.process_time()
            try:
                outcomes = await workloads.heavy(client, n, run.task_queue, timeout, steps)
            finally:
                await client.close()
            other = _other_cpu(before, run.sample(), machine0, time.process_time() - cpu0)
            counters = await asyncio.to_thread(run.scrape_metrics)
        except BenchError as e:
            return {"ok": False, "errors": [str(e)]}
        finally:
            run.stop()
            logged = run.log_problems()
            run.cleanup()
    ends = [o.t_result for o in outcomes if o.t_result is not None]
    lat = sorted(o.latency for o in outcomes if o.t_result is not None)
    errs = [f"{o.workflow_id}: {o.error}" for o in outcomes if o.error]
    work = server_work(counters, n)
    return {
        "ok": not errs, "errors": errs[:5], "n_errors": len(errs),
        "wall_s": max(ends) - min(o.t_start for o in outcomes) if ends else None,
        "p99_ms": core.percentile(lat, 99) * 1e3 if lat else None,
        "dispatched_per_wf": work["tasks dispatched by polls"],
        "timed_out": sum("timed out" in ln for ln in logged.get("server", [])),
        "session_expired": sum("session expired" in ln for ln in logged.get("worker", [])),
        "log_lines": {k: len(v) for k, v in logged.items()},
        "other_cpu_s": other,
    }


def _other_cpu(before: dict[str, Any], after: dict[str, Any],
               machine0: tuple[float, float] | None, harness: float) -> float | None:
    """CPU seconds the machine spent on other processes meanwhile (the noise)."""
    machine1 = machine_cpu_seconds()
    own = [after[k] - before[k] for k in ("server_cpu_s", "worker_cpu_s")
           if after[k] is not None and before[k] is not None]
    if machine0 is None or machine1 is None or len(own) < 2:
        return None
    return max(0.0, machine1[0] - machine0[0] - sum(own) - harness)


def tree_label(src: Path) -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(src.parent), *a], capture_output=True,
                              text=True, check=False).stdout.strip()
    dirty = " (src modified)" if git("status", "--porcelain", "--untracked-files=no",
                                      "src") else ""
    return (git("rev-parse", "--short", "HEAD") or "?") + dirty


def _ratio_to_tuned(reps: dict[str, list[Any]], label: str) -> float | None:
    """Median over rounds of this variant's wf/s over the tuned worker's in the same round
    (a paired ratio: a noisy round moves both)."""
    pairs = [a["metrics"]["throughput"] / b["metrics"]["throughput"]
             for a, b in zip(reps[label], reps.get(TUNED, []), strict=False)
             if a["ok"] and b["ok"]]
    return statistics.median(pairs) if pairs else None


QUIET = 0.15
"""A round is quiet when, in every variant's repetition, other processes used at most this
share of the machine's CPU."""


def _quiet_rounds(reps: dict[str, list[Any]]) -> list[int]:
    def share(r: dict[str, Any]) -> float:
        m = r["metrics"]
        return m.get("other_cpu_s", 1e9) / max(m.get("wall_s", 1e-9), 1e-9) / (os.cpu_count() or 1)
    n = min(len(r) for r in reps.values()) if reps else 0
    return [i for i in range(n) if all(r[i]["ok"] and share(r[i]) <= QUIET
                                       for r in reps.values())]


def to_markdown(doc: dict[str, Any]) -> str:
    reps, rows, n = doc["reps"], doc["summary"], doc["size"]
    labels = list(reps)
    rounds = doc["rounds"]
    out = [
        "# W1 with a Worker at its defaults, against the tuned benchmark worker", "",
        f"- command: `{doc['command']}`",
        f"- {doc['started_at']} to {doc['finished_at']}; {doc['machine']}",
        f"- trees: this one {doc['trees']['this']}"
        + (f"; base {doc['trees']['base']}" if "base" in doc["trees"] else ""),
        f"- W1: {n} `ThreeSteps` workflows started at once by `execute_workflow` from a "
        "plain `Client`; a fresh server (SQLite), worker and database per repetition; "
        f"{rounds} interleaved rounds (the first variant rotates), medians over rounds",
        "- variants: `default` constructs `Worker(client, task_queue=..., workflows=..., "
        "activities=...)` with no tuning argument; a number N passes "
        "`max_concurrent_activities=N, max_concurrent_workflow_tasks=N` (300: the core "
        "benchmark's worker); `@base`: run on the base tree's plait (server and worker)",
        "", "## Throughput (workflows/s) by round", "",
        "| variant | " + " | ".join(f"r{i + 1}" for i in range(rounds))
        + " | median | vs 300 (paired) | quiet rounds: median | vs 300 (paired) |",
        "|---|" + "---|" * (rounds + 4),
    ]
    quiet = _quiet_rounds(reps)
    for lab in labels:
        vals = [f"{r['metrics']['throughput']:.0f}" if r["ok"] else "FAILED"
                for r in reps[lab]]
        ratio = _ratio_to_tuned(reps, lab)
        q = {k: [r for i, r in enumerate(v) if i in quiet] for k, v in reps.items()}
        q_ratio = _ratio_to_tuned(q, lab)
        q_med = statistics.median(r["metrics"]["throughput"] for r in q[lab]) if quiet else None
        out.append(f"| {lab} | " + " | ".join(vals)
                   + f" | **{rows[lab].get('throughput', 0):.0f}** | "
                   + (f"{ratio:.3f}" if ratio is not None else "—") + " | "
                   + (f"{q_med:.0f} | {q_ratio:.3f} |" if q_med and q_ratio else "— | — |"))
    out += ["", f"Quiet rounds (other processes used at most {QUIET:.0%} of the machine's CPU "
            f"in every variant's repetition): {', '.join(f'r{i + 1}' for i in quiet) or 'none'}."]
    out += ["", "## Medians", "",
            "| variant | wf/s | p50 ms | p99 ms | server CPU ms/wf | worker CPU ms/wf "
            "| worker RSS MiB | polls/wf | tasks/poll | completions/request "
            "| chained steps/wf | store txns/wf |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lab in labels:
        m, w = rows[lab], doc["server_work"][lab]
        if not m:
            out.append(f"| {lab} | FAILED |" + " |" * 11)
            continue
        out.append(
            f"| {lab} | {m['throughput']:.0f} | {m['p50_ms']:.0f} | {m['p99_ms']:.0f} "
            f"| {m['server_cpu_ms_per_wf']:.2f} | {m['worker_cpu_ms_per_wf']:.2f} "
            f"| {m['worker_rss_mib']:.0f} | {w.get('polls', 0):.3f} "
            f"| {w.get('tasks per poll', 0):.1f} | {w.get('completions per request', 0):.1f} "
            f"| {w.get('chained workflow steps', 0):.2f} "
            f"| {w.get('store transactions', 0):.2f} |")
    out += (_routes_table(doc) + _fsync_table(doc) + _heavy_table(doc) + _noise(doc)
            + _problems(doc))
    return "\n".join(out) + "\n"


def _routes_table(doc: dict[str, Any]) -> list[str]:
    work = doc["server_work"]
    labels = list(work)
    keys = sorted({k for w in work.values() for k in w if k.startswith("http ")},
                  key=lambda k: -max(w.get(k, 0.0) for w in work.values()))
    out = ["", "## Requests per workflow by route (server `/metrics`, median over rounds)", "",
           "Polls and session heartbeats of the worker and the harness's calls included.", "",
           "| route | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for k in keys:
        out.append(f"| {k.removeprefix('http ')} | "
                   + " | ".join(f"{work[lab].get(k, 0.0):.3f}" for lab in labels) + " |")
    return out


def _fsync_table(doc: dict[str, Any]) -> list[str]:
    fs = doc.get("fsync") or {}
    if not fs:
        return []
    out = ["", "## Group commit (strace on the server; separate, untimed runs)", "",
           "| variant | fsyncs/wf | store transactions per fsync |", "|---|---|---|"]
    for lab, runs in fs.items():
        good = [r for r in runs if r["ok"]]
        if not good:
            out.append(f"| {lab} | FAILED | |")
            continue
        out.append(f"| {lab} | {statistics.median(r['fsyncs_per_wf'] for r in good):.3f} "
                   f"| {statistics.median(r['txns_per_fsync'] for r in good):.1f} |")
    return out


def _heavy_table(doc: dict[str, Any]) -> list[str]:
    h = doc.get("heavy") or {}
    if not h:
        return []
    out = ["", f"## Worst case: {h['n']} workflows of one {h['ms']:.0f} ms task each, "
           "started at once", "",
           "Each task keeps the worker's event loop busy (`bench.workloads.Heavy`), as a "
           "workflow parsing a large input or a long history replayed after a restart does. "
           "Tasks a poll brings together wait for one another's CPU: past the workflow "
           "task timeout (10 s) the server takes a task back and offers it again; a loop "
           "busy past the session expiry (5 s) misses its heartbeat and the server takes "
           "back everything the worker held, and the worker's late answers are refused. Per "
           "round: seconds to the last result / workflow tasks dispatched per workflow (1: "
           "each ran once) / sessions the worker lost / CPU seconds of other processes on the "
           "machine meanwhile (noise); medians.", "",
           "| variant | " + " | ".join(f"r{i + 1}" for i in range(
               max(len(r) for r in h["runs"].values())))
           + " | wall s | p99 ms | workflow tasks dispatched per workflow |",
           "|---|" + "---|" * (max(len(r) for r in h["runs"].values()) + 3)]
    for lab, runs in h["runs"].items():
        cells = [f"{r['wall_s']:.1f} / {r['dispatched_per_wf']:.2f} / {r['session_expired']}"
                 f" / {r.get('other_cpu_s') or 0:.0f}"
                 if r.get("wall_s") is not None else "FAILED" for r in runs]
        good = [r for r in runs if r.get("wall_s") is not None]
        meds = {k: statistics.median(r[k] for r in good) if good else None
                for k in ("wall_s", "p99_ms", "dispatched_per_wf")}
        out.append(f"| {lab} | " + " | ".join(cells) + " | " + (
            f"{meds['wall_s']:.1f} | {meds['p99_ms']:,.0f} | {meds['dispatched_per_wf']:.2f} |"
            if good else "— | — | — |"))
    return out


def _noise(doc: dict[str, Any]) -> list[str]:
    other = [r["metrics"].get("other_cpu_s", 0.0) for reps in doc["reps"].values()
             for r in reps if r["ok"]]
    walls = [r["metrics"].get("wall_s", 0.0) for reps in doc["reps"].values()
             for r in reps if r["ok"]]
    loads = [r["metrics"].get("load_avg_1m", 0.0) for reps in doc["reps"].values()
             for r in reps if r["ok"]]
    if not other:
        return []
    share = [o / w / (os.cpu_count() or 1) for o, w in zip(other, walls, strict=True) if w]
    return ["", "## Noise", "",
            f"CPU used by other processes on the machine during a repetition: median "
            f"{statistics.median(share):.0%} of the machine's CPU time (max {max(share):.0%}); "
            f"1-minute load average at the end: median {statistics.median(loads):.1f} "
            f"(max {max(loads):.1f}) on {os.cpu_count()} CPUs."]


def _problems(doc: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for lab, reps in doc["reps"].items():
        for i, r in enumerate(reps):
            if r["errors"]:
                lines.append(f"- {lab} round {i + 1}: {r['n_errors']} error(s); first: "
                             f"`{r['errors'][0][:200]}`")
            for what, logged in r["log_problems"].items():
                lines.append(f"- {lab} round {i + 1}: {len(logged)} line(s) in the {what} "
                             f"log, first: `{logged[0][:200]}`")
            lines += [f"- {lab} round {i + 1}: {u}" for u in r["unclean_exit"]]
    return ["", "## Problems", "", *(lines or [
        "None: every workflow returned its expected value, no warnings in the logs, every "
        "process stopped cleanly."])]


async def main_async(args: argparse.Namespace) -> int:
    vs = variants(args.slots, args.base, args.base_slots)
    if TUNED not in {v.label for v in vs}:
        raise SystemExit(f"--slots must include {TUNED} (the tuned worker every variant is "
                         "compared with)")
    doc: dict[str, Any] = {
        "command": _command_line(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs (shared)", "size": args.size,
        "rounds": args.rounds, "trees": {"this": tree_label(ROOT / "src")}}
    if args.base:
        doc["trees"]["base"] = tree_label(args.base / "src")
    doc["reps"] = await timed_rounds(vs, args)
    doc["summary"] = {lab: summary_row(r, args.size) for lab, r in doc["reps"].items()}
    doc["server_work"] = {lab: _median_work(r) for lab, r in doc["reps"].items()}
    doc["fsync"] = {v.label: [await fsync_run(v, args.size, args.timeout)
                              for _ in range(args.fsync_rounds)] for v in vs} \
        if args.fsync_rounds else {}
    heavy = [v for v in vs if v.label in {x.strip() for x in args.heavy_slots.split(",")}]
    doc["heavy"] = await heavy_rounds(heavy, args) if args.heavy_rounds and heavy else {}
    doc["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stem = args.out
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(to_markdown(doc))
    print(f"[defaults] results in {in_repo(stem.with_suffix('.md'))} and .json",
          file=sys.stderr)
    return 0 if all(r["ok"] for reps in doc["reps"].values() for r in reps) else 1


async def heavy_rounds(vs: list[Variant], args: argparse.Namespace) -> dict[str, Any]:
    steps = heavy_steps(args.heavy_ms)
    runs: dict[str, list[Any]] = {v.label: [] for v in vs}
    for rnd in range(args.heavy_rounds):
        for v in vs[rnd % len(vs):] + vs[:rnd % len(vs)]:
            r = await heavy_run(v, args.heavy, steps, args.timeout)
            runs[v.label].append(r)
            print(f"[defaults] heavy round {rnd + 1} {v.label:>12}: "
                  f"{'ok' if r['ok'] else 'FAILED'} wall {r.get('wall_s') or 0:.1f} s, "
                  f"dispatches/wf {r.get('dispatched_per_wf', 0):.2f}, tasks timed out "
                  f"{r.get('timed_out', 0)}, sessions lost {r.get('session_expired', 0)}, "
                  f"other CPU {r.get('other_cpu_s') or 0:.1f} s",
                  file=sys.stderr, flush=True)
    return {"n": args.heavy, "ms": args.heavy_ms, "steps": steps, "runs": runs}


def _command_line() -> str:
    """This run's command as the repository would name it: no machine's paths (the base
    tree is named by its commit in the report)."""
    argv, out = sys.argv[1:], []
    for i, a in enumerate(argv):
        out.append("BASE" if i and argv[i - 1] == "--base" else in_repo(Path(a).resolve())
                   if i and argv[i - 1] == "--out" else a)
    return shlex.join(["python", "-m", "bench.defaults", *out])


def _median_work(reps: list[dict[str, Any]]) -> dict[str, float]:
    good = [r["server_work"] for r in reps if r["ok"]]
    keys = {k for w in good for k in w}
    return {k: statistics.median(w.get(k, 0.0) for w in good) for k in keys}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.defaults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", type=int, default=1000, help="W1 workflows (default 1000)")
    p.add_argument("--slots", default="default,300,100,200,500",
                   help="variants, comma-separated: 'default', N (activity and workflow-task "
                        "slots), A/W (the two apart); must include 300")
    p.add_argument("--base", type=Path, help="a second source tree (another commit's "
                   "worktree) whose plait the --base-slots variants run")
    p.add_argument("--base-slots", default="default",
                   help="variants to run on the --base tree (default: 'default')")
    p.add_argument("--fsync-rounds", type=int, default=0,
                   help="untimed runs per variant counting the server's fsyncs (default 0)")
    p.add_argument("--heavy", type=int, default=400,
                   help="workflows of the worst case (one heavy task each; default 400)")
    p.add_argument("--heavy-ms", type=float, default=30.0,
                   help="CPU per heavy workflow task, milliseconds (default 30)")
    p.add_argument("--heavy-rounds", type=int, default=0,
                   help="rounds of the worst case per variant, after the timed rounds "
                        "(default 0: not run)")
    p.add_argument("--heavy-slots", default="default,100,300,default@base",
                   help="variants (labels) that run the worst case (default: default, 100, "
                        "300 and default@base)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "defaults",
                   help="path stem of the results (default bench/results/defaults)")
    args = p.parse_args()
    if args.rounds < 0 or args.heavy_rounds < 0:
        raise SystemExit("--rounds and --heavy-rounds cannot be negative")
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_async(args))
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
