"""The core benchmark: real server and worker processes, driven by a client in this process.

    .venv/bin/python -m bench core [--quick] [--repeat N] [--only W1,W3] [--profile]

Every repetition of every workload gets a fresh ``plait server`` (a fresh SQLite database in a
temporary directory, or with ``--postgres`` a fresh PostgreSQL database; a free port) and a
fresh worker process; numbers are reported as the median over repetitions with min and max.
Every workflow's result is checked: a wrong result, an error or a timeout fails the run (exit
status 1) and is listed in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import pg, phases, workloads
from bench.procs import ROOT, BenchError, Profiler, Run, machine_cpu_seconds, tcp_counters
from plait import Client

Runner = Callable[[Client, int, str, float], Awaitable[list[workloads.Outcome]]]
OnStarted = Callable[[Run], Awaitable[Callable[[], Awaitable[None]]]]

FULL_SIZES = {"W1": 1000, "W2": 200, "W3": 500, "W4": 500}
QUICK_SIZES = {"W1": 200, "W2": 50, "W3": 100, "W4": 100}

WORKLOADS: dict[str, tuple[str, Runner]] = {
    "W1": ("{n} workflows started concurrently, each running 3 sequential no-op activities",
           workloads.w1),
    "W2": ("{n} one-activity workflows, one after another", workloads.w2),
    "W3": ("one workflow running {n} no-op activities in parallel (asyncio.gather)",
           workloads.w3),
    "W4": ("{n} workflows started concurrently, each doing `await workflow.sleep(1)` only",
           workloads.w4),
}

# name -> (label, unit)
METRICS: dict[str, tuple[str, str]] = {
    "throughput": ("throughput", "workflows/s"),
    "activities_per_s": ("activities completed", "activities/s"),
    "wall_s": ("wall time, first start to last result", "s"),
    "p10_ms": ("latency p10, start to result (on a shared machine: the least disturbed)",
               "ms"),
    "p50_ms": ("latency p50, start to result", "ms"),
    "p99_ms": ("latency p99, start to result", "ms"),
    "overhead_p50_ms": ("overhead p50 (latency - 1 s)", "ms"),
    "overhead_p99_ms": ("overhead p99 (latency - 1 s)", "ms"),
    "start_p50_ms": ("start_workflow call p50", "ms"),
    "start_p99_ms": ("start_workflow call p99", "ms"),
    "server_rss_mib": ("server peak RSS (VmHWM)", "MiB"),
    "worker_rss_mib": ("worker peak RSS (VmHWM)", "MiB"),
    "server_cpu_s": ("server CPU time", "s"),
    "worker_cpu_s": ("worker CPU time", "s"),
    "server_loop_cpu_s": ("server CPU, main thread (event loop)", "s"),
    "server_other_threads_cpu_s": ("server CPU, other threads (SQLite writer, pools)", "s"),
    "worker_loop_cpu_s": ("worker CPU, main thread (event loop)", "s"),
    "worker_other_threads_cpu_s": ("worker CPU, other threads", "s"),
    "harness_cpu_s": ("harness (client) CPU time", "s"),
    "other_cpu_s": ("CPU time of other processes on the machine (noise)", "s"),
    "steal_s": ("CPU time stolen by the hypervisor (noise)", "s"),
    "load_avg_1m": ("1-minute load average at the end", ""),
    "tcp_ListenOverflows": ("TCP accept-queue overflows, machine-wide (SYN dropped)", ""),
    "tcp_TCPSynRetrans": ("TCP SYN retransmissions, machine-wide (1 s each)", ""),
}
HEADLINE = {"W1": ["throughput", "p50_ms", "p99_ms"], "W2": ["p50_ms", "p99_ms"],
            "W3": ["wall_s"], "W4": ["overhead_p50_ms", "overhead_p99_ms"]}
SHOWN = {"W1": ["throughput", "p50_ms", "p99_ms", "wall_s", "start_p50_ms", "start_p99_ms"],
         "W2": ["p10_ms", "p50_ms", "p99_ms", "wall_s", "start_p50_ms", "start_p99_ms"],
         "W3": ["wall_s", "activities_per_s"],
         "W4": ["overhead_p50_ms", "overhead_p99_ms", "wall_s", "start_p50_ms",
                "start_p99_ms"]}
RESOURCES = ["server_rss_mib", "worker_rss_mib", "server_cpu_s", "server_loop_cpu_s",
             "server_other_threads_cpu_s", "worker_cpu_s", "worker_loop_cpu_s",
             "worker_other_threads_cpu_s", "harness_cpu_s", "other_cpu_s", "steal_s",
             "load_avg_1m", "tcp_ListenOverflows", "tcp_TCPSynRetrans"]
MAX_LISTED_ERRORS = 20


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _metrics(name: str, n: int, outcomes: list[workloads.Outcome]) -> dict[str, float]:
    ends = [o.t_result for o in outcomes if o.t_result is not None]
    if not ends:
        return {}
    lat = [o.latency for o in outcomes if o.t_result is not None]
    starts = [o.t_started - o.t_start for o in outcomes if o.t_started is not None]
    wall = max(ends) - min(o.t_start for o in outcomes)
    m: dict[str, float] = {"wall_s": wall}
    if starts:
        m["start_p50_ms"] = percentile(starts, 50) * 1e3
        m["start_p99_ms"] = percentile(starts, 99) * 1e3
    if name == "W3":
        m["activities_per_s"] = n / wall
    elif name == "W4":
        m["overhead_p50_ms"] = (percentile(lat, 50) - 1.0) * 1e3
        m["overhead_p99_ms"] = (percentile(lat, 99) - 1.0) * 1e3
    else:
        if name == "W2":  # sequential: bursts of other work on the machine hit some of them
            m["p10_ms"] = percentile(lat, 10) * 1e3
        m["p50_ms"] = percentile(lat, 50) * 1e3
        m["p99_ms"] = percentile(lat, 99) * 1e3
        if name == "W1":
            m["throughput"] = len(ends) / wall
    return m


async def run_once(name: str, rep: int, n: int, args: argparse.Namespace,
                   on_started: OnStarted | None = None) -> dict[str, Any]:
    """One repetition of one workload on a fresh server, worker and database.

    ``on_started(run)``, if given, runs once server and worker are up, before the
    workload and its measurements; what it returns is awaited after them (``bench.ui`` opens
    console pages on the server there, to measure what they cost the workload)."""
    runner = WORKLOADS[name][1]
    result: dict[str, Any] = {"rep": rep + 1, "ok": False, "metrics": {}, "errors": [],
                              "n_errors": 0, "log_problems": {}, "unclean_exit": []}
    database = pg.fresh_database() if args.postgres else None
    run = Run(f"{name}-{rep + 1}", worker_slots=args.worker_slots, keep=args.keep,
              auth=args.auth)
    run.db = database[1] if database else None
    profilers: list[tuple[str, Profiler]] = []
    undo: Callable[[], Awaitable[None]] | None = None
    try:
        await run.start()
        assert run.server is not None and run.worker is not None
        result["server_pid"], result["worker_pid"] = run.server.pid, run.worker.pid
        if args.profile and rep == 0 and name in args.profile_workloads:
            pdir = Path(args.profile_dir)
            pdir.mkdir(parents=True, exist_ok=True)
            for what, pid in (("server", run.server.pid), ("worker", run.worker.pid)):
                profilers.append((what, Profiler(pid, pdir / f"{what}-{name}.raw",
                                                 rate=args.profile_rate,
                                                 extra=tuple(shlex.split(args.py_spy_args)))))
            await asyncio.sleep(1.0)  # let py-spy attach before the load starts
        if on_started is not None:
            undo = await on_started(run)
        before = run.sample()
        cpu0, machine0, tcp0 = time.process_time(), machine_cpu_seconds(), tcp_counters()
        client = await Client.connect(run.address, api_key=run.api_key)
        try:
            outcomes = await runner(client, n, run.task_queue, args.timeout)
            harness_cpu = time.process_time() - cpu0
            machine1, tcp1 = machine_cpu_seconds(), tcp_counters()
            after = run.sample()
            result["server_counters"] = await asyncio.to_thread(run.scrape_metrics)
            for _, p in profilers:
                p.stop()
            result["phases"] = await phases.breakdown(client, outcomes, args.histories)
        finally:
            await client.close()
            if undo is not None:
                await undo()
        m = _metrics(name, n, outcomes)
        m["harness_cpu_s"] = harness_cpu
        for k in ("server_rss_mib", "worker_rss_mib"):
            if after[k] is not None:
                m[k] = after[k]
        for k in ("server_cpu_s", "worker_cpu_s"):
            if after[k] is not None and before[k] is not None:
                m[k] = after[k] - before[k]
        for what, pid in (("server", run.server.pid), ("worker", run.worker.pid)):
            # The main thread runs the event loop; the others are the SQLite writer (server)
            # and thread pools. A thread that ended during the workload is not counted.
            t0, t1 = before[f"{what}_threads"], after[f"{what}_threads"]
            if t1:
                m[f"{what}_loop_cpu_s"] = t1.get(pid, 0.0) - t0.get(pid, 0.0)
                m[f"{what}_other_threads_cpu_s"] = sum(
                    v - t0.get(tid, 0.0) for tid, v in t1.items() if tid != pid)
        if machine0 is not None and machine1 is not None and "server_cpu_s" in m \
                and "worker_cpu_s" in m:
            # CPU that processes outside this run used meanwhile (tests, builds, py-spy):
            # a noise indicator, since all processes share this machine's cores.
            m["other_cpu_s"] = max(0.0, (machine1[0] - machine0[0]) - m["server_cpu_s"]
                                   - m["worker_cpu_s"] - harness_cpu)
        if machine0 is not None and machine1 is not None:
            m["steal_s"] = machine1[1] - machine0[1]
        m["load_avg_1m"] = os.getloadavg()[0]
        for k, v in tcp1.items():
            if k in tcp0:
                m[f"tcp_{k}"] = v - tcp0[k]
        result["metrics"] = m
        result["per_workflow"] = _per_workflow(result["server_counters"],
                                               1 if name == "W3" else n)
        errs = [f"{o.workflow_id}: {o.error}" for o in outcomes if o.error]
        expected = 1 if name == "W3" else n
        if len(outcomes) != expected:
            errs.append(f"expected {expected} workflows, the workload ran {len(outcomes)}")
        result["n_errors"] = len(errs)
        result["errors"] = errs[:MAX_LISTED_ERRORS]
        result["ok"] = not errs
    except BenchError as e:
        result["n_errors"] = 1
        result["errors"] = [f"setup failed: {e}"]
    finally:
        for _, p in profilers:
            p.stop()
        run.stop()
        problems = run.log_problems()
        result["log_problems"] = {k: v[:MAX_LISTED_ERRORS] for k, v in problems.items()}
        result["log_problem_counts"] = {k: len(v) for k, v in problems.items()}
        result["unclean_exit"] = run.unclean_exit
        if args.keep:
            result["dir"] = str(run.dir)
        run.cleanup()
        if database is not None:
            pg.drop_database(database[0])
    if profilers:
        result["profiles"] = {what: str(p.out) for what, p in profilers}
    return result


def _per_workflow(counters: dict[str, float], n: int) -> dict[str, float]:
    """Server counters divided by the number of workflows: HTTP requests by route (all
    statuses), tasks dispatched and completed by kind. Includes the workers' polls and
    session heartbeats, and the harness's result long-polls."""
    out: dict[str, float] = {}
    for key, v in counters.items():
        name, _, labels = key.partition("{")
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if name == "plait_http_requests_total":
            k = f"http {lab.get('route', '?')}"
        elif name == "plait_tasks_dispatched_total":
            k = f"dispatched {lab.get('kind', '?')} tasks"
        elif name == "plait_task_completions_total":
            k = f"completed {lab.get('kind', '?')} tasks ({lab.get('outcome', '?')})"
        else:
            continue
        out[k] = out.get(k, 0.0) + v / n
    out["http requests, all routes"] = sum(v for k, v in out.items() if k.startswith("http "))
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _summary(reps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    good = [r for r in reps if r["ok"]]
    keys: list[str] = []
    for r in good:
        keys += [k for k in r["metrics"] if k not in keys]
    out: dict[str, dict[str, Any]] = {}
    for k in keys:
        vals = [r["metrics"][k] for r in good if k in r["metrics"]]
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                  "values": vals, "unit": METRICS.get(k, ("", ""))[1]}
    return out


def _per_workflow_median(reps: list[dict[str, Any]]) -> dict[str, float]:
    good = [r["per_workflow"] for r in reps if r["ok"] and r.get("per_workflow")]
    keys: list[str] = []
    for p in good:
        keys += [k for k in p if k not in keys]
    return {k: statistics.median([p.get(k, 0.0) for p in good]) for k in keys}


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "—"
    if unit in ("ms", "MiB") or abs(v) >= 100:
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"
    return f"{v:.2f}"


def machine_info() -> dict[str, Any]:
    def cmd(*a: str) -> str:
        try:
            return subprocess.run(a, capture_output=True, text=True, cwd=ROOT,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions: dict[str, str | None] = {}
    for pkg in ("plait", "aiohttp", "orjson", "uvloop"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    py = subprocess.run([sys.executable, "--version"], capture_output=True, text=True)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory": mem,
        "python_version": (py.stdout or py.stderr).strip(),
        "platform": platform.platform(),
        "git_commit": cmd("git", "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(cmd("git", "status", "--porcelain", "--untracked-files=no", "src")),
        "versions": versions,
        "event_loop": "uvloop" if versions.get("uvloop") else "asyncio",
    }


def source_digest() -> str:
    """A digest of the plait sources the server and worker import (edits during a run show)."""
    h = hashlib.sha256()
    src = ROOT / "src" / "plait"
    for path in sorted(src.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".sql"):
            h.update(str(path.relative_to(src)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def command_line() -> str:
    exe = os.path.relpath(sys.executable)
    if exe.startswith(".."):
        exe = sys.executable
    return shlex.join([exe, "-m", "bench", *sys.argv[1:]])


def to_markdown(doc: dict[str, Any]) -> str:
    mi = doc["machine"]
    status = "PASSED" if doc["ok"] else "FAILED"
    out = [
        "# plait core benchmark", "",
        f"**{status}** — {doc['finished_at']}", "",
        f"- command: `{doc['command']}`",
        f"- mode: {'quick' if doc['quick'] else 'full'}, {doc['repeat']} repetition(s) per "
        f"workload, each on a fresh server, worker and "
        f"{'PostgreSQL' if doc.get('store') == 'postgresql' else 'SQLite'} database; "
        "median (min - max) over passing repetitions",
        f"- machine: {mi['cpu_count']} CPUs ({mi['cpu_model']}), {mi['memory']} RAM, "
        f"{mi['platform']}",
        f"- {mi['python_version']}; event loop {mi['event_loop']}; "
        + ", ".join(f"{k} {v}" for k, v in mi["versions"].items()),
        f"- plait commit {mi['git_commit']}{' (src/ modified)' if mi['git_dirty'] else ''}, "
        f"sources {doc['source_digest']}; "
        f"worker slots: {doc['worker_slots']} activities / {doc['worker_slots']} workflow tasks",
        f"- started {doc['started_at']}, finished {doc['finished_at']}",
        "",
        "## Headline", "",
        "| workload | metric | median | min | max |", "|---|---|---|---|---|",
    ]
    for name, w in doc["workloads"].items():
        for k in HEADLINE[name]:
            s = w["summary"].get(k)
            label, unit = METRICS[k]
            cells = [_fmt(s[x], unit) for x in ("median", "min", "max")] if s else ["FAILED"] * 3
            out.append(f"| {name} | {label} ({unit}) | " + " | ".join(cells) + " |")
    for name, w in doc["workloads"].items():
        out += ["", f"## {name} — {w['description']}", "",
                "| metric | median | min | max | per repetition |", "|---|---|---|---|---|"]
        for k in SHOWN[name] + RESOURCES:
            s = w["summary"].get(k)
            if not s:
                continue
            label, unit = METRICS[k]
            label += f" ({unit})" if unit else ""
            out.append(f"| {label} | {_fmt(s['median'], unit)} | {_fmt(s['min'], unit)} "
                       f"| {_fmt(s['max'], unit)} | "
                       + ", ".join(_fmt(v, unit) for v in s["values"]) + " |")
        per = _per_workflow_median(w["reps"])
        if per:
            what = "the workflow" if name == "W3" else "workflow"
            out += ["", f"Server work per {what} (from `/metrics`, median over repetitions; "
                    "HTTP includes worker polls and heartbeats, and result long-polls):", "",
                    "| counter | per workflow |", "|---|---|"]
            out += [f"| {k} | {v:.2f} |" for k, v in per.items()]
        last = next((r for r in reversed(w["reps"]) if r["ok"] and r.get("phases")), None)
        if last:
            out += ["", *phases.to_markdown(last["phases"])]
        failed = [r for r in w["reps"] if not r["ok"]]
        if failed:
            out.append("")
            out.append(f"**{len(failed)} of {len(w['reps'])} repetition(s) FAILED** "
                       "(excluded from the numbers above).")
    out += ["", "## M — peak memory (VmHWM at the end of each workload)", "",
            "| workload | server RSS MiB median (min - max) | worker RSS MiB median (min - max) |",
            "|---|---|---|"]
    for name, w in doc["workloads"].items():
        cells = []
        for k in ("server_rss_mib", "worker_rss_mib"):
            s = w["summary"].get(k)
            cells.append(f"{s['median']:.1f} ({s['min']:.1f} - {s['max']:.1f})" if s else "—")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "## Problems", ""]
    problems = []
    if doc.get("source_changed"):
        problems.append("- **src/plait changed during the run** (sources "
                        f"{doc['source_digest']} at start, {doc['source_digest_at_end']} at "
                        "end): repetitions may have measured different code")
    for name, w in doc["workloads"].items():
        for r in w["reps"]:
            tag = f"{name} rep {r['rep']}"
            if r["errors"]:
                problems.append(f"- **{tag}: {r['n_errors']} error(s)**")
                problems += [f"  - `{e}`" for e in r["errors"]]
            for what, lines in r["log_problems"].items():
                n = r.get("log_problem_counts", {}).get(what, len(lines))
                problems.append(f"- {tag}: {n} line(s) in the {what} log (warning level)")
                problems += [f"  - `{ln[:300]}`" for ln in lines[:5]]
            problems += [f"- {tag}: {u}" for u in r["unclean_exit"]]
            overflows = r["metrics"].get("tcp_ListenOverflows", 0)
            if overflows:
                problems.append(
                    f"- {tag}: {overflows:.0f} TCP accept-queue overflow(s) and "
                    f"{r['metrics'].get('tcp_TCPSynRetrans', 0):.0f} SYN retransmission(s) on "
                    "the machine during the workload: connections waited 1 s or more "
                    "(machine-wide counters; other processes may contribute)")
    out += problems or ["None: every workflow returned its expected value, no warnings or errors "
                        "in the server and worker logs, every process stopped cleanly."]
    out += ["", "## What each workload measures", "", "See `bench/README.md`.", ""]
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> int:
    sizes = dict(QUICK_SIZES if args.quick else FULL_SIZES)
    for spec in args.size or []:
        k, _, v = spec.partition("=")
        sizes[k.upper()] = int(v)
    names = [n.strip().upper() for n in args.only.split(",")] if args.only else list(WORKLOADS)
    doc: dict[str, Any] = {
        "benchmark": "core", "command": command_line(), "quick": args.quick,
        "repeat": args.repeat, "worker_slots": args.worker_slots,
        "store": "postgresql" if args.postgres else "sqlite",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(), "source_digest": source_digest(), "workloads": {},
    }
    for name in names:
        n = sizes[name]
        reps = []
        for rep in range(args.repeat):
            print(f"[bench] {name} (n={n}) repetition {rep + 1}/{args.repeat} ...",
                  file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            r = await run_once(name, rep, n, args)
            reps.append(r)
            shown = ", ".join(f"{k}={_fmt(r['metrics'].get(k))}" for k in HEADLINE[name])
            print(f"[bench]   {'ok' if r['ok'] else 'FAILED'} in {time.perf_counter() - t0:.1f}s:"
                  f" {shown}; server RSS {_fmt(r['metrics'].get('server_rss_mib'))} MiB, "
                  f"worker RSS {_fmt(r['metrics'].get('worker_rss_mib'))} MiB; "
                  f"CPU s server {_fmt(r['metrics'].get('server_cpu_s'))}, "
                  f"worker {_fmt(r['metrics'].get('worker_cpu_s'))}, "
                  f"other processes {_fmt(r['metrics'].get('other_cpu_s'))}, "
                  f"steal {_fmt(r['metrics'].get('steal_s'))}",
                  file=sys.stderr, flush=True)
            for e in r["errors"][:5]:
                print(f"[bench]   error: {e}", file=sys.stderr, flush=True)
            for what, lines in r["log_problems"].items():
                print(f"[bench]   {len(lines)} line(s) in the {what} log, first: {lines[0][:200]}",
                      file=sys.stderr, flush=True)
        doc["workloads"][name] = {"description": WORKLOADS[name][0].format(n=n), "size": n,
                                  "summary": _summary(reps), "reps": reps}
    doc["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc["source_digest_at_end"] = source_digest()
    doc["source_changed"] = doc["source_digest_at_end"] != doc["source_digest"]
    if doc["source_changed"]:
        print("[bench] warning: src/plait changed during the run; repetitions may have run "
              "different code", file=sys.stderr)
    doc["ok"] = all(r["ok"] for w in doc["workloads"].values() for r in w["reps"])

    stem = Path(args.out) if args.out else (
        ROOT / "bench" / "results" / "core" if not (args.quick or args.only or args.profile
                                                   or args.size)
        else ROOT / "bench" / "out" / ("core-quick" if args.quick else "core-partial"))
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    md = to_markdown(doc)
    if args.profile:
        md += _profile_section(doc)
    stem.with_suffix(".md").write_text(md)
    print(f"[bench] {'PASSED' if doc['ok'] else 'FAILED'}; results in "
          f"{os.path.relpath(stem.with_suffix('.md'))} and .json", file=sys.stderr)
    return 0 if doc["ok"] else 1


def _profile_section(doc: dict[str, Any]) -> str:
    from bench.profile import summarize
    from bench.profile import to_markdown as prof_md

    out = ["", "## Profiles (py-spy, 100 Hz, busy samples only; profiled runs are slower)", ""]
    for name, w in doc["workloads"].items():
        for r in w["reps"]:
            for what, path in r.get("profiles", {}).items():
                p = Path(path)
                if p.exists() and p.stat().st_size:
                    s = summarize(p)
                    p.with_suffix(".summary.json").write_text(json.dumps(s, indent=2))
                    out.append(prof_md(s, f"{what} during {name}"))
                else:
                    out.append(f"### {what} during {name}\n\nno samples (see "
                               f"{p.with_suffix('.log')})\n")
    return "\n".join(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 repetition, small sizes (W1=200, W2=50, W3=100, W4=100)")
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions per workload (default 3; 1 with --quick)")
    p.add_argument("--only", help="comma-separated workloads to run, e.g. W1,W3")
    p.add_argument("--size", action="append", metavar="W=N",
                   help="override a workload's size, e.g. --size W1=2000 (repeatable)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds one repetition of a workload may take (default 300)")
    p.add_argument("--histories", type=int, default=50,
                   help="after each repetition, fetch this many workflows' histories to show "
                        "where latency goes (default 50; 0 turns it off)")
    p.add_argument("--postgres", action="store_true",
                   help="run each repetition's server on a fresh PostgreSQL database "
                        "(PLAIT_BENCH_PG, default the local server) instead of SQLite")
    p.add_argument("--auth", action="store_true",
                   help="the server checks API keys (--auth): the worker and the harness each "
                        "use a key of namespace default (issue 16's cost of the check)")
    p.add_argument("--worker-slots", type=int, default=300,
                   help="max_concurrent_activities and max_concurrent_workflow_tasks "
                        "of the worker (default 300)")
    p.add_argument("--profile", action="store_true",
                   help="attach py-spy to server and worker during the first repetition of "
                        "the --profile-workloads; results go to bench/out/")
    p.add_argument("--profile-workloads", default="W1",
                   help="comma-separated workloads to profile (default W1)")
    p.add_argument("--profile-dir", default=str(ROOT / "bench" / "out" / "profile"))
    p.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--py-spy-args", default="",
                   help="more py-spy record options, e.g. '--idle' or '--native'")
    p.add_argument("--out", help="path stem of the result files (default bench/results/core "
                                 "for a full run, bench/out/core-quick or core-partial otherwise)")
    p.add_argument("--keep", action="store_true",
                   help="keep each run's temporary directory (database, server and worker logs)")


def main(args: argparse.Namespace) -> int:
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    args.profile_workloads = {w.strip().upper() for w in args.profile_workloads.split(",")}
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_async(args))
    return uvloop.run(main_async(args))
